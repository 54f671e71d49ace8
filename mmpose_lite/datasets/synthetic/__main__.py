"""``python -m mmpose_lite.datasets.synthetic OUT_DIR [options]``."""
import sys

from .cli import main

sys.exit(main())
