"""The shape DESIGN.md asks of `comparisons/` and its sub-packages (`report/`, `report/pieces/`,
`scenarios/`): the import graph has no cycle, the harness does not import the report (beyond
the results' text formatting), and no function is longer than 60 lines of code (docstrings,
comments and blank lines aside)."""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

COMPARISONS = Path(__file__).resolve().parents[1] / "comparisons"
MAX_CODE_LINES = 60


def _name(path: Path) -> str:
    """Dotted module name inside comparisons/: ``report/writer.py`` -> ``report.writer``,
    a package's ``__init__.py`` -> the package (``report``; ``""`` for comparisons/ itself)."""
    parts = path.relative_to(COMPARISONS).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _files() -> dict[str, Path]:
    return {_name(p): p for p in COMPARISONS.rglob("*.py")}


def _modules() -> dict[str, ast.Module]:
    return {name: ast.parse(p.read_text(encoding="utf-8")) for name, p in _files().items()}


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:`` (annotations, never imported)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            continue
        yield node
        yield from _runtime_nodes(node)


def _imports(name: str, tree: ast.Module, known: set[str], is_package: bool) -> set[str]:
    """The modules of `comparisons/` that `name` imports anywhere (lazy imports included)."""
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".") if package else []
            base = base[: len(base) - (node.level - 1)]
            stem = ".".join([*base, *(node.module.split(".") if node.module else [])])
            candidates = [stem] if node.module else [".".join([*base, a.name]) for a in node.names]
            candidates += [f"{stem}.{a.name}" for a in node.names] if node.module else []
            found |= {c for c in candidates if c in known}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("emtwin.comparisons."):
            found.add(node.module.removeprefix("emtwin.comparisons."))
    return found - {name}


def _graph() -> dict[str, set[str]]:
    files, modules = _files(), _modules()
    return {name: _imports(name, tree, set(modules), files[name].name == "__init__.py")
            for name, tree in modules.items()}


def test_the_import_graph_of_comparisons_has_no_cycle():
    graph = _graph()
    # The walker sees imports at all, in sub-packages too, relative ones of every depth.
    assert "report" in graph["results"] and "report.text" in graph["report"]
    assert {"harness", "results"} <= graph["report.compute"]  # `from ..harness import` from report/
    assert "report.pieces.em_path" in graph["report.section"]  # `from .pieces import em_path`
    assert "report.compute" in graph["report.pieces.loglik"]  # `from ..compute import` from report/pieces/
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


def test_the_harness_computes_and_only_the_user_surfaces_import_the_report():
    """Outside report/, a module may import the report package only for the results' text
    formatting (``report``, ``report.text``); drawing and writing are for the command line
    and the notebook view."""
    graph = _graph()
    formatting = {"report", "report.text"}
    reaching = {name: sorted(m for m in imported if m.startswith("report.") and m not in formatting)
                for name, imported in graph.items() if not (name == "report" or name.startswith("report."))}
    assert {name for name, mods in reaching.items() if mods} == {"cli", "notebook"}
    assert not any(m.startswith("report") for m in graph["harness"])


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
    files = _files()
    assert {"report.writer", "report.pieces.em_path"} <= set(files)  # sub-packages are held to it too
    for name, tree in _modules().items():
        source = files[name].read_text(encoding="utf-8")
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = _code_lines(source, node)
                if n > MAX_CODE_LINES:
                    long[f"{name}.{node.name}"] = n
    assert long == {}
