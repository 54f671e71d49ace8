"""Convert a checkpoint of a paper's reference code into an MMPose 1.x
checkpoint of one of our configs::

    python tools/convert_checkpoint.py --from xhrnet-authors SRC.pth DST.pth [--config CFG] [--trust]
    python tools/convert_checkpoint.py --list

``mim test mmpose CFG --checkpoint DST`` then loads it strictly. The same as
a function: ``mmpose_lite.convert.convert_checkpoint``; the same command once
installed: ``mmpose-lite-convert``.
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))

from mmpose_lite.convert.cli import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
