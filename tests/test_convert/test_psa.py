"""``psa-authors``: the authors' ``PSA_p`` / ``PSA_s`` (DeLightCMU/PSA) weights,
converted, make ``PSA(form='authors')`` compute the authors' outputs.

The reference outputs in ``tests/data/psa`` were computed by the authors'
code (``tools/fixtures/make_psa_fixture.py``; see the README there)."""
from pathlib import Path

import pytest
import torch

from mmpose_lite.convert import ConversionError, convert_checkpoint, convert_state_dict, read_state_dict
from mmpose_lite.convert.psa import NAME_MAPS
from mmpose_lite.models import AttentionHRNet
from mmpose_lite.models.units import PSA
from ..conftest import randomize_, tiny_hrnet_extra

DATA = Path(__file__).resolve().parents[1] / 'data' / 'psa'
LAYOUTS = {'p': 'parallel', 's': 'sequential'}


def _fixture(name):
    return torch.load(DATA / f'psa_{name}.pth', map_location='cpu', weights_only=True)


@pytest.mark.parametrize('name', sorted(LAYOUTS))
def test_converted_authors_weights_give_the_authors_outputs(name, tmp_path):
    ref = _fixture(name)
    channels = ref['meta']['channels']
    # through the file path, as tools/convert_checkpoint.py does
    dst = convert_checkpoint('psa-authors', str(DATA / f'psa_{name}.pth'), str(tmp_path / 'ours.pth'))
    state = torch.load(dst, weights_only=True)['state_dict']
    unit = PSA(channels, layout=LAYOUTS[name], form='authors').eval()
    unit.load_state_dict(state, strict=True)
    with torch.no_grad():
        y = unit(ref['input'])
    torch.testing.assert_close(y, ref['output'], atol=1e-4, rtol=0)
    # the paper's form is another function (so the comparison above can fail)
    paper = PSA(channels, layout=LAYOUTS[name]).eval()
    with torch.no_grad():
        own = paper.state_dict()
        paper.load_state_dict({k: v for k, v in state.items() if k in own and own[k].shape == v.shape}, strict=False)
        assert (paper(ref['input']) - ref['output']).abs().max() > 1e-2


def test_the_layout_is_read_from_the_keys():
    p, s = (convert_state_dict('psa-authors', _fixture(n)['state_dict']) for n in ('p', 's'))
    assert set(p) == set(NAME_MAPS['parallel'].values()) and 'channel.wz_out.conv.weight' in s
    assert s['channel.ln.weight'].shape == (16 // 2 // 4, )  # LayerNorm([C/8, 1, 1]) -> LayerNorm(C/8)
    with pytest.raises(RuntimeError, match='Unexpected key'):
        PSA(16, layout='parallel', form='authors').load_state_dict(s)


def _to_authors(state, prefix, layout):
    """Our unit's tensors under ``prefix`` renamed to the authors' names (the inverse map)."""
    inverse = {ours: theirs for theirs, ours in NAME_MAPS[layout].items()}
    out = {}
    for key, value in state.items():
        if key.startswith(prefix):
            theirs = inverse[key[len(prefix):]]
            out[prefix.replace('.unit.', '.deattn.') + theirs] = (value.reshape(-1, 1, 1)
                                                                   if theirs.startswith('conv_up.1.') else value)
        else:
            out[key] = value
    return out


def test_a_network_with_psa_modules_converts_whole():
    """PSA_s as ``deattn`` in HRNet basic blocks (the authors' hrnetv2.py)
    becomes our ``unit``; every other key passes unchanged."""
    ours = randomize_(AttentionHRNet(tiny_hrnet_extra(), unit=dict(type='PSA', layout='sequential', form='authors')),
                      std=0.3).eval()
    state = ours.state_dict()
    prefixes = sorted({k.split('unit.')[0] + 'unit.' for k in state if '.unit.' in k})
    assert len(prefixes) == 9  # the basic blocks of stages 2-4
    theirs = state
    for prefix in prefixes:
        theirs = _to_authors(theirs, prefix, 'sequential')
    assert not any('.unit.' in k for k in theirs) and any('.deattn.conv_up.1.weight' in k for k in theirs)
    back = convert_state_dict('psa-authors', theirs, add_prefix='backbone.')
    assert set(back) == {'backbone.' + k for k in state}
    for k, v in state.items():
        torch.testing.assert_close(back['backbone.' + k], v, rtol=0, atol=0)


def test_the_authors_hrnet_converts_strictly_to_attention_hrnet():
    """The names and shapes of the authors' HRNet with PSA_s (hrnetv2.py, made
    by their code at a tiny width): every tensor finds its place in
    AttentionHRNet with ``form='authors'`` units, nothing left over."""
    theirs = {}
    for line in (DATA / 'hrnet_psa_s_keys.txt').read_text().splitlines():
        name, _, shape = line.partition(' ')
        theirs[name] = torch.zeros([int(s) for s in shape.split(',')] if shape else [])
    assert sum('.deattn.' in k for k in theirs) == 90  # 9 basic blocks x 10 tensors
    ours = AttentionHRNet(tiny_hrnet_extra(multiscale=True),
                          unit=dict(type='PSA', layout='sequential', form='authors'))
    ours.load_state_dict(convert_state_dict('psa-authors', theirs), strict=True)


def test_bad_sources_are_named():
    state = _fixture('s')['state_dict']
    with pytest.raises(ConversionError, match='no PSA_p / PSA_s module found'):
        convert_state_dict('psa-authors', {'conv1.weight': torch.zeros(1)})
    missing = {k: v for k, v in state.items() if k != 'conv_q_left.weight'}
    with pytest.raises(ConversionError, match=r"missing \['conv_q_left.weight'\]"):
        convert_state_dict('psa-authors', missing)
    with pytest.raises(ConversionError, match=r"unexpected \['conv_extra.weight'\]"):
        convert_state_dict('psa-authors', {**state, 'conv_extra.weight': torch.zeros(1)})
    wide = dict(state, **{'conv_up.3.weight': torch.zeros(32, 2, 1, 1)})
    with pytest.raises(ConversionError, match='maps 16 channels to 32'):
        convert_state_dict('psa-authors', wide)
    with pytest.raises(ConversionError, match='neither'):
        convert_state_dict('psa-authors', {'conv_q_right.weight': torch.zeros(1, 8, 1, 1)})


def test_fixture_is_what_its_readme_says():
    for name, cls in (('p', 'PSA_p'), ('s', 'PSA_s')):
        ref = _fixture(name)
        assert ref['meta']['cls'] == cls and ref['input'].shape == ref['output'].shape
        assert read_state_dict(str(DATA / f'psa_{name}.pth')).keys() == ref['state_dict'].keys()
    assert '20e307ad708ae6a39239aa50ffa32e0c36c92894' in (DATA / 'README.md').read_text()
