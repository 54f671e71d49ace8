"""The examples in docstrings (``>>>``: output shapes of every unit, block and
backbone, the deploy rewrites, the converters) run and print what they say."""
import doctest
import importlib

import pytest

from .conftest import REPO

PACKAGE = REPO / 'mmpose_lite'
MODULES = sorted('.'.join(p.relative_to(REPO).with_suffix('').parts) for p in PACKAGE.rglob('*.py')
                 if '>>> ' in p.read_text())


def test_examples_are_found():
    """The search is not vacuous: the units and backbones carry examples."""
    assert {'mmpose_lite.models.units.susa', 'mmpose_lite.models.backbones.light_hrnet'} <= set(MODULES)


@pytest.mark.parametrize('name', MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0, f'{name} has ">>> " but no example doctest finds'
    assert result.failed == 0, f'{result.failed} of {result.attempted} examples in {name} fail (output above)'
