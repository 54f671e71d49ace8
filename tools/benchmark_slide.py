"""Slide attention: fast path vs unfold (Im2Col) reference, and the SlidePoseNet presets.

    python tools/benchmark_slide.py                 # speed table on CPU (+ CUDA if available)
    python tools/benchmark_slide.py --presets       # also params / FLOPs / CPU latency at 256x192
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))

import torch  # noqa: E402

from mmpose_lite.benchmark.slide import backbone_complexity, unfold_speed_table  # noqa: E402
from mmpose_lite.benchmark.timing import format_table  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--channels', type=int, nargs='+', default=[32, 64])
    parser.add_argument('--batches', type=int, nargs='+', default=[1, 8])
    parser.add_argument('--size', type=int, nargs=2, default=[64, 48], metavar=('H', 'W'))
    parser.add_argument('--kernel-size', type=int, default=3)
    parser.add_argument('--repeats', type=int, default=20)
    parser.add_argument('--threads', type=int, default=1, help='CPU threads (torch.set_num_threads)')
    parser.add_argument('--devices', nargs='+', default=None, help="default: cpu, and cuda when available")
    parser.add_argument('--presets', action='store_true', help='also SlidePoseNet params/FLOPs/latency')
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    devices = args.devices or (['cpu'] + (['cuda'] if torch.cuda.is_available() else []))
    rows = []
    for device in devices:
        rows += unfold_speed_table(args.channels, args.batches, tuple(args.size), args.kernel_size, device,
                                   args.repeats)
    print(f'slide attention k={args.kernel_size}, median of {args.repeats} runs, eval, no grad, '
          f'{args.threads} CPU thread(s); ratio = unfold / fast')
    print(format_table(rows, ['device', 'channels', 'batch', 'size', 'heads', 'fast_ms', 'unfold_ms', 'ratio',
                              'max_abs_diff']))
    if args.presets:
        from mmpose_lite.models import SlidePoseNet
        presets = [backbone_complexity(a, repeats=args.repeats, threads=args.threads)
                   for a in sorted(SlidePoseNet.arch_zoo)]
        print('\nSlidePoseNet at 256x192, batch 1 (FLOPs = multiply-adds; flops = mmengine + slide products '
              'it does not count)')
        print(format_table(presets, ['arch', 'input', 'params', 'mmengine_flops', 'slide_extra_flops', 'flops',
                                     'cpu_ms', 'threads']))
    return rows


if __name__ == '__main__':
    main()
