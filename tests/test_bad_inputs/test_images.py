"""An image that fails to load mid-run is named with what is wrong with it
(MMPose alone gives an OpenCV assertion or 'check whether the file exists')."""
from pathlib import Path

import numpy as np
import pytest
import torch

from mmpose_lite.datasets.checked import AnnotationError, CorruptImageError, image_problem
from .conftest import coco_dataset, load_json, snapshot

PIPELINE = [dict(type='LoadImage'), dict(type='GetBBoxCenterScale'),
            dict(type='TopdownAffine', input_size=(64, 64)), dict(type='PackPoseInputs')]


def _damage(path, how: str) -> None:
    data = path.read_bytes()
    if how == 'empty':
        path.write_bytes(b'')
    elif how == 'random':
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    elif how == 'html':
        path.write_bytes(b'<!DOCTYPE html><html><body>404 Not Found</body></html>')
    elif how == 'truncated':
        path.write_bytes(data[:300])
    elif how == 'damaged':  # a JPEG header and end marker around garbage
        path.write_bytes(data[:20] + bytes(200) + data[-2:])


EXPECTED = {
    'empty': 'the file is empty (0 bytes)',
    'random': 'the file is not an image: its first bytes are',
    'html': "the file is not an image: its first bytes are 3c 21 44 4f 43 54 59 50 45 20 68 74 6d 6c 3e 3c "
            "('<!DOCTYPE html><')",
    'truncated': 'the file is a truncated JPEG (300 bytes, no end-of-image marker): it was cut off',
    'damaged': 'OpenCV cannot decode this JPEG file',
}


@pytest.mark.parametrize('how', sorted(EXPECTED))
def test_image_problem_says_what_is_wrong(synth, how):
    path = next((synth / 'train').iterdir())
    assert image_problem(str(path)) is None
    _damage(path, how)
    assert EXPECTED[how] in image_problem(str(path))
    assert image_problem(str(synth / 'nope.jpg')) == 'the file does not exist'


def _dataset_then_damage(synth, how):
    """The dataset loads (the up-front checks pass), then one of its images
    goes bad, as a file replaced or damaged during a run would."""
    ds = coco_dataset(synth, pipeline=PIPELINE)
    ds[0]  # a good image loads
    path = ds.get_data_info(1)['img_path']
    _damage(Path(path), how)
    return ds, path


@pytest.mark.parametrize('how', ['empty', 'random', 'truncated'])
def test_corrupt_image_mid_run_is_named(synth, how):
    ds, path = _dataset_then_damage(synth, how)
    before = snapshot(synth)
    with pytest.raises(CorruptImageError) as err:
        ds[1]
    msg = str(err.value)
    assert f'image {path} (sample 1, image id' in msg and EXPECTED[how] in msg
    assert 'Replace the file' in msg and 'regenerate' in msg and 'person_keypoints_train.json' in msg
    assert err.value.path == path and err.value.message == msg
    exit_ = err.value.as_exit()
    assert isinstance(exit_, SystemExit) and str(exit_) == msg
    assert snapshot(synth) == before


def test_corrupt_image_in_a_dataloader_worker(synth):
    """A worker process passes the error on; the message stays readable."""
    ds, path = _dataset_then_damage(synth, 'random')
    batches = iter(torch.utils.data.DataLoader(ds, batch_size=1, num_workers=1, collate_fn=lambda b: b))
    with pytest.raises(CorruptImageError) as err:
        for _ in batches:
            pass
    err.value.__traceback__ = None
    del batches  # the worker stops now, not at the end of the session
    assert 'in DataLoader worker process 0' in str(err.value)
    assert err.value.message.startswith(f'CheckedCocoDataset: image {path} (sample ')
    assert err.value.message.endswith('person_keypoints_train.json.')
    assert EXPECTED['random'] in err.value.message
    assert str(err.value.as_exit()) == err.value.message


def test_other_pipeline_errors_pass_unchanged(synth):
    """A failure that is not the image's is not blamed on it."""
    ds = coco_dataset(synth, pipeline=[dict(type='LoadImage'), dict(type='TopdownAffine', input_size=(64, 64))])
    with pytest.raises(KeyError, match='bbox_scale'):
        ds[0]


def test_zero_byte_image_is_refused_at_load(synth):
    """The cheap up-front check: a zero-byte file stops the run before training."""
    name = load_json(synth / 'annotations' / 'person_keypoints_train.json')['images'][2]['file_name']
    (synth / 'train' / name).write_bytes(b'')
    with pytest.raises(AnnotationError, match=r'000000000003\.jpg \(empty file, 0 bytes\)'):
        coco_dataset(synth, pipeline=PIPELINE)
