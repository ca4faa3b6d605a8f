"""How results show in a notebook (issue 16): a one-line repr, ``_repr_html_`` with the
verdict, the table, the checks and EM's path as an embedded PNG, and the step-through page
inline (``emtwin.show_steps``), opened in headless Chromium inside a notebook-like cell."""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binom

import emtwin
from emtwin.comparisons import SCENARIOS
from emtwin.em_reference import coins as em_coins
from emtwin.models import coins as pm_coins
from _chromium import open_page, screenshots  # tests/ is on sys.path (its conftest)

HEADS = np.array([5, 9, 8, 4, 7])  # Do & Batzoglou's sets, of 10 tosses each


@pytest.fixture(scope="module")
def coin_sets_map():
    return emtwin.compare("coin-sets", methods=["map"])


@pytest.fixture(scope="module")
def blackbox():
    data = SCENARIOS["coin-sets"].make_data()
    em = em_coins.fit(data, [0.6, 0.5])
    return emtwin.check_em(em, data, lambda d: pm_coins.build_model(d.heads, d.tosses),
                           components=SCENARIOS["coin-sets"].components, n_starts=2)


class _Cells(HTMLParser):
    """Table cells by row, and the images' sources, from the HTML."""

    def __init__(self):
        super().__init__()
        self.rows, self.images, self._cell = [], [], None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag == "img":
            self.images.append(dict(attrs)["src"])

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.rows[-1].append(self._cell)
            self._cell = None


def _parsed(text):
    cells = _Cells()
    cells.feed(text)
    return cells


def test_the_plain_repr_is_one_short_line(coin_sets_map):
    theta = coin_sets_map.em.params["theta"]
    # The mixture's log-likelihood at EM's answer, from SciPy's Binomial, not the twins' code.
    loglik = np.sum(np.log(0.5 * binom.pmf(HEADS, 10, theta[0]) + 0.5 * binom.pmf(HEADS, 10, theta[1])))
    assert repr(coin_sets_map) == (
        f"Comparison(scenario='coin-sets', verdict='agree', methods=('map',), em_log_likelihood={loglik:.6g}, "
        f"n_iter={coin_sets_map.em.n_iter}, failures=0, warnings=0)")
    assert f"{loglik:.6g}" == "-9.79692"


def test_the_html_shows_verdict_table_checks_and_the_em_path(coin_sets_map):
    from PIL import Image

    page = coin_sets_map._repr_html_()
    assert re.search(r"verdict <span style=\"color:#1a7f37;font-weight:bold\">AGREE</span>", page)
    cells = _parsed(page)
    table = cells.rows[: 1 + len(coin_sets_map.rows)]
    assert table[0] == ["parameter", "EM", "derived EM", "MAP", "EM−MAP"]  # only the twins that ran
    assert [row[:3] for row in table[1:]] == [["theta_A", "0.7968", "0.7968"], ["theta_B", "0.5196", "0.5196"]]
    header, *check_rows = cells.rows[len(table):]
    assert header == ["", "check", "numbers"]
    checks = {row[1]: row[0] for row in check_rows}
    assert checks["EM vs MAP parameters"] == "ok" and checks["identifiable"] == "info"
    assert len(checks) == len(coin_sets_map.checks)
    (src,) = cells.images
    assert src.startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as image:
        # pieces.em_path.em_path_figure over a contour: 9.5 × 7 inches at 100 dpi.
        assert image.size == (950, 700)
        assert np.mean(np.asarray(image.convert("L")) < 200) > 0.2  # a drawn contour, not a blank


def test_a_failing_check_shows_fail_and_the_verdict_in_red(coin_sets_map):
    bad = dataclasses.replace(coin_sets_map, checks=[
        dataclasses.replace(coin_sets_map.checks[0], passed=False, detail="EM stopped after 2 of 26 iterations")])
    page = bad._repr_html_()
    assert 'color:#cf222e;font-weight:bold">DISAGREE</span>' in page
    assert ["FAIL", coin_sets_map.checks[0].name, "EM stopped after 2 of 26 iterations"] in _parsed(page).rows
    assert repr(bad).endswith("verdict='disagree', methods=('map',), em_log_likelihood=-9.79692, "
                              f"n_iter={bad.em.n_iter}, failures=1, warnings=0)")


def test_text_is_escaped_and_an_unregistered_scenario_says_why_there_is_no_figure(coin_sets_map):
    mine = dataclasses.replace(coin_sets_map, scenario="<my coins>")
    page = mine._repr_html_()
    assert "<my coins>" not in page and "&lt;my coins&gt;" in page
    assert _parsed(page).images == []
    assert ("No EM-path figure: &lt;my coins&gt; is not a registered scenario, so its components are not "
            "known here; <code>emtwin report</code> draws it.") in page


