"""One module per scenario, each defining ``SCENARIO``: the registry entry."""
