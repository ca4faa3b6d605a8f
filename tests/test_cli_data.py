"""`emtwin compare/report` with your data and your knobs (issue 16): --data, --column, --k,
--sigma, --start, --prior, each checked against a number computed here, independently."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from fractions import Fraction
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from scipy.special import logsumexp

from emtwin.comparisons import cli
from emtwin.comparisons.report import writer as report_writer
from emtwin.em_reference import coins as em_coins
from emtwin.em_reference import interleaved_coins as em_interleaved


def _json(argv, capsys):
    code = cli.main([*argv, "--methods", "map", "--json"])
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    return code, payload, {r["parameter"]: r for r in payload["rows"]}


def _faithful_copy(tmp_path) -> Path:
    path = tmp_path / "faithful.csv"
    shutil.copy(str(resources.files("emtwin.em_reference").joinpath("data", "faithful.csv")), path)
    return path


def _check(payload, name):
    return next(c for c in payload["checks"] if c["name"] == name)


def test_your_csv_column_reproduces_mixtools_old_faithful_fit(tmp_path, capsys):
    """The issue's done-when command. mixtools' published two-component fit to the waiting
    times: weights 0.361, 0.639, means 54.61, 80.09, SDs 5.87, 5.87 (normalmixEM man page)."""
    path = _faithful_copy(tmp_path)
    code, payload, rows = _json(["compare", "gaussian-mixture", "--data", str(path), "--column", "waiting",
                                 "--k", "2"], capsys)
    assert code == 0 and payload["verdict"] == "agree"
    published = {"weights1": 0.361, "weights2": 0.639, "mu1": 54.61, "mu2": 80.09, "sigma1": 5.87, "sigma2": 5.87}
    for name, value in published.items():
        half_digit = 0.0005 if name.startswith("weights") else 0.005  # the published rounding
        assert abs(rows[name]["em"] - value) <= half_digit, (name, rows[name]["em"])
        assert abs(rows[name]["map"] - rows[name]["em"]) <= 1e-4


def _map_em(heads, tosses, prior, theta, n_iter=5000):
    """MAP-EM for two coins, a loop over sets (Dempster, Laird & Rubin 1977, sec. 3): the
    M-step adds the Beta(a, b) pseudo-counts, θ_c = (Σ r h + a − 1)/(Σ r n + a + b − 2).
    It maximises log-likelihood + log prior density in θ, find_MAP's objective."""
    a, b = prior
    theta = np.array(theta, dtype=float)
    for _ in range(n_iter):
        resp = []
        for h, n in zip(heads, tosses):
            log = [h * np.log(t) + (n - h) * np.log1p(-t) for t in theta]
            resp.append(np.exp(np.array(log) - logsumexp(log)))
        resp = np.array(resp)
        theta = np.array([(resp[:, c] @ heads + a - 1) / (resp[:, c] @ tosses + a + b - 2) for c in range(2)])
    return theta


def test_a_beta_2_2_prior_moves_the_map_as_map_em_says(tmp_path, capsys):
    path = tmp_path / "sets.txt"
    path.write_text("\n".join(em_coins.DO_BATZOGLOU_SETS) + "\n")
    code, payload, rows = _json(["compare", "coin-sets", "--data", str(path), "--prior", "2,2"], capsys)
    assert code == 0 and payload["verdict"] == "agree"
    assert payload["settings"]["model_options"] == {"prior": [2.0, 2.0]}
    # EM is still the MLE: Do & Batzoglou's 0.80 / 0.52.
    assert (round(rows["theta_A"]["em"], 2), round(rows["theta_B"]["em"], 2)) == (0.80, 0.52)
    expected = _map_em(np.array([5, 9, 8, 4, 7]), np.full(5, 10), (2, 2), (0.6, 0.5))
    got = np.array([rows["theta_A"]["map"], rows["theta_B"]["map"]])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # The prior pulls coin A's bias down towards 1/2 by about 0.034; B's barely moves.
    assert rows["theta_A"]["em"] - rows["theta_A"]["map"] == pytest.approx(0.7968 - expected[0], abs=1e-4)
    assert expected[0] < rows["theta_A"]["em"] - 0.03
    # MAP ≠ MLE is reported, not failed, because the prior is not flat.
    assert _check(payload, "EM vs MAP parameters")["severity"] == "info"


def test_one_coin_with_your_tosses_and_a_prior_has_the_closed_form_mode(tmp_path, capsys):
    path = tmp_path / "tosses.txt"
    path.write_text("HHTHT\nHHH\n")  # h = 6 of N = 8
    code, payload, rows = _json(["compare", "one-coin", "--data", str(path), "--prior", "2,2"], capsys)
    assert code == 0
    mode = Fraction(2 + 6 - 1, 2 + 2 + 8 - 2)  # (a + h − 1)/(a + b + N − 2) = 7/10
    assert rows["p"]["em"] == pytest.approx(6 / 8, abs=1e-9)
    assert rows["p"]["map"] == pytest.approx(float(mode), abs=1e-6)
    check = _check(payload, "MAP = closed-form posterior mode")
    assert check["passed"] and "Beta(2+6, 2+2) = Beta(8, 4)" in check["detail"]


