"""The synthetic generator's output, byte for byte, is pinned.

The sha256 of every file the generator writes (images, keypoint annotations,
detections, manifest) for two small sets are constants recorded from commit
ec0a741's code (with the uncommitted atomic-writing and argument-validation
edits of issue 12) before the package split of issue 13, with OpenCV 4.10.0
and numpy 1.26.4: ``_digests`` below printed for ``SETS``. A refactor of the
generator must leave them unchanged. (JPEG bytes depend on OpenCV's libjpeg:
after an OpenCV upgrade that changes them, record them again from the code
before any generator change, and say so in the commit.)
"""
import hashlib
from pathlib import Path
from typing import Dict

import pytest

from mmpose_lite.datasets import generate_synthetic_coco

#: ``default``: the default parameters but the counts; ``options``: every
#: parameter away from its default, occluders in every image, many people,
#: frequent truncation.
SETS = {
    'default': dict(num_train=6, num_val=3, seed=0),
    'options': dict(num_train=5, num_val=4, img_size=(192, 144), seed=12345, max_people=8,
                    min_visible_area=200, jpeg_quality=60, occluder_prob=1.0, truncation_prob=0.6),
}

EXPECTED: Dict[str, Dict[str, str]] = {
    'default': {
        'annotations/person_detection_results_val.json':
            'de19fc82f626becff2be0930147f503617d52413ae0c469c7550812dd0997523',
        'annotations/person_keypoints_train.json':
            '2ab01c0752cded747aeb016ccad213b16684e4ddf480f60571833d235a9c017b',
        'annotations/person_keypoints_val.json':
            '6016255d322783bae25df99cca2cf941cd03c35166a9f9edc4bb97b24160a145',
        'synthetic_coco_manifest.json':
            '7f52005eee0f4b9608d477b1beb7a7ec7859fe19cbac90b5f632adc5cd63cd3c',
        'train/000000000001.jpg':
            '568f225cc6ded106e30c91fff06a9dac764921fce84643e201712514ec53d0b0',
        'train/000000000002.jpg':
            '0df60d8e58dfd86c4b5103d0e2e72d5bee74d566526a1b03b500882f080838a1',
        'train/000000000003.jpg':
            '74830a645ae0fa3f2993e3ab86e28427b80f0a205bbc5441853a94c74ef676d4',
        'train/000000000004.jpg':
            'e06bda5e0248579a98585155b256e54f06105b38425176606edaf879323d55f8',
        'train/000000000005.jpg':
            '062fc6d89ffea50515d6e151d32f0534e659ac3dc89412620ad3fe52185d520e',
        'train/000000000006.jpg':
            '9f68dc246e6e3399adb88ad0e5152599f6882c8581107109e6791e9c45023147',
        'val/000000000001.jpg':
            '19fb7081937c425e763ff763e1f56641f94a91e2515f56053a9565611e9ed5b8',
        'val/000000000002.jpg':
            '32575f65492170fd2fc939cf6bb490a9bdf9a11160b60fdbee47b8d3cd6f6236',
        'val/000000000003.jpg':
            'd72b6cabb913946a7b5e76cd937c86b7ffe23b523e8894101197aa887b527126',
    },
    'options': {
        'annotations/person_detection_results_val.json':
            'd2e2c7975222245b69486b5fdedafe3edb09c6fc1b2f8c375b1601e7725b579d',
        'annotations/person_keypoints_train.json':
            '31ce2ce17e25b0e6b76f8b10a3d8bb3f8aa7d17714c18674ec6f8fcb802e3502',
        'annotations/person_keypoints_val.json':
            '60fe05dedcb66c28042d6d4820844e929922613e7bdabe4b8a5f95db1b09b0c0',
        'synthetic_coco_manifest.json':
            '92daf7d2f1556112a64ca0844349d7a630ef0dcc858acf407d9cfcf5f0fe67e5',
        'train/000000000001.jpg':
            'b386420c579f3e643b0dc53d84341a374e6518d91871c400dff8f2e5d5ddb5e5',
        'train/000000000002.jpg':
            '36ebd39d83f286eb2df78f0ac2522bbab0d17ab2e68b0662b1ded390c5942144',
        'train/000000000003.jpg':
            'b85b8ccdd9b024759f73664b5115867563afceb649dd100b32abe2968be441bf',
        'train/000000000004.jpg':
            'c9fa49317a2da1f0d83511fef7ce86901d00b7a55b9f06c63ba4de5b6246afef',
        'train/000000000005.jpg':
            'daa9165db794d82a20feeb517bb177c8fb26edd199ca8f114114e1a4b1a00e91',
        'val/000000000001.jpg':
            '1360f484babb13beed6f5daf219f685175c5eb33ed42bd3c1a3d5c51195a3d37',
        'val/000000000002.jpg':
            'b5009c74b02d1a90cfe27178e49161249067af792c9dcc632e1c5ffd277e1d7b',
        'val/000000000003.jpg':
            '350e6d4b3c78e645c973b823aa82a8339101d0e51eb772edfe05e4d394becf48',
        'val/000000000004.jpg':
            'a955a09c73196f0cb214d05fa83a46d537fce784260dffc21d68c8e9bd6b50d2',
    },
}


def _digests(root: Path) -> Dict[str, str]:
    """sha256 of every non-hidden file below ``root`` (relative path -> hex)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob('*')) if p.is_file() and not p.name.startswith('.')}


@pytest.mark.parametrize('name', sorted(SETS))
def test_output_bytes_unchanged(tmp_path, name):
    generate_synthetic_coco(tmp_path, **SETS[name])
    got = _digests(tmp_path)
    expected = EXPECTED[name]
    assert sorted(got) == sorted(expected)
    changed = [rel for rel in expected if got[rel] != expected[rel]]
    assert not changed, f'{name}: bytes changed in {changed}'


def test_config_object_and_command_line_give_the_same_bytes(tmp_path):
    """The parameters are declared once, in :class:`SyntheticCocoConfig`:
    passed as a config object, or through the command line (one option per
    field, built from the dataclass), the ``options`` set has the recorded
    bytes; a name that is not a field is refused."""
    from mmpose_lite.datasets.synthetic import SyntheticCocoConfig, main
    from mmpose_lite.datasets.synthetic.cli import build_parser
    generate_synthetic_coco(tmp_path / 'config', SyntheticCocoConfig(**SETS['options']))
    assert _digests(tmp_path / 'config') == EXPECTED['options']
    with pytest.raises(TypeError, match=r"unknown synthetic data parameter\(s\) \['num_trian'\]"):
        generate_synthetic_coco(tmp_path / 'typo', num_trian=3)

    fields = set(SyntheticCocoConfig.__dataclass_fields__)
    assert {a.dest for a in build_parser()._actions} - {'help', 'out_dir', 'workers'} == fields
    argv = [str(tmp_path / 'cli')]
    for name, value in SETS['options'].items():
        argv += [f'--{name.replace("_", "-")}', *map(str, value if isinstance(value, tuple) else [value])]
    assert main(argv) == 0
    assert _digests(tmp_path / 'cli') == EXPECTED['options']
