"""The converter framework: reading source files safely, registration, the
atomic write (the converters themselves: one test module each)."""
import numpy as np
import pytest
import torch

from mmpose_lite.convert import ConversionError, convert_checkpoint, read_state_dict, register_converter
from mmpose_lite.convert.base import CONVERTERS


def test_read_state_dict_finds_the_tensors_and_drops_module_prefixes(tmp_path):
    path = tmp_path / 'ckpt.pth'
    torch.save({'meta': {'epoch': 3}, 'state_dict': {'module.a.weight': torch.ones(2), 'b': torch.zeros(1)}}, path)
    sd = read_state_dict(str(path))
    assert set(sd) == {'a.weight', 'b'} and torch.equal(sd['a.weight'], torch.ones(2))


def test_read_state_dict_refuses_objects_unless_trusted(tmp_path):
    path = tmp_path / 'with_numpy.pth'
    torch.save({'state_dict': {'w': torch.ones(1)}, 'history': np.zeros(2)}, path)
    with pytest.raises(ConversionError, match='--trust'):
        read_state_dict(str(path))
    assert set(read_state_dict(str(path), trusted=True)) == {'w'}


@pytest.mark.parametrize('content, match', [
    (b'# not a checkpoint\n', 'cannot read .* as a PyTorch checkpoint'),
    (None, 'does not exist'),
])
def test_read_state_dict_names_a_file_it_cannot_read(tmp_path, content, match):
    path = tmp_path / 'file.pth'
    if content is not None:
        path.write_bytes(content)
    with pytest.raises((ConversionError, FileNotFoundError), match=match):
        read_state_dict(str(path))


def test_a_source_name_is_registered_once():
    @register_converter('test-only-source', help='for this test')
    def first(state_dict):
        return dict(state_dict)

    try:
        with pytest.raises(KeyError, match='already registered'):
            register_converter('test-only-source')(lambda sd: sd)
    finally:
        del CONVERTERS['test-only-source']


def test_nothing_is_written_when_the_conversion_fails(tmp_path):
    src, dst = tmp_path / 'src.pth', tmp_path / 'out' / 'dst.pth'
    torch.save({'state_dict': {'neck.w': torch.ones(1)}}, src)
    with pytest.raises(ConversionError, match='unmapped keys'):
        convert_checkpoint('xhrnet-authors', str(src), str(dst))
    assert not dst.exists() and not list(tmp_path.glob('out/.dst.pth.*'))
