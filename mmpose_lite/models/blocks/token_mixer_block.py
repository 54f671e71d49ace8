"""The transformer block of the Slide backbone, with a pluggable token mixer."""
import torch
from mmcv.cnn import ConvModule, build_norm_layer
from torch import nn

from mmpose_lite.deploy.fuse import Deployable, can_fold_bn, fold_bn
from mmpose_lite.registry import build_unit, register_block
from .base import BlockBase


@register_block
class TokenMixerBlock(Deployable, BlockBase):
    """A pre-norm transformer block on NCHW maps whose token mixer is a unit.

    ``x = x + mixer(norm1(x))``; ``x = x + ffn(norm2(x))``, where the
    convolutional FFN is ``1x1 conv (C -> r*C) - depthwise 3x3 - act - 1x1
    conv (r*C -> C)`` (the depthwise conv adds the local positional cue a
    token MLP lacks). The mixer is any unit of the unit registry with the
    ``unit(x) -> x'`` contract: ``SlideAttention`` in the high-resolution
    stages of :class:`~mmpose_lite.models.SlidePoseNet`,
    ``GlobalSelfAttention`` in the low-resolution ones. The norms are
    ``norm_cfg`` (BatchNorm by default, so ``norm_eval`` and BN folding
    apply; :meth:`switch_to_deploy` folds them into the 1x1 convolutions
    that follow them). As a ``BLOCKS`` entry (``multi_branch=False``) it can
    also serve as the block of the Lite-HRNet skeleton.

    Args:
        channels (int): Input and output channels.
        mixer (dict): Token mixer config. Default: ``dict(type='SlideAttention')``.
        mlp_ratio (float): FFN expansion ``r``. Default: 2.
        conv_cfg (dict, optional): Convolution config, passed to the mixer too.
        norm_cfg (dict): Normalization config. Default: ``dict(type='BN')``.
        act_cfg (dict): FFN activation. Default: ``dict(type='GELU')``.
        with_cp (bool): Activation checkpointing of the whole block. Default: False.
        init_cfg (dict, optional): Initialization config. Default: None.

    Example:
        >>> import torch
        >>> block = TokenMixerBlock(32, mixer=dict(type='SlideAttention', kernel_size=3))
        >>> print(tuple(block(torch.rand(1, 32, 16, 12)).shape))
        (1, 32, 16, 12)
    """
    multi_branch = False

    def __init__(self, channels: int, mixer=dict(type='SlideAttention'), mlp_ratio: float = 2., conv_cfg=None,
                 norm_cfg=dict(type='BN'), act_cfg=dict(type='GELU'), with_cp: bool = False, init_cfg=None):
        super().__init__(with_cp=with_cp, init_cfg=init_cfg)
        if mlp_ratio <= 0:
            raise ValueError(f'TokenMixerBlock: mlp_ratio must be positive, got {mlp_ratio!r}')
        hidden = max(1, int(round(channels * mlp_ratio)))
        self.norm1 = build_norm_layer(norm_cfg, channels)[1]
        self.mixer = build_unit(mixer, channels, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        self.norm2 = build_norm_layer(norm_cfg, channels)[1]
        self.ffn = nn.Sequential(
            ConvModule(channels, hidden, 1, conv_cfg=conv_cfg, norm_cfg=None, act_cfg=None),
            ConvModule(hidden, hidden, 3, padding=1, groups=hidden, conv_cfg=conv_cfg, norm_cfg=None,
                       act_cfg=act_cfg),
            ConvModule(hidden, channels, 1, conv_cfg=conv_cfg, norm_cfg=None, act_cfg=None))

    def _deploy(self) -> None:
        """Inference form (exact with the BatchNorm running statistics):
        deploy the mixer if it has a deploy form, then fold each pre-norm
        BatchNorm into the convolution its output enters alone (the mixer's
        :meth:`~mmpose_lite.models.units.base.Unit.input_conv`, when it has
        one, and the FFN's first 1x1 conv) and replace it by ``nn.Identity``."""
        if isinstance(self.mixer, Deployable):
            self.mixer.switch_to_deploy()
        for norm_name, conv in (('norm1', self.mixer.input_conv()), ('norm2', self.ffn[0].conv)):
            norm = getattr(self, norm_name)
            if can_fold_bn(conv, norm, bn_first=True):
                fold_bn(conv, norm, bn_first=True)
                setattr(self, norm_name, nn.Identity())

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.mixer(self.norm1(x))
        return x + self.ffn(self.norm2(x))
