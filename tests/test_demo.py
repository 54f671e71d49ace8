"""The main job's code path, end to end on a tiny synthetic set, and how its
command line maps onto the demo config (the settings live in the config; the
demo's ``--data-root``/``--epochs`` are shorthands for ``--cfg-options``)."""
import argparse
import json

import pytest
from mmengine.config import Config, DictAction

from mmpose_lite import demo
from .conftest import REPO, cfg_value

SYNTH = REPO / 'configs' / 'body_2d_keypoint' / 'topdown_heatmap' / 'synthetic'
SYNTH_CONFIGS = sorted(p.name for p in SYNTH.glob('*.py'))


@pytest.mark.timeout(900)
def test_demo_end_to_end(tmp_path, capsys):
    work, synth = tmp_path / 'work', tmp_path / 'synth'
    summary = demo.run(['--work-dir', str(work), '--data-root', str(synth), '--num-train', '16',
                         '--num-val', '4', '--epochs', '1', '--num-vis', '2'])
    out = capsys.readouterr().out
    assert 'AP on synthetic val (CocoMetric, detected boxes): before training' in out
    metrics = json.loads((work / 'metrics.json').read_text())
    assert metrics == json.loads(json.dumps(summary))
    assert [c['epoch'] for c in metrics['curve']] == [0, 1]   # before training, after epoch 1
    assert 0 <= metrics['ap_final'] <= 1 and 'coco/AP .5' in metrics['final_metrics']
    # seconds per iteration, from the logged training records, with the data-loading part of it
    step = metrics['seconds_per_iter']
    assert 0 < step['data_time'] < step['time'] and f"{step['time']:.2f} s per training iteration" in out
    for png in ('learning_curve.png', 'predictions.png'):
        assert (work / png).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert (synth / 'annotations' / 'person_keypoints_val.json').exists()
    # the config the runner ran (dumped into the work dir): LiteRunner's dataset swap, the shorthands applied
    ran = Config.fromfile(str(work / 'td-hm_xhrnet-s18_demo_synthcoco-128x96.py'))
    assert ran.train_dataloader.dataset.type == 'CheckedCocoDataset'
    assert ran.train_dataloader.dataset.data_root == f'{synth}/' and ran.train_cfg.max_epochs == 1
    # LiteRunner's hooks ran (MMEngine logs the hook order when training starts)
    assert 'AtomicCheckpointHook' in out and 'FiniteLossHook' in out


def _config(name: str, tmp_path, *argv):
    """The config the demo would train with ``argv`` (nothing runs)."""
    cfg, options = demo.build_config(demo.parse_args(['--config', str(SYNTH / name), '--work-dir',
                                                      str(tmp_path / 'w'), *argv]))
    return cfg, options


def _strings(node):
    if isinstance(node, dict):
        for v in node.values():
            yield from _strings(v)
    elif isinstance(node, (list, tuple)):
        for v in node:
            yield from _strings(v)
    elif isinstance(node, str):
        yield node


def test_demo_without_options_trains_the_config_file(tmp_path):
    """What `mim train mmpose <demo config>` reads: the demo changes only the work dir."""
    cfg, options = _config('td-hm_xhrnet-s18_demo_synthcoco-128x96.py', tmp_path)
    plain = Config.fromfile(str(SYNTH / 'td-hm_xhrnet-s18_demo_synthcoco-128x96.py'))
    plain.work_dir = str(tmp_path / 'w')
    assert options == {} and cfg.to_dict() == plain.to_dict()


@pytest.mark.parametrize('name', SYNTH_CONFIGS)
def test_derived_keys_match_the_config_and_cover_every_derived_field(name, tmp_path):
    plain = Config.fromfile(str(SYNTH / name))
    old_root = plain.data_root
    # the table agrees with the fields it describes (filled in with the file's own values)
    variables = demo.derived_variables(plain)
    assert {'data_root', 'max_epochs', 'base_lr', 'half_body_prob', 'rotate_factor'} <= variables
    same = demo.derived_options(plain, **{name: plain[name] for name in variables})
    assert len(same) > 2 and all(cfg_value(plain, k) == v for k, v in same.items()), same
    assert sum(old_root in s for s in _strings(plain.to_dict())) >= 7

    cfg, options = _config(name, tmp_path, '--data-root', str(tmp_path / 'elsewhere'), '--epochs', '3')
    new_root = f'{tmp_path}/elsewhere/'
    assert cfg.data_root == new_root and options['data_root'] == new_root
    strings = list(_strings(cfg.to_dict()))
    assert not [s for s in strings if old_root in s]  # no field left on the old data
    assert sum(s.startswith(new_root) for s in strings) >= 7
    assert cfg.train_cfg.max_epochs == cfg.default_hooks.checkpoint.interval == 3
    epoch_scheds = [s for s in cfg.param_scheduler if s.get('by_epoch', True)]
    assert epoch_scheds and all(s.end == s.T_max == 3 for s in epoch_scheds)
    # the rest of the config is untouched
    for key in ('model', 'optim_wrapper', 'randomness', 'custom_hooks'):
        assert cfg[key] == plain[key]
    assert cfg.train_cfg.val_interval == plain.train_cfg.val_interval


def test_printed_cfg_options_give_mim_the_same_config(tmp_path):
    """The `--cfg-options` line the demo prints, parsed as MMPose's train
    script parses it, turns the plain config into the demo's."""
    name = 'td-hm_xhrnet-s18_demo_synthcoco-128x96.py'
    cfg, options = _config(name, tmp_path, '--data-root', str(tmp_path / 'd'), '--epochs', '2',
                           '--cfg-options', 'train_dataloader.batch_size=4')
    words = demo.cfg_option_args(options)
    assert 'train_dataloader.batch_size=4' in words and 'param_scheduler.1.T_max=2' in words
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    mim = Config.fromfile(str(SYNTH / name))
    mim.merge_from_dict(parser.parse_args(['--cfg-options', *words]).cfg_options)
    mim.work_dir = cfg.work_dir
    assert mim.to_dict() == cfg.to_dict()
    # the same variables given through --cfg-options expand the same way
    same, _ = _config(name, tmp_path, '--cfg-options', f'data_root={tmp_path}/d', 'max_epochs=2',
                      'train_dataloader.batch_size=4')
    assert same.to_dict() == cfg.to_dict()


def test_shorthand_errors(tmp_path, capsys):
    data = tmp_path / 'data'
    with pytest.raises(SystemExit) as err:
        demo.main(['--work-dir', str(tmp_path / 'w'), '--epochs', '2', '--cfg-options', 'max_epochs=3'])
    assert err.value.code == 2
    assert '--epochs and --cfg-options max_epochs=... both set max_epochs; give one' in capsys.readouterr().err
    coco = str(REPO / 'configs' / 'xhrnet_coco.py')  # a config with no derived_keys table
    with pytest.raises(SystemExit) as err:
        demo.main(['--config', coco, '--work-dir', str(tmp_path / 'w'), '--data-root', str(data)])
    assert "derives no keys from ['data_root']" in str(err.value) and 'xhrnet_coco.py' in str(err.value)
    assert not data.exists()
