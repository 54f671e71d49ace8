"""Inference on images, folders and videos: MMPose's ``MMPoseInferencer`` with
every backbone family's config, and ``mmpose-lite-infer`` (mmpose_lite/apis)
with each source of person boxes and each input error.

Checkpoints are random weights saved here the way our Runner saves them
(weights-only safe, with the dataset meta); the detector is MMDetection's
RTMDet-tiny config with one class and random weights (nothing is downloaded).
"""
import argparse
import json
import math
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from tests.conftest import REPO, TINY_RESNET, shared_data, tiny_hrnet_extra

SYNTH = REPO / 'configs' / 'body_2d_keypoint' / 'topdown_heatmap' / 'synthetic'
COCO = REPO / 'configs' / 'body_2d_keypoint' / 'topdown_heatmap' / 'coco'
DEMO = str(SYNTH / 'td-hm_xhrnet-s18_demo_synthcoco-128x96.py')
K = 17  # COCO keypoints

#: One config per backbone family, with overrides that make the COCO ones test-sized.
FAMILIES = {
    'x-hrnet': (DEMO, {}),
    'attention-neck': (str(SYNTH / 'td-hm_xhrnet-s18-psa-neck_demo_synthcoco-128x96.py'), {}),
    'slide': (str(SYNTH / 'td-hm_slide-light_demo_synthcoco-128x96.py'), {}),
    'stacked-hourglass': (str(SYNTH / 'td-hm_stacked-hourglass-tiny_demo_synthcoco-128x96.py'), {}),
    'lite-hrnet': (str(COCO / 'td-hm_lighthrnet-18_8xb64-210e_coco-256x192.py'), {}),
    'psa-resnet': (str(COCO / 'td-hm_res50-psa-p_8xb64-210e_coco-256x192.py'),
                   {'model.backbone': dict(depth=18, **TINY_RESNET),
                    'model.head': dict(in_channels=16, deconv_out_channels=(16, ), deconv_kernel_sizes=(4, ))}),
    'psa-hrnet': (str(COCO / 'td-hm_hrnet-w32-psa-s_8xb64-210e_coco-256x192.py'),
                  {'model.backbone': dict(extra=tiny_hrnet_extra()), 'model.head': dict(in_channels=8)}),
}


def load_config(config, overrides=None):
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    for key, value in (overrides or {}).items():
        cfg.merge_from_dict({f'{key}.{k}': v for k, v in value.items()})
    return cfg


def save_random_checkpoint(cfg, path, **head_changes) -> str:
    """Random weights of ``cfg``'s model saved as our Runner saves a
    checkpoint: ``state_dict`` + ``meta.dataset_meta``, weights-only safe."""
    from mmpose.apis.inference import dataset_meta_from_config
    from mmpose.registry import MODELS

    from mmpose_lite.engine.safe_checkpoint import encode_checkpoint
    cfg = cfg.copy()
    cfg.model.backbone.init_cfg = None
    cfg.model.head.update(head_changes)
    model = MODELS.build(cfg.model)
    checkpoint = dict(state_dict=model.state_dict(), meta=dict(dataset_meta=dataset_meta_from_config(cfg, 'train')))
    assert encode_checkpoint(checkpoint) == []
    torch.save(checkpoint, path)
    return str(path)


def person_image(seed: int, size=(120, 160)) -> np.ndarray:
    """A small BGR image of a stick figure on a noisy background."""
    rng = np.random.default_rng(seed)
    h, w = size
    img = rng.integers(0, 80, (h, w, 3), dtype=np.uint8)
    cx = w // 2 + int(rng.integers(-10, 10))
    for a, b in [((cx, 20), (cx, 70)), ((cx, 70), (cx - 15, 110)), ((cx, 70), (cx + 15, 110)),
                 ((cx, 35), (cx - 25, 55)), ((cx, 35), (cx + 25, 55))]:
        cv2.line(img, a, b, (230, 200, 180), 4)
    cv2.circle(img, (cx, 14), 8, (200, 180, 255), -1)
    return img


def check_instances(instances, count):
    """``count`` instances of K finite keypoints each, scores and a box."""
    assert len(instances) == count, instances
    for inst in instances:
        kpts = np.asarray(inst['keypoints'], dtype=float)
        assert kpts.shape == (K, 2) and np.isfinite(kpts).all(), kpts
        assert len(inst['keypoint_scores']) == K and all(math.isfinite(s) for s in inst['keypoint_scores'])
        assert np.asarray(inst['bbox']).shape == (1, 4)


