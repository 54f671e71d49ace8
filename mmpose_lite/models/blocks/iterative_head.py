"""Lite-HRNet's iterative head: fuse branches from the lowest resolution up."""
from typing import List, Sequence

import torch
from mmcv.cnn import DepthwiseSeparableConvModule
from mmengine.model import BaseModule
from torch import nn

from ..ops import resize_to


class IterativeHead(BaseModule):
    """Each branch, from the lowest resolution up, adds the bilinearly upsampled
    result of the previous one and goes through a depthwise-separable conv that
    maps it to the next branch's width. Parameter names follow MMPose.

    Args:
        in_channels (Sequence[int]): Branch channels, highest resolution first.
        conv_cfg (dict, optional): Convolution config. Default: None.
        norm_cfg (dict): Normalization config. Default: ``dict(type='BN')``.
        init_cfg (dict, optional): Initialization config. Default: None.
    """

    def __init__(self, in_channels: Sequence[int], conv_cfg=None, norm_cfg=dict(type='BN'), init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        rev = list(in_channels)[::-1]
        #: output channels per branch, highest resolution first
        self.out_channels = [in_channels[max(i - 1, 0)] for i in range(len(in_channels))]
        self.projects = nn.ModuleList([
            DepthwiseSeparableConvModule(
                rev[i], rev[min(i + 1, len(rev) - 1)], 3, padding=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                act_cfg=dict(type='ReLU'), dw_act_cfg=None, pw_act_cfg=dict(type='ReLU'))
            for i in range(len(rev))
        ])

    def forward(self, xs: List[torch.Tensor]) -> List[torch.Tensor]:
        ys = []
        for x, project in zip(xs[::-1], self.projects):
            if ys:
                x = x + resize_to(ys[-1], x.shape[-2:], mode='bilinear', align_corners=True)
            ys.append(project(x))
        return ys[::-1]
