"""`emtwin report`: the folder, its numbers, its figures as a reader sees them, safe writing.

One module-scoped report (coin sets, interleaved coins, Gaussian means, with short chains)
feeds most tests; writing tests reuse its computed pieces, so they run in seconds. The page
is opened in headless Chromium (Debian package `chromium`) as a reader would open it.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import os
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import arviz
import numpy as np
import pymc
import pytest
from scipy import stats

import emtwin
from emtwin.comparisons import SCENARIOS, cli, get_scenario
from emtwin.comparisons.report import drawing, steps
from emtwin.comparisons.report import writer as report_writer
from emtwin.comparisons.report.compute import ReportSettings
from emtwin.comparisons.scenario import Check
from emtwin.em_reference import gaussian_means as em_means
from emtwin.models import fitting
from emtwin.models.labels import mixture_label_probabilities
from _chromium import open_page, page_looks_complete, screenshots  # tests/ is on sys.path (its conftest)

# The --quick settings, a little shorter still: these tests check structure, not precision.
SMALL = dataclasses.replace(
    ReportSettings.quick(seed=0),
    nuts={"draws": 250, "tune": 250, "chains": 2},
    advi={"n": 4000, "draws": 500},
    grid=31,
)
NAMES = ["coin-sets", "interleaved-coins", "gaussian-means"]
# Figures each scenario has by design: EM path, log-likelihood, posterior, labels, data
# growth; Gaussian means also chooses k and draws the model on the data (the coins show that as a
# table). (One-coin has no labels and no k.)
EXPECTED_FIGURES = {"coin-sets": 5, "interleaved-coins": 5, "gaussian-means": 7}
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "out"
    report = report_writer.write_report(NAMES, out, SMALL)
    return out, report


@pytest.fixture(scope="module")
def parts(written):
    return {s.report.scenario.name: s.report for s in written[1].sections}


# --------------------------------------------------------------------------- labels from the graph


def test_coin_labels_from_the_pymc_graph_equal_the_e_step_and_bayes_rule(parts):
    r = parts["coin-sets"]
    lab, c = r.labels, r.comparison
    # At EM's point the graph and the E-step compute one formula: equal to rounding.
    assert np.max(np.abs(lab.pymc_at_em - lab.em)) < 1e-12
    # At PyMC's own MAP (within 1e-4 of EM's parameters) they must still agree.
    assert np.max(np.abs(lab.pymc_at_map - lab.em)) < 1e-4
    # Bayes' rule by hand at the MAP, with scipy: Pr(A | h) = ½Bin(h|θ_A) / Σ_c ½Bin(h|θ_c).
    theta = c.map.idata.posterior["theta"].values[0, 0]
    heads = np.array([5, 9, 8, 4, 7])
    joint = stats.binom.pmf(heads[:, None], 10, theta[None, :])
    np.testing.assert_allclose(lab.pymc_at_map, joint / joint.sum(axis=1, keepdims=True), rtol=1e-10)
    # Do & Batzoglou's sets at the MLE (0.80, 0.52): sets 2, 3 and 5 lean to coin A.
    assert list(lab.em[:, 0] > 0.5) == [False, True, True, False, True]


def test_gaussian_labels_at_the_map_equal_the_e_step_and_scipy():
    sc = get_scenario("gaussian-means")
    data = sc.make_data()
    em = sc.fit_em(data, sc.default_start, n_starts=1, seed=0)
    model = sc.build_model(data)
    fit = fitting.fit_map(model, {"mu": np.array([-1.0, 1.0])})
    labels = mixture_label_probabilities(model)(fit.params)
    np.testing.assert_allclose(labels, em_means.e_step(data, em.params), atol=1e-4)
    dens = stats.norm.pdf(data.z[:, None], fit.params["mu"][None, :], 1.0)
    np.testing.assert_allclose(labels, dens / dens.sum(axis=1, keepdims=True), rtol=1e-9, atol=1e-300)


def test_2d_mixture_labels_from_the_graph_equal_the_e_step_and_scipy():
    from emtwin.comparisons.scenarios.gaussian_mixture import SCENARIO_2D as sc

    data = sc.make_data()
    em = sc.fit_em(data, sc.default_start, n_starts=1, seed=0)
    params = sc.components.canonical(em.params)
    labels = mixture_label_probabilities(sc.build_model(data))(sc.to_model(params))
    np.testing.assert_allclose(labels, em.responsibilities, atol=1e-12)
    joint = np.column_stack([w * stats.multivariate_normal(mu, cov).pdf(data.x)
                             for w, mu, cov in zip(params["weights"], params["mu"], params["cov"])])
    np.testing.assert_allclose(labels, joint / joint.sum(axis=1, keepdims=True), rtol=1e-9, atol=1e-300)


def test_a_model_without_a_mixture_has_no_labels():
    model = get_scenario("one-coin").build_model(get_scenario("one-coin").make_data())
    with pytest.raises(ValueError) as err:
        mixture_label_probabilities(model)
    assert str(err.value) == (
        "the model must have exactly one observed pm.Mixture (or pass observed=NAME) to define "
        "per-observation labels; it has 0: []."
    )


def test_the_ridge_is_flat_and_lies_along_p1_minus_p2(parts):
    r = parts["interleaved-coins"]
    ct = r.contour
    assert ct.ridge is not None and len(ct.ridge) > 10
    # Every point of the ridge has the log-likelihood of 11 heads in 20 tosses at Pr(H) = 0.55.
    exact = 11 * np.log(0.55) + 9 * np.log(0.45)
    np.testing.assert_allclose(ct.ridge_loglik, exact, atol=1e-9)
    step = ct.ridge[-1] - ct.ridge[0]
    np.testing.assert_allclose(step / np.linalg.norm(step), [1 / np.sqrt(2), -1 / np.sqrt(2)], atol=1e-6)
    assert "ridge" not in r.omitted


def test_the_contour_peaks_at_ems_answer(parts):
    r = parts["coin-sets"]
    ct = r.contour
    # The grid is coarse: its best cell is below the maximum, by at most a few hundredths.
    assert r.comparison.em.log_likelihood - 0.05 < np.nanmax(ct.loglik) <= r.comparison.em.log_likelihood + 1e-9
    assert ct.x[0] < r.path.values[-1, 0] < ct.x[-1] and ct.y[0] < r.path.values[-1, 1] < ct.y[-1]


# --------------------------------------------------------------------------- the sweeps


def test_posterior_narrows_with_data_only_across_the_ridge(parts):
    coin = parts["coin-sets"].growth
    assert coin.sizes == [5, 20, 80]
    for name in ("theta_A", "theta_B"):
        sd = coin.values[name]["sd"]
        assert sd[-1] < 0.6 * sd[0]  # 16 times the data: 1/4 the width in theory
    ridge = parts["interleaved-coins"].growth
    mean_bias = ridge.values["(p1+p2)/2"]["sd"]
    assert mean_bias[-1] < 0.5 * mean_bias[0]
    # Along the ridge the data say nothing: p1's posterior stays wide.
    assert ridge.values["p1"]["sd"][-1] > 0.6 * ridge.values["p1"]["sd"][0]
    assert ridge.kinds["(p1+p2)/2"] == "functional"


def test_two_gaussians_are_chosen_by_bic_aic_and_loo(parts):
    ch = parts["gaussian-means"].components
    assert [r.k for r in ch.rows] == [1, 2, 3]
    # Free parameters: the k means (σ and the weights are known).
    assert [r.n_params for r in ch.rows] == [1, 2, 3]
    assert ch.n_observations == 200
    for r in ch.rows:
        assert r.bic == pytest.approx(-2 * r.log_likelihood + r.n_params * np.log(200))
        assert r.aic == pytest.approx(-2 * r.log_likelihood + 2 * r.n_params)
    assert (ch.bic_choice, ch.aic_choice, ch.loo_choice) == (2, 2, 2)
    best = next(r for r in ch.rows if r.k == 2)
    assert best.elpd_diff == 0.0
    one = next(r for r in ch.rows if r.k == 1)
    assert one.elpd_diff < -5 * one.diff_se  # one Gaussian is far worse, not within noise


# --------------------------------------------------------------------------- the folder


class _Imgs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.srcs.append(dict(attrs).get("src"))


def test_the_folder_is_complete(written):
    out, report = written
    assert sorted(p.name for p in out.iterdir()) == ["figures", "index.html", "report.md", "results.json", "steps"]
    version = steps.shared_scripts()
    assert sorted(p.name for p in (out / "steps").iterdir()) == sorted([*version, *(f"{n}.html" for n in NAMES)])
    parser = _Imgs()
    parser.feed((out / "index.html").read_text(encoding="utf-8"))
    assert len(parser.srcs) == sum(EXPECTED_FIGURES.values())
    for src in parser.srcs:
        head, _, payload = src.partition(",")
        assert head == "data:image/png;base64"
        raw = base64.b64decode(payload, validate=True)
        assert raw.startswith(PNG) and len(raw) > 10_000
    files = sorted((out / "figures").iterdir())
    assert len(files) == sum(EXPECTED_FIGURES.values())
    markdown = (out / "report.md").read_text(encoding="utf-8")
    for f in files:
        assert f.read_bytes().startswith(PNG)
        assert f"](figures/{f.name})" in markdown
    assert "http://" not in (out / "index.html").read_text() and "https://" not in (out / "index.html").read_text()
    assert report_writer.check_report(out) == []
    assert not list(out.parent.glob(".out.*")), "a temporary build folder was left behind"


def test_tables_and_checks_are_html_tables_and_each_section_links_its_page(written):
    out, report = written
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "<pre>" not in page.split("The PyMC twin, printed from the model")[0]  # no text tables before the model
    for s in report.sections:
        c = s.report.comparison
        for k in c.checks:
            assert f"<td>{html.escape(k.name)}</td><td>{html.escape(k.detail)}</td>" in page
        for row in c.rows:
            assert f"<td>{row.name}</td><td>{row.em:.4f}</td>" in page
        assert f"<a href='steps/{c.scenario}.html'>" in page
    # The coin tables are the EM twin's D&B table, iteration 1 first.
    assert "<td>M-step</td><td></td><td>theta_A = 0.7130</td>" in page
    assert "<td>M-step</td><td></td><td>p1 = 110/164 = 0.6707</td>" in page


def test_results_json_has_every_table_number_versions_seed_and_settings(written):
    out, report = written
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["format"] == "emtwin-report/1"
    assert results["versions"]["emtwin"] == emtwin.__version__
    assert results["versions"]["pymc"] == pymc.__version__
    assert results["versions"]["arviz"] == arviz.__version__
    assert results["versions"]["numpy"] == np.__version__
    assert results["seed"] == 0
    assert results["settings"]["nuts"] == {"draws": 250, "tune": 250, "chains": 2}
    assert list(results["scenarios"]) == NAMES
    coin = results["scenarios"]["coin-sets"]
    rows = {r["parameter"]: r for r in coin["comparison"]["rows"]}
    assert round(rows["theta_A"]["em"], 4) == 0.7968 and round(rows["theta_B"]["map"], 4) == 0.5196
    assert coin["comparison"]["verdict"] == "agree"
    assert results["scenarios"]["interleaved-coins"]["comparison"]["verdict"] == "non-identifiable"
    # The tables shown on the page are in the file, cell for cell.
    table = coin["tables"]["growth"]
    assert [row[0] for row in table["rows"]] == ["5", "20", "80"]
    page = (out / "index.html").read_text(encoding="utf-8")
    for row in table["rows"]:
        assert "".join(f"<td>{cell}</td>" for cell in row) in page
    np.testing.assert_array_equal(np.array(coin["labels"]["em"]), report.sections[0].report.labels.em)
    assert results["scenarios"]["gaussian-means"]["components"]["choice"] == {"bic": 2, "aic": 2, "psis_loo": 2}
    assert "omitted" in coin and "components" in coin["omitted"]


def test_priors_and_sampler_are_printed_from_the_model_and_trace(written):
    out, _ = written
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    captions = {f["heading"]: f["caption"] for f in results["scenarios"]["coin-sets"]["figures"]}
    posterior = captions["Posterior against MLE"]
    assert "theta ~ Beta(1, 1)" in posterior
    assert f"pymc {pymc.__version__}: 2 chains × 250 draws after 250 tuning steps" in posterior
    means = {f["heading"]: f["caption"] for f in results["scenarios"]["gaussian-means"]["figures"]}
    assert re.search(r"mu ~ Uniform\(-?\d", means["Posterior against MLE"])


def test_a_missing_hook_omits_its_figure_and_says_why(tmp_path):
    bare = dataclasses.replace(SCENARIOS["coin-sets"], name="coin-sets-bare", log_likelihood=None,
                               label_probabilities=None, simulator=None)
    tiny = dataclasses.replace(SMALL, nuts={"draws": 100, "tune": 100, "chains": 1}, advi={"n": 500, "draws": 100})
    report = report_writer.write_report([bare], tmp_path / "bare", tiny)
    md = (tmp_path / "bare" / "report.md").read_text(encoding="utf-8")
    assert "*Not shown: the scenario gives no label_probabilities hook, so there are no labels to compare.*" in md
    assert "*Not shown: the scenario gives no simulator hook" in md
    assert "no log_likelihood hook" in md  # the EM path falls back to traces per parameter
    assert len(report.sections[0].figures) == 3  # EM path (traces), log-likelihood, posterior
    assert report_writer.check_report(tmp_path / "bare") == []


def test_same_seed_same_numbers_and_figures_one_at_a_time_or_in_a_pool(written, tmp_path):
    out, report = written
    # Two scenarios in two spawned workers, against the module's report of them, one at a time.
    names = ["coin-sets", "interleaved-coins"]
    again = report_writer.write_report(names, tmp_path / "again", SMALL, jobs=2)
    first_all = json.loads((out / "results.json").read_text(encoding="utf-8"))["scenarios"]
    for name in names:
        first, second = first_all[name], again.results["scenarios"][name]
        # Timings are the only numbers allowed to differ; they live apart from the results.
        first["comparison"].pop("timings_seconds")
        second["comparison"].pop("timings_seconds")
        assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True), name
    drawn = {f.slug: f.png for s in report.sections if s.report.scenario.name in names for f in s.figures.values()}
    drawn_again = {f.slug: f.png for s in again.sections for f in s.figures.values()}
    assert len(drawn) == EXPECTED_FIGURES["coin-sets"] + EXPECTED_FIGURES["interleaved-coins"]
    assert drawn_again == drawn  # every PNG, byte for byte
    # The sections hold the registered scenarios themselves (they travel by name).
    assert all(s.report.scenario is get_scenario(s.report.scenario.name) for s in again.sections)


# --------------------------------------------------------------------------- safe writing


@pytest.fixture
def reuse(parts, monkeypatch):
    """write_report with the module's computed pieces instead of new fits: seconds, not minutes."""
    monkeypatch.setattr(report_writer, "scenario_report", lambda target, settings, progress=False: parts[
        target if isinstance(target, str) else target.name])


