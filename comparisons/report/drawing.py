"""What every figure of the report shares: the style, the colours, a new figure, PNG bytes.

Figures are :class:`matplotlib.figure.Figure` objects on an Agg canvas, made without
pyplot, so drawing never opens a window or changes a user's backend; :func:`png` renders
one. The posterior densities are ArviZ's (``az.plot_dist``), which draws through pyplot;
:func:`png` closes those figures after use. Each kind of figure is drawn in its own module
of :mod:`.pieces`; axis labels and titles carry names and numbers from the results, never
retyped text.
"""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["DPI", "EM_COLOR", "MAP_COLOR", "MAX_DOTS", "NUTS_COLOR", "STYLE", "new_figure", "png"]

# Large enough to read when projected; the HTML page scales figures to its width.
STYLE = {"font.size": 12, "axes.titlesize": 13, "axes.labelsize": 12, "legend.fontsize": 10}
DPI = 100
MAX_DOTS = 800  # posterior draws drawn as dots: more would paint the posterior's region solid
EM_COLOR, MAP_COLOR, NUTS_COLOR = "#1f77b4", "#d62728", "#7f7f7f"


def new_figure(width: float, height: float) -> Figure:
    """An empty figure of ``width`` × ``height`` inches on an Agg canvas, laid out by matplotlib."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes; a figure ArviZ made through pyplot is closed afterwards."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    if getattr(fig.canvas, "manager", None) is not None:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return buffer.getvalue()
