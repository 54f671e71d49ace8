"""Runner hooks."""
from mmengine.hooks import Hook
from mmpose.registry import HOOKS


@HOOKS.register_module()
class ValidateBeforeTrainHook(Hook):
    """Run the validation loop once before the first training epoch.

    It gives the metric of the untrained (or loaded) model as the first point
    of the learning curve; it is logged as epoch 0. Skipped when resuming.
    """
    priority = 'LOWEST'

    def before_train(self, runner) -> None:
        if runner.val_loop is not None and runner.epoch == 0 and runner.iter == 0:
            runner.logger.info('ValidateBeforeTrainHook: evaluating before training')
            runner.val_loop.run()
