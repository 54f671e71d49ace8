"""tools/soak.py: the memory soak script runs and prints a table that parses
(a smoke test: the figures themselves come from the full run, not from CI)."""
import math
import re
import subprocess
import sys

import pytest

from .conftest import REPO, load_tool

SOAK = REPO / 'tools' / 'soak.py'


def _row(eval_mb, train_mb):
    def phase(start, growth):
        return dict(start=start, end=start + growth, live_start=start - 50, live_end=start - 50 + growth / 2,
                    seconds=1.0)
    return dict(model='m', params_m=1.0, size=[64, 64], forwards=1000, train_iters=200, eval=phase(100.0, eval_mb),
                train=phase(200.0, train_mb))


@pytest.mark.parametrize('eval_mb, train_mb, ok', [(0.5, 3.0, True), (5.0, 3.0, False), (1.0, 20.5, False)])
def test_targets_and_table_flags(eval_mb, train_mb, ok):
    soak = load_tool('soak')
    row = _row(eval_mb, train_mb)
    assert soak.meets_targets(row) is ok
    line = soak.format_table([row]).splitlines()[-1].split()
    assert float(line[5]) == pytest.approx(eval_mb) and float(line[9]) == pytest.approx(train_mb)
    assert float(line[7]) == pytest.approx(eval_mb / 2) and float(line[11]) == pytest.approx(train_mb / 2)
    assert (line[6] == 'yes') is (eval_mb < soak.EVAL_TARGET_MB)
    assert (line[10] == 'yes') is (train_mb < soak.TRAIN_TARGET_MB)


@pytest.mark.parametrize('argv, match', [
    (['--models', 'Nope'], r"unknown model\(s\) \['Nope'\]; choose from"),
    (['--size', '100', '64'], '--size 100 64: H and W must be positive multiples of 32'),
    (['--forwards', '-1'], '--forwards must be a non-negative integer, got -1'),
    (['--threads', '0'], '--threads must be a positive integer, got 0'),
])
def test_bad_arguments_are_named(argv, match, capsys):
    soak = load_tool('soak')
    with pytest.raises(SystemExit) as exit_info:
        soak.parse_args(argv)
    assert exit_info.value.code == 2
    assert re.search(match, capsys.readouterr().err)


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_quick_soak_prints_a_table_that_parses():
    soak = load_tool('soak')
    proc = subprocess.run([sys.executable, str(SOAK), '--quick', '--models', 'StackedHourglass-tiny'], cwd=REPO,
                          capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    rows = [line.split() for line in proc.stdout.splitlines() if line.startswith('StackedHourglass-tiny ')]
    assert len(rows) == 1, proc.stdout
    (name, params, size, rss, n, eval_mb, eval_ok, eval_live, m, train_mb, train_ok, train_live, eval_s,
     train_s) = rows[0]
    assert float(params) > 0 and size == '64x64' and float(rss) > 0
    assert (int(n), int(m)) == (30, 10)  # --quick's figures
    for value in (eval_mb, eval_live, train_mb, train_live, eval_s, train_s):
        assert math.isfinite(float(value))
    assert eval_ok == ('yes' if float(eval_mb) < soak.EVAL_TARGET_MB else 'NO')
    assert train_ok == ('yes' if float(train_mb) < soak.TRAIN_TARGET_MB else 'NO')
    assert proc.stdout.rstrip().splitlines()[-1] in ('all under target: yes', 'all under target: NO')
