"""The result cache between runs (comparisons/result_cache.py): where it lives, that every
input is part of the key, and that no half-written entry is ever read."""

from __future__ import annotations

import dataclasses
import io
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from emtwin.comparisons import custom, registry, result_cache
from emtwin.comparisons.scenario import Check
from emtwin.em_reference import coins

CALLS: list[dict] = []


def _stub_compare(scenario, **arguments):
    """Stands in for the real comparison: records the call, returns what it was given."""
    CALLS.append(arguments)
    name = scenario if isinstance(scenario, str) else scenario.name
    return {"scenario": name, "seed": arguments.get("seed"), "n": len(CALLS)}


@pytest.fixture
def stub(monkeypatch, tmp_path):
    monkeypatch.setenv("EMTWIN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(custom, "compare", _stub_compare)
    CALLS.clear()
    return tmp_path / "cache"


BASE = {"methods": ("map", "advi", "nuts"), "seed": 0, "n_starts": 1, "data": None, "start": None,
        "nuts_options": None, "advi_options": None, "model_options": None}


def test_cache_dir_follows_emtwin_cache_dir_then_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv("EMTWIN_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert result_cache.cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("EMTWIN_CACHE_DIR")
    assert result_cache.cache_dir() == tmp_path / "xdg" / "emtwin"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert result_cache.cache_dir() == tmp_path / "home" / ".cache" / "emtwin"


def test_a_repeat_is_a_hit_and_progress_is_not_part_of_the_key(stub):
    first = result_cache.compare("coin-sets", **BASE)
    again = result_cache.compare("coin-sets", progress=True, **BASE)
    assert first == again == {"scenario": "coin-sets", "seed": 0, "n": 1} and len(CALLS) == 1
    assert any(stub.rglob("output.pkl"))
    result_cache.compare("coin-sets", use_cache=False, **BASE)
    assert len(CALLS) == 2  # --no-cache computes ...
    assert result_cache.compare("coin-sets", **BASE)["n"] == 1  # ... and leaves the entry alone


OTHER_SETS = coins.TossSets.from_counts([5, 9, 8, 4, 6], 10)
VARIANTS = {
    "seed": {"seed": 1},
    "methods": {"methods": ("map",)},
    "n_starts": {"n_starts": 3},
    "data": {"data": OTHER_SETS},
    "start": {"start": {"theta": np.array([0.7, 0.4])}},
    "start value": {"start": {"theta": np.array([0.7, 0.41])}},
    "nuts_options": {"nuts_options": {"draws": 500}},
    "advi_options": {"advi_options": {"early_stop": False}},
    "model_options": {"model_options": {"prior": (2.0, 2.0)}},
}


def test_changing_any_input_misses(stub, monkeypatch):
    result_cache.compare("coin-sets", **BASE)
    expected = 1
    for what, change in VARIANTS.items():
        result_cache.compare("coin-sets", **{**BASE, **change})
        expected += 1
        assert len(CALLS) == expected, what
    result_cache.compare("interleaved-coins", **BASE)
    assert len(CALLS) == expected + 1, "scenario"
    for package in result_cache.VERSIONED:
        versions = {**result_cache._versions(), package: "0.0.0-other"}
        monkeypatch.setattr(result_cache, "_versions", lambda versions=versions: versions)
        before = len(CALLS)
        result_cache.compare("coin-sets", **BASE)
        assert len(CALLS) == before + 1, package
    monkeypatch.setattr(result_cache, "_source_digest", lambda: "an edited checkout")
    before = len(CALLS)
    result_cache.compare("coin-sets", **BASE)
    assert len(CALLS) == before + 1, "emtwin source"


def _custom(offset):
    """coin-sets as a user's scenario whose fit_em closes over ``offset``."""
    sc = registry.get_scenario("coin-sets")
    return dataclasses.replace(sc, name="my-coins", fit_em=lambda data, start, **o: sc.fit_em(data, start, **o) if offset
                               else sc.fit_em(data, start, **o))


def test_a_users_scenario_is_keyed_by_its_code_and_closures(stub):
    sc = registry.get_scenario("coin-sets")
    plain = dataclasses.replace(sc, name="my-coins")
    result_cache.compare(plain, **BASE)
    result_cache.compare(dataclasses.replace(sc, name="my-coins"), **BASE)
    assert len(CALLS) == 1  # same code: a hit, though a new object
    result_cache.compare(_custom(0), **BASE)
    assert len(CALLS) == 2  # fit_em's code changed
    result_cache.compare(_custom(1), **BASE)
    assert len(CALLS) == 3  # same code, another value in its closure
    result_cache.compare(dataclasses.replace(plain, make_data=lambda: OTHER_SETS), **BASE)
    assert len(CALLS) == 4  # its own data changed


_WRITER = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    from emtwin.comparisons import custom, result_cache
    import joblib.numpy_pickle

    def slow_compare(scenario, **arguments):
        time.sleep(float(sys.argv[2]))
        return {"payload": np.arange(2_000_000, dtype=float), "writer": os.getpid()}

    custom.compare = slow_compare
    if sys.argv[1] == "killed":
        real_dump = joblib.numpy_pickle.dump
        def dump_half_then_die(value, f, **kw):
            f.write(b"\\x80\\x05half an entry")
            f.flush()
            os._exit(9)                      # killed mid-write: no clean-up of any kind
        joblib.numpy_pickle.dump = dump_half_then_die
    out = result_cache.compare("coin-sets", methods=("map",), seed=7, n_starts=1, data=None, start=None,
                               nuts_options=None, advi_options=None, model_options=None)
    print(out["writer"], float(out["payload"].sum()))
""")


def _writer(tmp_path, mode, sleep):
    env = {**os.environ, "EMTWIN_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.Popen([sys.executable, "-c", _WRITER, mode, str(sleep)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _read(monkeypatch, tmp_path):
    monkeypatch.setenv("EMTWIN_CACHE_DIR", str(tmp_path / "cache"))
    return result_cache.compare("coin-sets", methods=("map",), seed=7, n_starts=1, data=None, start=None,
                                nuts_options=None, advi_options=None, model_options=None)


def test_a_run_killed_mid_write_leaves_no_entry_a_later_run_reads(monkeypatch, tmp_path):
    killed = _writer(tmp_path, "killed", 0)
    killed.communicate(timeout=120)
    assert killed.returncode == 9
    assert not list((tmp_path / "cache").rglob("output.pkl"))  # only the temporary file remains
    assert list((tmp_path / "cache").rglob("output.pkl.*"))
    CALLS.clear()
    monkeypatch.setattr(custom, "compare", _stub_compare)
    assert _read(monkeypatch, tmp_path)["n"] == 1 and len(CALLS) == 1  # a miss: computed afresh


def test_two_writers_at_once_leave_one_whole_entry(monkeypatch, tmp_path):
    writers = [_writer(tmp_path, "normal", 1.0) for _ in range(2)]
    outputs = [w.communicate(timeout=120) for w in writers]
    assert [w.returncode for w in writers] == [0, 0], outputs
    entries = list((tmp_path / "cache").rglob("output.pkl"))
    assert len(entries) == 1
    monkeypatch.setattr(custom, "compare", _stub_compare)
    CALLS.clear()
    hit = _read(monkeypatch, tmp_path)
    assert not CALLS  # read, not recomputed
    assert float(hit["payload"].sum()) == float(np.arange(2_000_000, dtype=float).sum())
    assert hit["writer"] in {int(out.split()[0]) for out, _ in outputs}


def test_a_real_comparison_round_trips(monkeypatch, tmp_path):
    monkeypatch.setenv("EMTWIN_CACHE_DIR", str(tmp_path / "cache"))
    args = {**BASE, "methods": ("map",)}
    fresh = result_cache.compare("one-coin", **args)
    cached = result_cache.compare("one-coin", **args)
    assert cached is not fresh and cached.table() == fresh.table()
    assert cached.em.loglik_trace.tolist() == fresh.em.loglik_trace.tolist()
    assert Path(result_cache.cache_dir()) == tmp_path / "cache"


class _Finished:
    """A finished comparison, as far as a Summary reads one."""

    def __init__(self, scenario, seed):
        self.scenario, self.verdict, self.ok = scenario, "agree", True
        self.failures = []
        self.warnings = [Check("ADVI loss settled", False, np.float64(0.02), 0.01, "moving", "warning")]
        self.seed = seed

    def table(self):
        return f"{self.scenario} seed {self.seed}"

    def to_dict(self):
        return {"scenario": self.scenario, "seed": self.seed}


def _finished_compare(scenario, **arguments):
    CALLS.append(arguments)
    return _Finished(scenario, arguments["seed"])


def test_a_summary_is_kept_beside_the_comparison_and_a_hit_reads_it_alone(stub, monkeypatch):
    monkeypatch.setattr(custom, "compare", _finished_compare)
    whole = result_cache.compare("coin-sets", **BASE)
    assert len(CALLS) == 1
    first = result_cache.summary("coin-sets", **BASE)
    assert len(CALLS) == 1  # summarised from the whole comparison's entry, not recomputed
    assert (first.table(), first.to_dict(), first.verdict, first.ok) == (whole.table(), whole.to_dict(), "agree", True)
    assert [(c.name, type(c.value)) for c in first.warnings] == [("ADVI loss settled", float)]
    monkeypatch.setattr(result_cache, "_memorised", None)  # a hit that touched the whole entry would fail
    again = result_cache.summary("coin-sets", **BASE)
    assert again == first and again is not first and len(CALLS) == 1
    again.to_dict()["seed"] = 99
    assert again.to_dict()["seed"] == 0  # the caller gets a copy
    assert result_cache.summary("coin-sets", use_cache=False, **BASE) == first and len(CALLS) == 2


def _modules_unpickling_needs(obj) -> set[str]:
    """The modules whose classes unpickling ``obj`` looks up (each one is imported)."""
    found = set()

    class Recording(pickle.Unpickler):
        def find_class(self, module, name):
            found.add(module)
            return super().find_class(module, name)

    Recording(io.BytesIO(pickle.dumps(obj))).load()
    return found


def test_a_summary_of_every_method_holds_no_pymc_arviz_or_xarray_object(coin_sets_comparison):
    summary = result_cache.Summary.of(coin_sets_comparison)
    assert summary.table() == coin_sets_comparison.table()
    assert summary.to_dict() == coin_sets_comparison.to_dict()
    whole = _modules_unpickling_needs(coin_sets_comparison)
    # What the Summary leaves out: DataTrees, and emtwin modules that import PyMC and ArviZ.
    assert {"xarray.core.datatree", "emtwin.models.fitting", "emtwin.comparisons.derived_twin"} <= whole, whole
    assert _modules_unpickling_needs(summary) == {"emtwin.comparisons.result_cache"}


# Runs the command line, then says on stderr which of the heavy packages it imported.
_WATCHED_CLI = textwrap.dedent("""
    import sys
    from emtwin.comparisons import cli
    code = cli.main(sys.argv[1:])
    heavy = {"pymc", "pytensor", "arviz", "xarray", "matplotlib", "bokeh"}
    print("imported:", ",".join(sorted(heavy & {m.split(".")[0] for m in sys.modules})) or "none", file=sys.stderr)
    sys.exit(code)
""")


def test_a_cache_hit_on_the_command_line_imports_neither_pymc_pytensor_nor_arviz(tmp_path):
    env = {**os.environ, "EMTWIN_CACHE_DIR": str(tmp_path / "cache")}
    runs = [subprocess.run([sys.executable, "-c", _WATCHED_CLI, "compare", "coin-sets", "--methods", "map", "--quiet"],
                           env=env, capture_output=True, text=True, timeout=300) for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], [r.stderr for r in runs]
    miss, hit = runs
    assert "pymc" in miss.stderr.splitlines()[-1]  # the miss computes, so the check sees imports
    assert hit.stderr.splitlines()[-1] == "imported: none"
    assert hit.stdout == miss.stdout and "verdict: AGREE" in hit.stdout


def test_the_source_digest_reads_every_python_file_of_emtwin_sub_packages_included():
    root = Path(__file__).resolve().parents[1]
    expected = {f"emtwin.{box}/{p.relative_to(root / box).as_posix()}"
                for box in ("em_reference", "models", "comparisons") for p in (root / box).rglob("*.py")}
    names = [name for name, _ in result_cache._source_files()]
    assert expected <= set(names) and "emtwin.comparisons/scenarios/coin_sets.py" in names
    assert "emtwin/__init__.py" in names and names == sorted(set(names))
