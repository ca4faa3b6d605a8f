"""The report (``emtwin report``): formatting what the harness computed, never the other way round.

``text`` formats a Comparison as the terminal table and JSON (re-exported here: the results'
``table()`` and ``to_dict()`` call it, so it imports nothing of ``comparisons/``); ``compute``
computes every number a section shows; ``drawing`` draws the figures, ``teaching`` the
pictures a teacher draws first, ``steps`` the step-through page; ``section`` assembles one
scenario's part and ``writer`` writes the folder. Importing the package loads ``text`` only.
"""

from .text import blackbox_to_dict, comparison_to_dict, format_blackbox, format_comparison

__all__ = ["blackbox_to_dict", "comparison_to_dict", "format_blackbox", "format_comparison"]
