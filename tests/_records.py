"""What the robustness tests tried, kept for the closing note of issue 5.

- every bad input (entry point, what was given, the message it got);
- how many generated cases each Hypothesis property ran.

``conftest.py`` writes both as Markdown tables when the session ends, to the folder named
by ``$EMTWIN_TEST_RECORDS`` (default ``<tempdir>/emtwin-test-records``), and prints where.
Under pytest-xdist each worker writes its own pair, named by the worker (``-gw0``, ...).
"""

from __future__ import annotations

import collections
import os
import tempfile
from pathlib import Path

__all__ = ["BAD_INPUTS", "CASES", "count_case", "record_bad_input", "write"]

BAD_INPUTS: list[tuple[str, str, str]] = []
CASES: collections.Counter[str] = collections.Counter()


def record_bad_input(entry: str, given: str, message: str) -> None:
    """One row: the entry point, the bad input as the user wrote it, the message they got."""
    BAD_INPUTS.append((entry, given, message))


def count_case(prop: str) -> None:
    """Count one generated case of the property ``prop`` (call it in the test body)."""
    CASES[prop] += 1


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write() -> list[Path]:
    """Write the tables that have rows; return their paths."""
    folder = Path(os.environ.get("EMTWIN_TEST_RECORDS", Path(tempfile.gettempdir()) / "emtwin-test-records"))
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    suffix = f"-{worker}" if worker else ""
    written = []
    if BAD_INPUTS:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"bad-inputs{suffix}.md"
        lines = ["| entry point | bad input | message |", "| --- | --- | --- |"]
        lines += [f"| {_cell(e)} | `{_cell(g)}` | {_cell(m)} |" for e, g, m in BAD_INPUTS]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        written.append(path)
    if CASES:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"hypothesis-cases{suffix}.md"
        lines = ["| property | generated cases run |", "| --- | ---: |"]
        lines += [f"| {_cell(name)} | {n} |" for name, n in sorted(CASES.items())]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        written.append(path)
    return written
