"""The command-line tools refuse bad arguments at once (argparse's usage error,
exit status 2, naming the argument, the problem and what to do), before they
build, measure, generate or train anything, and overwrite nothing."""
import pytest

from mmpose_lite import demo
from mmpose_lite.benchmark import cli, entries, measure
from mmpose_lite.datasets import synthetic
from mmpose_lite.deploy import onnx
from ..conftest import REPO

SYNTH_CFG = REPO / 'configs' / 'body_2d_keypoint' / 'topdown_heatmap' / 'synthetic'
XHRNET_DEMO = str(SYNTH_CFG / 'td-hm_xhrnet-s18_demo_synthcoco-128x96.py')


def _usage_error(capsys, main, argv) -> str:
    """Run ``main(argv)``, expecting argparse's exit status 2; its stderr."""
    with pytest.raises(SystemExit) as err:
        main(argv)
    assert err.value.code == 2
    return capsys.readouterr().err


@pytest.fixture
def blocker(tmp_path):
    """A regular file: any folder under it cannot be created."""
    path = tmp_path / 'a_file'
    path.write_text('keep me')
    return path


def _config_with_backbone(tmp_path, **backbone):
    path = tmp_path / 'bad_model.py'
    path.write_text(f"_base_ = [{XHRNET_DEMO!r}]\nmodel = dict(backbone=dict(_delete_=True, **{backbone!r}))\n")
    return str(path)


# ------------------------------------------------------------------ export
def test_export_bad_config_path(tmp_path, capsys):
    out = tmp_path / 'm.onnx'
    err = _usage_error(capsys, onnx.main, ['configs/no_such.py', str(out)])
    assert 'config configs/no_such.py does not exist' in err and "one of ours as 'mmpose_lite::" in err
    assert not out.exists()


@pytest.mark.parametrize('size,expected', [
    (('100', '100'), 'input size 100x100 must be divisible by 32'),
    (('0', '128'), 'width and height must be positive'),
])
def test_export_bad_input_size(tmp_path, capsys, size, expected):
    out = tmp_path / 'm.onnx'
    out.write_bytes(b'an earlier export')
    err = _usage_error(capsys, onnx.main, [XHRNET_DEMO, str(out), '--input-size', *size])
    assert '--input-size' in err and expected in err
    if size[0] != '0':
        assert 'Resize or pad the images to multiples of 32, e.g. 128x128' in err
    assert out.read_bytes() == b'an earlier export' and [p.name for p in tmp_path.iterdir()] == ['m.onnx']


def test_export_unknown_model_type(tmp_path, capsys):
    err = _usage_error(capsys, onnx.main, [_config_with_backbone(tmp_path, type='XHRNett'), str(tmp_path / 'm.onnx')])
    assert 'bad_model.py: its model cannot be built' in err
    assert 'XHRNett is not in the mmpose::model registry' in err and "Did you mean 'XHRNet'" in err


def test_export_unknown_preset(tmp_path, capsys):
    err = _usage_error(capsys, onnx.main, [_config_with_backbone(tmp_path, type='XHRNet', arch='s19'),
                                           str(tmp_path / 'm.onnx')])
    assert "XHRNet: unknown arch 's19'; valid presets: ['p18', 'p30', 's18', 's30']" in err


def test_export_unwritable_folder_and_missing_checkpoint(tmp_path, capsys, blocker):
    err = _usage_error(capsys, onnx.main, [XHRNET_DEMO, str(blocker / 'sub' / 'm.onnx')])
    assert f'cannot write to the output folder {blocker / "sub"}' in err and f'{blocker} is a file' in err
    assert blocker.read_text() == 'keep me'
    err = _usage_error(capsys, onnx.main, [XHRNET_DEMO, str(tmp_path / 'm.onnx'), '--checkpoint', 'nope.pth'])
    assert '--checkpoint nope.pth does not exist' in err


def test_export_at_another_input_size(tmp_path, capsys):
    """--input-size works when the model can take it."""
    out = tmp_path / 'm.onnx'
    status = onnx.main([str(SYNTH_CFG / 'td-hm_stacked-hourglass-tiny_demo_synthcoco-128x96.py'), str(out),
                        '--input-size', '64', '32'])
    assert status == 0 and 'input 64x32' in capsys.readouterr().out
    assert out.stat().st_size > 0 and [p.name for p in tmp_path.iterdir()] == ['m.onnx']  # no temporary file left


# --------------------------------------------------------------- benchmark
def test_benchmark_unknown_model_name(capsys, tmp_path):
    err = _usage_error(capsys, cli.main, ['--models', 'XHRNet-S81', '--out-dir', str(tmp_path)])
    assert "--models ['XHRNet-S81']: no such row (did you mean 'XHRNet-S18'" in err and 'valid names:' in err
    assert all(e.name in err for e in entries.ENTRIES)


