from .light_hrnet import LightHRNet, XHRNet

__all__ = ['LightHRNet', 'XHRNet']
