"""EM by hand, iteration by iteration: Do & Batzoglou's Figure 1b as a table per iteration
for coin data (:func:`~emtwin.comparisons.report.teaching.credit_tables`), from the EM
twin's own E-step and M-step."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..piece import Piece
from ..teaching import coin_parameter, credit_rows, credit_tables, number_text, param_name

if TYPE_CHECKING:  # annotations only
    from ..compute import ScenarioReport

__all__ = ["piece"]

KEY, HEADING = "by-hand", "EM by hand, iteration by iteration"


def piece(r: ScenarioReport) -> Piece | None:
    """The table at iterations 1, 2, 3 and the last; None for data other than coins."""
    c = r.comparison
    n = c.em.n_iter
    shown = sorted({t for t in (1, 2, 3, n) if 1 <= t <= n})
    tables = credit_tables(r.scenario, c, shown)
    if not tables:
        return None
    param = coin_parameter(c)
    a, b = tables[0].coins
    cols = ["iteration", "set", f"Pr({a})", f"heads → {a}", f"tails → {a}", f"Pr({b})", f"heads → {b}",
            f"tails → {b}"]
    rows = [row for table in tables for row in credit_rows(table, param)]
    first = tables[0]
    caption = (f"EM by hand, as Do & Batzoglou draw it (Fig. 1b): at iteration t the E-step weighs each set by "
               f"Pr(coin | set) at the previous biases, credits it heads and tails to each coin in proportion, and "
               f"the M-step divides each coin's credited heads by its credited tosses. Iteration 1 starts at "
               f"{param_name(param, a)} = {number_text(first.before[0])}, {param_name(param, b)} = "
               f"{number_text(first.before[1])} and gives {first.after[0]:.4f}, {first.after[1]:.4f}; shown: "
               f"iterations {', '.join(str(t.iteration) for t in tables)} of {n}. Computed with the EM twin's "
               "e_step and m_step at its traced parameters.")
    return Piece(KEY, HEADING, caption, table=(cols, rows))
