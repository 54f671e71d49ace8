from .atomic_checkpoint import AtomicCheckpointHook  # noqa: F401  (registration)
from .bf16 import BF16OptimWrapper  # noqa: F401  (registration)
from .finite_loss import FiniteLossHook, NonFiniteLossError  # noqa: F401  (registration)
from .hooks import ValidateBeforeTrainHook
from .runner import LiteRunner  # noqa: F401  (registration)
from .safe_checkpoint import SafeCheckpointHook, UnsafeCheckpointError  # noqa: F401  (registration)

__all__ = ['ValidateBeforeTrainHook', 'LiteRunner', 'AtomicCheckpointHook', 'BF16OptimWrapper', 'FiniteLossHook',
           'NonFiniteLossError', 'SafeCheckpointHook', 'UnsafeCheckpointError']