def test_gaussian_means_from_your_csv_with_k_and_sigma_and_no_start(tmp_path, capsys):
    # Three tight clusters ten σ apart: every responsibility is 0 or 1 to ~1e-20, so the
    # means are the cluster averages, −5, 0 and 5.
    points = [-5.1, -5.0, -4.9, -0.1, 0.0, 0.1, 4.9, 5.0, 5.1]
    path = tmp_path / "z.csv"
    path.write_text("z\n" + "\n".join(map(str, points)) + "\n")
    code, payload, rows = _json(["compare", "gaussian-means", "--data", str(path), "--column", "z", "--k", "3",
                                 "--sigma", "0.5"], capsys)
    assert code == 0 and payload["verdict"] == "agree"
    np.testing.assert_allclose([rows[f"mu{j}"]["em"] for j in (1, 2, 3)], [-5.0, 0.0, 5.0], atol=1e-9)
    # The start came from the data: its 1/6, 1/2, 5/6 quantiles.
    np.testing.assert_allclose(payload["settings"]["start"]["mu"], np.quantile(points, [1 / 6, 1 / 2, 5 / 6]))


def _loop_em(sequence, p, n_iter=200):
    """Interleaved-coins EM, one toss at a time: the lecture's E- and M-step, no NumPy tricks."""
    x = [int(c == "H") for c in sequence]
    p1, p2 = p
    for _ in range(n_iter):
        r = [p1 ** xi * (1 - p1) ** (1 - xi) / (p1 ** xi * (1 - p1) ** (1 - xi) + p2 ** xi * (1 - p2) ** (1 - xi))
             for xi in x]
        p1, p2 = (sum(ri * xi for ri, xi in zip(r, x)) / sum(r),
                  sum((1 - ri) * xi for ri, xi in zip(r, x)) / sum(1 - ri for ri in r))
    return p1, p2


def test_start_elsewhere_and_em_ends_elsewhere_on_the_ridge(capsys):
    code, payload, rows = _json(["compare", "interleaved-coins", "--start", "p=0.7,0.2"], capsys)
    assert code == 0 and payload["verdict"] == "non-identifiable"
    assert payload["settings"]["start"] == {"p": [0.7, 0.2]}
    expected = _loop_em(em_interleaved.LECTURE_SEQUENCE, (0.7, 0.2))  # (0.8, 0.3)
    np.testing.assert_allclose([rows["p1"]["em"], rows["p2"]["em"]], expected, atol=1e-8)
    assert sum(expected) == pytest.approx(1.1, abs=1e-12)  # on the ridge p1 + p2 = 2 · 11/20
    from_lecture = _loop_em(em_interleaved.LECTURE_SEQUENCE, em_interleaved.LECTURE_START)
    assert abs(from_lecture[0] - expected[0]) > 0.01  # another point of the ridge


def test_report_runs_the_scenario_with_your_data_and_prior(tmp_path, monkeypatch, capsys):
    """What `emtwin report coin-sets --data sets.txt --prior 2,2 --out r` hands the writer
    (the writer itself is tested in test_report.py; the whole command in the slow test below)."""
    seen = {}

    class Written:
        ok, sections, path = True, [], tmp_path / "r"

    def write_report(targets, out, settings, **kwargs):
        seen.update(targets=targets, out=out, settings=settings)
        return Written()

    monkeypatch.setattr(report_writer, "write_report", write_report)
    path = tmp_path / "sets.txt"
    path.write_text("HHHHH\nHHHHT\nTTTTH\n")
    assert cli.main(["report", "coin-sets", "--data", str(path), "--prior", "2,2", "--out", "r", "--quiet"]) == 0
    (sc,) = seen["targets"]
    assert sc.name == "coin-sets" and sc.make_data().heads.tolist() == [5, 4, 1]
    # The start for your data: the lecture's, as coin-sets has no data-built start.
    np.testing.assert_array_equal(sc.default_start["theta"], [0.6, 0.5])
    assert seen["settings"].model_options == {"prior": (2.0, 2.0)}  # every fit of the report takes it
    assert seen["settings"].derived is True
    assert capsys.readouterr().out == f"report: {tmp_path / 'r' / 'index.html'}\n"
    assert cli.main(["report", "coin-sets", "--no-derived", "--out", "r", "--quiet"]) == 0
    assert seen["settings"].derived is False


def test_a_report_without_the_derived_twin_asks_the_comparison_for_none(monkeypatch):
    from emtwin.comparisons import result_cache
    from emtwin.comparisons.report import compute

    asked = {}

    def compare(sc, **kwargs):
        asked.update(kwargs)
        raise LookupError("stop here: only the request is under test")

    monkeypatch.setattr(result_cache, "compare", compare)
    for derived in (True, False):
        with pytest.raises(LookupError):
            compute.scenario_report("coin-sets", compute.ReportSettings(derived=derived))
        assert asked["derived"] is derived


@pytest.mark.slow
def test_report_with_your_sets_and_a_prior_from_the_shell(tmp_path):
    """The issue's done-when: `emtwin report coin-sets --data sets.txt --prior 2,2 --out r`."""
    (tmp_path / "sets.txt").write_text("\n".join(em_coins.DO_BATZOGLOU_SETS) + "\n")
    exe = Path(sys.executable).parent / "emtwin"
    done = subprocess.run([str(exe), "report", "coin-sets", "--data", "sets.txt", "--prior", "2,2", "--out", "r",
                           "--quick", "--quiet"], capture_output=True, text=True, timeout=1800, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[0].split() == ["coin-sets", "agree"]
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    assert "--prior 2,2" in results["command"]
    section = results["scenarios"]["coin-sets"]
    assert "theta ~ Beta(2, 2)" in json.dumps(section)
    rows = {r["parameter"]: r for r in section["comparison"]["rows"]}
    expected = _map_em(np.array([5, 9, 8, 4, 7]), np.full(5, 10), (2, 2), (0.6, 0.5))
    np.testing.assert_allclose([rows["theta_A"]["map"], rows["theta_B"]["map"]], expected, atol=1e-5)