@pytest.fixture(scope='module')
def demo_checkpoint(tmp_path_factory):
    return save_random_checkpoint(load_config(DEMO), tmp_path_factory.mktemp('ckpt') / 'demo.pth')


def infer(argv, capsys=None):
    """``mmpose-lite-infer`` in this process: (exit status, stdout, stderr)."""
    from mmpose_lite.apis.cli import main
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr() if capsys is not None else ('', '')
    return code, out, err


def demo_args(demo_checkpoint, out_dir):
    return ['--config', DEMO, '--checkpoint', demo_checkpoint, '--out-dir', out_dir, '--device', 'cpu']


# --------------------------------------------------------------------------- MMPose's inferencer
@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_mmpose_inferencer_runs_each_family(family, tmp_path):
    """MMPose's own inferencer, given our config (each backbone family) and a
    checkpoint, writes a visualization of the input's size and JSON with one
    17-keypoint pose for the whole-image box."""
    from mmpose.apis import MMPoseInferencer

    import mmpose_lite  # noqa: F401
    config, overrides = FAMILIES[family]
    cfg = load_config(config, overrides)
    checkpoint = save_random_checkpoint(cfg, tmp_path / 'model.pth')
    image = tmp_path / 'person.jpg'
    cv2.imwrite(str(image), person_image(0))
    inferencer = MMPoseInferencer(pose2d=cfg if overrides else config, pose2d_weights=checkpoint, device='cpu',
                                  det_model='whole_image')
    results = list(inferencer(str(image), vis_out_dir=str(tmp_path / 'vis'), pred_out_dir=str(tmp_path / 'pred')))
    assert len(results) == 1
    saved = json.loads((tmp_path / 'pred' / 'person.json').read_text())
    check_instances(saved, 1)
    assert saved[0]['bbox'] == [[0.0, 0.0, 160.0, 120.0]]
    np.testing.assert_allclose(saved[0]['keypoints'], results[0]['predictions'][0][0]['keypoints'])
    drawn = cv2.imread(str(tmp_path / 'vis' / 'person.jpg'))
    assert drawn is not None and drawn.shape == (120, 160, 3)


def test_inference_topdown_with_user_boxes(demo_checkpoint):
    """MMPose's ``inference_topdown`` with boxes the caller passes: one pose
    per box, inside its box (and a 2-D grayscale array needs 3 channels)."""
    from mmpose.apis import inference_topdown, init_model

    import mmpose_lite  # noqa: F401
    model = init_model(DEMO, demo_checkpoint, device='cpu')
    img = person_image(1)
    boxes = np.array([[10, 5, 90, 115], [60, 10, 150, 110]], dtype=np.float32)
    samples = inference_topdown(model, img, boxes)
    assert len(samples) == 2
    for sample, box in zip(samples, boxes):
        kpts = sample.pred_instances.keypoints[0]
        assert kpts.shape == (K, 2) and np.isfinite(kpts).all()
        np.testing.assert_allclose(sample.pred_instances.bboxes[0], box)
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    assert len(inference_topdown(model, cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), boxes)) == 2


# ------------------------------------------------------------------------------------- the CLI
def test_cli_real_photo(demo_checkpoint, tmp_path, capsys):
    """A real COCO photo, the whole image as the box, the config named as one
    of the package's: a PNG of the photo's size and the JSON of one
    17-keypoint pose."""
    photo = shared_data('coco_sample') / '000000000785.jpg'
    args = demo_args(demo_checkpoint, tmp_path)
    args[1] = 'mmpose_lite::body_2d_keypoint/topdown_heatmap/synthetic/td-hm_xhrnet-s18_demo_synthcoco-128x96.py'
    code, out, err = infer([photo, '--whole-image', '--draw-bbox', '--kpt-thr', 0, *args], capsys)
    assert code == 0, err
    png, pred = tmp_path / 'visualizations' / '000000000785.png', tmp_path / 'predictions' / '000000000785.json'
    assert f'{png}' in out and f'{pred}' in out
    drawn, original = cv2.imread(str(png)), cv2.imread(str(photo))
    assert drawn.shape == original.shape and (drawn != original).any()  # the box and keypoints are drawn
    check_instances(json.loads(pred.read_text()), 1)


