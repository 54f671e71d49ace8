"""Safe checkpoints (issue 12, section 1).

* ``import mmpose_lite`` changes no global state (a fresh process compares
  loaders, torch defaults and flags, warnings filters, every module and class
  attribute of the libraries it imports, before and after the import).
* A crafted pickle is refused (file named, opt-in explained) by every loader,
  and the code it holds never runs.
* Checkpoints our Runner writes load with ``torch.load(weights_only=True)``,
  ``init_model`` and the inferencer, and resume exactly; checkpoints in the old
  format (pickled message hub) are refused with the way to the opt-in, and
  load through it (``tools/upgrade_checkpoint.py --trust``, ``trusted=True``).
"""
import copy
import functools
import io
import json
import logging
import os
import pickle
import subprocess
import sys
from collections import Counter, OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer

from mmpose_lite.engine.runner import UnsafeCheckpointExit
from mmpose_lite.engine.safe_checkpoint import (
    ENCODED_KEY,
    SafeCheckpointHook,
    UnsafeCheckpointError,
    decode_checkpoint,
    encode_checkpoint,
    explain_unsafe,
    upgrade_checkpoint,
)
from mmpose_lite.utils.checkpoint import load_weights
from ..conftest import REPO, mim_executable

DEMO = REPO / 'configs/body_2d_keypoint/topdown_heatmap/synthetic/td-hm_xhrnet-s18_demo_synthcoco-128x96.py'
UPGRADE_TOOL = REPO / 'tools' / 'upgrade_checkpoint.py'
ENV = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(REPO))


