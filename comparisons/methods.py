"""The PyMC fits a comparison can run, by name, in the order they run and print.

Apart from the harness's method table (``harness.FITS``, which imports PyMC and ArviZ) so
that the command line can parse ``--methods`` without importing either: a result-cache hit
answers without them. ``tests/test_cli.py`` holds this tuple equal to ``tuple(FITS)``.
"""

from __future__ import annotations

__all__ = ["METHODS"]

METHODS: tuple[str, ...] = ("map", "advi", "nuts")
