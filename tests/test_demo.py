"""The main job's code path, end to end on a tiny synthetic set."""
import json

import pytest

from mmpose_lite import demo


@pytest.mark.timeout(900)
def test_demo_end_to_end(tmp_path, capsys):
    work = tmp_path / 'work'
    summary = demo.main(['--work-dir', str(work), '--data-root', str(tmp_path / 'synth'), '--num-train', '16',
                         '--num-val', '4', '--epochs', '1', '--num-vis', '2'])
    out = capsys.readouterr().out
    assert 'AP on synthetic val (CocoMetric, detected boxes): before training' in out
    metrics = json.loads((work / 'metrics.json').read_text())
    assert metrics == json.loads(json.dumps(summary))
    assert [c['epoch'] for c in metrics['curve']] == [0, 1]   # before training, after epoch 1
    assert 0 <= metrics['ap_final'] <= 1 and 'coco/AP .5' in metrics['final_metrics']
    for png in ('learning_curve.png', 'predictions.png'):
        assert (work / png).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    # re-running reuses the generated data
    assert (tmp_path / 'synth' / 'annotations' / 'person_keypoints_val.json').exists()
