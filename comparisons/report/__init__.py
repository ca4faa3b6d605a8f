"""The report: everything that formats what the harness computed, never the other way round.

One module per job, the kinds of piece apart in :mod:`.pieces`:

=====================  ====================================================================
module                 what it does
=====================  ====================================================================
``text``               a Comparison (or black-box check) as the terminal table and as JSON;
                       the results' ``table()`` and ``to_dict()`` call it, so it imports
                       nothing of ``comparisons/`` (re-exported here for them)
``compute``            :func:`~.compute.scenario_report`: runs the comparison and computes
                       every number a section shows (EM path, contour, labels, the sweeps)
``teaching``           EM iteration by iteration as the pictures show it: D&B's credit
                       tables, 1-D densities, 2-D ellipses (numbers only)
``drawing``            what every matplotlib figure shares: style, colours, PNG bytes
``piece``              :class:`~.piece.Piece`, one heading of a section, and shared wording
``pieces/``            one module per kind of piece (figure, table or paragraph), each a
                       ``piece(r)`` function: by_hand, model_on_data, em_path, loglik,
                       posterior, labels, growth, components, ridge
``section``            one scenario's pieces in order (:data:`~.section.PIECES`), figures as
                       PNG, and its step-through page
``steps``              the step-through page (Bokeh), a pure function of the report's numbers
``writer``             :func:`~.writer.write_report`: the folder (index.html, report.md,
                       results.json, figures/, steps/), built aside and checked, then moved
=====================  ====================================================================

A new kind of figure touches one file and one list: a module in ``pieces/`` with
``piece(r)``, and its line in :data:`emtwin.comparisons.report.section.PIECES`.

The direction is one way: ``compute`` calls the harness and reads its results; nothing in
the harness imports this package except the results' formatting (``text``). Importing the
package loads ``text`` only; matplotlib, ArviZ and Bokeh load with the modules that draw.
"""

from .text import blackbox_to_dict, comparison_to_dict, format_blackbox, format_comparison

__all__ = ["blackbox_to_dict", "comparison_to_dict", "format_blackbox", "format_comparison"]
