"""Fuzzing the command line's argument parsing: whatever argv, `emtwin` ends with a result,
its help, or one clean error and exit code 2; never another exception, never a traceback.

``compare`` is replaced by a stub that checks the seed as the harness does (so a valid but
out-of-range argument still travels the error path in ``main``) and returns at once: the
fuzz exercises parsing and error handling, not fits.
"""

from __future__ import annotations

import contextlib
import io
import re
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from emtwin.comparisons import cli, harness
from emtwin.em_reference.checks import check

from _records import count_case

TOKENS = [
    "list", "compare", "coin-sets", "one-coin", "interleaved-coins", "gaussian-means", "gaussian-mixture",
    "three-coins", "--all", "--methods", "map", "map,nuts", "advi,nuts,map", "mcmc", ",", "MAP", "--methods=map",
    "--seed", "--seed=7", "0", "7", "-1", "4294967295", "4294967296", "1e3", "--n-starts", "3", "2.5",
    "--json", "--quiet", "--help", "-h", "--", "-", "nope.py:make", "x.py:1bad", "dir/x.py:f", "--bogus", "",
    " ", "%s", "%(prog)s", "ünïcödé", "\x00",
]
# Commands the fuzz must not run for real (they write files or run fits).
AVOID = {"report"}

argv_strategy = st.lists(
    st.one_of(
        st.sampled_from(TOKENS),
        # Not a command to avoid, nor a prefix argparse might expand to one.
        st.text(max_size=12).filter(lambda t: not any(t and cmd.startswith(t) for cmd in AVOID)),
    ),
    max_size=7,
)

# What argparse prints last ("emtwin: error: ..." or "emtwin compare: error: ...") and
# what main prints for errors after parsing.
ERROR_LINE = re.compile(r"emtwin(?: [\w-]+)?: error: .+")
ERROR_START = re.compile(r"(?m)^emtwin(?: [\w-]+)?: error: ")


class _Stub:
    """A finished comparison, as far as main reads one."""

    def __init__(self, name: str):
        self.scenario = name
        self.verdict = "agree"
        self.ok = True
        self.warnings = []

    def table(self) -> str:
        return f"{self.scenario}: (stub)"

    def to_dict(self) -> dict:
        return {"scenario": self.scenario, "verdict": self.verdict}


def _stub_compare(target, *, methods, seed, n_starts, progress, use_cache=True, **chosen):
    harness._check_methods(methods)
    check("seed", seed)
    return _Stub(getattr(target, "name", target))


@settings(max_examples=500, deadline=None)
@given(argv=argv_strategy)
def test_any_argv_ends_in_a_result_help_or_one_clean_error(argv):
    count_case("CLI fuzz: argv -> result, help or a clean error (exit 2)")
    out, err = io.StringIO(), io.StringIO()
    with mock.patch.object(cli.result_cache, "summary", _stub_compare), \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exit_:
            code, parsed = exit_.code, False
        else:
            parsed = True
    text = err.getvalue()
    assert "Traceback" not in text, (argv, text)
    if parsed:
        # Parsed: a result (0, or 1 for disagreeing twins), or an error after parsing (2)
        # printed by main as exactly one line.
        assert code in (0, 1, 2), (argv, code)
        if code == 2:
            assert text.count("\n") == 1 and ERROR_LINE.fullmatch(text.rstrip("\n")), (argv, text)
    else:
        # argparse: help (0) or its usage then "emtwin ...: error: ..." (2). argparse echoes
        # an argument as given, so one holding a newline spreads the error over two lines.
        assert code in (0, 2), (argv, code)
        if code == 2:
            error = ERROR_START.search(text)
            assert error and text.startswith("usage: emtwin"), (argv, text)
            assert text.endswith("\n"), (argv, text)
            rest = text[error.end():-1]
            for arg in sorted(filter(None, argv), key=len, reverse=True):
                rest = rest.replace(arg, "")
            assert "\n" not in rest, (argv, text)
        else:
            assert "usage: emtwin" in out.getvalue()
