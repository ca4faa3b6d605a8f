"""Child-process entry point: ``python -m benchmarks._worker TASK ARGS_JSON``.

Runs one task of :data:`TASKS` with the JSON object's keys as keyword arguments and
prints its result after :data:`benchmarks.isolated.MARKER` on the last line of stdout.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from .isolated import MARKER


def _tasks() -> dict[str, Callable[..., dict[str, Any]]]:
    # Imported here, so a child loads only what its task needs (no PyMC for memory).
    def memory(**kw: Any) -> dict[str, Any]:
        from .memory import measure_peak

        return measure_peak(**kw)

    def map_fit(**kw: Any) -> dict[str, Any]:
        from .pymc_map import map_in_this_process

        return map_in_this_process(**kw)

    def nuts(**kw: Any) -> dict[str, Any]:
        from .nuts import nuts_in_this_process

        return nuts_in_this_process(**kw)

    return {"memory": memory, "map": map_fit, "nuts": nuts}


TASKS = _tasks()


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in TASKS:
        print(f"usage: python -m benchmarks._worker {{{','.join(TASKS)}}} ARGS_JSON", file=sys.stderr)
        return 2
    result = TASKS[argv[0]](**json.loads(argv[1]))
    print(MARKER + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
