"""The package as a user gets it: a wheel installed outside the checkout.

The wheel is built from a clean copy of the files a wheel is made from (so
nothing left in the checkout's build/ can leak in), installed with
``pip install --no-deps --target`` and used from a folder of its own with
only the install on ``PYTHONPATH``: every import must come from the install
(checked), every config from its ``mmpose_lite/.mim/configs``.
"""
import configparser
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Dict, List, NamedTuple

import pytest

from ..conftest import REPO, mim_executable

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

#: What a wheel is built from (the rest of the checkout is not needed).
SOURCES = ('pyproject.toml', 'setup.py', 'MANIFEST.in', 'README.md', 'model-index.yml', 'mmpose_lite', 'configs')
DEMO = 'body_2d_keypoint/topdown_heatmap/synthetic/td-hm_xhrnet-s18_demo_synthcoco-128x96.py'
TINY = 'body_2d_keypoint/topdown_heatmap/synthetic/td-hm_stacked-hourglass-tiny_demo_synthcoco-128x96.py'


class Installed(NamedTuple):
    """A wheel installed into ``target``, used from ``home`` with ``env``."""
    wheel: Path
    target: Path
    home: Path
    env: Dict[str, str]
    scripts: List[str]

    def run(self, *cmd, timeout=240, cwd=None) -> subprocess.CompletedProcess:
        """Run ``cmd`` from ``home`` (console scripts by name, from the
        install's bin/), asserting exit status 0 and showing the output's
        tail otherwise."""
        cmd = [str(self.target / 'bin' / cmd[0]) if cmd[0] in self.scripts else cmd[0], *map(str, cmd[1:])]
        res = subprocess.run(cmd, cwd=cwd or self.home, env=self.env, capture_output=True, text=True,
                             timeout=timeout)
        assert res.returncode == 0, f'{cmd} exited {res.returncode}:\n{(res.stdout + res.stderr)[-4000:]}'
        return res

    def python(self, code: str):
        """The JSON that ``code``, run by this interpreter from ``home``, prints on its last line."""
        return json.loads(self.run(sys.executable, '-c', code).stdout.strip().splitlines()[-1])


def _pip(*args):
    res = subprocess.run([sys.executable, '-m', 'pip', '--disable-pip-version-check', *args],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f'pip {args} failed:\n{(res.stdout + res.stderr)[-4000:]}'


@pytest.fixture(scope='module')
def installed(tmp_path_factory) -> Installed:
    root = tmp_path_factory.mktemp('wheel')
    src = root / 'src'
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns('__pycache__', '*.py[co]'))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    _pip('wheel', str(src), '--no-deps', '--no-build-isolation', '--no-index', '-q', '-w', str(root / 'dist'))
    (wheel, ) = (root / 'dist').glob('mmpose_lite-*.whl')
    target = root / 'site'
    _pip('install', '--no-deps', '--no-index', '-q', '--target', str(target), str(wheel))
    with zipfile.ZipFile(wheel) as z:
        entry_points = next(n for n in z.namelist() if n.endswith('.dist-info/entry_points.txt'))
        parser = configparser.ConfigParser()
        parser.read_string(z.read(entry_points).decode())
    home = root / 'home'
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'MMPOSE_LITE_CONFIGS')}
    env.update(PYTHONPATH=str(target), OMP_NUM_THREADS='1', MPLBACKEND='Agg')
    return Installed(wheel, target, home, env, sorted(parser['console_scripts']))


def test_wheel_carries_every_config_and_the_model_index(installed):
    with zipfile.ZipFile(installed.wheel) as z:
        names = set(z.namelist())
    ours = {str(p.relative_to(REPO)) for p in (REPO / 'configs').rglob('*')
            if p.is_file() and '__pycache__' not in p.parts}
    assert len(ours) > 50
    assert {f'mmpose_lite/.mim/{p}' for p in ours} <= names
    assert 'mmpose_lite/.mim/model-index.yml' in names
    # every metafile the index lists is in the wheel, where MMEngine and mim look for it
    import yaml
    index = yaml.safe_load((REPO / 'model-index.yml').read_text())
    assert index['Import'] and all(f'mmpose_lite/.mim/{p}' in names for p in index['Import'])
    # the console scripts are pyproject's
    import tomllib
    scripts = tomllib.loads((REPO / 'pyproject.toml').read_text())['project']['scripts']
    assert installed.scripts == sorted(scripts)


