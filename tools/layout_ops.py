"""Time the HR skeleton's elementary ops in NCHW and channels-last (CPU, batch 1).

    python tools/layout_ops.py [--channels 40] [--size 64 48] [--threads 2]

Why the deploy form of LightHRNet/XHRNet runs channels-last: see docs/architecture.md.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from mmpose_lite.benchmark.timing import format_table, time_ms  # noqa: E402
from mmpose_lite.models.ops import concat_shuffle, mul_nearest  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--channels', type=int, default=40)
    parser.add_argument('--size', type=int, nargs=2, default=[64, 48])
    parser.add_argument('--threads', type=int, default=os.cpu_count())
    parser.add_argument('--repeats', type=int, default=200)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    c, (h, w) = args.channels, args.size
    x0, low0 = torch.randn(1, c, h, w), torch.randn(1, c, h // 2, w // 2)
    dw, pw = torch.randn(c, 1, 3, 3), torch.randn(c, c, 1, 1)
    rows = []
    with torch.no_grad():
        for layout, fmt in (('NCHW', torch.contiguous_format), ('channels-last', torch.channels_last)):
            x, low = x0.contiguous(memory_format=fmt), low0.contiguous(memory_format=fmt)
            ops = {
                'add': lambda: x + x,
                'nearest 2x upsample': lambda: F.interpolate(low, scale_factor=2, mode='nearest'),
                'depthwise 3x3 conv': lambda: F.conv2d(x, dw, padding=1, groups=c),
                '1x1 conv': lambda: F.conv2d(x, pw),
                'concat_shuffle of halves': lambda: concat_shuffle(x[:, :c // 2], x[:, c // 2:]),
                'mul_nearest (x * upsampled weights)': lambda: mul_nearest(x, low),
            }
            for name, fn in ops.items():
                us = time_ms(fn, repeats=args.repeats, warmup=10)['median'] * 1e3
                rows.append(dict(op=name, layout=layout, us=us))
    print(f'1x{c}x{h}x{w}, {args.threads} threads, median of {args.repeats} calls (microseconds):')
    print(format_table(sorted(rows, key=lambda r: r['op']), ['op', 'layout', 'us']))


if __name__ == '__main__':
    main()
