"""Write a copy of a checkpoint that loads with ``torch.load(weights_only=True)``.

Checkpoints written by MMEngine's Runner without mmpose_lite's
SafeCheckpointHook (earlier versions of this package, plain MMPose configs)
hold numpy arrays and the message hub's ``HistoryBuffer`` objects, which
torch's weights-only unpickler refuses. This tool unpickles such a file
*only if you say you trust it* (``--trust``: unpickling a crafted file runs
the code it holds) and writes a copy whose values are stored as plain data,
the way SafeCheckpointHook stores them, so the copy loads safely with
``mim test --checkpoint``, ``--resume``, ``load_from``, ``init_model`` and the
inferencer, and resumes exactly like the original::

    python tools/upgrade_checkpoint.py --trust OLD.pth NEW.pth

Without ``--trust`` it only converts files that already load safely. The same
as a function: ``mmpose_lite.engine.safe_checkpoint.upgrade_checkpoint``.
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))

from mmpose_lite.engine.safe_checkpoint import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
