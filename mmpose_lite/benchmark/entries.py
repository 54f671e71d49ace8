"""The benchmark's models: what to build, from which config, where its AP comes from.

Ours are built from this package's configs (``mmpose_lite::...``) and carry the COCO AP their paper reports
(none was trained on COCO here); MMPose's model-zoo models are built from
MMPose's installed configs (``mmpose::...``) and take their AP from MMPose's
installed metafiles.
"""
import difflib
import glob
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

__all__ = ['Entry', 'ENTRIES', 'QUICK', 'REFERENCE', 'select', 'config_entry', 'zoo_ap', 'add_ap']

#: Ours, by name relative to the package's configs (found wherever it is installed, see mmpose_lite.utils.paths).
_OURS = 'mmpose_lite::body_2d_keypoint/topdown_heatmap/coco/'
_ZOO = 'mmpose::body_2d_keypoint/topdown_heatmap/coco/'


@dataclass(frozen=True)
class Entry:
    """One model of the benchmark.

    Args:
        name (str): Row name (what ``--models`` takes, exactly).
        config (str): Config path, ``mmpose_lite::...`` or ``mmpose::...``.
        source (str): ``'mmpose_lite'`` or ``'mmpose'``.
        paper_ap (float, optional): COCO val AP the paper reports (ours only).
    """
    name: str
    config: str
    source: str
    paper_ap: Optional[float] = None


def _ours(name: str, cfg: str, paper_ap: Optional[float] = None) -> Entry:
    return Entry(name, _OURS + cfg + '.py', 'mmpose_lite', paper_ap)


def _zoo(name: str, cfg: str) -> Entry:
    return Entry(name, _ZOO + cfg + '.py' if '/' not in cfg else 'mmpose::' + cfg + '.py', 'mmpose')


#: Lite-HRNet paper (arXiv 2104.06403, Table 1, COCO val, 256x192):
#: Lite-HRNet-18 64.8 AP, Lite-HRNet-30 67.2 AP.
ENTRIES: List[Entry] = [
    _ours('LightHRNet-18', 'td-hm_lighthrnet-18_8xb64-210e_coco-256x192', 0.648),
    _ours('LightHRNet-30', 'td-hm_lighthrnet-30_8xb64-210e_coco-256x192', 0.672),
    _ours('XHRNet-S18', 'td-hm_xhrnet-s18_8xb64-210e_coco-256x192'),
    _ours('XHRNet-P18', 'td-hm_xhrnet-p18_8xb64-210e_coco-256x192'),
    _ours('XHRNet-S30', 'td-hm_xhrnet-s30_8xb64-210e_coco-256x192'),
    _ours('SlidePoseNet-light', 'td-hm_slide-light_8xb64-210e_coco-256x192'),
    _ours('StackedHourglass-2', 'td-hm_stacked-hourglass-2_8xb32-210e_coco-256x256'),
    _ours('StackedHourglass-8', 'td-hm_stacked-hourglass-8_8xb32-210e_coco-256x256'),
    _ours('PSA-ResNet-50-p', 'td-hm_res50-psa-p_8xb64-210e_coco-256x192'),
    _ours('PSA-HRNet-W32-p', 'td-hm_hrnet-w32-psa-p_8xb64-210e_coco-256x192'),
    _zoo('mmpose LiteHRNet-18', 'td-hm_litehrnet-18_8xb64-210e_coco-256x192'),
    _zoo('mmpose LiteHRNet-30', 'td-hm_litehrnet-30_8xb64-210e_coco-256x192'),
    _zoo('mmpose HRNet-W32', 'td-hm_hrnet-w32_8xb64-210e_coco-256x192'),
    _zoo('mmpose ResNet-50', 'td-hm_res50_8xb64-210e_coco-256x192'),
    _zoo('mmpose MobileNetV2', 'td-hm_mobilenetv2_8xb64-210e_coco-256x192'),
    _zoo('mmpose ShuffleNetV2', 'td-hm_shufflenetv2_8xb64-210e_coco-256x192'),
    _zoo('mmpose Hourglass52', 'td-hm_hourglass52_8xb32-210e_coco-256x256'),
    _zoo('mmpose RTMPose-t', 'body_2d_keypoint/rtmpose/coco/rtmpose-t_8xb256-420e_aic-coco-256x192'),
    _zoo('mmpose RTMPose-s', 'body_2d_keypoint/rtmpose/coco/rtmpose-s_8xb256-420e_aic-coco-256x192'),
]

