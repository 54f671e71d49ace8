"""Regenerate docs/benchmark.md from docs/benchmark.template.md by running
the commands it names (``--check``: only verify the page matches).

See :mod:`mmpose_lite.benchmark.doc`.
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))

from mmpose_lite.benchmark.doc import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
