"""Command line of the checkpoint converters (``tools/convert_checkpoint.py``,
``mmpose-lite-convert``)::

    python tools/convert_checkpoint.py --from xhrnet-authors SRC.pth DST.pth \\
        [--config mmpose_lite::body_2d_keypoint/topdown_heatmap/coco/td-hm_xhrnet-s18_8xb64-210e_coco-256x192.py]
    python tools/convert_checkpoint.py --list

``DST`` is an MMPose 1.x checkpoint of our config: ``mim test mmpose CFG
--checkpoint DST``, ``init_model(CFG, DST)`` and ``load_from`` load it
strictly. With ``--config`` the converted weights are checked against that
config's model first (every key, every shape) and nothing is written if they
do not fit.
"""
import argparse
import pickle
import sys
from typing import List, Optional

from ..utils.checkpoint import CheckpointMismatchError
from .base import CONVERTERS, ConversionError, convert_checkpoint

__all__ = ['main', 'build_parser']


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (``--from`` lists the registered sources)."""
    from . import sources  # noqa: F401  (registers the built-in converters)
    names = sorted(CONVERTERS)
    parser = argparse.ArgumentParser(
        prog='convert_checkpoint',
        description='Convert a checkpoint of a paper\'s reference code into an MMPose 1.x checkpoint of one of our '
        'configs (strictly loadable: mim test, init_model, load_from).')
    parser.add_argument('--from', dest='source', choices=names, metavar='SOURCE',
                        help=f'the reference layout of SRC, one of: {", ".join(names)} (--list describes them)')
    parser.add_argument('src', nargs='?', help='the reference checkpoint (left untouched)')
    parser.add_argument('dst', nargs='?', help='where to write the converted checkpoint (written atomically)')
    parser.add_argument('--config', help='a config (path or mmpose_lite::name) of the model the weights are for: '
                        'check that they fit it exactly before writing (default: no check)')
    parser.add_argument('--trust', action='store_true',
                        help='unpickle SRC without the weights-only restriction: only for a file you trust; a '
                        'crafted file runs its code when unpickled')
    parser.add_argument('--list', action='store_true', help='print the sources and what each converts, and exit')
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        width = max(map(len, CONVERTERS))
        print('\n'.join(f'{name:<{width}}  {CONVERTERS[name].help}' for name in sorted(CONVERTERS)))
        return 0
    if args.source is None or args.src is None or args.dst is None:
        parser.error('give --from SOURCE, SRC and DST (or --list to see the sources)')
    try:
        dst = convert_checkpoint(args.source, args.src, args.dst, config=args.config, trusted=args.trust)
    except (ConversionError, CheckpointMismatchError, FileNotFoundError, pickle.UnpicklingError) as e:
        print(f'convert_checkpoint: {e}', file=sys.stderr)
        return 1
    checked = f'; fits {args.config}' if args.config else ''
    print(f'converted {args.src} ({args.source}) -> {dst}{checked}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
