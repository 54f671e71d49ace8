"""``import mmpose_lite`` adds modules to MMPose's registries and changes none of MMPose's."""
import json
import subprocess
import sys

SNAPSHOT = r'''
import json, sys
from mmpose.utils import register_all_modules
register_all_modules()
from mmpose.registry import DATASETS, HOOKS, MODELS, OPTIM_WRAPPERS
from mmengine.registry import OPTIM_WRAPPERS as ROOT_OPTIM_WRAPPERS
regs = dict(MODELS=MODELS, DATASETS=DATASETS, HOOKS=HOOKS, OPTIM_WRAPPERS=OPTIM_WRAPPERS,
            ROOT_OPTIM_WRAPPERS=ROOT_OPTIM_WRAPPERS)
def snap():
    return {k: {n: f"{c.__module__}.{c.__qualname__}" for n, c in r.module_dict.items()} for k, r in regs.items()}
before = snap()
import mmpose_lite
after = snap()
print(json.dumps(dict(before=before, after=after)))
'''


def test_import_registers_without_shadowing():
    out = subprocess.run([sys.executable, '-c', SNAPSHOT], check=True, capture_output=True, text=True).stdout
    snap = json.loads(out.strip().splitlines()[-1])
    before, after = snap['before'], snap['after']
    for reg in before:
        # every module MMPose had is still there, unchanged
        assert {n: after[reg][n] for n in before[reg]} == before[reg], reg
    added = {n: c for reg in after for n, c in after[reg].items() if n not in before[reg]}
    assert all(c.startswith('mmpose_lite.') for c in added.values())
    for name in ['LightHRNet', 'XHRNet', 'SUSA', 'HWSUSA', 'SpatialWeighting', 'CrossResolutionWeighting',
                 'CheckedCocoDataset', 'ValidateBeforeTrainHook', 'BF16OptimWrapper']:
        assert name in added, name
    # MMEngine's own wrappers (in its root registry) keep their names: ours has another
    assert {'OptimWrapper', 'AmpOptimWrapper'} <= set(after['ROOT_OPTIM_WRAPPERS'])
    assert 'BF16OptimWrapper' not in after['ROOT_OPTIM_WRAPPERS']
    for mmpose_name in ['LiteHRNet', 'HourglassNet', 'HourglassAENet']:
        assert after['MODELS'][mmpose_name].startswith('mmpose.'), mmpose_name
