"""The pytest plugin: found through the installed `pytest11` entry point, one fixture
`em_twins`, models built once per session; and the worked example run as a user runs it."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "poisson_mixture"


@pytest.fixture(scope="module")
def user_run(tmp_path_factory):
    """The example copied to a folder outside the package, with no conftest, and pytest
    run there: `em_twins` can only come from the installed entry point."""
    project = tmp_path_factory.mktemp("user_project")
    shutil.copytree(EXAMPLE, project, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PYTEST_ADDOPTS", "PYTHONPATH")}
    env["COLUMNS"] = "300"  # pytest cuts the short summary at the terminal's width
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-ra", "-p", "no:cacheprovider"],
        cwd=project, env=env, capture_output=True, text=True, timeout=600,
    )
    return project, done


def test_the_copy_holds_only_the_users_files(user_run):
    project, _ = user_run
    assert sorted(p.name for p in project.iterdir() if p.suffix == ".py") == [
        "counts_em.py", "counts_model.py", "counts_scenario.py", "test_counts.py", "test_counts_buggy.py",
    ]
    assert not (project / "conftest.py").exists()


def test_the_plugin_is_loaded_from_the_entry_point(user_run):
    _, done = user_run
    plugins = next(line for line in done.stdout.splitlines() if line.startswith("plugins:"))
    assert "emtwin-0.1.0" in plugins


def test_the_correct_em_passes_and_the_buggy_one_fails(user_run):
    _, done = user_run
    assert done.returncode == 1, done.stdout + done.stderr
    summary = done.stdout.strip().splitlines()[-1]
    assert "1 failed, 2 passed" in summary
    # The step check names the iteration, the step and the parameter before the end-point table.
    assert "FAILED test_counts_buggy.py::test_buggy_em_agrees_with_pymc - AssertionError: poisson-mixture-buggy: " \
           "the twins disagree. EM steps vs the model: iteration 1, m_step, lam: expected [" in done.stdout


def test_the_failure_message_shows_the_marked_table(user_run):
    _, done = user_run
    lines = done.stdout.splitlines()
    lam2 = next(line for line in lines if line.startswith("E       lam2 "))
    assert "◀ FAIL |EM−MAP| = " in lam2 and lam2.endswith(" > 1e-04")
    assert "E       [FAIL] EM vs MAP parameters: largest difference" in done.stdout
    assert "E       verdict: DISAGREE" in lines


def test_the_plugin_is_registered_in_this_session_too(request):
    plugin = request.config.pluginmanager.get_plugin("emtwin")
    assert plugin is importlib.import_module("emtwin.pytest_plugin")


def test_the_session_builds_one_model_per_builder_and_data(em_twins):
    sys.path.insert(0, str(EXAMPLE))
    try:
        counts_em = importlib.import_module("counts_em")
        counts_model = importlib.import_module("counts_model")
    finally:
        sys.path.remove(str(EXAMPLE))
    # Two data objects with equal content, as two tests calling simulate_counts() would make.
    first = em_twins.models.build(counts_model.build_model, counts_em.simulate_counts())
    size = len(em_twins.models)
    second = em_twins.models.build(counts_model.build_model, counts_em.simulate_counts())
    assert second is first
    assert len(em_twins.models) == size
    other = em_twins.models.build(counts_model.build_model, counts_em.simulate_counts(n=50))
    assert other is not first
    assert len(em_twins.models) == size + 1
