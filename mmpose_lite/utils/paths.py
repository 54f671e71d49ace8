"""Where this package's configs are, from any working folder.

A built package (wheel, non-editable install) carries them in
``mmpose_lite/.mim/configs`` (the layout MMPose, MMDetection and MMPretrain
use; ``setup.py`` copies them there); an editable install or a checkout on
``sys.path`` reads the checkout's ``configs/`` beside the package. Tools
resolve the configs they ship through :func:`config_path`, never relative to
the working folder.

A config of one's own can inherit ours by an absolute ``_base_`` path, or
through MMEngine's environment-variable substitution::

    # export MMPOSE_LITE_CONFIGS=$(python -m mmpose_lite.utils.paths)
    _base_ = ['{{$MMPOSE_LITE_CONFIGS:}}/body_2d_keypoint/topdown_heatmap/coco/'
              'td-hm_xhrnet-s18_8xb64-210e_coco-256x192.py']

(MMEngine 0.10's ``package::path`` form accepts only the OpenMMLab packages
it lists, so ``mmpose_lite::`` is refused by MMEngine itself.)

``python -m mmpose_lite.utils.paths [CONFIG]`` prints the configs folder, or
the absolute path of ``CONFIG`` (relative to it).
"""
import os.path as osp
import sys
from typing import List, Optional, Sequence

__all__ = ['PACKAGE_DIR', 'SCOPE_PREFIX', 'config_root', 'config_path']

#: The ``mmpose_lite`` package folder.
PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: Prefix our tools accept in front of a config path relative to the configs folder.
SCOPE_PREFIX = 'mmpose_lite::'
#: A file every configs folder of this package has: tells ours from another ``configs/``.
_MARKER = osp.join('_base_', 'mmpose_lite.py')


def _candidates() -> List[str]:
    return [osp.join(PACKAGE_DIR, '.mim', 'configs'), osp.join(osp.dirname(PACKAGE_DIR), 'configs')]


def config_root() -> str:
    """The folder holding this package's configs.

    Returns:
        str: ``<package>/.mim/configs`` when the package was built with them,
        else the checkout's ``configs/`` beside the package.

    Raises:
        FileNotFoundError: Neither exists (an installation without its
            configs); the message names the places looked at.
    """
    for root in _candidates():
        if osp.isfile(osp.join(root, _MARKER)):
            return root
    raise FileNotFoundError(f'the configs of mmpose_lite are not found: looked for {_MARKER} in '
                            f'{" and ".join(_candidates())}. Install mmpose_lite from a wheel built by '
                            '`pip wheel .` (it carries mmpose_lite/.mim/configs), or use a checkout of the repository.')


def config_path(name: str) -> str:
    """The absolute path of one of this package's configs.

    Args:
        name (str): Path relative to the configs folder, with or without the
            ``'mmpose_lite::'`` prefix, e.g.
            ``'body_2d_keypoint/topdown_heatmap/coco/td-hm_xhrnet-s18_8xb64-210e_coco-256x192.py'``.

    Returns:
        str: The path under :func:`config_root`.

    Raises:
        FileNotFoundError: No such config; the message names the folder
            searched.
        ValueError: ``name`` is absolute or leaves the configs folder.
    """
    rel = name[len(SCOPE_PREFIX):] if name.startswith(SCOPE_PREFIX) else name
    if not rel or osp.isabs(rel) or osp.normpath(rel).split(osp.sep)[0] == '..':
        raise ValueError(f'{name!r} is not a config path relative to the configs folder of mmpose_lite '
                         f"(e.g. 'body_2d_keypoint/topdown_heatmap/coco/td-hm_xhrnet-s18_8xb64-210e_coco-256x192.py')")
    root = config_root()
    path = osp.join(root, rel)
    if not osp.isfile(path):
        raise FileNotFoundError(f'mmpose_lite has no config {rel!r} (looked in {root}); the model index '
                                f'{osp.join(osp.dirname(root), "model-index.yml")} lists them')
    return path


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Print the configs folder, or the path of the config given."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1 or (args and args[0] in ('-h', '--help')):
        print(__doc__)
        return 0 if args and args[0] in ('-h', '--help') else 2
    try:
        print(config_path(args[0]) if args else config_root())
    except (FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