def test_the_black_box_result_has_a_short_repr_and_an_html_table(blackbox):
    assert repr(blackbox) == (
        f"BlackBoxComparison(scenario='your EM', verdict='agree', log_likelihood={blackbox.log_likelihood:.6g}, "
        "higher_maxima=0, failures=0, warnings=0)")
    assert f"{blackbox.log_likelihood:.6g}" == "-9.79692"  # the same MLE as the registered twins'
    cells = _parsed(blackbox._repr_html_())
    assert cells.rows[0] == ["parameter", "yours", "MAP", "yours−MAP", "gradient", "Newton step"]
    assert [row[:3] for row in cells.rows[1:3]] == [["theta_A", "0.7968", "0.7968"], ["theta_B", "0.5196", "0.5196"]]
    assert cells.images == []


def test_importing_the_harness_loads_neither_the_report_nor_the_notebook_view():
    code = ("import sys, emtwin.comparisons.harness, emtwin.comparisons.blackbox; "
            "print(sorted(m for m in ('emtwin.comparisons.report.drawing', 'emtwin.comparisons.report.compute', "
            "'emtwin.comparisons.notebook') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# --------------------------------------------------------------------------- the step-through page inline

# A notebook's output cell, as Jupyter lays it out, holding the view's _repr_html_. The script
# stands in for the reader's eyes: once BokehJS in the frame has built its document it writes
# what the frame shows (window title, slider, state text, overlays) where --dump-dom prints it.
NOTEBOOK_CELL = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>notebook</title>
<style>body{font-family:sans-serif;margin:8px} .prompt{color:#d84315;font-family:monospace;margin:4px 0}</style>
</head><body><div class="prompt">In&nbsp;[1]: emtwin.show_steps(result, iteration=1, overlays=["map", "nuts"])</div>
<div class="prompt">Out[1]:</div><div class="output">OUTPUT</div><pre id="seen"></pre>
<script>
function look(tries) {
  const frame = document.querySelector("iframe"), bokeh = frame.contentWindow.Bokeh;
  if (!bokeh || !bokeh.documents.length) { if (tries < 200) setTimeout(() => look(tries + 1), 50); return; }
  setTimeout(() => {
    const doc = bokeh.documents[0];
    document.getElementById("seen").textContent = JSON.stringify({
      title: frame.contentDocument.title, slider: doc.get_model_by_name("iteration").value,
      state: doc.get_model_by_name("state").text, overlays: doc.get_model_by_name("overlays").active});
  }, 1000);
}
window.addEventListener("load", () => look(0));
</script></body></html>"""


def _theta_after_one_step():
    """D&B's first step from (0.6, 0.5) by Bayes' rule with SciPy: (0.7130, 0.5813)."""
    like_a, like_b = binom.pmf(HEADS, 10, 0.6), binom.pmf(HEADS, 10, 0.5)
    pr_a = like_a / (like_a + like_b)
    return (pr_a * HEADS).sum() / (pr_a * 10).sum(), ((1 - pr_a) * HEADS).sum() / ((1 - pr_a) * 10).sum()


@pytest.fixture(scope="module")
def coin_sets_nuts():
    return emtwin.compare("coin-sets", methods=["map", "nuts"], nuts_options={"draws": 200, "tune": 200, "chains": 2})


class _Frames(HTMLParser):
    """The iframes' attributes (the parser unescapes srcdoc as a browser does)."""

    def __init__(self):
        super().__init__()
        self.frames = []

    def handle_starttag(self, tag, attrs):
        if tag == "iframe":
            self.frames.append(dict(attrs))


def test_show_steps_embeds_the_whole_step_page_in_an_iframe(coin_sets_nuts):
    view = emtwin.show_steps(coin_sets_nuts, iteration=1, overlays=["map", "nuts"])
    frames = _Frames()
    frames.feed(view._repr_html_())
    (frame,) = frames.frames
    page = frame["srcdoc"]
    assert page == view.page.html and page.startswith("<!DOCTYPE html>")
    assert "<script src=" not in page and "<link " not in page  # BokehJS inline: nothing fetched, offline
    assert "width:100%;height:820px" in frame["style"]
    theta_a, theta_b = _theta_after_one_step()
    assert (round(theta_a, 2), round(theta_b, 2)) == (0.71, 0.58)
    # Iteration 1's title and state, in the page's embedded data (escaped JSON inside the page).
    data = html.unescape(page)
    assert f"coin-sets, iteration 1: theta_A = {theta_a:.4f}, theta_B = {theta_b:.4f}" in data
    assert f"{theta_a:.4f}</td>" in data and f"{theta_b:.4f}</td>" in data
    assert f"coin-sets, iteration {coin_sets_nuts.em.n_iter}: " in data
    assert repr(view) == f"StepView(page='coin-sets-steps.html', {len(page.encode())} bytes)"


def _chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    return open_page(page, profile, "--virtual-time-budget=15000", *extra, timeout=180)


def _notebook_cell(view, tmp_path: Path) -> Path:
    cell = tmp_path / "cell.html"
    cell.write_text(NOTEBOOK_CELL.replace("OUTPUT", view._repr_html_()), encoding="utf-8")
    return cell


def _seen(cell: Path, profile: Path) -> dict:
    done = _chromium(cell, profile, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    seen = re.search(r'<pre id="seen">(.*?)</pre>', done.stdout, re.S).group(1)
    assert seen, "the frame's Bokeh document never appeared"
    return json.loads(html.unescape(seen))


def test_the_inline_page_opens_at_iteration_1_in_chromium_and_shows_0_71_and_0_58(coin_sets_nuts, tmp_path):
    theta_a, theta_b = _theta_after_one_step()
    view = emtwin.show_steps(coin_sets_nuts, iteration=1, overlays=["map", "nuts"])
    seen = _seen(_notebook_cell(view, tmp_path), tmp_path / "a")
    assert seen["title"] == f"coin-sets, iteration 1: theta_A = {theta_a:.4f}, theta_B = {theta_b:.4f}"
    assert seen["slider"] == 1 and seen["overlays"] == [0, 1]
    assert "<h3 style='margin:0'>iteration 1</h3>" in seen["state"]
    assert f"<td>theta_A</td><td style='text-align:right'>{theta_a:.4f}</td>" in seen["state"]
    assert f"<td>theta_B</td><td style='text-align:right'>{theta_b:.4f}</td>" in seen["state"]
    # By default the page starts at EM's start, with the overlays off.
    seen = _seen(_notebook_cell(emtwin.show_steps(coin_sets_nuts), tmp_path), tmp_path / "b")
    assert seen["title"] == "coin-sets, iteration 0: theta_A = 0.6000, theta_B = 0.5000"
    assert seen["slider"] == 0 and seen["overlays"] == []


def test_screenshot_of_the_inline_page_in_a_notebook_cell(coin_sets_nuts, tmp_path):
    from PIL import Image

    shot = screenshots(tmp_path) / "16-inline.png"
    cell = _notebook_cell(emtwin.show_steps(coin_sets_nuts, iteration=1, overlays=["map", "nuts"], height=900), tmp_path)
    done = _chromium(cell, tmp_path / "shot", f"--screenshot={shot}", "--window-size=1700,1000")
    assert done.returncode == 0, done.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == (1700, 1000)
        pixels = np.asarray(image.convert("RGB")).astype(int)
    # Drawn, not blank: the frame's plots cover much of the cell.
    assert np.mean(pixels.sum(axis=2) < 600) > 0.1


def test_show_steps_refuses_what_has_no_page_with_the_fix(coin_sets_nuts, blackbox):
    n = coin_sets_nuts.em.n_iter
    with pytest.raises(ValueError) as bad:
        emtwin.show_steps(coin_sets_nuts, iteration=n + 1)
    assert str(bad.value) == f"iteration must be a whole number in [0, {n}] (EM ran {n} iterations); got {n + 1}."
    with pytest.raises(ValueError) as bad:
        emtwin.show_steps(coin_sets_nuts, overlays=["advi"])
    assert str(bad.value) == "overlays must be a list of 'map' and 'nuts' (the methods that ran); got ['advi']."
    with pytest.raises(ValueError) as bad:
        emtwin.show_steps(blackbox)
    assert str(bad.value) == ("result must be a Comparison (emtwin.compare) or a ScenarioReport; got a "
                              "BlackBoxComparison, which holds no EM trace to step through.")
    mine = dataclasses.replace(coin_sets_nuts, scenario="my coins")
    with pytest.raises(ValueError) as bad:
        emtwin.show_steps(mine)
    assert str(bad.value) == ("scenario is needed: 'my coins' is not a registered scenario; pass the Scenario it "
                              "was run with (show_steps(result, scenario)).")
    # With its scenario given, the same comparison has its page.
    view = emtwin.show_steps(mine, SCENARIOS["coin-sets"])
    assert "coin-sets, iteration 1: " in html.unescape(view.page.html)
