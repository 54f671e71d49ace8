"""mmpose_lite: lightweight top-down pose backbones for MMPose 1.x.

``import mmpose_lite`` (or ``custom_imports = dict(imports=['mmpose_lite'])``
in a config) registers every module into MMPose's registries, and changes
nothing else: no patched functions, no changed defaults (a test compares the
process's state before and after the import).
"""
# In registration order: models before the datasets and engine that use them.
# Libraries this import may load for the first time (mmcv.cnn, MMPose's models,
# scipy, sympy) install warnings filters as they load; the filter list is put
# back as it was, so that the import changes nothing but the registries.
# isort: off
import warnings

from .version import __version__

with warnings.catch_warnings():
    from . import models  # noqa: F401,E402  (registration)
    from . import datasets  # noqa: F401,E402
    from .datasets import checked  # noqa: F401,E402  (registers CheckedCocoDataset)
    from . import engine  # noqa: F401,E402
    from . import utils  # noqa: F401,E402
    from .models.strict_load import allow_partial_load  # noqa: E402
# isort: on

__all__ = ['__version__', 'models', 'datasets', 'engine', 'utils', 'allow_partial_load']
