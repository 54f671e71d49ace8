"""LiteRunner: selected by our configs' ``runner_type`` in MMPose's own scripts, with its hooks."""
import json
import re
import subprocess
import sys

import pytest

from ..conftest import REPO, mim_executable, synthetic_eval_options, toy_model_cfg

SCRIPT = r'''
import json, sys, tempfile
from mmengine.runner import Runner

from tests.conftest import toy_model_cfg

def build(**extra):
    cfg = dict(model=toy_model_cfg(), work_dir=tempfile.mkdtemp(), default_scope='mmpose', **extra)
    from mmengine.config import Config
    return Runner.from_cfg(Config(cfg))

out = {}
import mmpose_lite
out['patched_by_import'] = hasattr(Runner.from_cfg, '__wrapped__')
import mmpose_lite.engine.runner_type  # what our configs' custom_imports add
out['patched_by_config_import'] = hasattr(Runner.from_cfg, '__wrapped__')
out['plain'] = type(build()).__name__
lite = build(runner_type='LiteRunner', custom_hooks=[dict(type='FiniteLossHook')])
out['lite'] = type(lite).__name__
out['hooks'] = [type(h).__name__ for h in lite.hooks]
try:
    build(runner_type='NoSuchRunner')
except KeyError as e:
    out['unknown'] = str(e)
print(json.dumps(out))
'''


def test_runner_type_selects_lite_runner_only_when_a_config_asks():
    proc = subprocess.run([sys.executable, '-c', SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out['patched_by_import'] is False          # `import mmpose_lite` leaves MMEngine's Runner alone
    assert out['patched_by_config_import'] is True
    assert out['plain'] == 'Runner'                   # a config without runner_type: MMEngine's path
    assert out['lite'] == 'LiteRunner'
    hooks = out['hooks']
    assert 'AtomicCheckpointHook' in hooks and 'CheckpointHook' not in hooks
    assert hooks.count('FiniteLossHook') == 1 and hooks.count('SafeCheckpointHook') == 1
    assert 'NoSuchRunner' in out['unknown'] and 'LiteRunner' in out['unknown']


def test_every_config_selects_lite_runner():
    from mmengine.config import Config
    configs = [p for p in (REPO / 'configs').rglob('*.py') if '_base_' not in p.parts]
    assert len(configs) > 20
    for path in configs:
        cfg = Config.fromfile(str(path))
        assert cfg.get('runner_type') == 'LiteRunner', path
        assert 'mmpose_lite.engine.runner_type' in cfg.custom_imports['imports'], path


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_mim_test_with_a_checkpoint_of_another_model_stops_naming_the_mismatch(tmp_path):
    """`mim test` with a checkpoint of another backbone used to evaluate random
    weights and exit 0. Now it stops with the keys named, and
    `load_strict=False` is the explicit way back to partial loading."""
    import os

    import torch
    from mmengine.config import Config
    from mmpose.registry import MODELS

    from mmpose_lite.datasets.synthetic import generate_synthetic_coco
    mim = mim_executable()
    if mim is None:
        pytest.skip('the mim command is not installed')
    synthetic = REPO / 'configs/body_2d_keypoint/topdown_heatmap/synthetic'
    other = Config.fromfile(str(synthetic / 'td-hm_stacked-hourglass-tiny_demo_synthcoco-128x96.py'))
    ckpt = tmp_path / 'hourglass.pth'
    torch.save({'state_dict': MODELS.build(other.model).state_dict(), 'meta': {}}, ckpt)
    data = tmp_path / 'synth'
    generate_synthetic_coco(str(data), num_train=1, num_val=2, seed=0)
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(REPO))

    def mim_test(*extra):
        return subprocess.run([mim, 'test', 'mmpose', str(synthetic / 'td-hm_xhrnet-s18_demo_synthcoco-128x96.py'),
                               '--checkpoint', str(ckpt), '--gpus', '0', '--work-dir', str(tmp_path / 'w'),
                               '--cfg-options', *synthetic_eval_options(data), *extra],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=500)

    strict = mim_test()
    out = strict.stdout + strict.stderr
    assert strict.returncode != 0
    assert f'the checkpoint {ckpt} does not fit' in out
    assert 'missing in the checkpoint: backbone.' in out and 'load_strict=False' in out
    assert not re.search(r'coco/AP: [0-9.]+', out)     # nothing was evaluated
    partial = mim_test('load_strict=False')
    out = partial.stdout + partial.stderr
    assert partial.returncode == 0, out[-3000:]
    assert 'does not fit' in out and 'Loaded what fits' in out and re.search(r'coco/AP: [0-9.]+', out)


def test_a_second_runner_in_one_process_logs_into_its_own_folder(tmp_path):
    """MMPose's configs name the visualizer 'visualizer'; MMEngine builds named
    visualizers through get_instance, so a second plain Runner in the process
    writes its scalars into the first run's folder. LiteRunner gives it its own."""
    from mmengine.config import Config

    from mmpose_lite.engine import LiteRunner

    dirs = []
    for i in range(2):
        cfg = Config(dict(model=toy_model_cfg(), work_dir=str(tmp_path / f'w{i}'), default_scope='mmpose',
                          experiment_name=f'run{i}',
                          visualizer=dict(type='PoseLocalVisualizer', name='visualizer',
                                          vis_backends=[dict(type='LocalVisBackend')])))
        runner = LiteRunner.from_cfg(cfg)
        runner.visualizer.add_scalars({'x': float(i)}, step=0)
        dirs.append(runner.visualizer.get_backend('LocalVisBackend')._save_dir)
    for i, d in enumerate(dirs):
        assert d.startswith(str(tmp_path / f'w{i}')), dirs
        assert (tmp_path / d / 'scalars.json').is_file()