def test_cli_folder_with_progress(demo_checkpoint, tmp_path, capsys):
    """A folder: one PNG and one JSON per image (a grayscale PNG included,
    other files and sub-folders skipped), and a progress bar."""
    folder = tmp_path / 'images'
    (folder / 'sub').mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(folder / f'p{i}.jpg'), person_image(i))
    cv2.imwrite(str(folder / 'gray.png'), cv2.cvtColor(person_image(3), cv2.COLOR_BGR2GRAY))
    (folder / 'notes.txt').write_text('not an image')
    cv2.imwrite(str(folder / 'sub' / 'skipped.jpg'), person_image(4))
    out_dir = tmp_path / 'out'
    code, out, err = infer([folder, '--whole-image', '--progress', *demo_args(demo_checkpoint, out_dir)], capsys)
    assert code == 0, err
    names = ['gray', 'p0', 'p1', 'p2']
    assert sorted(os.listdir(out_dir / 'predictions')) == [n + '.json' for n in names]
    assert sorted(os.listdir(out_dir / 'visualizations')) == [n + '.png' for n in names]
    for name in names:
        check_instances(json.loads((out_dir / 'predictions' / f'{name}.json').read_text()), 1)
    assert '4/4' in err  # the progress bar's final state
    assert '4 images, 4 poses' in out


