"""Slide attention (unit, deploy merge, references) and the SlidePoseNet
backbone. What every backbone and unit shares (training step, ``with_cp``,
``norm_eval``, ``frozen_stages``) is tested in :mod:`.test_common_behaviour`."""
import pytest
import torch
import torch.nn.functional as F
from torch.nn.modules.batchnorm import _BatchNorm

from mmpose_lite.deploy import switch_to_deploy
from mmpose_lite.models import LightHRNet, SlidePoseNet
from mmpose_lite.models.blocks import ShuffleBlock, TokenMixerBlock
from mmpose_lite.models.units import GlobalSelfAttention, SlideAttention
from mmpose_lite.models.units.slide import slide_attention_unfold
from mmpose_lite.registry import UNITS, build_unit
from ..conftest import randomize_

#: Standard deviation of random weights here: the transformer blocks amplify large ones.
STD = 0.1


# ----------------------------------------------------------------- references


def _mix(unit):
    """Per-channel (2, C, K, K) shift matrices: identity (the one-hot shift)
    plus the deformed shift, or the merged one after deploy."""
    c, heads, kk = unit.channels, unit.num_heads, unit.kernel_size**2
    m = unit.merged_shift if unit.deploy else torch.eye(kk) + unit.deform_shift
    return m.repeat_interleave(c // heads, dim=1)


def _inside(h, w, k):
    """(K, h*w) bool: neighbour j of each position lies inside the map (by coordinates)."""
    r = k // 2
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing='ij')
    rows = []
    for j in range(k * k):
        dy, dx = j // k - r, j % k - r
        rows.append(((ys + dy >= 0) & (ys + dy < h) & (xs + dx >= 0) & (xs + dx < w)).flatten())
    return torch.stack(rows)


def _attend(unit, q, keys, values, h, w):
    """Shared tail: q (n, C, L), neighbour keys/values (n, C, K, L)."""
    n, c, kk, L = keys.shape
    heads, d = unit.num_heads, c // unit.num_heads
    logits = (q.view(n, heads, d, 1, L) * keys.view(n, heads, d, kk, L)).sum(2) * unit.scale
    logits = logits + unit.relative_position_bias.view(1, heads, kk, 1)
    if unit.mask_padding:
        logits = logits.masked_fill(~_inside(h, w, unit.kernel_size), float('-inf'))
    a = logits.softmax(2)
    out = (a.unsqueeze(2) * values.view(n, heads, d, kk, L)).sum(3).reshape(n, c, h, w)
    return unit.proj(out)


