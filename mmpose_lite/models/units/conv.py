"""The plain pointwise mixer that the naive shuffle block uses where the
others put an attention unit."""
from mmcv.cnn import ConvModule

from mmpose_lite.registry import register_unit
from .base import Unit


@register_unit
class PointwiseConv(Unit, ConvModule):
    """``1x1 conv - norm - act`` keeping the channel count.

    Not an attention unit, but it follows the unit contract
    (:class:`~.base.Unit`: ``unit(x) -> x'`` of the same shape), so a block
    can take it or any attention unit by config. It is an
    :class:`mmcv.cnn.ConvModule`, so its parameters are named ``conv.*`` and
    ``bn.*`` like MMPose's, and deploy folds its BatchNorm as any
    ``ConvModule``'s.

    Args:
        channels (int): Input and output channels.
        conv_cfg (dict, optional): Convolution config. Default: None.
        norm_cfg (dict): Normalization config. Default: ``dict(type='BN')``.
        act_cfg (dict, optional): Activation config. Default: ``dict(type='ReLU')``.

    Example:
        >>> import torch
        >>> print(tuple(PointwiseConv(8)(torch.rand(1, 8, 4, 4)).shape))
        (1, 8, 4, 4)
    """
    host_kwargs = ('conv_cfg', 'norm_cfg')

    def __init__(self, channels: int, conv_cfg=None, norm_cfg=dict(type='BN'), act_cfg=dict(type='ReLU'), **kwargs):
        super().__init__(channels, channels, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg, **kwargs)
