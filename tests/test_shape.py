"""The shape DESIGN.md asks of `comparisons/`: the import graph has no cycle, and no
function is longer than 60 lines of code (docstrings, comments and blank lines aside)."""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

COMPARISONS = Path(__file__).resolve().parents[1] / "comparisons"
MAX_CODE_LINES = 60


def _modules() -> dict[str, ast.Module]:
    return {".".join(p.relative_to(COMPARISONS).with_suffix("").parts): ast.parse(p.read_text(encoding="utf-8"))
            for p in COMPARISONS.rglob("*.py")}


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:`` (annotations, never imported)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            continue
        yield node
        yield from _runtime_nodes(node)


def _imports(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """The modules of `comparisons/` that `name` imports anywhere (lazy imports included)."""
    package = name.rsplit(".", 1)[0] if "." in name else ""
    found = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)] if package else []
            stem = ".".join([*base, *(node.module.split(".") if node.module else [])])
            candidates = [stem] if node.module else [".".join([*base, a.name]) for a in node.names]
            candidates += [f"{stem}.{a.name}" for a in node.names] if node.module else []
            found |= {c.strip(".") for c in candidates if c.strip(".") in known}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("emtwin.comparisons."):
            found.add(node.module.removeprefix("emtwin.comparisons."))
    return found - {name}


def test_the_import_graph_of_comparisons_has_no_cycle():
    modules = _modules()
    graph = {name: _imports(name, tree, set(modules)) for name, tree in modules.items()}
    assert graph["results"] and "report" in graph["results"]  # the walker sees imports at all
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def _code_lines(source: str, node: ast.AST) -> int:
    """Lines of `node` holding code: not blank, not only a comment, not its docstring."""
    lines = source.splitlines()[node.lineno - 1: node.end_lineno]
    doc = ast.get_docstring(node, clean=False)
    skip = set()
    if doc is not None:
        first = node.body[0]
        skip = set(range(first.lineno - node.lineno, first.end_lineno - node.lineno + 1))
    tokens = tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline)
    code_rows = {t.start[0] - 1 for t in tokens
                 if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                                   tokenize.ENDMARKER)}
    return len(code_rows - skip)


def test_no_function_in_comparisons_is_longer_than_60_lines_of_code():
    long = {}
    for name, tree in _modules().items():
        source = (COMPARISONS / Path(*name.split("."))).with_suffix(".py").read_text(encoding="utf-8")
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = _code_lines(source, node)
                if n > MAX_CODE_LINES:
                    long[f"{name}.{node.name}"] = n
    assert long == {}