def unfold_reference(unit, x):
    """Im2Col: unfold the k x k windows, apply the shift matrices to them."""
    n, c, h, w = x.shape
    k = unit.kernel_size
    q, keys, values = unit.qkv(x).chunk(3, dim=1)
    mix = _mix(unit)
    nb = []
    for t, m in ((keys, mix[0]), (values, mix[1])):
        cols = F.unfold(t, k, padding=k // 2).view(n, c, k * k, h * w)  # window position p
        nb.append(torch.einsum('cjp,ncpl->ncjl', m, cols))
    return _attend(unit, q.flatten(2), nb[0], nb[1], h, w)


def conv_reference(unit, x):
    """The paper's form: fixed one-hot depthwise conv + learnable depthwise conv
    (two separate convolutions, kernels built here)."""
    n, c, h, w = x.shape
    k = unit.kernel_size
    kk = k * k
    onehot = torch.zeros(c * kk, 1, k, k)
    for ch in range(c):
        for j in range(kk):
            onehot[ch * kk + j, 0, j // k, j % k] = 1
    q, keys, values = unit.qkv(x).chunk(3, dim=1)
    deform = _mix(unit) - torch.eye(kk)  # (2, C, K, K): row j = flattened kernel of neighbour j
    nb = []
    for t, dk in zip((keys, values), deform):
        y = F.conv2d(t, onehot, padding=k // 2, groups=c) + \
            F.conv2d(t, dk.reshape(c * kk, 1, k, k), padding=k // 2, groups=c)
        nb.append(y.view(n, c, kk, h * w))
    return _attend(unit, q.flatten(2), nb[0], nb[1], h, w)


def naive_loop(unit, x):
    """Per-pixel python loop (tiny inputs only)."""
    n, c, h, w = x.shape
    k, heads = unit.kernel_size, unit.num_heads
    d, r, kk = c // heads, k // 2, k * k
    q, keys, values = unit.qkv(x).chunk(3, dim=1)
    mix = _mix(unit)
    out = torch.zeros(n, c, h, w)
    for y in range(h):
        for xx in range(w):
            win_k = torch.zeros(n, c, kk)
            win_v = torch.zeros(n, c, kk)
            valid = torch.zeros(kk, dtype=torch.bool)
            for p in range(kk):
                yy, xp = y + p // k - r, xx + p % k - r
                if 0 <= yy < h and 0 <= xp < w:
                    win_k[:, :, p], win_v[:, :, p] = keys[:, :, yy, xp], values[:, :, yy, xp]
                    valid[p] = True
            kn = torch.einsum('cjp,ncp->ncj', mix[0], win_k)
            vn = torch.einsum('cjp,ncp->ncj', mix[1], win_v)
            for e in range(heads):
                s = slice(e * d, (e + 1) * d)
                logit = (q[:, s, y, xx, None] * kn[:, s]).sum(1) * unit.scale + unit.relative_position_bias[e]
                if unit.mask_padding:
                    logit = logit.masked_fill(~valid, float('-inf'))
                out[:, s, y, xx] = (logit.softmax(-1)[:, None] * vn[:, s]).sum(-1)
    return unit.proj(out)


def random_unit(channels=16, num_heads=2, kernel_size=3, seed=0, **kwargs):
    """A fresh unit, its learnable shift and position bias drawn from a generator of its own."""
    g = torch.Generator().manual_seed(seed)
    unit = SlideAttention(channels, num_heads=num_heads, kernel_size=kernel_size, **kwargs)
    with torch.no_grad():
        unit.deform_shift.copy_(torch.randn(unit.deform_shift.shape, generator=g) * 0.2)
        unit.relative_position_bias.copy_(torch.randn(unit.relative_position_bias.shape, generator=g) * 0.5)
    return unit.eval()


# ----------------------------------------------------------------- the unit


@pytest.mark.parametrize('mask', [True, False])
def test_fast_path_and_unfold_equal_a_naive_loop(mask):
    unit = random_unit(8, num_heads=2, kernel_size=3, mask_padding=mask)
    x = torch.randn(2, 8, 5, 4)
    with torch.no_grad():
        ref = naive_loop(unit, x)
        for y in (unit(x), unfold_reference(unit, x), slide_attention_unfold(unit, x), conv_reference(unit, x)):
            assert (y - ref).abs().max().item() <= 1e-5


@pytest.mark.parametrize('kernel_size, heads, size', [(3, 1, (63, 47)), (3, 4, (63, 47)), (5, 2, (63, 47)),
                                                      (7, 2, (20, 13)), (1, 2, (9, 7)), (5, 2, (2, 3))])
@pytest.mark.parametrize('mask', [True, False])
def test_fast_path_equals_unfold_reference(kernel_size, heads, size, mask):
    unit = random_unit(16, num_heads=heads, kernel_size=kernel_size, mask_padding=mask)
    x = torch.randn(2, 16, *size)
    with torch.no_grad():
        ref = unfold_reference(unit, x)
        assert (unit(x) - ref).abs().max().item() <= 1e-5
        assert (slide_attention_unfold(unit, x) - ref).abs().max().item() <= 1e-5
        assert (conv_reference(unit, x) - ref).abs().max().item() <= 1e-5


def test_padded_neighbours_matter():
    """The mask changes the border outputs only, so both references check it."""
    unit = random_unit(16, kernel_size=3)
    x = torch.randn(1, 16, 9, 7)
    with torch.no_grad():
        masked = unit(x)
        unit.mask_padding = False
        plain = unit(x)
    diff = (masked - plain).abs().amax(dim=1)[0]
    assert diff[1:-1, 1:-1].max() <= 1e-6 and diff[0].min() > 1e-6 and diff[:, -1].min() > 1e-6


@pytest.mark.parametrize('kernel_size', [3, 5])
def test_switch_to_deploy_is_exact_and_idempotent(kernel_size):
    unit = random_unit(16, num_heads=2, kernel_size=kernel_size)
    x = torch.randn(2, 16, 63, 47)
    with torch.no_grad():
        y = unit(x)
        unit.switch_to_deploy()
        y_deploy = unit(x)
        unit.switch_to_deploy()  # idempotent
        y_again = unit(x)
    assert (y_deploy - y).abs().max().item() <= 1e-5 and torch.equal(y_deploy, y_again)
    names = dict(unit.named_parameters())
    assert 'deform_shift' not in names and not hasattr(unit, 'shift_kernel') and 'merged_shift' in unit.state_dict()
    # the merged kernel as the paper's one depthwise conv: conv form with it equals the unit
    conv = unit.shift_conv()
    assert conv.groups == 32 and conv.weight.shape == (32 * kernel_size**2, 1, kernel_size, kernel_size)
    with torch.no_grad():
        q, kv = unit.qkv(x).split((16, 32), dim=1)
        nb = conv(kv).view(2, 2, 16, kernel_size**2, -1)
        y_conv = _attend(unit, q.flatten(2), nb[:, 0], nb[:, 1], 63, 47)
    assert (y_conv - y).abs().max().item() <= 1e-5
    assert (slide_attention_unfold(unit, x) - y).abs().max().item() <= 1e-5


def test_gradients_reach_the_learnable_shift_and_the_fixed_shift_stays_fixed():
    unit = SlideAttention(16, num_heads=2).train()
    fixed = unit.shift_kernel.clone()
    assert torch.equal(fixed[0, 0], torch.eye(9))
    assert all(p is not unit.shift_kernel for p in unit.parameters())
    assert 'shift_kernel' not in unit.state_dict()
    opt = torch.optim.AdamW(unit.parameters(), lr=0.1, weight_decay=0.5)
    x = torch.randn(2, 16, 11, 9)
    for _ in range(2):
        opt.zero_grad()
        (unit(x) * torch.randn(2, 16, 11, 9)).sum().backward()
        g = unit.deform_shift.grad
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0
        assert unit.relative_position_bias.grad.abs().sum() > 0
        opt.step()
    assert torch.equal(unit.shift_kernel, fixed)
    assert unit.deform_shift.abs().sum() > 0  # the learnable shift did move


def test_any_size_and_registry_contract():
    unit = build_unit(dict(type='SlideAttention', kernel_size=5), 32)
    assert isinstance(unit, SlideAttention) and unit.num_heads == 1 and 'SlideAttention' in UNITS.module_dict
    for size in [(1, 1), (2, 3), (63, 47), (8, 100)]:
        assert unit(torch.randn(1, 32, *size)).shape == (1, 32, *size)
    g = build_unit(dict(type='GlobalSelfAttention', num_heads=2), 32)
    assert isinstance(g, GlobalSelfAttention) and g(torch.randn(2, 32, 5, 3)).shape == (2, 32, 5, 3)


def test_global_attention_equals_torch_mha():
    unit = GlobalSelfAttention(16, num_heads=2).eval()
    mha = torch.nn.MultiheadAttention(16, 2, batch_first=True).eval()
    with torch.no_grad():
        mha.in_proj_weight.copy_(unit.qkv.weight[:, :, 0, 0])
        mha.in_proj_bias.copy_(unit.qkv.bias)
        mha.out_proj.weight.copy_(unit.proj.weight[:, :, 0, 0])
        mha.out_proj.bias.copy_(unit.proj.bias)
        x = torch.randn(2, 16, 5, 3)
        tokens = x.flatten(2).transpose(1, 2)
        ref = mha(tokens, tokens, tokens, need_weights=False)[0].transpose(1, 2).reshape(2, 16, 5, 3)
        assert (unit(x) - ref).abs().max().item() <= 1e-5


@pytest.mark.parametrize('kwargs, match', [
    (dict(num_heads=3), 'num_heads must be a positive int dividing channels=16'),
    (dict(kernel_size=4), 'kernel_size must be an odd positive int'),
    (dict(kernel_size=0), 'kernel_size must be an odd positive int'),
])
def test_invalid_unit_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SlideAttention(16, **kwargs)


def test_slide_attention_in_the_lite_hrnet_skeleton():
    slide = dict(type='SlideAttention', num_heads=1, kernel_size=3)
    block = ShuffleBlock(32, pre=slide, post=slide)
    assert isinstance(block.branch2[0], SlideAttention) and isinstance(block.branch2[2], SlideAttention)
    model = LightHRNet(arch=dict(base='naive-18', num_modules=(1, 1, 1), block=dict(type='ShuffleBlock', pre=slide,
                                                                                     post=slide))).train()
    units = [m for m in model.modules() if isinstance(m, SlideAttention)]
    assert len(units) == 2 * 2 * (2 + 3 + 4)  # pre + post, 2 blocks per branch
    out = model(torch.randn(2, 3, 64, 64))[0]
    assert out.shape == (2, 30, 16, 16) and torch.isfinite(out).all()
    out.square().sum().backward()
    assert all(u.deform_shift.grad.abs().sum() > 0 for u in units)


# ----------------------------------------------------------------- the backbone

PRESETS = sorted(SlidePoseNet.arch_zoo)
SMALL = dict(base='light', depths=(1, 1, 1, 1))


@pytest.mark.parametrize('arch', PRESETS)
def test_backbone_output_shapes(arch):
    model = SlidePoseNet(arch=arch).eval()
    widths = SlidePoseNet.arch_zoo[arch]['widths']
    with torch.no_grad():
        outs = model(torch.rand(2, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [(2, widths[i], 16 // 2**i, 24 // 2**i) for i in range(4)]
    assert model.out_channels == list(widths)
    assert any('deform_shift' in n for n, _ in model.named_parameters())  # the learnable shifts are parameters
    assert [o.shape[1] for o in SlidePoseNet(arch=arch, out_indices=(3, 1)).eval()(torch.rand(1, 3, 32, 32))] \
        == [widths[1], widths[3]]


def test_backbone_deploy_is_exact_and_merges_the_slide_shift():
    """The package's deploy tool on SlidePoseNet: the same outputs, every
    unit's learnable shift merged, the blocks' pre-norms folded into the
    following 1x1 convs (stem/downsampling BNs stay)."""
    model = randomize_(SlidePoseNet(arch=SMALL), std=STD).eval()
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(1, 3, 96, 64, generator=g), torch.randn(1, 3, 64, 96, generator=g)]
    with torch.no_grad():
        refs = [model(x) for x in xs]
        switch_to_deploy(model)
        outs = [model(x) for x in xs]
    for ref, out in zip(refs, outs):
        assert all((a - b).abs().max().item() <= 1e-5 for a, b in zip(out, ref))
    units = [m for m in model.modules() if isinstance(m, SlideAttention)]
    assert units and all(u.deploy for u in units)
    assert not any('deform_shift' in n for n, _ in model.named_parameters())
    blocks = [m for m in model.modules() if isinstance(m, TokenMixerBlock)]
    assert blocks and all(isinstance(b.norm1, torch.nn.Identity) and isinstance(b.norm2, torch.nn.Identity)
                          for b in blocks)


def test_token_mixer_block_deploy_keeps_norm_without_pointwise_conv():
    block = randomize_(TokenMixerBlock(16, mixer=dict(type='SUSA', dim='h'), norm_cfg=dict(type='BN')),
                       std=STD).eval()
    x = torch.randn(2, 16, 8, 6)
    with torch.no_grad():
        ref = block(x)
        block.switch_to_deploy()
        block.switch_to_deploy()
        out = block(x)
    assert isinstance(block.norm1, _BatchNorm) and isinstance(block.norm2, torch.nn.Identity)
    assert (out - ref).abs().max().item() <= 1e-5


def test_backbone_arch_override():
    model = SlidePoseNet(arch=dict(base='light', depths=(1, 2, 1, 0),
                                   mixers=[dict(type='SlideAttention', kernel_size=5)] * 2 +
                                   [dict(type='SUSA', dim='h'), dict(type='GlobalSelfAttention')]))
    assert len(model.stage1) == 3 and len(model.stage3) == 1  # downsampling + blocks; downsampling only
    assert len(model.stage0) == 1 and model.stage0[0].mixer.kernel_size == 5
    assert type(model.stage2[1].mixer).__name__ == 'SUSA'
    assert model(torch.rand(1, 3, 64, 32))[3].shape == (1, 256, 2, 1)


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(arch=dict(base='light', depths=(1, 1, 1))), ValueError, 'depths needs 4 entries'),
    (dict(arch=dict(base='light', widths=(32, 0, 64, 64))), ValueError, 'positive ints'),
    (dict(arch=dict(base='light', mlp_ratio=0)), ValueError, 'mlp_ratio'),
    (dict(arch=dict(base='light', mixers=[dict(type='Nope')] * 4)), KeyError, 'valid types'),
    (dict(arch=dict(base='light', mixers=[dict(type='SlideAttention', num_heads=3)] * 4)), ValueError,
     'num_heads must be a positive int dividing channels=32'),
    (dict(arch=3), TypeError, 'preset name or a dict'),
    (dict(frozen_stages=5), ValueError, 'frozen_stages'),
    (dict(out_indices=(4, )), ValueError, 'out_indices'),
])
def test_backbone_invalid_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        SlidePoseNet(**kwargs)


def test_backbone_input_size_must_be_divisible_by_32():
    with pytest.raises(ValueError, match='input size 100x64 must be divisible by 32'):
        SlidePoseNet(arch=SMALL).eval()(torch.rand(1, 3, 100, 64))


def test_token_mixer_block_in_the_hr_skeleton():
    """TokenMixerBlock is a BLOCKS entry: the HR skeleton takes it by config."""
    model = LightHRNet(arch=dict(base='naive-18', num_modules=(1, 1, 1), with_head=False,
                                 block=dict(type='TokenMixerBlock', mixer=dict(type='SlideAttention', num_heads=2))))
    assert any(isinstance(m, TokenMixerBlock) for m in model.modules())
    assert model.eval()(torch.rand(1, 3, 64, 64))[0].shape == (1, 30, 16, 16)
