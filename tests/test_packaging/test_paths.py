"""Where the tools find this package's configs (mmpose_lite.utils.paths):
the built package's ``.mim/configs`` first, the checkout's ``configs/`` else,
and clear errors for a name that is not one of ours."""
import pytest

from mmpose_lite.deploy.model import load_config
from mmpose_lite.utils import paths
from ..conftest import REPO

DEMO = 'body_2d_keypoint/topdown_heatmap/synthetic/td-hm_xhrnet-s18_demo_synthcoco-128x96.py'


def _package_with_configs(root, with_mim: bool, with_checkout: bool):
    """A fake install: ``root/mmpose_lite`` (the package folder), with
    ``.mim/configs`` and/or a checkout's ``configs/`` beside it."""
    pkg = root / 'mmpose_lite'
    pkg.mkdir(parents=True)
    for where, wanted in ((pkg / '.mim' / 'configs', with_mim), (root / 'configs', with_checkout)):
        if wanted:
            (where / '_base_').mkdir(parents=True)
            (where / '_base_' / 'mmpose_lite.py').write_text('runner_type = "LiteRunner"\n')
            (where / 'a.py').write_text(f'where = {str(where)!r}\n')
    return pkg


def test_the_checkout_configs_without_a_built_package():
    assert paths.config_root() == str(REPO / 'configs')
    assert paths.config_path(DEMO) == paths.config_path('mmpose_lite::' + DEMO) == str(REPO / 'configs' / DEMO)


def test_a_built_package_is_preferred_to_a_checkout_beside_it(tmp_path, monkeypatch):
    pkg = _package_with_configs(tmp_path, with_mim=True, with_checkout=True)
    monkeypatch.setattr(paths, 'PACKAGE_DIR', str(pkg))
    assert paths.config_root() == str(pkg / '.mim' / 'configs')
    assert load_config('mmpose_lite::a.py').where == str(pkg / '.mim' / 'configs')


def test_another_configs_folder_beside_the_package_is_not_taken_for_ours(tmp_path, monkeypatch):
    pkg = _package_with_configs(tmp_path, with_mim=False, with_checkout=False)
    (tmp_path / 'configs').mkdir()  # someone's configs/ in site-packages, without our _base_/mmpose_lite.py
    monkeypatch.setattr(paths, 'PACKAGE_DIR', str(pkg))
    with pytest.raises(FileNotFoundError, match=r'configs of mmpose_lite are not found.*\.mim.*pip wheel'):
        paths.config_root()


@pytest.mark.parametrize('name,error,message', [
    ('body_2d/no_such.py', FileNotFoundError, r"no config 'body_2d/no_such.py' \(looked in .*configs"),
    ('mmpose_lite::../pyproject.toml', ValueError, 'not a config path relative to the configs folder'),
    ('/etc/passwd', ValueError, 'not a config path relative'),
    ('mmpose_lite::', ValueError, 'not a config path relative'),
])
def test_names_that_are_not_ours_are_refused_with_the_reason(name, error, message):
    with pytest.raises(error, match=message):
        paths.config_path(name)


def test_the_command_prints_the_folder_or_a_config(capsys):
    assert paths.main([]) == 0 and capsys.readouterr().out.strip() == str(REPO / 'configs')
    assert paths.main([DEMO]) == 0 and capsys.readouterr().out.strip() == str(REPO / 'configs' / DEMO)
    assert paths.main(['nope.py']) == 1 and "no config 'nope.py'" in capsys.readouterr().err
