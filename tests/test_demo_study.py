"""tools/demo_study.py: every variant is a valid change of the demo config
that lands where it says, and the table reads the runs' metrics.json (the
training runs themselves are the study, not CI)."""
import argparse
import json

import pytest
from mmengine.config import DictAction

from mmpose_lite import demo
from .conftest import cfg_value, load_tool

study = load_tool('demo_study')


@pytest.mark.parametrize('name', list(study.VARIANTS))
def test_variant_sets_what_it_names(name, tmp_path):
    cmd = study.command(name, 3, str(tmp_path / 'w'))
    assert cmd[1:3] == ['-m', 'mmpose_lite.demo']
    cfg, options = demo.build_config(demo.parse_args(cmd[3:]))
    assert cfg.train_cfg.max_epochs == 3 and cfg.param_scheduler[1].T_max == 3
    for key, value in study.VARIANTS[name].items():  # a top-level variable or a dotted key
        assert cfg_value(cfg, key) == value, key
    # and the typed command parses back to the same options (DictAction, as the demo reads it)
    if study.VARIANTS[name]:
        parser = argparse.ArgumentParser()
        parser.add_argument('--cfg-options', nargs='+', action=DictAction)
        assert parser.parse_args(cmd[cmd.index('--cfg-options'):]).cfg_options == study.VARIANTS[name]


def test_recipe_variables_reach_the_transforms_and_optimizer(tmp_path):
    """'previous' restores the COCO-like recipe in the places that train with it."""
    cfg, _ = demo.build_config(demo.parse_args(study.command('previous', 12, str(tmp_path / 'w'))[3:]))
    for pipeline in (cfg.train_pipeline, cfg.train_dataloader.dataset.pipeline):
        assert [t['type'] for t in pipeline[3:5]] == ['RandomHalfBody', 'RandomBBoxTransform']
        assert pipeline[3]['prob'] == 0.3 and pipeline[4]['rotate_factor'] == 40
    assert cfg.optim_wrapper.optimizer.lr == 2e-3


def test_table_reads_metrics_and_marks_missing_runs(tmp_path):
    run = tmp_path / 'lr1e-2-e4'
    run.mkdir()
    (run / 'metrics.json').write_text(json.dumps(dict(
        curve=[dict(epoch=0, AP=0.01), dict(epoch=2, AP=0.05), dict(epoch=4, AP=0.1034)], ap_final=0.1034,
        train_seconds=250.4, seconds_per_iter=dict(time=0.987, data_time=0.071))))
    text = study.table(['lr1e-2', 'current'], 4, str(tmp_path), threads=1)
    lines = text.splitlines()
    assert lines[2].startswith('| lr1e-2 | 0.010 / 0.050 / 0.103 | 0.103 | 250 | 0.99 (0.07) | ')
    assert ('`OMP_NUM_THREADS=1 python -m mmpose_lite.demo --epochs 4 --cfg-options '
            'base_lr=0.01`') in lines[2]
    assert lines[3].startswith('| current | (no metrics.json')
    assert '--work-dir' not in text