# ------------------------------------------------------------------ helpers
class _CreatesFile:
    """Unpickling this object creates ``path`` (stands for any code a crafted
    checkpoint could run)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, 'w'))


@pytest.fixture
def crafted(tmp_path):
    """A ``.pth`` that looks like a checkpoint and creates ``marker`` when unpickled."""
    marker = tmp_path / 'PWNED'
    path = tmp_path / 'crafted.pth'
    torch.save({'state_dict': {'backbone.x': torch.zeros(1)}, 'meta': {'payload': _CreatesFile(marker)}}, path)
    assert not marker.exists()
    return path, marker


def _weights_only(obj_or_path):
    if isinstance(obj_or_path, (str, Path)):
        return torch.load(obj_or_path, map_location='cpu', weights_only=True)
    buf = io.BytesIO()
    torch.save(obj_or_path, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def _runner_like():
    """What MMEngine's Runner puts into a checkpoint besides weights, with
    every kind of value the encoder handles (and shared objects)."""
    sigmas = np.array([.026, .025, .035], dtype=np.float32)
    colors = np.asfortranarray(np.arange(12, dtype=np.uint8).reshape(3, 4))
    loss = HistoryBuffer()
    for v in (1.5, 0.25, 3.0):
        loss.update(v)
    counts = HistoryBuffer([1, 2], [1, 1], max_length=10)
    metric = np.float32(0.125)
    return {
        'meta': {'epoch': 1, 'iter': 2, 'cfg': 'x = 1', 'seed': 0,
                 'dataset_meta': {'sigmas': sigmas, 'keypoint_colors': colors, 'flip_indices': [0, 2, 1],
                                  'same_sigmas': sigmas, 'names': np.array(['a', 'bc'], dtype='<U2'),
                                  'weights': np.ones((0, 3), dtype='>f8'), 'scalar_array': np.array(7, np.int16),
                                  'flags': np.array([True, False]), 'dataset_name': 'coco'}},
        'state_dict': OrderedDict(w=torch.arange(4.)),
        'message_hub': {'log_scalars': OrderedDict([('train/loss', loss), ('train/n', counts)]),
                        'runtime_info': OrderedDict(best_score=metric, best_again=metric, iter=np.int64(2),
                                                    flag=np.bool_(True), name=np.str_('x'),
                                                    pair=(np.float64(1.5), 2), tags=frozenset({'a', 'b'})),
                        'resumed_keys': OrderedDict(best_score=True)},
        'optimizer': {'state': {0: {'step': torch.tensor(2.), 'exp_avg': torch.ones(4)}},
                      'param_groups': [{'lr': 1e-3, 'betas': (0.9, 0.999), 'params': [0]}]},
        'param_schedulers': [{'milestones': Counter({3: 1}), 'last_step': 2, 'base_values': [1e-3]}],
    }


def _assert_same_checkpoint(a: dict, b: dict):
    """Equal checkpoints: the same keys, the same pickles except for tensors
    (which pickle with their storage addresses), equal tensors."""
    assert sorted(a) == sorted(b)
    for key in a:
        if key in ('state_dict', 'optimizer'):
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
        else:
            assert pickle.dumps(a[key]) == pickle.dumps(b[key]), key


# --------------------------------------------------------- encode / decode
def test_encoded_checkpoint_loads_weights_only_and_decodes_to_the_same_pickle():
    original = _runner_like()
    before = pickle.dumps(original)
    ckpt = dict(original)
    left = encode_checkpoint(ckpt)
    assert left == []
    assert pickle.dumps(original) == before, 'encoding modified objects the checkpoint shares with the program'
    with pytest.raises(pickle.UnpicklingError):
        _weights_only(original)  # what the encoder is for
    loaded = _weights_only(ckpt)
    # loaders that do not decode (init_model, the inferencer) get plain lists
    meta = loaded['meta']['dataset_meta']
    assert meta['sigmas'] == pytest.approx([.026, .025, .035]) and type(meta['sigmas'][0]) is float
    assert meta['keypoint_colors'] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    decoded = decode_checkpoint(loaded)
    assert ENCODED_KEY not in decoded
    # exact: dtypes, shapes, memory order, HistoryBuffers, shared objects (tensors pickle with their
    # storage addresses, and a frozenset's order depends on how it was built: those compared by value)
    tags = decoded['message_hub']['runtime_info'].pop('tags')
    assert type(tags) is frozenset and tags == original['message_hub']['runtime_info']['tags']
    plain = copy.copy(original)
    plain['message_hub'] = dict(plain['message_hub'], runtime_info=OrderedDict(
        (k, v) for k, v in plain['message_hub']['runtime_info'].items() if k != 'tags'))
    _assert_same_checkpoint(decoded, plain)
    assert type(decoded['param_schedulers'][0]['milestones']) is Counter
    dm = decoded['meta']['dataset_meta']
    assert dm['same_sigmas'] is dm['sigmas']
    assert dm['keypoint_colors'].flags.f_contiguous and dm['keypoint_colors'].dtype == np.uint8
    hub = decoded['message_hub']
    assert type(hub['log_scalars']['train/loss']) is HistoryBuffer
    assert hub['log_scalars']['train/loss'].mean() == pytest.approx(1.5833333)
    assert hub['runtime_info']['best_score'] is hub['runtime_info']['best_again']
    assert type(hub['runtime_info']['iter']) is np.int64


def test_values_with_no_plain_form_are_left_and_named_with_one_warning():
    ckpt = {'state_dict': {'w': torch.zeros(1)}, 'meta': {'fn': functools.partial(int, '3'), 'ok': np.int8(1),
                                                          'by_id': {np.int64(3): 'x'}}}
    left = encode_checkpoint(ckpt)
    assert len(left) == 2 and "['meta']['fn']" in left[0] and 'functools.partial' in left[0]
    assert "['meta']['by_id'] (keys of type numpy.int64" in left[1]
    assert ckpt['meta']['ok'] == 1 and type(ckpt['meta']['ok']) is int  # the rest is still encoded

    records = []

    class _Logger:
        def warning(self, msg):
            records.append(msg)

    runner = type('R', (), {'logger': _Logger()})()
    hook = SafeCheckpointHook()
    for _ in range(2):  # the same leftovers are reported once per run
        ckpt = {'meta': {'fn': functools.partial(int, '3')}}
        hook.before_save_checkpoint(runner, ckpt)
    assert len(records) == 1 and "['meta']['fn']" in records[0] and 'trusted loading' in records[0]


@pytest.mark.parametrize('corrupt, match', [
    (lambda r: r.update(version=99), 'format version 99'),
    (lambda r: r['entries'][0].update(dtype='O'), 'dtype object is not one it writes'),
    (lambda r: r['entries'][0].update(shape=[5, 5]), 'shape'),
    (lambda r: r['entries'][0].update(path=['meta', 'nowhere']), 'not found'),
    (lambda r: r['entries'].append({'path': ['meta', 'x'], 'kind': 'os.system'}), 'unknown kind'),
    (lambda r: r['entries'].append({'path': ['meta', 'l'], 'kind': 'numpy_scalar', 'dtype': '<f4'}),
     'not a list'),
])
def test_malformed_record_is_refused_with_the_place_named(corrupt, match):
    ckpt = {'meta': {'sigmas': np.zeros(3, np.float32), 'x': 1, 'l': [1.0]}}
    encode_checkpoint(ckpt)
    loaded = _weights_only(ckpt)
    corrupt(loaded[ENCODED_KEY])
    with pytest.raises(ValueError, match=match):
        decode_checkpoint(loaded)


def test_checkpoints_without_record_pass_and_double_encoding_is_refused():
    zoo = {'state_dict': {'w': torch.ones(2)}, 'meta': {'dataset_meta': {'sigmas': [0.1]}}}
    loaded = copy.deepcopy(zoo)
    assert decode_checkpoint(loaded) is loaded and pickle.dumps(loaded['meta']) == pickle.dumps(zoo['meta'])
    ckpt = {'meta': {'a': np.zeros(2)}}
    encode_checkpoint(ckpt)
    with pytest.raises(ValueError, match='already encoded'):
        encode_checkpoint(ckpt)


# ------------------------------------------------------------ crafted pickle
def test_crafted_pickle_is_refused_by_load_weights(crafted):
    from mmpose_lite.models import XHRNet
    path, marker = crafted
    with pytest.raises(UnsafeCheckpointError) as info:
        load_weights(XHRNet(arch='s18'), str(path))
    msg = str(info.value)
    assert str(path) in msg and '(io.open)' in msg and 'run arbitrary code' in msg
    # the opt-ins, explicit and documented; the process-wide one says so
    assert f'tools/upgrade_checkpoint.py --trust {path} NEW.pth' in msg
    assert 'trusted=True' in msg and 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1' in msg and 'EVERY file' in msg
    assert 'io.open is not what a checkpoint needs' in msg  # not mistaken for an old mmpose_lite checkpoint
    assert isinstance(info.value, pickle.UnpicklingError) and info.value.filename == str(path)
    assert not marker.exists()
    with pytest.raises(UnsafeCheckpointError):
        upgrade_checkpoint(str(path), str(path) + '.new')  # the tool without --trust
    assert not marker.exists() and not Path(str(path) + '.new').exists()


def test_explain_unsafe_tells_a_refusal_from_a_broken_file(tmp_path):
    broken = tmp_path / 'cut.pth'
    torch.save({'state_dict': {'w': torch.zeros(100)}}, broken)
    broken.write_bytes(broken.read_bytes()[:60])
    try:
        torch.load(broken, weights_only=True)
    except Exception as e:  # noqa: BLE001
        err = explain_unsafe(str(broken), e)
    assert not isinstance(err, UnsafeCheckpointError) and isinstance(err, pickle.UnpicklingError)
    assert str(broken) in str(err) and 'complete' in str(err)
    unsafe = UnsafeCheckpointError('x', 'f')
    assert explain_unsafe('f', unsafe) is unsafe


def _demo_cfg(data=None, work_dir=None, max_epochs=1):
    """The demo config, shrunk: batch 2, no workers, 1 epoch, no validation,
    checkpoints every epoch, SafeCheckpointHook listed explicitly."""
    import cv2
    from mmengine.config import Config
    cfg = Config.fromfile(str(DEMO))
    loader = dict(batch_size=2, num_workers=0, persistent_workers=False)
    if data is not None:
        cfg.train_dataloader.update(loader)
        cfg.train_dataloader.dataset.data_root = f'{data}/'
        for split in ('val_dataloader', 'test_dataloader'):
            cfg[split].update(loader)
            cfg[split].dataset.update(data_root=f'{data}/',
                                      bbox_file=f'{data}/annotations/person_detection_results_val.json')
        for split in ('val_evaluator', 'test_evaluator'):
            cfg[split].ann_file = f'{data}/annotations/person_keypoints_val.json'
    cfg.train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=100, val_begin=100)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.default_hooks.logger.interval = 1
    cfg.custom_hooks = [dict(type='SafeCheckpointHook')]
    cfg.env_cfg.mp_cfg.opencv_num_threads = cv2.getNumThreads()  # leave the test process as it is
    cfg.work_dir = str(work_dir) if work_dir else None
    return cfg


def _build_runner(cfg):
    from mmengine.runner import Runner
    from mmpose.registry import RUNNERS
    cls = RUNNERS.get(cfg.get('runner_type', 'Runner')) or Runner
    return cls.from_cfg(cfg)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """One epoch (2 iterations) of the shrunk demo config with our Runner: the
    data, the checkpoint, and the runner."""
    from mmpose_lite.datasets.synthetic import generate_synthetic_coco
    root = tmp_path_factory.mktemp('trained')
    data = root / 'data'
    generate_synthetic_coco(str(data), num_train=4, num_val=2, seed=0)
    runner = _build_runner(_demo_cfg(data, root / 'work'))
    runner.train()
    ckpt = root / 'work' / 'epoch_1.pth'
    assert ckpt.is_file()
    return dict(data=data, ckpt=ckpt, runner=runner, root=root)


def test_crafted_pickle_is_refused_by_init_model_inferencer_and_runner(crafted, trained, tmp_path):
    from mmpose.apis import MMPoseInferencer, init_model
    path, marker = crafted
    cfg = _demo_cfg(trained['data'])
    with pytest.raises(pickle.UnpicklingError, match='Weights only load failed'):
        init_model(cfg, str(path), device='cpu')  # torch's own refusal (MMPose does not name the file)
    assert not marker.exists()
    cfg_file = tmp_path / 'cfg.py'
    cfg.dump(str(cfg_file))
    with pytest.raises(pickle.UnpicklingError, match='Weights only load failed'):
        MMPoseInferencer(pose2d=str(cfg_file), pose2d_weights=str(path), det_model='whole_image', device='cpu')
    assert not marker.exists()
    runner = trained['runner']
    if type(runner).__name__ != 'LiteRunner':
        pytest.skip('the config does not select LiteRunner')
    with pytest.raises(UnsafeCheckpointExit, match='tools/upgrade_checkpoint.py --trust') as info:
        runner.load_checkpoint(str(path))  # a clean exit with the message, as a run ends
    assert str(path) in str(info.value)
    assert not marker.exists()


# ------------------------------------------------------- Runner checkpoints
def test_runner_checkpoint_loads_weights_only_init_model_inferencer_and_visualizer(trained, tmp_path):
    from mmpose.apis import MMPoseInferencer, inference_topdown, init_model
    from mmpose.structures import merge_data_samples
    from mmpose.visualization import PoseLocalVisualizer
    ckpt = _weights_only(trained['ckpt'])
    assert ENCODED_KEY in ckpt and type(ckpt['message_hub']['log_scalars']['train/loss']) is dict
    meta = ckpt['meta']['dataset_meta']
    assert isinstance(meta['sigmas'], list) and len(meta['sigmas']) == 17
    cfg = _demo_cfg(trained['data'])
    model = init_model(cfg, str(trained['ckpt']), device='cpu')
    assert model.dataset_meta['keypoint_colors'] == meta['keypoint_colors']
    torch.testing.assert_close(model.state_dict(), trained['runner'].model.state_dict())
    img = str(next((trained['data'] / 'val').glob('*.jpg')))
    sample = merge_data_samples(inference_topdown(model, img))
    assert sample.pred_instances.keypoints.shape == (1, 17, 2)
    # the visualizer draws from the plain lists exactly what it draws from the numpy originals
    import cv2
    image = np.ascontiguousarray(cv2.imread(img)[..., ::-1])
    h, w = image.shape[:2]
    sample.pred_instances.keypoints = np.stack([np.linspace(10, w - 10, 17), np.linspace(10, h - 10, 17)], -1)[None]
    drawn = []
    for dataset_meta in (model.dataset_meta, trained['runner'].train_dataloader.dataset.metainfo):
        vis = PoseLocalVisualizer(radius=2, line_width=1)
        vis.set_dataset_meta(dataset_meta)
        drawn.append(vis.add_datasample('x', image, data_sample=sample, draw_gt=False, kpt_thr=-1.0, show=False))
    assert isinstance(trained['runner'].train_dataloader.dataset.metainfo['sigmas'], np.ndarray)
    assert drawn[0].shape == image.shape and not np.array_equal(drawn[0], image)
    assert np.array_equal(drawn[0], drawn[1])
    cfg_file = tmp_path / 'cfg.py'
    cfg.dump(str(cfg_file))
    inferencer = MMPoseInferencer(pose2d=str(cfg_file), pose2d_weights=str(trained['ckpt']),
                                  det_model='whole_image', device='cpu')
    result = next(inferencer(img, return_vis=True, kpt_thr=-1.0))
    assert len(result['predictions'][0]) == 1 and result['visualization'][0].shape == image.shape


def test_resume_restores_the_runner_state_exactly(trained):
    """Resuming from the checkpoint (weights-only loaded, then decoded by the
    hook) gives MMEngine the exact objects: the dataset meta pickles the same
    (Runner.resume's check), the loss history continues, no warnings."""
    root = trained['root']
    cfg = _demo_cfg(trained['data'], root / 'resumed', max_epochs=2)
    cfg.resume, cfg.load_from = True, str(trained['ckpt'])
    runner = _build_runner(cfg)
    warnings = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: warnings.append(record.getMessage())
    runner.logger.addHandler(handler)
    try:
        runner.train()
    finally:
        runner.logger.removeHandler(handler)
    assert runner.epoch == 2 and (root / 'resumed' / 'epoch_2.pth').is_file()
    loss = runner.message_hub.get_scalar('train/loss')
    per_epoch = len(runner.train_dataloader)
    assert per_epoch > 1 and len(loss.data[0]) == 2 * per_epoch, 'the loss history of epoch 1 was not restored'
    assert not [w for w in warnings if 'metainfo' in w or 'HistoryBuffer' in w or 'resum' in w], warnings
    decoded = decode_checkpoint(_weights_only(trained['ckpt']))
    assert pickle.dumps(decoded['meta']['dataset_meta']) == pickle.dumps(runner.train_dataloader.dataset.metainfo)


def test_old_format_is_refused_pointing_at_the_opt_in_and_loads_through_it(trained, tmp_path, capsys):
    from mmpose.apis import init_model
    # what earlier versions wrote: the Runner's objects pickled as they are
    old_ckpt = decode_checkpoint(_weights_only(trained['ckpt']))
    old = tmp_path / 'old.pth'
    torch.save(old_ckpt, old)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(old, weights_only=True)
    cfg = _demo_cfg(trained['data'])
    model = init_model(cfg, None, device='cpu')
    with pytest.raises(UnsafeCheckpointError) as info:
        load_weights(model, str(old))
    msg = str(info.value)
    assert str(old) in msg and f'upgrade_checkpoint.py --trust {old} NEW.pth' in msg
    assert "objects MMEngine's Runner stores" in msg and 'HistoryBuffer' in msg and 'numpy' in msg
    assert load_weights(model, str(old), trusted=True) == dict(missing=[], unexpected=[])
    torch.testing.assert_close(model.state_dict(), old_ckpt['state_dict'])

    new = tmp_path / 'new.pth'
    from mmpose_lite.engine.safe_checkpoint import main
    assert main([str(old), str(new)]) == 1  # the tool without --trust
    assert '--trust' in capsys.readouterr().err and not new.exists()
    done = subprocess.run([sys.executable, str(UPGRADE_TOOL), '--trust', str(old), str(new)], capture_output=True,
                          text=True, env=ENV, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    upgraded = _weights_only(new)
    _assert_same_checkpoint(decode_checkpoint(upgraded), old_ckpt)
    runner = trained['runner']
    if type(runner).__name__ == 'LiteRunner':
        with pytest.raises(UnsafeCheckpointExit, match='upgrade_checkpoint'):
            runner.load_checkpoint(str(old))
        runner.load_checkpoint(str(new))


# --------------------------------------------------------------- subprocesses
_STATE_SCRIPT = r'''
import importlib, inspect, json, sys, types
pre = json.loads(sys.argv[1])
for name in pre:
    try:
        importlib.import_module(name)
    except Exception:
        pass

import copyreg, os, random, warnings
import numpy as np
import torch
from mmengine.runner import CheckpointLoader

def flags():
    out = {}
    probes = {
        'default_dtype': lambda: str(torch.get_default_dtype()),
        'default_device': lambda: str(torch.get_default_device()),
        'num_threads': torch.get_num_threads, 'num_interop_threads': torch.get_num_interop_threads,
        'deterministic': torch.are_deterministic_algorithms_enabled,
        'deterministic_warn_only': torch.is_deterministic_algorithms_warn_only_enabled,
        'matmul_precision': torch.get_float32_matmul_precision, 'grad': torch.is_grad_enabled,
        'anomaly': torch.is_anomaly_enabled, 'inference_mode': torch.is_inference_mode_enabled,
        'autocast_cpu': lambda: torch.is_autocast_enabled('cpu'),
        'printoptions': lambda: repr(torch._tensor_str.PRINT_OPTS.__dict__),
        'np_err': lambda: repr(np.geterr()), 'np_print': lambda: repr(np.get_printoptions()),
        'cv2_threads': lambda: __import__('cv2').getNumThreads(),
        'mp_start': lambda: __import__('multiprocessing').get_start_method(allow_none=True),
        'recursion': sys.getrecursionlimit,
        'rng_random': lambda: repr(random.getstate()), 'rng_numpy': lambda: repr(np.random.get_state()),
        'rng_torch': lambda: torch.get_rng_state().tolist(),
        'root_logger': lambda: repr((logging.getLogger().level, logging.getLogger().handlers)),
    }
    import logging
    for mod, names in {'cudnn': ['enabled', 'benchmark', 'deterministic', 'allow_tf32'],
                       'mkldnn': ['enabled', 'deterministic'], 'opt_einsum': ['enabled', 'strategy'],
                       'cuda.matmul': ['allow_tf32', 'allow_fp16_reduced_precision_reduction',
                                       'allow_bf16_reduced_precision_reduction'],
                       'mha': ['get_fastpath_enabled'], 'nnpack': ['enabled']}.items():
        for n in names:
            probes[f'backends.{mod}.{n}'] = (lambda m=mod, n=n: (lambda v: v() if callable(v) else v)(
                getattr(eval('torch.backends.' + m), n)))
    for k, f in probes.items():
        try:
            out[k] = f()
        except Exception as e:
            out[k] = 'unreadable: ' + type(e).__name__
    return out

def registries():
    import torch.nn.modules.module as M
    from mmengine.logging import HistoryBuffer
    out = {'CheckpointLoader._schemes': dict(CheckpointLoader._schemes),
           'torch.serialization.get_safe_globals': list(torch.serialization.get_safe_globals()),
           'torch.serialization._package_registry': list(torch.serialization._package_registry),
           'copyreg.dispatch_table': dict(copyreg.dispatch_table),
           'warnings.filters': list(warnings.filters), 'sys.path': list(sys.path),
           'sys.meta_path': list(sys.meta_path), 'sys.path_hooks': list(sys.path_hooks),
           'os.environ': dict(os.environ),
           'HistoryBuffer._statistics_methods': dict(HistoryBuffer._statistics_methods)}
    for name, value in vars(M).items():
        if name.startswith('_global_') and isinstance(value, dict):
            out['torch.nn.modules.module.' + name] = dict(value)
    return out

def attributes():
    """Every attribute of every loaded module and of the classes they define,
    and the code and defaults of every function among them."""
    out = {}
    for mname, mod in list(sys.modules.items()):
        if mname.startswith('mmpose_lite') or mname in ('__main__', '__mp_main__') or \
                not isinstance(mod, types.ModuleType):
            continue
        try:
            items = dict(vars(mod))
        except TypeError:
            continue
        out[('module', mname)] = items
        for value in items.values():
            if isinstance(value, type) and getattr(value, '__module__', None) == mname:
                try:
                    out[('class', mname + '.' + value.__qualname__)] = dict(vars(value))
                except TypeError:
                    pass
    return out

def as_function(v):
    try:
        f = v.__func__ if isinstance(v, (classmethod, staticmethod, types.MethodType)) else v
    except Exception:
        return None
    return f if isinstance(f, types.FunctionType) else None

def funcs(attrs):
    out = {}
    for key, items in attrs.items():
        for n, v in items.items():
            f = as_function(v)
            if f is not None:
                out[(key, n)] = (f.__code__, f.__defaults__, dict(f.__kwdefaults__ or {}))
    return out

def equal(a, b):
    try:
        return bool(a == b)
    except Exception:
        return False

def same(a, b):
    """The same object, an equal immutable value, or a lazy-import placeholder
    (importlib_metadata's) replaced by the module it stands for."""
    return a is b or (type(a) in (int, float, str, bool, bytes, tuple, frozenset, type(None))
                      and type(a) is type(b) and equal(a, b)) or (
        type(a).__module__.startswith('lazy_importer') and isinstance(b, types.ModuleType))

def compare(before, after, diffs, what):
    for k in sorted(set(before) | set(after), key=repr):
        if k not in after:
            diffs.append(f'{what}: {k!r} removed')
        elif k not in before:
            diffs.append(f'{what}: {k!r} added')
        elif not (same(before[k], after[k]) or equal(before[k], after[k])):
            diffs.append(f'{what}: {k!r} changed')

IGNORED = {'__warningregistry__', '__slotnames__'}  # bookkeeping Python itself adds

snap = (flags(), registries(), attributes())
fn = funcs(snap[2])
import mmpose_lite  # noqa
after = (flags(), registries(), attributes())
diffs = []
compare(snap[0], after[0], diffs, 'flag')
for name in snap[1]:
    b, a = snap[1][name], after[1].get(name)
    if isinstance(b, dict):
        compare(b, a, diffs, name)
    elif len(b) != len(a) or not all(x is y or equal(x, y) for x, y in zip(b, a)):
        diffs.append(f'{name} changed: {len(b)} -> {len(a)} entries')
for key, items in snap[2].items():
    now = after[2].get(key)
    if now is None:
        continue
    for n in set(items) | set(now):
        if n in IGNORED:
            continue
        if n not in now or n not in items or not same(items[n], now[n]):
            diffs.append(f'{key[0]} {key[1]}: attribute {n!r} ' + ('added' if n not in items else
                         'removed' if n not in now else 'replaced'))
for key, (code, defaults, kw) in fn.items():
    f = as_function(snap[2][key[0]][key[1]])
    if f.__code__ is not code or f.__defaults__ != defaults or dict(f.__kwdefaults__ or {}) != kw:
        diffs.append(f'function {key[0][1]}.{key[1]}: code or defaults changed')
print(json.dumps(dict(diffs=diffs, modules=len([k for k in snap[2] if k[0] == 'module']),
                      classes=len([k for k in snap[2] if k[0] == 'class']), functions=len(fn))))
'''


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_import_changes_no_global_state(tmp_path):
    """A fresh process first imports everything ``import mmpose_lite`` imports
    (as listed by another fresh process), takes a snapshot, imports
    mmpose_lite and compares: MMEngine's checkpoint loaders, torch.load and
    every other function's identity, code and defaults, the attributes of
    every loaded module and of their classes (torch.nn.functional included),
    torch's safe globals and global hooks, warnings filters, torch/numpy/
    OpenCV flags, RNG states, sys.path and the environment."""
    listed = subprocess.run([sys.executable, '-c', 'import sys, json, mmpose_lite; '
                             'print(json.dumps([m for m in sys.modules if not m.startswith("mmpose_lite")]))'],
                            capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=240)
    assert listed.returncode == 0, listed.stderr[-2000:]
    modules = json.loads(listed.stdout.strip().splitlines()[-1])
    script = tmp_path / 'state.py'
    script.write_text(_STATE_SCRIPT)
    run = subprocess.run([sys.executable, str(script), json.dumps(modules)], capture_output=True, text=True,
                         env=ENV, cwd=tmp_path, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result['modules'] > 500 and result['functions'] > 10000, result  # the snapshot saw the libraries
    assert result['diffs'] == [], '\n'.join(result['diffs'][:40])


def _synthetic(tmp_path):
    from mmpose_lite.datasets.synthetic import generate_synthetic_coco
    data = tmp_path / 'data'
    generate_synthetic_coco(str(data), num_train=2, num_val=2, seed=0)
    ann = data / 'annotations'
    opts = []
    for split in ('train', 'val', 'test'):
        d = f'{split}_dataloader'
        opts += [f'{d}.num_workers=0', f'{d}.persistent_workers=False', f'{d}.batch_size=2',
                 f'{d}.dataset.data_root={data}/']
    for split in ('val', 'test'):
        opts += [f'{split}_dataloader.dataset.bbox_file={ann}/person_detection_results_val.json',
                 f'{split}_evaluator.ann_file={ann}/person_keypoints_val.json']
    return opts


@pytest.mark.integration
@pytest.mark.timeout(400)
def test_crafted_pickle_is_refused_by_mim_test_and_train_resume(crafted, tmp_path):
    """Through MMPose's own test and train scripts (``mim test --checkpoint``,
    ``mim train --resume``): refused, the file named, the marker never made."""
    mim = mim_executable()
    if mim is None:
        pytest.skip('the mim command is not installed')
    path, marker = crafted
    opts = _synthetic(tmp_path)
    run = dict(cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    for cmd in (['test', 'mmpose', str(DEMO), '--checkpoint', str(path)],
                ['train', 'mmpose', str(DEMO), '--resume', str(path)]):
        done = subprocess.run([mim, *cmd, '--gpus', '0', '--work-dir', str(tmp_path / cmd[0]),
                               '--cfg-options', *opts], **run)
        out = done.stdout + done.stderr
        assert done.returncode != 0, out[-3000:]
        assert not marker.exists(), f'mim {cmd[0]} ran the code in the crafted checkpoint'
        assert 'refused to load checkpoint ' + str(path) in out, out[-3000:]
        assert 'upgrade_checkpoint.py --trust' in out


_HOST_SCRIPT = r'''
import json, warnings
import torch, mmengine, mmpose
from mmengine.runner import CheckpointLoader
def snap():
    return dict(filters=[repr(f) for f in warnings.filters],
                loaders={k: repr(v) for k, v in CheckpointLoader._schemes.items()},
                load=repr(torch.load))
before = snap()
import mmpose_lite
print(json.dumps(dict(before=before, after=snap())))
'''


def test_import_into_a_bare_host_changes_no_warnings_filter_or_loader(tmp_path):
    """The other state test pre-imports every library mmpose_lite loads, which
    hides what those libraries do as they load. Here the host has imported only
    torch, MMEngine and MMPose: mmcv.cnn, MMPose's models, scipy and sympy load
    during the import and add warnings filters, which must not stay behind."""
    run = subprocess.run([sys.executable, '-c', _HOST_SCRIPT], capture_output=True, text=True, env=ENV,
                         cwd=tmp_path, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    state = json.loads(run.stdout.strip().splitlines()[-1])
    assert state['after'] == state['before']
