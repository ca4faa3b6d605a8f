"""`emtwin report --all --quick` from the command line, end to end.

A module of its own: it is the suite's longest single test (about 2.5 min warm, 5 min on a
fresh machine), and pytest-xdist's loadscope keeps a module on one worker, so beside
test_report.py's module fixture and tests it held one worker for both while the other
ran out of work.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from emtwin.comparisons import SCENARIOS
from emtwin.comparisons.report import writer as report_writer
from _chromium import page_looks_complete, screenshots  # tests/ is on sys.path (its conftest)


@pytest.mark.slow
def test_report_all_from_the_command_line(tmp_path):
    """`emtwin report --all --quick` end to end in a process of its own: every scenario's
    section, progress on stderr, the page complete in Chromium. At ``--quick`` (the same code
    as the defaults, on shorter chains and three data sizes): at the defaults this one test
    took 743 s of a fresh machine's cold `make test`; `make report` runs the defaults."""
    exe = Path(sys.executable).parent / "emtwin"
    done = subprocess.run([str(exe), "report", "--all", "--quick", "--out", str(tmp_path / "report")],
                          capture_output=True, text=True, timeout=3600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == list(SCENARIOS)
    assert lines[-1] == f"report: {tmp_path / 'report' / 'index.html'}"
    assert "[report] scenario 1/" in done.stderr and "data growth" in done.stderr
    out = tmp_path / "report"
    assert report_writer.check_report(out) == []
    results = json.loads((out / "results.json").read_text())
    mixture = results["scenarios"]["gaussian-mixture"]["components"]
    # Free parameters of k Gaussians in 1-D: k means, k SDs, k − 1 weights.
    assert [r["n_params"] for r in mixture["rows"]] == [2, 5, 8]
    assert mixture["choice"]["bic"] == 2  # Old Faithful's waiting times: two kinds of eruption
    n_images = sum(len(s["figures"]) for s in results["scenarios"].values())
    shots = screenshots(tmp_path)
    page_looks_complete(out, tmp_path, n_images, shots / "report-all.png")
