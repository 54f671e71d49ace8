"""Tensor helpers shared by units and blocks, written for the fewest copies.

Both are exact reformulations of the textbook ops (tested against them), used
in training and inference alike. Each keeps the memory format of its input:
on a channels-last tensor (how the deploy form of the HR backbones runs on
the CPU) it works on the channels-innermost layout, where PyTorch's
broadcasting and nearest-neighbour kernels are several times faster than on
NCHW.
"""
import torch
import torch.nn.functional as F


def channels_inner(x: torch.Tensor) -> bool:
    """Whether ``x`` (N, C, H, W) stores channels innermost (channels-last,
    or a channel slice of a channels-last tensor)."""
    return x.dim() == 4 and x.shape[1] > 1 and x.shape[2] * x.shape[3] > 1 and x.stride(1) == 1


def halves(x: torch.Tensor):
    """``x.chunk(2, dim=1)`` with a constant split point: a traced graph (ONNX)
    gets two static slices instead of a shape computation per split."""
    c = int(x.shape[1]) // 2
    return x[:, :c], x[:, c:]


def concat_shuffle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``channel_shuffle(torch.cat((a, b), 1), groups=2)`` with one copy.

    A 2-group shuffle of a concatenation interleaves the channels of the two
    halves (``a0, b0, a1, b1, ...``), which is a stack along a new axis after
    the channels, flattened. ``cat`` followed by ``channel_shuffle`` writes
    the data twice; this writes it once (channels-last in, channels-last out).
    """
    if a.shape != b.shape:
        raise ValueError(f'concat_shuffle needs halves of one shape, got {tuple(a.shape)} and {tuple(b.shape)}')
    if channels_inner(a) or channels_inner(b):
        nhwc = torch.stack((a.permute(0, 2, 3, 1), b.permute(0, 2, 3, 1)), dim=-1).flatten(-2)
        return nhwc.permute(0, 3, 1, 2)
    c, h, w = (int(s) for s in a.shape[1:])  # constants in a traced graph; -1: dynamic batch
    return torch.stack((a, b), dim=2).reshape(-1, 2 * c, h, w)


def resize_to(x: torch.Tensor, size, mode: str = 'nearest', align_corners=None) -> torch.Tensor:
    """``F.interpolate(x, size=size, ...)``, through an integer ``scale_factor``
    when ``size`` is a whole multiple of ``x``'s size (the same values: the
    source index of an integer upscale is the same either way).

    A traced graph (ONNX) then gets a Resize with constant scales, where a
    ``size`` argument is rebuilt at run time from the input's shape.
    """
    h, w = int(size[0]), int(size[1])
    xh, xw = int(x.shape[-2]), int(x.shape[-1])
    if (h, w) == (xh, xw):
        return x
    if h % xh == 0 and w % xw == 0:
        return F.interpolate(x, scale_factor=(float(h // xh), float(w // xw)), mode=mode,
                             align_corners=align_corners)
    return F.interpolate(x, size=(h, w), mode=mode, align_corners=align_corners)


def pool_to(x: torch.Tensor, size) -> torch.Tensor:
    """``F.adaptive_avg_pool2d(x, size)``, as a fixed-kernel ``avg_pool2d``
    when ``x``'s size is a whole multiple of ``size`` (the same values).

    Python-int sizes: a traced graph (ONNX) gets a constant kernel, where
    adaptive pooling to a traced size does not export.
    """
    h, w = int(x.shape[-2]), int(x.shape[-1])
    size = (int(size[0]), int(size[1]))
    if (h, w) == size:
        return x
    if h % size[0] == 0 and w % size[1] == 0:
        k = (h // size[0], w // size[1])
        return F.avg_pool2d(x, kernel_size=k, stride=k)
    return F.adaptive_avg_pool2d(x, size)


def mul_nearest(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """``x * interpolate(a, size=x.shape[-2:], mode='nearest')``.

    On NCHW without materialising the upsampled ``a`` when the size ratio is
    an integer (``a`` is broadcast over ``k x k`` blocks of ``x``); on
    channels-last through the (there fast) nearest kernel, in ``x``'s format.
    """
    c, h, w = (int(s) for s in x.shape[1:])
    ah, aw = int(a.shape[-2]), int(a.shape[-1])
    if (ah, aw) == (h, w):
        return x * a
    if channels_inner(x):
        return x * resize_to(a.contiguous(memory_format=torch.channels_last), (h, w))
    if h % ah or w % aw or torch.jit.is_tracing():
        # traced (exported) graphs too: runtimes have a fast nearest Resize,
        # while a 6-D broadcast multiply is slow there (onnxruntime's profile)
        return x * resize_to(a, (h, w))
    kh, kw = h // ah, w // aw
    # -1: any batch size
    out = x.reshape(-1, c, ah, kh, aw, kw) * a.reshape(-1, int(a.shape[1]), ah, 1, aw, 1)
    return out.reshape(-1, c, h, w)