def test_user_config_inherits_ours_from_the_install(installed):
    """A config in the user's own folder inherits one of ours by the install's
    configs folder (``python -m mmpose_lite.utils.paths`` prints it; MMEngine
    substitutes the environment variable); the relative ``_base_`` lines inside
    ours resolve there, and the model builds from the installed modules."""
    root = installed.run(sys.executable, '-m', 'mmpose_lite.utils.paths').stdout.strip().splitlines()[-1]
    assert Path(root) == installed.target / 'mmpose_lite' / '.mim' / 'configs'
    (installed.home / 'my_xhrnet.py').write_text(
        "_base_ = ['{{$MMPOSE_LITE_CONFIGS:}}/body_2d_keypoint/topdown_heatmap/coco/"
        "td-hm_xhrnet-s18_8xb64-210e_coco-256x192.py']\n"
        "model = dict(test_cfg=dict(flip_test=False))\n")
    installed.env['MMPOSE_LITE_CONFIGS'] = root
    try:
        got = installed.python(
            'import json, mmpose_lite\n'
            'from mmengine.config import Config\n'
            'from mmpose.registry import MODELS\n'
            'from mmpose.utils import register_all_modules\n'
            'from mmpose_lite.benchmark.entries import ENTRIES\n'
            'from mmpose_lite.utils.paths import config_path\n'
            "cfg = Config.fromfile('my_xhrnet.py')\n"
            'register_all_modules()\n'
            'model = MODELS.build(cfg.model)\n'
            'print(json.dumps(dict(file=mmpose_lite.__file__, runner=cfg.runner_type,'
            ' imports=cfg.custom_imports.imports, backbone=type(model.backbone).__module__,'
            ' flip=cfg.model.test_cfg.flip_test,'
            f' demo=config_path({DEMO!r}), params=sum(p.numel() for p in model.parameters()),'
            " benchmark=[config_path(e.config) for e in ENTRIES if e.source == 'mmpose_lite'])))\n")
    finally:
        del installed.env['MMPOSE_LITE_CONFIGS']
    assert Path(got['file']).is_relative_to(installed.target), got['file']
    assert got['runner'] == 'LiteRunner' and got['imports'] == ['mmpose_lite', 'mmpose_lite.engine.runner_type']
    assert got['backbone'].startswith('mmpose_lite.models.') and got['flip'] is False
    configs = installed.target / 'mmpose_lite' / '.mim' / 'configs'
    assert Path(got['demo']).is_relative_to(configs)
    # the benchmark's rows of ours build from the install's configs too
    assert len(got['benchmark']) >= 10 and all(Path(p).is_relative_to(configs) for p in got['benchmark'])
    assert 1_000_000 < got['params'] < 2_000_000  # X-HRNet-S18 with its heatmap head: 1.34M


