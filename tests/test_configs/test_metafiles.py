"""The metafiles (OpenMMLab's model index, what ``mim search`` reads) describe exactly the shipped configs.

Layout, as in MMPose's config folders: per algorithm and data set a metafile
``configs/.../<folder>/<algo>_<data>.yml`` and beside it its page ``<algo>_<data>.md``
(paper, results table); a ``README.md`` per folder indexing the pages; ``model-index.yml``
at the top importing every metafile.
"""
from collections import Counter
from pathlib import Path

import pytest
import yaml
from mmengine.config import Config

from ..conftest import REPO
from .test_configs import CONFIGS

MODEL_INDEX = REPO / 'model-index.yml'
METAFILES = sorted(p.relative_to(REPO).as_posix() for p in (REPO / 'configs').rglob('*.yml'))

#: ``Metadata: Training Data`` -> the ``data_root`` a config trains on.
DATA_ROOTS = {'COCO': 'data/coco/', 'MPII': 'data/mpii/', 'Synthetic COCO': 'data/synthetic_coco/'}


def _load(path):
    with open(REPO / path) as f:
        return yaml.safe_load(f)


def _entries():
    """``(metafile, model entry)`` for every model of every metafile under ``configs/``."""
    return [(m, model) for m in METAFILES for model in _load(m).get('Models') or []]


def test_model_index_imports_every_metafile():
    imports = _load(MODEL_INDEX)['Import']
    assert len(METAFILES) >= 7  # coco: 6 algorithms, mpii: 1
    assert sorted(imports) == METAFILES, 'model-index.yml must import each metafile under configs/ once'


def test_every_config_is_listed_by_exactly_one_metafile():
    listed = Counter(model['Config'] for _, model in _entries())
    assert set(listed) == set(CONFIGS), (
        f'configs without a metafile entry: {sorted(set(CONFIGS) - set(listed))}; '
        f'entries without a config: {sorted(set(listed) - set(CONFIGS))}')
    assert [c for c, n in listed.items() if n > 1] == [], 'a config is listed twice'
    for metafile, model in _entries():
        assert (REPO / model['Config']).is_file(), f'{metafile}: Config {model["Config"]} does not exist'
        # mim uses Name as the config id (`mim download mmpose_lite --config NAME`)
        assert model['Name'] == Path(model['Config']).stem, metafile
    assert len({model['Name'] for _, model in _entries()}) == len(CONFIGS)


def _expected_architecture(cfg):
    parts = [cfg.model.backbone.type]
    if cfg.model.get('neck'):
        parts.append(cfg.model.neck.type)
    return parts + [cfg.model.head.type]


@pytest.mark.parametrize('metafile', METAFILES)
def test_metadata_says_what_each_config_builds_and_trains_on(metafile):
    for model in _load(metafile)['Models']:
        cfg = Config.fromfile(str(REPO / model['Config']))
        meta = model['Metadata']
        assert meta['Architecture'] == _expected_architecture(cfg), f'{metafile}: {model["Name"]}'
        assert cfg.train_dataloader.dataset.data_root == DATA_ROOTS[meta['Training Data']], model['Name']
        # no result of this package has been measured; a Results entry would claim one
        assert 'Results' not in model, f'{metafile}: {model["Name"]} has Results but nothing was measured'


def test_collections_are_defined_once_and_point_to_their_page():
    defined = Counter()
    for metafile in METAFILES:
        for col in _load(metafile).get('Collections') or []:
            defined[col['Name']] += 1
            page = (REPO / metafile).parent / col['README']  # relative to the metafile, as modelindex reads it
            assert page.is_file(), f'{metafile}: collection {col["Name"]} README {col["README"]} missing'
    assert [n for n, k in defined.items() if k > 1] == []
    used = {model['In Collection'] for _, model in _entries()}
    assert used <= set(defined), f'undefined collections: {used - set(defined)}'


@pytest.mark.parametrize('metafile', METAFILES)
def test_each_metafile_has_a_page_naming_its_configs(metafile):
    page = (REPO / metafile).with_suffix('.md')
    assert page.is_file(), f'{metafile} has no page {page.name} beside it'
    text = page.read_text()
    missing = [m['Name'] for m in _load(metafile)['Models'] if f'/{m["Config"]})' not in text]
    assert missing == [], f'{page.name} does not link these configs: {missing}'
    readme = page.parent / 'README.md'
    assert f']({page.name})' in readme.read_text(), f'{readme.relative_to(REPO)} does not index {page.name}'


def test_mim_reads_the_index_without_errors():
    """``modelindex`` (what ``mim search`` loads) finds every model, no check error, and
    mim's table has one row per config."""
    from mim.commands.search import convert2df
    from modelindex.load_model_index import load

    index = load(str(MODEL_INDEX))
    assert index.check(silent=True) == []
    table = convert2df(index)
    assert sorted(table.index) == sorted(Path(c).stem for c in CONFIGS)
    # mim lower-cases names and values: these are the columns `mim search --dataset/--model` filter on
    assert set(table['training_data']) == {d.lower() for d in DATA_ROOTS}
    assert table.loc['xhrnet_coco', 'model'] == 'x-hrnet'
