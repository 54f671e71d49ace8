"""pyproject.toml says what is true: every third-party module the package
imports is a declared dependency (runtime or an extra), and every file it
names exists."""
import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions

from ..conftest import REPO

PYPROJECT = tomllib.loads((REPO / 'pyproject.toml').read_text())


def _name(requirement: str) -> str:
    return re.split(r'[<>=!~;\[ ]', requirement, maxsplit=1)[0].strip().lower().replace('_', '-')


def _imported_top_level_modules():
    """Top-level module -> a file importing it, over every import statement of the package (in functions too)."""
    found = {}
    for path in sorted((REPO / 'mmpose_lite').rglob('*.py')):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split('.')[0], str(path.relative_to(REPO)))
    return found


def test_every_third_party_import_is_a_declared_dependency():
    project = PYPROJECT['project']
    declared = {_name(r) for r in project['dependencies']}
    declared |= {_name(r) for extra in project['optional-dependencies'].values() for r in extra}
    dists = packages_distributions()
    missing = {}
    for module, where in _imported_top_level_modules().items():
        if module in sys.stdlib_module_names or module in ('mmpose_lite', '__future__'):
            continue
        providers = {_name(d) for d in dists.get(module, [module])}
        if not providers & declared:
            missing[module] = (sorted(providers), where)
    assert not missing, f'imported but not declared in pyproject.toml (module: (distribution, file)): {missing}'
    assert {'onnx', 'onnxruntime'} <= {_name(r) for r in project['optional-dependencies']['deploy']}


def test_the_files_pyproject_names_exist():
    project = PYPROJECT['project']
    assert (REPO / project['readme']).is_file()
    for files in PYPROJECT['tool']['setuptools'].get('package-data', {}).values():
        for pattern in files:
            assert list((REPO / 'mmpose_lite').glob(pattern)), f'package-data {pattern!r} matches no file'
    for script, target in project['scripts'].items():
        module, _, func = target.partition(':')
        path = REPO / (module.replace('.', '/') + '.py')
        path = path if path.is_file() else path.with_suffix('') / '__init__.py'
        assert path.is_file(), f'{script}: module {module} does not exist'
        assert re.search(rf'^(def {func}\(|from \S+ import .*\b{func}\b)', path.read_text(), re.M), \
            f'{script}: {module} has no {func}'
