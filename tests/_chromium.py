"""Headless Chromium as the report, step-page and notebook tests drive it.

The flags are the machine notes': without the background-networking ones Chromium keeps
trying hosts this closed network refuses. ``make test`` installs Chromium where missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

__all__ = ["FLAGS", "open_page", "page_looks_complete", "screenshots"]

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def open_page(page: Path, profile: Path, *extra: str, query: str = "", timeout: int = 120) -> subprocess.CompletedProcess:
    """Run Chromium on the file ``page`` (``query`` appended to its address) with a fresh
    profile folder and the ``extra`` flags (``--dump-dom``, ``--screenshot=...``)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "headless Chromium is needed to look at the page: make test installs it (apt-get install chromium)"
    return subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri() + query],
                          capture_output=True, text=True, timeout=timeout)


def screenshots(tmp_path: Path) -> Path:
    """Where screenshots go: ``$EMTWIN_SCREENSHOTS`` (to keep them for a note), else the test's
    own temporary folder."""
    folder = Path(os.environ.get("EMTWIN_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def page_looks_complete(out: Path, profile: Path, n_images: int, shot: Path) -> None:
    """Assert that the report page ``out/index.html`` in Chromium lays out without overflow,
    decodes all ``n_images`` figures, shows no missing-figure banner, and its screenshot
    ``shot`` (1280 × 4000) is not blank."""
    done = open_page(out / "index.html", profile / "dom", "--virtual-time-budget=10000", "--dump-dom",
                             "--window-size=1280,4000")
    assert done.returncode == 0, done.stderr[-2000:]
    body = re.search(r"<body[^>]*>", done.stdout).group(0)
    # Set by the page's script: no line (a long check's detail, say) runs off the right edge.
    assert 'data-overflow="false"' in body, body
    # Set by the page's own script once the browser has decoded every figure.
    assert f'data-images-total="{n_images}"' in body and f'data-images-loaded="{n_images}"' in body, body
    assert "class=\"broken\"" not in done.stdout  # the banner the script adds for a missing figure
    done = open_page(out / "index.html", profile / "shot", f"--screenshot={shot}", "--window-size=1280,4000")
    assert done.returncode == 0, done.stderr[-2000:]
    import numpy as np
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1280, 4000)
        pixels = np.asarray(image.convert("L"))
    # Text and figures, not a blank page: a large share of the viewport is not white.
    assert np.mean(pixels < 200) > 0.05
