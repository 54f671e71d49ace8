from .checkpoint import CheckpointMismatchError, load_local_checkpoint, load_weights

__all__ = ['load_local_checkpoint', 'load_weights', 'CheckpointMismatchError']
