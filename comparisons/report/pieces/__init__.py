"""The kinds of piece a scenario's report section shows, one module each.

Every module here has ``KEY``, ``HEADING`` and ``piece(r) -> Piece | None``: from a
:class:`~emtwin.comparisons.report.compute.ScenarioReport` (numbers only) it draws its
figure, writes its caption and table, and adds its checks, or says why it is not shown
(``Piece(..., omitted=reason)``); None means the piece has nothing to say about this kind
of data (the coin table for a Gaussian mixture). The writer lays out every piece alike.

A new kind of figure is one new module here and one line in
:data:`emtwin.comparisons.report.section.PIECES`, the list of what a section shows, in
order. This file imports none of them, so taking one piece (the notebook view draws EM's
path with :mod:`.em_path`) does not load the others.
"""

