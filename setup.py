"""The one build step pyproject.toml cannot express: the package data OpenMMLab tools look for.

Everything else (metadata, dependencies, entry points) is in pyproject.toml.
Like MMPose, MMDetection and MMPretrain, a built mmpose_lite (wheel or
non-editable install) carries its configs and model index inside the package::

    mmpose_lite/.mim/configs/...        a copy of the checkout's configs/ (pages and metafiles too)
    mmpose_lite/.mim/model-index.yml    what `mim search` and MMEngine's metafile look-up read

so the configs' relative ``_base_`` lines keep resolving there, and
:func:`mmpose_lite.utils.paths.config_path` finds them from any working folder.
An editable install (``pip install -e .``, what tools/bootstrap.sh does) copies
nothing: the package is the checkout, whose ``configs/`` is read in place.
"""
import os
import os.path as osp
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = osp.dirname(osp.abspath(__file__))
#: What goes into ``mmpose_lite/.mim``, relative to the checkout's root.
MIM_CONTENT = ('configs', 'model-index.yml')


class BuildPyWithMim(build_py):
    """``build_py`` that also copies :data:`MIM_CONTENT` into ``<build_lib>/mmpose_lite/.mim``."""

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            return
        mim = osp.join(self.build_lib, 'mmpose_lite', '.mim')
        for name in MIM_CONTENT:
            src, dst = osp.join(HERE, name), osp.join(mim, name)
            if not osp.exists(src):
                raise FileNotFoundError(f'{src} is missing: a wheel of mmpose_lite must carry it in '
                                        f'mmpose_lite/.mim/{name}; build from a complete checkout or sdist')
            if osp.isdir(dst):
                shutil.rmtree(dst)
            elif osp.lexists(dst):
                os.remove(dst)
            os.makedirs(osp.dirname(dst), exist_ok=True)
            if osp.isdir(src):
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.py[co]'))
            else:
                shutil.copy2(src, dst)


setup(cmdclass={'build_py': BuildPyWithMim})
