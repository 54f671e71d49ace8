"""``import mmpose_lite`` adds modules to MMPose's registries and changes none of MMPose's."""
import json
import subprocess
import sys

SNAPSHOT = r'''
import json, sys
from mmpose.utils import register_all_modules
register_all_modules()
from mmpose.registry import DATASETS, HOOKS, MODELS
regs = dict(MODELS=MODELS, DATASETS=DATASETS, HOOKS=HOOKS)
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
                 'CheckedCocoDataset', 'ValidateBeforeTrainHook']:
        assert name in added, name
    for mmpose_name in ['LiteHRNet', 'HourglassNet', 'HourglassAENet']:
        assert after['MODELS'][mmpose_name].startswith('mmpose.'), mmpose_name