#: ``--quick``: the rows the speed targets are about.
QUICK = ('LightHRNet-18', 'XHRNet-S18', 'mmpose LiteHRNet-18')

#: The reference every ``speedup`` column is computed against.
REFERENCE = 'mmpose LiteHRNet-18'


def select(names: Optional[Sequence[str]] = None, quick: bool = False) -> List[Entry]:
    """The entries to measure.

    Args:
        names (Sequence[str], optional): Row names, exactly as
            :data:`ENTRIES` spells them (``--list`` prints them); the
            :data:`REFERENCE` row is appended when not named, since every
            speedup column divides by it. Default: every entry.
        quick (bool): Without ``names``, only the :data:`QUICK` rows.

    Returns:
        list[Entry]: In :data:`ENTRIES` order.

    Raises:
        ValueError: A name is not a row name; the message names it, suggests
            the closest row names and lists the valid ones.
    """
    if not names:
        return [e for e in ENTRIES if not quick or e.name in QUICK]
    valid = [e.name for e in ENTRIES]
    unknown = [n for n in names if n not in valid]
    if unknown:
        # rows that contain the name, then the most similar ones
        close = list(dict.fromkeys(c for n in unknown for c in [v for v in valid if n.lower() in v.lower()]
                                   + difflib.get_close_matches(n, valid, n=3, cutoff=0.6)))
        hint = f' (did you mean {" or ".join(repr(c) for c in close)}?)' if close else ''
        raise ValueError(f'--models {unknown}: no such row{hint}; give row names exactly as --list prints them; '
                         f'valid names: {valid}')
    out = [e for e in ENTRIES if e.name in set(names)]
    return out + [e for e in ENTRIES if e.name == REFERENCE and e not in out]


def config_entry(config: str) -> Entry:
    """A benchmark entry for a config file (``--config``), named after it.

    Raises:
        FileNotFoundError: ``config`` does not exist (the message names it).
    """
    from mmpose_lite.deploy.model import load_config
    load_config(config)
    name = osp.splitext(osp.basename(config))[0]
    return Entry(name, config, 'mmpose' if config.startswith('mmpose::') else 'mmpose_lite')


def zoo_ap() -> Dict[str, float]:
    """COCO AP (0-1) per config file name, from MMPose's installed metafiles
    (the first COCO result of each model; unreadable files are skipped)."""
    import mmpose
    import yaml
    root = osp.join(osp.dirname(mmpose.__file__), '.mim', 'configs')
    ap = {}
    for path in glob.glob(osp.join(root, '**', '*.yml'), recursive=True):
        try:
            with open(path) as f:
                meta = yaml.safe_load(f) or {}
        except (OSError, yaml.YAMLError):
            continue
        for model in meta.get('Models', []) if isinstance(meta, dict) else []:
            for res in model.get('Results', []) or []:
                metrics = res.get('Metrics', {}) or {}
                if res.get('Dataset') == 'COCO' and 'AP' in metrics:
                    ap.setdefault(osp.basename(model.get('Config', '')), float(metrics['AP']))
    return ap


def ap_of(entry: Entry, zoo: Dict[str, float]) -> Tuple[Optional[float], Optional[str]]:
    """An entry's COCO AP in percent (one decimal) and where it comes from
    (``'MMPose metafile'``, ``'paper-reported'``, or None without one);
    ``zoo`` is :func:`zoo_ap`'s map."""
    if entry.source == 'mmpose':
        ap, source = zoo.get(osp.basename(entry.config)), 'MMPose metafile'
    else:
        ap, source = entry.paper_ap, 'paper-reported' if entry.paper_ap is not None else None
    return (None if ap is None else round(100 * ap, 1)), source


def add_ap(rows: List[Dict], entries: Sequence[Entry]) -> None:
    """Fill each row's ``ap`` and ``ap_source`` from its entry (matched by
    row name). MMPose's metafiles are a label: if they cannot be read, the
    model-zoo rows get no AP and the run goes on."""
    try:
        zoo = zoo_ap()
    except Exception:  # noqa: BLE001 - AP is a label; its absence must not end the run
        zoo = {}
    by_name = {e.name: e for e in entries}
    for r in rows:
        r['ap'], r['ap_source'] = ap_of(by_name[r['model']], zoo)
