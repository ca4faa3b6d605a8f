"""The `emtwin` command line: output, exit codes, clean errors."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from emtwin.comparisons import SCENARIOS, cli
from emtwin.comparisons.parallel import run_all
from emtwin.em_reference import EMConvergenceWarning, coins


def test_list_names_every_scenario(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()] == list(SCENARIOS)
    assert out.splitlines()[0].startswith("one-coin ")
    assert "Do & Batzoglou (2008)" in out


def test_compare_prints_the_table_and_exits_0(capsys):
    assert cli.main(["compare", "coin-sets", "--methods", "map", "--quiet"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    row_a = next(line for line in lines if line.startswith("theta_A"))
    assert row_a.split()[1:3] == ["0.7968", "0.7968"]
    row_b = next(line for line in lines if line.startswith("theta_B"))
    assert row_b.split()[1:3] == ["0.5196", "0.5196"]
    assert lines[-1] == "verdict: AGREE"
    assert captured.err == ""


def test_json_output_parses_and_carries_the_numbers(capsys):
    assert cli.main(["compare", "coin-sets", "--methods", "map", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["verdict"] == "agree"
    rows = {r["parameter"]: r for r in payload["rows"]}
    assert round(rows["theta_A"]["em"], 4) == 0.7968
    assert round(rows["theta_B"]["map"], 4) == 0.5196
    assert payload["settings"]["seed"] == 0
    assert payload["versions"]["pymc"].startswith("6.")


def test_disagreeing_twins_exit_1(capsys, monkeypatch):
    broken = dataclasses.replace(
        SCENARIOS["coin-sets"],
        name="coin-sets-early-stop",
        fit_em=lambda data, start, **kw: coins.fit(data, start["theta"], max_iter=2),
    )
    monkeypatch.setitem(SCENARIOS, broken.name, broken)
    with pytest.warns(EMConvergenceWarning):
        code = cli.main(["compare", "coin-sets-early-stop", "--methods", "map", "--quiet"])
    assert code == 1
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "verdict: DISAGREE"
    assert "[FAIL] EM vs MAP parameters" in out


# Bad arguments (exit 2, one clear line): tests/test_bad_input.py, every subcommand's cases.


def test_run_all_keeps_the_order_of_the_tasks_and_reports_each_one(capsys):
    # A module-level function a spawned worker can import; results come back in task order
    # whatever order the workers finish in.
    assert run_all(math.factorial, [12, 3, 7], jobs=2, label=lambda n: f"{n}!", describe=str) == [479001600, 6, 5040]
    lines = capsys.readouterr().err.splitlines()
    # One line per task as it finishes: counted in finishing order, any task first.
    assert [line.split("]")[0] for line in lines] == ["[1/3", "[2/3", "[3/3"]
    assert sorted(line.split("] ")[1].split(" (")[0] for line in lines) == ["12!: 479001600", "3!: 6", "7!: 5040"]


def test_all_in_parallel_gives_the_numbers_of_one_process(capsys):
    # MAP only: the point is the process pool, not the fits.
    assert cli.main(["compare", "--all", "--methods", "map", "--json"]) == 0
    alone = json.loads(capsys.readouterr().out)
    assert cli.main(["compare", "--all", "--methods", "map", "--json", "--jobs", "2"]) == 0
    in_pool = json.loads(capsys.readouterr().out)
    assert [c["scenario"] for c in in_pool] == [c["scenario"] for c in alone] == list(cli.SCENARIOS)
    for a, b in zip(alone, in_pool):
        assert (a["verdict"], a["em"], a["map"]) == (b["verdict"], b["em"], b["map"])


def test_console_script_is_installed_and_runs():
    # The script sits beside the interpreter running the tests (the project's venv).
    exe = Path(sys.executable).parent / "emtwin"
    assert exe.exists(), f"no emtwin console script at {exe}; is the package installed?"
    done = subprocess.run([str(exe), "list"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    assert "coin-sets" in done.stdout


def test_the_console_script_writes_everything_and_runs_exit_handlers_before_its_quick_exit(tmp_path):
    """`emtwin` leaves without the interpreter's teardown (cli.run): every line printed and
    the exit handlers run first. The script runs `run` with a handler of its own added."""
    marker = tmp_path / "handler-ran"
    script = ("import atexit, pathlib, sys\n"
              f"atexit.register(pathlib.Path({str(marker)!r}).write_text, 'yes')\n"
              "sys.argv = ['emtwin', 'compare', 'one-coin', '--methods', 'map', '--json', '--no-cache']\n"
              "from emtwin.comparisons.cli import run\nrun()\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["verdict"] == "agree"  # the whole JSON, to its last brace
    assert marker.read_text() == "yes"


def test_a_reader_that_leaves_early_ends_the_command_quietly():
    exe = Path(sys.executable).parent / "emtwin"
    process = subprocess.Popen([str(exe), "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()  # the reader is gone before the first line (as `| head -0`)
    err = process.stderr.read()
    assert process.wait(timeout=120) == 141
    assert "Traceback" not in err and err == ""


def test_progress_goes_to_stderr_and_stdout_keeps_only_results(capfd):
    from emtwin.comparisons import compare

    compare("coin-sets", methods=["advi", "nuts"], progress=True,
            advi_options={"n": 500, "draws": 100}, nuts_options={"draws": 100, "tune": 100, "chains": 1})
    captured = capfd.readouterr()
    assert captured.out == ""
    assert "[coin-sets] NUTS ..." in captured.err
    assert "[coin-sets] ADVI ..." in captured.err


def test_summary_lines_align_every_column():
    lines = cli._summary([("one-coin", "agree", ""), ("interleaved-coins", "non-identifiable", ""),
                          ("gaussian-mixture-2d", "agree", "warnings: ADVI loss settled"),
                          ("coin-sets", "disagree", "failed: EM vs MAP parameters")])
    assert lines == [
        "one-coin             agree",
        "interleaved-coins    non-identifiable",
        "gaussian-mixture-2d  agree             warnings: ADVI loss settled",
        "coin-sets            disagree          failed: EM vs MAP parameters",
    ]


def test_the_methods_the_command_line_parses_are_the_harness_s_method_table():
    # comparisons/methods.py keeps the names apart so --methods parses without PyMC.
    from emtwin.comparisons import harness, methods

    assert methods.METHODS == tuple(harness.FITS) == harness.METHODS == ("map", "advi", "nuts")
