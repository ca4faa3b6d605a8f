"""Headless Chromium as the report, step-page and notebook tests drive it.

The flags are the machine notes': without the background-networking ones Chromium keeps
trying hosts this closed network refuses. ``make test`` installs Chromium where missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

__all__ = ["FLAGS", "open_page", "screenshots"]

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