def write_video(path, frames, fourcc='mp4v', fps=5):
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened(), f'this OpenCV cannot write {fourcc} into {path}'
    for frame in frames:
        writer.write(frame)
    writer.release()


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_cli_video_with_user_boxes(demo_checkpoint, tmp_path):
    """A video the test writes (4 frames, mp4v) through ``tools/infer.py`` with
    a box file: one pose per box above --bbox-thr, with the given box; a
    frame with no box left (an empty list, or beyond the listed frames) gets
    the whole frame; the annotated video has every frame."""
    video = tmp_path / 'clip.mp4'
    write_video(video, [person_image(i) for i in range(4)])
    a, b, low = [10, 5, 90, 115], [60, 10, 150, 110, 0.9], [0, 0, 50, 50, 0.1]
    (tmp_path / 'boxes.json').write_text(json.dumps({'clip.mp4': [[a, b, low], [b], []]}))
    out_dir = tmp_path / 'out'
    run = subprocess.run([sys.executable, str(REPO / 'tools' / 'infer.py'), str(video), '--boxes',
                          str(tmp_path / 'boxes.json'), *demo_args(demo_checkpoint, out_dir)],
                         capture_output=True, text=True, timeout=280, env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert run.returncode == 0, run.stderr[-3000:]
    frames = json.loads((out_dir / 'predictions' / 'clip.json').read_text())
    assert [f['frame_id'] for f in frames] == [0, 1, 2, 3]
    for frame, count in zip(frames, [2, 1, 1, 1]):
        check_instances(frame['instances'], count)
    assert [i['bbox'][0] for i in frames[0]['instances']] == [a, b[:4]]
    assert [i['bbox_score'] for i in frames[0]['instances']] == [1.0, pytest.approx(0.9)]
    assert frames[2]['instances'][0]['bbox'] == [[0.0, 0.0, 160.0, 120.0]]
    drawn = cv2.VideoCapture(str(out_dir / 'visualizations' / 'clip.mp4'))
    count = int(drawn.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, first = drawn.read()
    drawn.release()
    assert ok and first.shape == (120, 160, 3) and count == 4
    assert '4 frames, 5 poses' in run.stdout


def rtmdet_person_detector(folder) -> tuple:
    """MMDetection's RTMDet-tiny config as a one-class (person) detector with
    random weights at 160x160, saved with its checkpoint: (config, checkpoint)."""
    import mmdet
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    base = osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs', 'rtmdet', 'rtmdet_tiny_8xb32-300e_coco.py')
    if not osp.isfile(base):
        pytest.skip(f'MMDetection ships no {base}')
    config = folder / 'person_detector.py'
    config.write_text(f'''_base_ = {base!r}
model = dict(backbone=dict(init_cfg=None), bbox_head=dict(num_classes=1, exp_on_reg=True),
             test_cfg=dict(nms_pre=50, score_thr=0.0, max_per_img=3))
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(160, 160), keep_ratio=True),
                 dict(type='Pad', size=(160, 160), pad_val=dict(img=(114, 114, 114))),
                 dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                                       'scale_factor'))]
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
''')
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(Config.fromfile(str(config)).model)
    checkpoint = folder / 'person_detector.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=dict(classes=['person']))), checkpoint)
    return str(config), str(checkpoint)


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_cli_with_detector_one_pose_per_box(demo_checkpoint, tmp_path, capsys):
    """An MMDetection config + checkpoint as the person detector: the poses
    are exactly one per detected box above --bbox-thr, each with that box
    and its score (compared with MMDetection's inferencer run directly)."""
    from mmdet.apis import DetInferencer
    det_config, det_checkpoint = rtmdet_person_detector(tmp_path)
    image = tmp_path / 'people.jpg'
    cv2.imwrite(str(image), np.concatenate([person_image(5), person_image(6)], axis=1))
    detected = DetInferencer(det_config, det_checkpoint, device='cpu', show_progress=False)(
        str(image), return_datasamples=True)['predictions'][0].pred_instances
    thr = 0.05
    keep = detected.scores.numpy() > thr
    expected = sorted(zip(detected.scores.numpy()[keep].tolist(), detected.bboxes.numpy()[keep].tolist()))
    assert len(expected) >= 2, f'the random detector found {len(expected)} boxes above the threshold; change its seed'
    code, _, err = infer([image, '--det-config', det_config, '--det-checkpoint', det_checkpoint, '--bbox-thr', thr,
                          '--nms-thr', 1, '--draw-bbox', *demo_args(demo_checkpoint, tmp_path / 'out')], capsys)
    assert code == 0, err
    poses = json.loads((tmp_path / 'out' / 'predictions' / 'people.json').read_text())
    check_instances(poses, len(expected))
    got = sorted((p['bbox_score'], p['bbox'][0]) for p in poses)
    for (score, box), (want_score, want_box) in zip(got, expected):
        assert score == pytest.approx(want_score, abs=1e-5)
        np.testing.assert_allclose(box, want_box, atol=1e-3)


# ------------------------------------------------------------------------------------- errors
@pytest.fixture
def photo(tmp_path):
    path = tmp_path / 'person.jpg'
    cv2.imwrite(str(path), person_image(0))
    return path


def test_cli_refuses_without_a_detector_choice(demo_checkpoint, photo, tmp_path, capsys):
    """No detector, no boxes, no --whole-image: a usage error naming the three
    choices, before any model is built or anything downloaded."""
    code, _, err = infer([photo, *demo_args(demo_checkpoint, tmp_path / 'out')], capsys)
    assert code == 2
    assert 'no person detector chosen' in err
    assert all(flag in err for flag in ('--det-config', '--boxes', '--whole-image'))
    assert 'Traceback' not in err and not (tmp_path / 'out').exists()
    code, _, err = infer([photo, '--whole-image', '--boxes', photo, *demo_args(demo_checkpoint, tmp_path)], capsys)
    assert code == 2 and 'choose one source of person boxes' in err


def test_build_inferencer_refuses_without_a_detector_choice(demo_checkpoint):
    from mmpose_lite.apis import NoDetectorError, build_inferencer
    with pytest.raises(NoDetectorError, match='whole_image=True'):
        build_inferencer(DEMO, demo_checkpoint)


@pytest.mark.parametrize('case', ['missing', 'corrupt-in-folder', 'not-media', 'corrupt-video'])
def test_cli_names_an_unreadable_input(case, demo_checkpoint, tmp_path, capsys):
    """A missing path, a corrupt image in a folder, a file that is no image or
    video, an unreadable video: exit 2 naming the file, nothing written."""
    folder = tmp_path / 'in'
    folder.mkdir()
    cv2.imwrite(str(folder / 'good.jpg'), person_image(0))
    (folder / 'notes.txt').write_text('hello')
    (folder / 'clip.mp4').write_bytes(os.urandom(256))
    if case == 'corrupt-in-folder':
        (folder / 'bad.png').write_bytes(b'\x89PNG\r\n\x1a\n' + b'\x00' * 20)
    target = {'missing': folder / 'absent.jpg', 'corrupt-in-folder': folder, 'not-media': folder / 'notes.txt',
              'corrupt-video': folder / 'clip.mp4'}[case]
    code, _, err = infer([target, '--whole-image', *demo_args(demo_checkpoint, tmp_path / 'out')], capsys)
    named = folder / 'bad.png' if case == 'corrupt-in-folder' else target
    assert code == 2 and str(named) in err, err
    assert 'Traceback' not in err and not (tmp_path / 'out').exists()


def test_cli_names_a_missing_checkpoint_or_config(demo_checkpoint, photo, tmp_path, capsys):
    code, _, err = infer([photo, '--whole-image', *demo_args(tmp_path / 'nope.pth', tmp_path / 'out')], capsys)
    assert code == 2 and '--checkpoint' in err and 'nope.pth' in err
    args = demo_args(demo_checkpoint, tmp_path / 'out')
    args[1] = 'mmpose_lite::body_2d_keypoint/nope.py'
    code, _, err = infer([photo, '--whole-image', *args], capsys)
    assert code == 2 and '--config' in err and 'nope.py' in err


@pytest.mark.parametrize('part', ['backbone', 'head'])
def test_cli_names_a_config_checkpoint_mismatch(part, photo, tmp_path, capsys):
    """A checkpoint of another model: exit 1 with the mismatch named (which
    keys, which shapes), no traceback -- whether our backbone refuses it or
    only MMPose's head differs (MMEngine's loader alone would only warn)."""
    if part == 'backbone':
        checkpoint = save_random_checkpoint(load_config(FAMILIES['slide'][0]), tmp_path / 'other.pth')
    else:
        checkpoint = save_random_checkpoint(load_config(DEMO), tmp_path / 'other.pth', out_channels=14)
    code, _, err = infer([photo, '--whole-image', *demo_args(checkpoint, tmp_path / 'out')], capsys)
    assert code == 1, err
    assert checkpoint in err and 'does not fit' in err and 'Traceback' not in err
    assert ('head.final_layer.weight' in err) == (part == 'head')
    assert ('backbone.' in err) == (part == 'backbone')


def test_cli_names_an_unsafe_checkpoint(demo_checkpoint, photo, tmp_path, capsys):
    """A checkpoint holding arbitrary pickled objects is not unpickled; the
    message names the file and how to load one you trust."""
    state = torch.load(demo_checkpoint, weights_only=True)
    state['meta']['evil'] = argparse.Namespace(x=1)  # an object the weights-only unpickler refuses
    unsafe = tmp_path / 'unsafe.pth'
    torch.save(state, unsafe)
    code, _, err = infer([photo, '--whole-image', *demo_args(unsafe, tmp_path / 'out')], capsys)
    assert code == 1, err
    assert f'refused to load checkpoint {unsafe}' in err and 'upgrade_checkpoint' in err and 'Traceback' not in err


@pytest.mark.parametrize('content, message', [
    ('{"person.jpg": [[10, 10, 5, 50]]}', 'is not a box'),
    ('{"person.jpg": [[10, 10, 50]]}', 'is not a box'),
    ('[[1, 2, 3, 4]]', 'must hold a JSON object'),
    ('{"other.jpg": []}', 'has no entry "person.jpg"'),
    ('{"person.jpg": [[0, 0, 10', 'cannot read the box file'),
])
def test_cli_names_a_bad_box_file(content, message, demo_checkpoint, photo, tmp_path, capsys):
    boxes = tmp_path / 'boxes.json'
    boxes.write_text(content)
    code, _, err = infer([photo, '--boxes', boxes, *demo_args(demo_checkpoint, tmp_path / 'out')], capsys)
    assert code == 2 and message in err and str(boxes) in err, err


@pytest.mark.skipif(torch.cuda.is_available(), reason='CUDA is available here')
def test_cli_refuses_an_unavailable_device(demo_checkpoint, photo, tmp_path, capsys):
    args = demo_args(demo_checkpoint, tmp_path / 'out')
    code, _, err = infer([photo, '--whole-image', *args[:-1], 'cuda'], capsys)
    assert code == 2 and 'CUDA is not available' in err
    code, _, err = infer([photo, '--whole-image', *args[:-1], 'tpu'], capsys)
    assert code == 2 and "'tpu' is not cpu, cuda or cuda:N" in err