def test_every_console_script_answers_help(installed):
    assert {'mmpose-lite-demo', 'mmpose-lite-synth', 'mmpose-lite-benchmark', 'mmpose-lite-export',
            'mmpose-lite-upgrade-checkpoint', 'mmpose-lite-infer', 'mmpose-lite-convert'} <= set(installed.scripts)
    procs = {s: subprocess.Popen([str(installed.target / 'bin' / s), '--help'], cwd=installed.home,
                                 env=installed.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for s in installed.scripts}
    for script, proc in procs.items():
        out, _ = proc.communicate(timeout=240)
        assert proc.returncode == 0 and 'usage:' in out, f'{script} --help exited {proc.returncode}:\n{out[-3000:]}'


def test_console_scripts_work_outside_the_checkout(installed, tmp_path):
    """One real call of each script, from the user's folder, with configs
    named ``mmpose_lite::...`` (resolved in the install)."""
    run = installed.run
    # synth: a small data set where the demo config looks for it (data/synthetic_coco/ under the working folder)
    data = installed.home / 'data' / 'synthetic_coco'
    run('mmpose-lite-synth', data, '--num-train', 4, '--num-val', 2, '--workers', 1)
    assert len(json.loads((data / 'annotations' / 'person_keypoints_val.json').read_text())['images']) == 2

    # export: the tiny config to ONNX, checked in onnxruntime by the script
    out = run('mmpose-lite-export', f'mmpose_lite::{TINY}', tmp_path / 'tiny.onnx').stdout
    assert (tmp_path / 'tiny.onnx').stat().st_size > 10_000 and 'max abs diff' in out

    # benchmark: the row names --models takes
    rows = run('mmpose-lite-benchmark', '--list').stdout
    assert 'XHRNet-S18' in rows and 'mmpose LiteHRNet-18' in rows

    # demo: trains the demo config (from the install) one epoch on the data above, which it takes as its own
    work = installed.home / 'work_dirs' / 'demo'
    out = run('mmpose-lite-demo', '--epochs', 1, '--num-train', 4, '--num-val', 2, '--work-dir', work).stdout
    assert '[demo] using the synthetic data in data/synthetic_coco' in out
    metrics = json.loads((work / 'metrics.json').read_text())
    assert Path(metrics['config']).is_relative_to(installed.target)
    (ckpt, ) = work.glob('epoch_1.pth')

    # upgrade-checkpoint: the demo's checkpoint (already safe) converts and loads weights-only
    run('mmpose-lite-upgrade-checkpoint', ckpt, tmp_path / 'safe.pth')
    import torch
    assert 'state_dict' in torch.load(tmp_path / 'safe.pth', weights_only=True)

    # infer: the demo's checkpoint with the config the demo dumped, on one of the val images (whole image as the box)
    image = sorted((data / 'val').glob('*.jpg'))[0]
    run('mmpose-lite-infer', image, '--config', work / Path(metrics['config']).name, '--checkpoint', ckpt,
        '--whole-image', '--out-dir', tmp_path / 'infer', '--device', 'cpu')
    (pred, ) = (tmp_path / 'infer').rglob(f'{image.stem}.json')
    (person, ) = json.loads(pred.read_text())
    assert len(person['keypoints']) == 17
    assert list((tmp_path / 'infer').rglob(f'{image.stem}.png')), 'mmpose-lite-infer drew no visualization'


@pytest.mark.skipif(mim_executable() is None, reason='the mim command is not installed')
def test_mim_train_a_user_config_that_inherits_ours(installed, tmp_path):
    """``mim train mmpose my_config.py`` in the user's folder: MMPose's own
    train script, our config from the install, our Runner and hooks."""
    from mmpose_lite.datasets.synthetic import generate_synthetic_coco
    data = tmp_path / 'synth'
    generate_synthetic_coco(str(data), num_train=4, num_val=2, seed=0)
    (installed.home / 'my_demo.py').write_text(
        f"_base_ = ['{{{{$MMPOSE_LITE_CONFIGS:}}}}/{DEMO}']\n"
        f"data_root = '{data}/'\n"
        "train_cfg = dict(max_epochs=1, val_interval=1)\n"
        "train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,\n"
        "                        dataset=dict(data_root=data_root))\n"
        "val_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False, dataset=dict(\n"
        "    data_root=data_root, bbox_file=data_root + 'annotations/person_detection_results_val.json'))\n"
        "test_dataloader = val_dataloader\n"
        "val_evaluator = dict(ann_file=data_root + 'annotations/person_keypoints_val.json')\n"
        "test_evaluator = val_evaluator\n"
        "default_hooks = dict(checkpoint=dict(interval=1))\n")
    installed.env['MMPOSE_LITE_CONFIGS'] = str(installed.target / 'mmpose_lite' / '.mim' / 'configs')
    try:
        work = tmp_path / 'work'
        out = installed.run(mim_executable(), 'train', 'mmpose', 'my_demo.py', '--work-dir', work).stdout
    finally:
        del installed.env['MMPOSE_LITE_CONFIGS']
    assert (work / 'epoch_1.pth').is_file(), out[-3000:]
    (log, ) = work.glob('*/*.log')
    text = log.read_text()
    # LiteRunner ran: the hooks it adds are listed
    assert all(hook in text for hook in ('AtomicCheckpointHook', 'SafeCheckpointHook', 'FiniteLossHook')), text[-3000:]
