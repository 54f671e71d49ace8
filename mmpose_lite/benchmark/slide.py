"""Slide attention benchmark: fast path vs the unfold (Im2Col) reference, and
parameters / FLOPs / latency of the SlidePoseNet presets.

``tools/benchmark_slide.py`` is the command-line wrapper.
"""
from typing import Dict, List, Sequence, Tuple

import torch

from mmpose_lite.models.units.slide import SlideAttention, slide_attention_unfold
from .timing import median_ms


@torch.no_grad()
def unfold_speed_table(channels: Sequence[int] = (32, 64), batches: Sequence[int] = (1, 8),
                       size: Tuple[int, int] = (64, 48), kernel_size: int = 3, device: str = 'cpu',
                       repeats: int = 20, check: bool = True) -> List[Dict]:
    """Time one :class:`SlideAttention` (eval, default heads) against
    :func:`slide_attention_unfold` on the same random input. With ``check``
    the two outputs are compared first (max abs difference in the row)."""
    rows = []
    for c in channels:
        torch.manual_seed(0)
        unit = SlideAttention(c, kernel_size=kernel_size).to(device).eval()
        unit.deform_shift.normal_(0, 0.1)
        for b in batches:
            x = torch.randn(b, c, *size, device=device)
            diff = (unit(x) - slide_attention_unfold(unit, x)).abs().max().item() if check else float('nan')
            fast = median_ms(lambda: unit(x), repeats, device=device)
            ref = median_ms(lambda: slide_attention_unfold(unit, x), repeats, device=device)
            rows.append(dict(device=device, channels=c, batch=b, size=f'{size[0]}x{size[1]}', heads=unit.num_heads,
                             fast_ms=fast, unfold_ms=ref, ratio=ref / fast, max_abs_diff=diff))
    return rows


def slide_uncounted_flops(model: torch.nn.Module, inputs: torch.Tensor) -> int:
    """Multiply-adds of the slide attention units that MMEngine's counter
    misses: the ``K`` shifted products for the logits and the ``K``-term
    weighted sum of the shifted values are elementwise ``mul``/``add``/``sum``
    ops, which it ignores (``2 * C * K * H * W`` per unit and image; the
    ``K x K`` mixing einsums and the 1x1 convs are counted)."""
    total = []

    def hook(module, args, _):
        n, c, h, w = args[0].shape
        total.append(2 * n * c * module.kernel_size**2 * h * w)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, SlideAttention)]
    try:
        with torch.no_grad():
            model(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return sum(total)


@torch.no_grad()
def backbone_complexity(arch: str = 'light', input_size: Tuple[int, int] = (256, 192), repeats: int = 20,
                        threads: int = 1) -> Dict:
    """Parameters, FLOPs (MMEngine's count, the uncounted slide products,
    their sum) and CPU batch-1 latency of a :class:`SlidePoseNet` preset."""
    from mmengine.analysis import get_model_complexity_info

    from mmpose_lite.models import SlidePoseNet
    torch.set_num_threads(threads)
    model = SlidePoseNet(arch=arch).eval()
    x = torch.rand(1, 3, *input_size)
    info = get_model_complexity_info(model, inputs=(x, ), show_table=False, show_arch=False)
    extra = slide_uncounted_flops(model, x)
    return dict(arch=arch, input=f'{input_size[0]}x{input_size[1]}', params=info['params'],
                mmengine_flops=info['flops'], slide_extra_flops=extra, flops=info['flops'] + extra,
                cpu_ms=median_ms(lambda: model(x), repeats), threads=threads)
