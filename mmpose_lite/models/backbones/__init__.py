from .attention_resnet import AttentionHRNet, AttentionResNet
from .light_hrnet import LightHRNet, XHRNet
from .slide_pose import SlidePoseNet
from .stacked_hourglass import StackedHourglass

__all__ = ['AttentionHRNet', 'AttentionResNet', 'LightHRNet', 'XHRNet', 'StackedHourglass', 'SlidePoseNet']
