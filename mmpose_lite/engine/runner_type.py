"""Make ``Runner.from_cfg`` honour a config's ``runner_type``.

MMEngine's configs name a custom runner with ``runner_type``, and the train and
test scripts of MMDetection, MMPretrain and MMSegmentation build it
(``RUNNERS.build(cfg)``). MMPose 1.3's ``tools/train.py`` and ``tools/test.py``
(what ``mim train/test mmpose`` run) call ``Runner.from_cfg(cfg)`` directly,
so there the key is ignored.

This module is imported by our configs (``custom_imports`` in
``configs/_base_/mmpose_lite.py``), never by ``import mmpose_lite``. It
wraps ``Runner.from_cfg`` once, so that a config whose ``runner_type`` names a
subclass of :class:`~mmengine.runner.Runner` in MMPose's ``RUNNERS`` registry
builds that runner. A config without ``runner_type`` (or naming ``Runner``)
takes MMEngine's own path, unchanged; subclasses' ``from_cfg`` are untouched.
"""
from mmengine.runner import Runner

__all__ = ['runner_class']

_MARK = '_mmpose_lite_honours_runner_type'


def runner_class(cfg):
    """The Runner subclass ``cfg['runner_type']`` names, or ``None``.

    Raises:
        KeyError: the name is not a registered runner (lists the valid ones).
    """
    from mmpose.registry import RUNNERS
    name = cfg.get('runner_type') if hasattr(cfg, 'get') else None
    if name is None or name == 'Runner' or name is Runner:
        return None
    cls = name if isinstance(name, type) else RUNNERS.get(name)
    if cls is None or not issubclass(cls, Runner):
        valid = sorted(set(RUNNERS.module_dict) | set(getattr(RUNNERS.parent, 'module_dict', {})))
        raise KeyError(f'runner_type={name!r} is not a registered Runner; valid: {valid}. '
                       "Our configs set runner_type='LiteRunner' through configs/_base_/mmpose_lite.py.")
    return cls


def _install() -> None:
    if getattr(Runner, _MARK, False):
        return
    original = Runner.__dict__['from_cfg'].__func__

    def from_cfg(cls, cfg):
        target = runner_class(cfg) if cls is Runner else None
        if target is not None:
            return target.from_cfg(cfg)
        return original(cls, cfg)

    from_cfg.__doc__ = original.__doc__
    from_cfg.__wrapped__ = original
    Runner.from_cfg = classmethod(from_cfg)
    setattr(Runner, _MARK, True)


_install()
