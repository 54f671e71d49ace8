# What every mmpose_lite config adds to the MMPose config it inherits (listed as
# a second base beside it; it sets no key MMPose's configs set):
# - the package's modules registered (`mmpose_lite`);
# - its Runner, `LiteRunner` (mmpose_lite/engine/runner.py): data checked before
#   anything is logged, crash-safe checkpoints that load with weights_only=True,
#   a stop on a non-finite loss, strict loading for evaluation, CPU multi-process
#   training. MMPose's tools/train.py and tools/test.py (what `mim train/test
#   mmpose` run) ignore `runner_type`, so the config also imports
#   `mmpose_lite.engine.runner_type`, which makes `Runner.from_cfg` build the
#   runner a config names (configs without `runner_type` are unaffected).
custom_imports = dict(imports=['mmpose_lite', 'mmpose_lite.engine.runner_type'], allow_failed_imports=False)
runner_type = 'LiteRunner'
