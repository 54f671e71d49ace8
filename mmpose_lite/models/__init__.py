from . import units  # noqa: F401  (registers the attention units first: blocks build them)
from .backbones import *  # noqa: F401,F403
from .blocks import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .strict_load import StrictLoadMixin, allow_partial_load  # noqa: F401
from .units import *  # noqa: F401,F403