def test_an_interrupted_rewrite_keeps_the_previous_report(reuse, tmp_path, monkeypatch):
    out = tmp_path / "rep"
    report_writer.write_report(["coin-sets"], out, SMALL)
    before = (out / "results.json").read_bytes()

    def interrupted(folder):
        assert (Path(folder) / "index.html").exists()  # everything was written into the build folder
        raise KeyboardInterrupt

    monkeypatch.setattr(report_writer, "check_report", interrupted)
    with pytest.raises(KeyboardInterrupt):
        report_writer.write_report(["coin-sets", "interleaved-coins"], out, SMALL)
    assert (out / "results.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"], "a half-built folder was left behind"


def test_an_interrupt_while_drawing_leaves_no_folder(reuse, tmp_path, monkeypatch):
    def stop(fig):
        raise KeyboardInterrupt

    monkeypatch.setattr(drawing, "png", stop)
    with pytest.raises(KeyboardInterrupt):
        report_writer.write_report(["coin-sets"], tmp_path / "rep", SMALL)
    assert list(tmp_path.iterdir()) == []


def test_a_rewrite_replaces_an_earlier_report_whole(reuse, tmp_path):
    out = tmp_path / "rep"
    report_writer.write_report(["coin-sets", "interleaved-coins"], out, SMALL)
    report_writer.write_report(["coin-sets"], out, SMALL)
    assert len(list((out / "figures").iterdir())) == EXPECTED_FIGURES["coin-sets"]
    assert list(json.loads((out / "results.json").read_text())["scenarios"]) == ["coin-sets"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


def test_a_folder_that_is_not_a_report_is_refused_before_any_work(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError) as err:
        report_writer.write_report(["coin-sets"], tmp_path, SMALL)
    assert str(err.value) == (
        f"out = {str(tmp_path)!r} is a folder that holds something other than an emtwin report (no results.json "
        "of format emtwin-report/1); give a new or empty folder, or an earlier report's, which is replaced."
    )
    assert (tmp_path / "notes.txt").read_text() == "mine"


# --------------------------------------------------------------------------- command line


def test_cli_report_exits_0_and_prints_the_verdicts_and_path(reuse, tmp_path, capsys):
    code = cli.main(["report", "coin-sets", "--out", str(tmp_path / "r"), "--quiet"])
    assert code == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["coin-sets  agree", f"report: {tmp_path / 'r' / 'index.html'}"]
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    assert results["command"] == f"emtwin report coin-sets --out {tmp_path / 'r'} --quiet"


def test_cli_report_exits_1_when_the_twins_disagree(parts, tmp_path, monkeypatch, capsys):
    good = parts["coin-sets"]
    failing = Check("EM vs MAP parameters", False, 0.3, 1e-4, "largest difference 3.00e-01 at theta_A")
    bad = dataclasses.replace(good, comparison=dataclasses.replace(good.comparison,
                                                                   checks=good.comparison.checks + [failing]))
    monkeypatch.setattr(report_writer, "scenario_report", lambda target, settings, progress=False: bad)
    assert cli.main(["report", "coin-sets", "--out", str(tmp_path / "r"), "--quiet"]) == 1
    assert capsys.readouterr().out.splitlines()[0] == "coin-sets  disagree"
    assert "verdict: DISAGREE" in (tmp_path / "r" / "report.md").read_text()


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["report", "coin-sets"], "the following arguments are required: --out"),
        (["report", "--out", "x"], "one of the arguments NAME --all is required"),
        (["report", "three-coins", "--out", "x"], "argument NAME: invalid choice: 'three-coins'"),
        (["report", "coin-sets", "--out", "x", "--seed", "-1"], "seed must be a whole number in [0, 4294967295]; got -1."),
    ],
)
def test_cli_report_bad_arguments_exit_2(argv, fragment, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert fragment in capsys.readouterr().err


def test_cli_report_into_a_file_exits_2_with_one_line(tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("x")
    assert cli.main(["report", "coin-sets", "--out", str(target), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err == f"emtwin: error: out must be a folder; {str(target)!r} is a file.\n"


def _read_only_folder(path: Path) -> Path:
    """A folder nobody may create files in: mode 0555, and as root (whom modes do not stop)
    also the immutable attribute. Undone by ``_writable_again``."""
    path.mkdir()
    path.chmod(0o555)
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)
    return path


def _writable_again(path: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(path)], check=True)
    path.chmod(0o755)


@pytest.mark.parametrize("case", ["parent is a file", "read-only folder", "under /proc"])
def test_an_out_that_cannot_be_written_exits_2_before_any_scenario_runs(case, tmp_path, monkeypatch, capsys):
    def must_not_run(*args, **kwargs):
        raise AssertionError("a scenario ran before --out was checked")

    monkeypatch.setattr(report_writer, "scenario_report", must_not_run)
    if case == "parent is a file":
        (tmp_path / "notes.txt").write_text("mine")
        out = tmp_path / "notes.txt" / "r"
        expected = f"out = {str(out)!r} cannot be written: {str(tmp_path / 'notes.txt')!r} is a file, not a folder."
    elif case == "read-only folder":
        locked = _read_only_folder(tmp_path / "locked")
        out = locked / "r"
        expected = f"out = {str(out)!r} cannot be written: no folder can be made in {str(locked)!r} ("
    else:
        out = Path("/proc/forbidden/x")
        expected = "out = '/proc/forbidden/x' cannot be written: no folder can be made in '/proc' ("
    try:
        code = cli.main(["report", "coin-sets", "--out", str(out), "--quiet"])
        err = capsys.readouterr().err
    finally:
        if case == "read-only folder":
            _writable_again(locked)
    assert code == 2
    assert err.startswith(f"emtwin: error: {expected}") and err.endswith(" Give a folder you can write to.\n"), err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("names", "slugs"),
    [
        (["a</b>", "a b"], ["a-b", "a-b-2"]),  # a slash, and two names with one slug
        (["../../pwned"], ["pwned"]),
        (["-rf --all"], ["rf-all"]),
        (["Münze über π", "硬币"], ["munze-uber", "scenario"]),
    ],
)
def test_figure_files_get_safe_unique_names_inside_the_folder(names, slugs, parts, tmp_path, monkeypatch):
    coin = parts["coin-sets"]
    renamed = {name: dataclasses.replace(coin, scenario=dataclasses.replace(coin.scenario, name=name))
               for name in names}
    monkeypatch.setattr(report_writer, "scenario_report", lambda target, settings, progress=False: renamed[target.name])
    out = tmp_path / "deep" / "r"
    report_writer.write_report([r.scenario for r in renamed.values()], out, SMALL)
    # Nothing outside the folder: tmp_path holds the report's parent and nothing else.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep"]
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["r"]
    files = sorted(p.name for p in (out / "figures").iterdir())
    expected = sorted(f"{slug}-{piece}.png" for slug in slugs
                      for piece in ("em-path", "loglik", "posterior", "labels", "growth"))
    assert files == expected
    assert report_writer.check_report(out) == []
    # The page still shows each scenario's real name, escaped.
    page = (out / "index.html").read_text()
    for name in names:
        assert html.escape(name) in page


def test_progress_lines_go_to_stderr(reuse, tmp_path, capsys):
    cli.main(["report", "coin-sets", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert "[report] scenario 1/1: coin-sets" in err
    assert "[coin-sets] drawing figures ..." in err
    assert f"[report] wrote {tmp_path / 'r'}/" in err


# --------------------------------------------------------------------------- as a reader sees it


def test_the_page_is_complete_in_headless_chromium(written, tmp_path):
    out, _ = written
    shots = screenshots(tmp_path)
    page_looks_complete(out, tmp_path, sum(EXPECTED_FIGURES.values()), shots / "report-small.png")
