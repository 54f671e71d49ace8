"""docs/benchmark.md is generated from docs/benchmark.template.md by the
commands it names (mmpose_lite.benchmark.doc), not edited by hand."""
import os.path as osp
import shlex

import pytest

from mmpose_lite.benchmark.doc import main, parse_run, render_page, strip_outputs
from .conftest import REPO

TEMPLATE = osp.join(REPO, 'docs', 'benchmark.template.md')


def _template():
    with open(TEMPLATE) as f:
        return f.read()


def _fake_run(tool, args, plot):
    return f'| tool |\n|---|\n| {tool} {len(args)} |'


def test_check_accepts_a_generated_page_and_rejects_a_hand_edit(tmp_path):
    page = render_page(_template(), _fake_run)
    generated = tmp_path / 'benchmark.md'
    generated.write_text(page)
    assert main(['--check', '--out', str(generated)]) == 0
    # a figure edited into the prose, or a table's command changed by hand, fails the check
    generated.write_text(page.replace('## All models', '## All models\n\nOurs is 3x faster.', 1))
    assert main(['--check', '--out', str(generated)]) == 1
    generated.write_text(page.replace('--runtime eager', '--runtime ort', 1))
    assert main(['--check', '--out', str(generated)]) == 1


def test_render_and_strip_are_inverse():
    template = _template()
    calls = []

    def fake(tool, args, plot):
        calls.append((tool, args, plot))
        return _fake_run(tool, args, plot)
    page = render_page(template, fake)
    assert strip_outputs(page) == template
    runs = [ln for ln in template.splitlines() if ln.startswith('@run')]
    assert len(calls) == len(runs) >= 3
    for (tool, args, _), line in zip(calls, runs):
        # the page shows the command as a user types it
        assert f'`{shlex.join(["python", f"tools/{tool}.py", *args])}`' in page, line


def test_template_commands_are_valid(tmp_path):
    """Every @run benchmark line passes the benchmark's own checks (flags, row
    names, combinations such as --train-step with a batch)."""
    from mmpose_lite.benchmark.cli import parse_args
    for line in _template().splitlines():
        if line.startswith('@run benchmark'):
            _, args, _ = parse_run(line)
            parse_args([*args, '--out-dir', str(tmp_path)])  # argparse exits (SystemExit) on a bad one


def test_parse_run_names_the_tools():
    with pytest.raises(ValueError, match='benchmark'):
        parse_run('@run rm -rf /')
    assert parse_run("@run benchmark plot=a.png --models 'mmpose LiteHRNet-18'") == \
        ('benchmark', ['--models', 'mmpose LiteHRNet-18'], 'a.png')


def test_committed_page_is_generated_from_the_template():
    """docs/benchmark.md as committed is the template plus its commands' outputs (no hand edit)."""
    assert main(['--check']) == 0
