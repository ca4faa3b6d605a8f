"""Run one measurement in a fresh Python process and read back its numbers.

Peak memory and cold compile times only mean something in a process that has done
nothing else. The child runs ``python -m benchmarks._worker TASK ARGS_JSON`` from the
repository's root and prints its result as one JSON line after :data:`MARKER`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["MARKER", "REPO_ROOT", "WorkerError", "run_isolated", "with_compiledir"]

REPO_ROOT = Path(__file__).resolve().parent.parent
MARKER = "BENCHMARK-RESULT "
# Lines of the child's stderr quoted when it fails.
TAIL_LINES = 15


class WorkerError(RuntimeError):
    """A child process failed; the message holds the task and the end of its stderr."""


def run_isolated(task: str, *, env: Mapping[str, str] | None = None, timeout: float | None = None,
                 **arguments: Any) -> dict[str, Any]:
    """Run ``task`` with keyword ``arguments`` (JSON-serialisable) in a new process.

    Parameters
    ----------
    task : str
        A name in ``benchmarks._worker.TASKS``.
    env : mapping, optional
        Environment variables set on top of this process's.
    timeout : float, optional
        Seconds before the child is killed (a WorkerError then).

    Returns
    -------
    dict
        What the task returned.
    """
    command = [sys.executable, "-m", "benchmarks._worker", task, json.dumps(arguments)]
    try:
        child = subprocess.run(
            command, cwd=REPO_ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise WorkerError(f"{task} {arguments}: no result within {timeout:g} s") from None
    if child.returncode != 0:
        tail = "\n".join(child.stderr.strip().splitlines()[-TAIL_LINES:])
        raise WorkerError(f"{task} {arguments} exited with status {child.returncode}:\n{tail}")
    for line in reversed(child.stdout.splitlines()):
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER):])
    raise WorkerError(f"{task} {arguments} printed no result line")


def with_compiledir(directory: str | os.PathLike[str]) -> dict[str, str]:
    """Environment that points PyTensor's compile cache at ``directory`` (other flags kept)."""
    flags = [os.environ.get("PYTENSOR_FLAGS", ""), f"base_compiledir={os.fspath(directory)}"]
    return {"PYTENSOR_FLAGS": ",".join(flag for flag in flags if flag)}
