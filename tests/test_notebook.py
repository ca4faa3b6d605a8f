"""How results show in a notebook (issue 16): a one-line repr, and ``_repr_html_`` with the
verdict, the table, the checks and EM's path as an embedded PNG."""

from __future__ import annotations

import base64
import dataclasses
import io
import re
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest
from scipy.stats import binom

import emtwin
from emtwin.comparisons import SCENARIOS
from emtwin.em_reference import coins as em_coins
from emtwin.models import coins as pm_coins

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
    assert table[0] == ["parameter", "EM", "MAP", "EM−MAP"]  # only the methods that ran
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