def test_benchmark_bad_config_path(capsys, tmp_path):
    err = _usage_error(capsys, cli.main, ['--config', 'configs/nope.py', '--out-dir', str(tmp_path)])
    assert 'config configs/nope.py does not exist' in err


@pytest.mark.parametrize('size,expected', [
    (('100', '96'), '--input-size 100 96: width and height must be multiples of 32 (the HR backbones halve the '
                    'input five times), e.g. 128 96'),
    (('-64', '64'), 'must be at least 32, got -64'),
    (('64', 'x'), "'x' is not an integer"),
])
def test_benchmark_bad_input_size(capsys, tmp_path, size, expected):
    assert expected in _usage_error(capsys, cli.main, ['--input-size', *size, '--out-dir', str(tmp_path)])


@pytest.mark.parametrize('argv,expected', [
    (['--threads', '0'], 'argument --threads: must be at least 1, got 0'),
    (['--repeats', '0'], 'argument --repeats: must be at least 1, got 0'),
    (['--batch', '-1'], 'argument --batch: must be at least 0, got -1'),
    (['--train-step', '2', '--batch', '0'], '--train-step needs a batch'),
])
def test_benchmark_bad_numbers(capsys, tmp_path, argv, expected):
    assert expected in _usage_error(capsys, cli.main, [*argv, '--out-dir', str(tmp_path)])


def test_benchmark_unwritable_out_dir(capsys, blocker):
    err = _usage_error(capsys, cli.main, ['--models', 'XHRNet-S18', '--out-dir', str(blocker / 'bench')])
    assert f'cannot write to the --out-dir {blocker / "bench"}' in err
    assert blocker.read_text() == 'keep me'


def test_benchmark_input_size_a_model_cannot_take():
    """--input-size reaches each model; one that cannot take it says so."""
    entry = entries.config_entry(str(SYNTH_CFG / 'td-hm_stacked-hourglass-tiny_demo_synthcoco-128x96.py'))
    row = measure.measure(entry, runtimes=(), repeats=1, batch=0, input_size=(64, 32))
    assert row['input'] == '32x64'
    from mmpose_lite.models.backbones.base import InputShapeError
    with pytest.raises(InputShapeError, match='input size 48x64 must be divisible by 32'):
        measure.measure(entry, runtimes=(), repeats=1, batch=0, input_size=(64, 48))


# --------------------------------------------------------------- generator
@pytest.mark.parametrize('argv,expected', [
    (['--num-train', '-1'], 'num_train must be a non-negative integer, got -1'),
    (['--num-val', '-3'], 'num_val must be a non-negative integer, got -3'),
    (['--img-size', '10', '200'], 'img_size must have width and height in [64, 4096], got (10, 200)'),
    (['--jpeg-quality', '0'], 'jpeg_quality must be an integer in [1, 100], got 0'),
    (['--workers', '-1'], 'workers must be a non-negative integer, got -1'),
])
def test_generator_bad_arguments(capsys, tmp_path, argv, expected):
    out = tmp_path / 'synth'
    assert expected in _usage_error(capsys, synthetic.main, [str(out), *argv])
    assert not out.exists()


def test_generator_unwritable_folder(capsys, blocker):
    with pytest.raises(OSError) as err:
        synthetic.generate_synthetic_coco(str(blocker / 'synth'), num_train=1, num_val=1)
    assert f'cannot write to the synthetic data folder (out_dir) {blocker / "synth"}' in str(err.value)
    assert 'Choose a folder you can write to' in str(err.value)
    err = _usage_error(capsys, synthetic.main, [str(blocker / 'synth'), '--num-train', '1'])
    assert f'{blocker} is a file, not a folder' in err
    assert blocker.read_text() == 'keep me'


# -------------------------------------------------------------------- demo
def test_demo_unwritable_work_dir(capsys, tmp_path, blocker):
    """Stops before generating data or training, naming the folder."""
    data = tmp_path / 'data'
    err = _usage_error(capsys, demo.main, ['--work-dir', str(blocker / 'work'), '--data-root', str(data)])
    assert f'cannot write to the --work-dir {blocker / "work"}' in err
    assert not data.exists() and blocker.read_text() == 'keep me'


@pytest.mark.parametrize('argv,expected', [
    (['--epochs', '0'], 'argument --epochs: must be at least 1, got 0'),
    (['--num-train', '-5'], 'argument --num-train: must be at least 1, got -5'),
    (['--num-vis', 'many'], "argument --num-vis: 'many' is not an integer"),
    (['--config', 'configs/nope.py'], '--config configs/nope.py does not exist'),
])
def test_demo_bad_arguments(capsys, tmp_path, argv, expected):
    data = tmp_path / 'data'
    assert expected in _usage_error(capsys, demo.main, [*argv, '--work-dir', str(tmp_path / 'w'), '--data-root',
                                                        str(data)])
    assert not data.exists()
