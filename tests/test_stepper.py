"""The step-through page (comparisons/report/steps.py), opened in headless Chromium as a reader would.

The page reads ``?iteration=N`` from its address and sets its slider there; the slider's
callback writes the shown state into the window title, which ``--dump-dom`` prints. The
expected numbers are worked out here: Bayes' rule with scipy for D&B's coin sets, Fractions
for the lecture's interleaved tosses.
"""

from __future__ import annotations

import dataclasses
import html
import re
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from emtwin.comparisons import get_scenario
from emtwin.comparisons.report import steps
from emtwin.comparisons.report.compute import ReportSettings, scenario_report
from _chromium import open_page, screenshots  # tests/ is on sys.path (its conftest)

TINY = dataclasses.replace(ReportSettings.quick(seed=0), n_starts=1, nuts={"draws": 200, "tune": 200, "chains": 2},
                           advi={"n": 2000, "draws": 200}, grid=31)
MAX_PAGE_BYTES = 2_500_000  # BokehJS inline is ~1.8 MB; the states of these runs are small


@pytest.fixture(scope="module")
def reports():
    """Report pieces of the two coin scenarios, without the data-growth sweep (not on the page)."""
    return {name: scenario_report(dataclasses.replace(get_scenario(name), simulator=None), TINY)
            for name in ("coin-sets", "interleaved-coins")}


@pytest.fixture(scope="module")
def pages(reports, tmp_path_factory):
    folder = tmp_path_factory.mktemp("steps")
    out = {}
    for name, r in reports.items():
        page = steps.step_page(r, f"steps/{name}.html")
        path = folder / f"{name}.html"
        path.write_text(page.html, encoding="utf-8")
        out[name] = path
    return out


def _chromium(page: Path, query: str, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    return open_page(page, profile, *extra, query=query)


def _title(page: Path, query: str, profile: Path) -> str:
    done = _chromium(page, query, profile, "--virtual-time-budget=10000", "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    return html.unescape(re.search(r"<title>(.*?)</title>", done.stdout, re.S).group(1))


def test_coin_sets_iteration_1_shows_0_71_and_0_58(pages, tmp_path):
    heads = np.array([5, 9, 8, 4, 7])
    like_a, like_b = stats.binom.pmf(heads, 10, 0.6), stats.binom.pmf(heads, 10, 0.5)
    pr_a = like_a / (like_a + like_b)
    theta_a = (pr_a * heads).sum() / (pr_a * 10).sum()
    theta_b = ((1 - pr_a) * heads).sum() / ((1 - pr_a) * 10).sum()
    assert (round(theta_a, 2), round(theta_b, 2)) == (0.71, 0.58)
    title = _title(pages["coin-sets"], "?iteration=1", tmp_path / "a")
    assert title == f"coin-sets, iteration 1: theta_A = {theta_a:.4f}, theta_B = {theta_b:.4f}"
    assert "theta_A = 0.71" in title and "theta_B = 0.58" in title
    # Without the query the page starts at EM's start.
    assert _title(pages["coin-sets"], "", tmp_path / "b") == "coin-sets, iteration 0: theta_A = 0.6000, theta_B = 0.5000"


def test_interleaved_coins_iteration_1_shows_0_6707_and_0_4044(pages, tmp_path):
    h, t = Fraction(2, 3), Fraction(2, 5)  # each H, each T credited to c1 from (1/2, 1/4)
    p1 = 11 * h / (11 * h + 9 * t)
    p2 = 11 * (1 - h) / (11 * (1 - h) + 9 * (1 - t))
    assert (p1, p2) == (Fraction(110, 164), Fraction(55, 136))
    title = _title(pages["interleaved-coins"], "?iteration=1", tmp_path / "a")
    assert title == f"interleaved-coins, iteration 1: p1 = {float(p1):.4f}, p2 = {float(p2):.4f}"
    assert "p1 = 0.6707" in title and "p2 = 0.4044" in title


def test_the_page_stands_alone_and_steps_over_every_iteration(pages, reports):
    for name, path in pages.items():
        text = path.read_text(encoding="utf-8")
        assert "<script src=" not in text and "<link " not in text  # BokehJS inline, nothing fetched
        assert len(text.encode()) < MAX_PAGE_BYTES, f"{name}: {len(text.encode())} bytes"
        n_iter = reports[name].comparison.em.n_iter
        # The slider's end is EM's last iteration, and every iteration has a title.
        assert f"{name}, iteration {n_iter}: " in text and f"{name}, iteration {n_iter + 1}: " not in text
    # D&B's table for iteration 1 is in the page, from the EM twin's own steps.
    coin = html.unescape(pages["coin-sets"].read_text(encoding="utf-8"))  # the states are escaped JSON
    assert "0.4491</td>" in coin and "21.2975</td>" in coin and "0.7130</td>" in coin  # set 1's Pr(A), A's heads
    interleaved = html.unescape(pages["interleaved-coins"].read_text(encoding="utf-8"))
    assert "110/164 = 0.6707</td>" in interleaved and "55/136 = 0.4044</td>" in interleaved
    assert ">22/3</td>" in interleaved and ">27/5</td>" in interleaved


def test_screenshot_of_coin_sets_at_iteration_1(pages, tmp_path):
    shot = screenshots(tmp_path) / "15-step-coin-sets.png"
    done = _chromium(pages["coin-sets"], "?iteration=1&overlays=map,nuts", tmp_path / "shot",
                     "--virtual-time-budget=10000", f"--screenshot={shot}", "--window-size=1620,1000")
    assert done.returncode == 0, done.stderr[-2000:]
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1620, 1000)
        pixels = np.asarray(image.convert("RGB")).astype(int)
    # Drawn, not blank: much of the page is not white, and the contour's viridis colours are there.
    assert np.mean(pixels.sum(axis=2) < 600) > 0.1


def test_a_page_without_panels_writes_without_a_bokeh_warning(capfd, caplog):
    """One coin has no E-step panels; its page must not print Bokeh's "EMPTY_LAYOUT" warning,
    which ``emtwin report --quiet`` showed on stderr."""
    r = scenario_report(dataclasses.replace(get_scenario("one-coin"), simulator=None), TINY)
    page = steps.step_page(r, "steps/one-coin.html")
    assert "one-coin: step through EM" in page.html
    assert "EMPTY_LAYOUT" not in capfd.readouterr().err + caplog.text
