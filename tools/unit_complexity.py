"""Parameters and FLOPs of attention units on each host, at 256x192.

Counted with ``mmengine.analysis.get_model_complexity_info`` (a traced count
of multiply-accumulates of convolutions, linear layers and matrix products;
element-wise ops such as softmax/sigmoid are not counted).

    python tools/unit_complexity.py [--units PSA-parallel PSA-sequential ...] [--hosts resnet50 ...]
"""
import argparse
import os.path as osp

import torch
from mmengine.analysis import get_model_complexity_info
from mmengine.config import Config
from mmpose.models.backbones import HRNet, ResNet
from mmpose.utils import register_all_modules

register_all_modules()
import mmpose_lite  # noqa: E402,F401
from mmpose_lite.models import AttentionHRNet, AttentionNeck, AttentionResNet, LightHRNet  # noqa: E402
from mmpose_lite.models.units import CrossResolutionUnit  # noqa: E402
from mmpose_lite.registry import UNITS  # noqa: E402

H, W = 256, 192
HRNET_W32 = osp.join(osp.dirname(__file__), '..', 'configs', 'body_2d_keypoint', 'topdown_heatmap', 'coco',
                     'td-hm_hrnet-w32-psa-p_8xb64-210e_coco-256x192.py')


def unit_cfgs():
    cfgs = {}
    for name, cls in sorted(UNITS.module_dict.items()):
        if issubclass(cls, CrossResolutionUnit):
            continue
        if name == 'PSA':
            cfgs.update({'PSA-parallel': dict(type='PSA', layout='parallel'),
                         'PSA-sequential': dict(type='PSA', layout='sequential')})
        elif name == 'SUSA':
            cfgs.update({'SUSA-h': dict(type='SUSA', dim='h'), 'SUSA-w': dict(type='SUSA', dim='w')})
        else:
            cfgs[name] = dict(type=name)
    return cfgs


def hrnet_extra():
    # MMPose's HRNet-W32 extra, through our config that inherits MMPose's
    return Config.fromfile(HRNET_W32).model.backbone.extra.to_dict()


def complexity(model, shape):
    model.eval()
    with torch.no_grad():
        info = get_model_complexity_info(model, input_shape=shape, show_table=False, show_arch=False)
    return info['params'], info['flops']


HOSTS = {
    # host: (plain model, model with unit, input shape)
    'resnet50': (lambda: ResNet(50), lambda u: AttentionResNet(50, unit=u), (3, H, W)),
    'hrnet-w32': (lambda: HRNet(hrnet_extra()), lambda u: AttentionHRNet(hrnet_extra(), unit=u), (3, H, W)),
    # the unit as the pre/post unit of the shuffle blocks, against the 1x1 conv of wider-naive-18 (same widths)
    'lite-skeleton': (lambda: LightHRNet('wider-naive-18'),
                      lambda u: LightHRNet(dict(base='s18', block=dict(type='ShuffleBlock', pre=u, post=u))),
                      (3, H, W)),
    # AttentionNeck on MMPose's HRNet-W32 output (32 x 64 x 48) and ResNet-50 output (2048 x 8 x 6)
    'neck-on-hrnet-w32': (None, lambda u: AttentionNeck(32, unit=u), (32, H // 4, W // 4)),
    'neck-on-resnet50': (None, lambda u: AttentionNeck(2048, unit=u), (2048, H // 32, W // 32)),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--units', nargs='*', default=None)
    parser.add_argument('--hosts', nargs='*', default=list(HOSTS))
    args = parser.parse_args()
    cfgs = unit_cfgs()
    names = args.units or list(cfgs)
    print(f'input {H}x{W}; params in M, FLOPs in G (mmengine.analysis.get_model_complexity_info)')
    print(f'{"host":<18} {"unit":<16} {"params":>9} {"FLOPs":>8} {"+params":>9} {"+FLOPs":>8}')
    for host in args.hosts:
        plain, with_unit, shape = HOSTS[host]
        p0, f0 = complexity(plain(), shape) if plain else (0, 0)
        if plain:
            print(f'{host:<18} {"(plain)":<16} {p0 / 1e6:>9.3f} {f0 / 1e9:>8.3f}')
        for name in names:
            p, f = complexity(with_unit(cfgs[name]), shape)
            print(f'{host:<18} {name:<16} {p / 1e6:>9.3f} {f / 1e9:>8.3f} {(p - p0) / 1e6:>+9.3f} '
                  f'{(f - f0) / 1e9:>+8.3f}', flush=True)


if __name__ == '__main__':
    main()
