from .checkpoint import CheckpointMismatchError, describe_mismatch, find_mismatch, load_weights

__all__ = ['load_weights', 'describe_mismatch', 'find_mismatch', 'CheckpointMismatchError']
