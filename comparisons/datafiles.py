"""Your data and your knobs from the command line: ``--data``, ``--column(s)``, ``--k``,
``--sigma``, ``--start``, ``--prior`` on ``emtwin compare`` and ``emtwin report``.

Files the registered scenarios read (``--data FILE``):

=====================  ==================================================================
gaussian-mixture       CSV with a header; ``--column NAME`` picks the points (needed when
                       the file has several columns); ``--k`` components (default 2)
gaussian-mixture-2d    CSV with a header; ``--columns A,B`` (default: every column), ``--k``
gaussian-means         CSV as for gaussian-mixture; ``--sigma`` (the known SD, needed with
                       ``--data``) and ``--k`` (default 2)
coin-sets              one set of tosses per line written in H and T (``HTTHH``), or a CSV
                       with columns ``heads,tosses``, one set per row
interleaved-coins      H and T, one toss each; lines are read in order as one sequence
one-coin               H and T, as for interleaved-coins
=====================  ==================================================================

Without ``--data``, ``--column``, ``--k`` and ``--sigma`` apply to the scenario's own data
(for the Gaussian mixtures, the Old Faithful file that ships with the package). A bad file
raises :class:`DataFileError`, one line naming the file, the line and the fix; the command
line prints it and exits 2 before anything is written.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from emtwin.em_reference import coins as em_coins
from emtwin.em_reference import gaussian_means as em_means
from emtwin.em_reference import gaussian_mixture as em_gm
from emtwin.em_reference import interleaved_coins as em_interleaved
from emtwin.em_reference import one_coin as em_one_coin

from .registry import SCENARIOS
from .scenario import Scenario, flat_beta_prior

__all__ = [
    "Choices",
    "DataFileError",
    "DataOptions",
    "add_options",
    "choices",
    "parse_prior",
    "parse_start",
    "read_data",
    "with_choices",
]

# The options --data FILE brings; each scenario's reader says which of them it takes.
DATA_OPTIONS = ("column", "columns", "k", "sigma")


class DataFileError(ValueError):
    """A data file (or a data option) the scenario cannot use: one line saying where and why."""


@dataclass(frozen=True)
class DataOptions:
    """What the command line said about the data: ``None`` where it said nothing."""

    column: str | None = None
    columns: tuple[str, ...] | None = None
    k: int | None = None
    sigma: float | None = None


# --------------------------------------------------------------------------- reading text


TABLE_HINT = "give a header line naming the columns, then one data row per line"
TOSSES_HINT = "write tosses as H and T, e.g. HTTHH"


def _text_lines(path: Path, hint: str) -> list[tuple[int, str]]:
    """(line number, stripped text) of every non-blank line; an empty file is an error
    whose message ends with ``hint``, what the file should hold."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: spreadsheets save CSV with a BOM
    except FileNotFoundError:
        raise DataFileError(f"{path}: no such file.") from None
    except IsADirectoryError:
        raise DataFileError(f"{path} is a folder; --data takes a file.") from None
    except UnicodeDecodeError:
        raise DataFileError(f"{path} is not a UTF-8 text file; --data takes CSV or lines of H and T.") from None
    lines = [(i, line.strip()) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise DataFileError(f"{path} is empty; {hint}.")
    return lines


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_table(path: str | Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """A CSV file with a header line: (column names, [(line number, cells), ...]).

    Raises
    ------
    DataFileError
        Empty file, header only, a header of numbers (no header), repeated column names,
        or a row whose cell count differs from the header's.
    """
    path = Path(path)
    lines = _text_lines(path, TABLE_HINT)
    rows = [(number, [cell.strip() for cell in cells])
            for (number, _), cells in zip(lines, csv.reader(text for _, text in lines))]
    (header_line, header), body = rows[0], rows[1:]
    if all(_is_number(cell) for cell in header):
        raise DataFileError(
            f"{path} line {header_line} is {lines[0][1]!r}, data rather than column names; "
            "the first line must name the columns, e.g. waiting."
        )
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise DataFileError(f"{path} names column {', '.join(map(repr, repeated))} more than once; "
                            "give each column its own name.")
    if not body:
        raise DataFileError(f"{path} has a header ({', '.join(header)}) but no data rows.")
    for number, cells in body:
        if len(cells) != len(header):
            raise DataFileError(
                f"{path} line {number} has {len(cells)} cell{'s' if len(cells) != 1 else ''}; the header "
                f"names {len(header)} ({', '.join(header)})."
            )
    return header, body


def numeric_columns(path: str | Path, names: Sequence[str] | None) -> tuple[np.ndarray, tuple[str, ...]]:
    """The named columns of a CSV file (default: all) as floats: shape (n_rows, len(names))."""
    header, body = read_table(path)
    names = tuple(header) if names is None else tuple(names)
    missing = [name for name in names if name not in header]
    if missing:
        raise DataFileError(
            f"{path} has no column {', '.join(map(repr, missing))}; its columns are {', '.join(header)}."
        )
    where = [header.index(name) for name in names]
    values = np.empty((len(body), len(names)))
    for r, (number, cells) in enumerate(body):
        for c, j in enumerate(where):
            cell = cells[j]
            try:
                value = float(cell)
            except ValueError:
                raise DataFileError(
                    f"{path} line {number}, column {names[c]}: {cell!r} is not a number."
                ) from None
            if not math.isfinite(value):
                raise DataFileError(
                    f"{path} line {number}, column {names[c]}: {cell!r} is not a finite number."
                )
            values[r, c] = value
    return values, names


def _one_column(path: Path, column: str | None) -> tuple[np.ndarray, str]:
    """The points of one column: the one named, or the file's only column."""
    if column is None:
        header, _ = read_table(path)
        if len(header) > 1:
            raise DataFileError(f"{path} has {len(header)} columns ({', '.join(header)}); choose one with --column.")
        column = header[0]
    values, _ = numeric_columns(path, [column])
    return values[:, 0], column


def _tosses(path: Path, *, sets: bool) -> list[str]:
    """Every non-blank line as a string of H and T (spaces dropped, upper case)."""
    out = []
    for number, text in _text_lines(path, TOSSES_HINT + (", one set per line" if sets else "")):
        line = "".join(text.split()).upper()
        bad = sorted(set(line) - {"H", "T"})
        if bad:
            what = "a set of tosses" if sets else "tosses"
            raise DataFileError(
                f"{path} line {number}: {text!r} contains {', '.join(map(repr, bad))}; write {what} "
                "with H (heads) and T (tails) only."
            )
        out.append(line)
    return out


def _counts(path: Path) -> em_coins.TossSets:
    """A CSV of heads,tosses: one set per row, whole numbers, 0 <= heads <= tosses."""
    values, _ = numeric_columns(path, ["heads", "tosses"])
    _, body = read_table(path)
    for (number, _), (heads, tosses) in zip(body, values):
        for name, value in (("heads", heads), ("tosses", tosses)):
            if value != round(value):
                raise DataFileError(f"{path} line {number}, column {name}: {value:g} is not a whole number.")
        if tosses < 1 or not 0 <= heads <= tosses:
            raise DataFileError(
                f"{path} line {number}: {heads:g} heads in {tosses:g} tosses; a set needs at least one toss "
                "and between 0 and that many heads."
            )
    return em_coins.TossSets.from_counts(values[:, 0].astype(np.int64), values[:, 1].astype(np.int64))


# --------------------------------------------------------------------------- one reader per scenario


def _faithful() -> Path:
    """The Old Faithful CSV that ships with the package: the Gaussian mixtures' own data."""
    return Path(str(resources.files("emtwin.em_reference").joinpath("data", "faithful.csv")))


def _checked(path: Path | None, build: Callable[[], Any]) -> Any:
    """``build()``, its ValueError (k above the distinct points, no spread) prefixed by the file."""
    try:
        return build()
    except DataFileError:
        raise
    except ValueError as err:
        raise DataFileError(f"{path if path is not None else 'the default data'}: {err}") from None


def _mixture_1d(path: Path | None, options: DataOptions) -> em_gm.MixtureData:
    file = _faithful() if path is None else path
    column = options.column if options.column is not None or path is not None else "waiting"
    x, _ = _one_column(file, column)
    return _checked(file, lambda: em_gm.MixtureData(x, 2 if options.k is None else options.k))


def _mixture_2d(path: Path | None, options: DataOptions) -> em_gm.MixtureData:
    file = _faithful() if path is None else path
    x, names = numeric_columns(file, options.columns)
    return _checked(file, lambda: em_gm.MixtureData(x, 2 if options.k is None else options.k, columns=names))


def _means(path: Path | None, options: DataOptions) -> em_means.MixtureData:
    if path is None:
        if options.column is not None:
            raise DataFileError("--column picks a column of --data FILE; gaussian-means' own data has none.")
        own = em_means.MixtureData.synthetic()
        sigma = own.sigma if options.sigma is None else options.sigma
        k = own.k if options.k is None else options.k
        true_means = own.true_means if k == own.k else None
        return _checked(None, lambda: em_means.MixtureData(own.z, sigma, k, true_means))
    if options.sigma is None:
        raise DataFileError(
            f"gaussian-means fits components of known SD: give it with --sigma (in {path}'s units)."
        )
    z, _ = _one_column(path, options.column)
    return _checked(path, lambda: em_means.MixtureData.from_array(
        z, k=2 if options.k is None else options.k, sigma=options.sigma))


def _coin_sets(path: Path | None, options: DataOptions) -> em_coins.TossSets:
    if path is None:
        return SCENARIOS["coin-sets"].make_data()
    first = _text_lines(path, TOSSES_HINT + ", one set per line, or a CSV of heads,tosses")[0][1]
    if "," in first:
        return _counts(path)
    return em_coins.TossSets.from_strings(_tosses(path, sets=True))


def _interleaved(path: Path | None, options: DataOptions) -> em_coins.TossSets:
    if path is None:
        return SCENARIOS["interleaved-coins"].make_data()
    return em_interleaved.tosses_from_string("".join(_tosses(path, sets=False)))


def _one_coin(path: Path | None, options: DataOptions) -> em_one_coin.Tosses:
    if path is None:
        return SCENARIOS["one-coin"].make_data()
    return em_one_coin.Tosses.from_string("".join(_tosses(path, sets=False)))


@dataclass(frozen=True)
class _Reader:
    read: Callable[[Path | None, DataOptions], Any]
    options: tuple[str, ...]  # which of DATA_OPTIONS it takes


# One entry per registered scenario that reads files. A scenario without one still runs on
# its own data; --data names the scenarios listed here.
READERS: dict[str, _Reader] = {
    "one-coin": _Reader(_one_coin, ()),
    "interleaved-coins": _Reader(_interleaved, ()),
    "coin-sets": _Reader(_coin_sets, ()),
    "gaussian-means": _Reader(_means, ("column", "k", "sigma")),
    "gaussian-mixture": _Reader(_mixture_1d, ("column", "k")),
    "gaussian-mixture-2d": _Reader(_mixture_2d, ("columns", "k")),
}


def read_data(scenario: str, path: str | Path | None, options: DataOptions = DataOptions()) -> Any:
    """The scenario's data object from ``path`` (or from its own data, reshaped by ``options``).

    Parameters
    ----------
    scenario : str
        A registered scenario name with a reader (see the module docstring).
    path : path or None
        The user's file; ``None``: the scenario's own data, with ``options`` applied.
    options : DataOptions
        ``--column``, ``--columns``, ``--k``, ``--sigma``; each must be one the scenario takes.

    Returns
    -------
    The scenario's data object (``TossSets``, ``Tosses`` or a ``MixtureData``).

    Raises
    ------
    DataFileError
        One line: the file, the line or column, and the fix.
    """
    if scenario not in READERS:
        raise DataFileError(
            f"--data reads files for {', '.join(READERS)}; {scenario} takes its data in Python "
            "(emtwin.compare(..., data=...))."
        )
    reader = READERS[scenario]
    given = [name for name in DATA_OPTIONS if getattr(options, name) is not None]
    unused = [name for name in given if name not in reader.options]
    if unused:
        takes = ", ".join(f"--{name}" for name in reader.options)
        raise DataFileError(
            f"{', '.join(f'--{name}' for name in unused)} does not apply to {scenario}; "
            + (f"its data options are --data and {takes}." if takes else "its data come from --data alone.")
        )
    return reader.read(None if path is None else Path(path), options)


# --------------------------------------------------------------------------- knobs


def parse_start(text: str) -> dict[str, list[float]]:
    """``"theta=0.6,0.5"`` or ``"weights=0.5,0.5;mu=55,80"``: parameter name -> numbers.

    An ``argparse`` type: a malformed value raises ``argparse.ArgumentTypeError``.
    """
    out: dict[str, list[float]] = {}
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        name, sep, values = (s.strip() for s in part.partition("="))
        if not sep or not name or not values:
            raise argparse.ArgumentTypeError(f"write NAME=NUMBERS, e.g. theta=0.6,0.5; got {part!r}")
        numbers = []
        for v in values.split(","):
            try:
                numbers.append(float(v))
            except ValueError:
                raise argparse.ArgumentTypeError(f"{name}: {v.strip()!r} is not a number (in {part!r})") from None
        if name in out:
            raise argparse.ArgumentTypeError(f"{name} is given twice (in {text!r})")
        out[name] = numbers
    if not out:
        raise argparse.ArgumentTypeError(f"write NAME=NUMBERS, e.g. theta=0.6,0.5; got {text!r}")
    return out


def parse_prior(text: str) -> tuple[float, float]:
    """``"2,2"`` -> (2.0, 2.0): Beta(a, b), both positive. An ``argparse`` type."""
    parts = text.split(",")
    try:
        if len(parts) != 2:
            raise ValueError(text)
        return em_one_coin.check_prior([float(v) for v in parts])
    except ValueError:
        raise argparse.ArgumentTypeError(f"write a,b for Beta(a, b), both > 0, e.g. 2,2; got {text!r}") from None


def _columns(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(","))
    if len(names) < 1 or not all(names):
        raise argparse.ArgumentTypeError(f"write column names separated by commas, e.g. eruptions,waiting; got {text!r}")
    return names


def _positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1; got {text!r}")
    return int(text)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number > 0; got {text!r}")
    return value


def add_options(parser: argparse.ArgumentParser) -> None:
    """``--data``, ``--column``, ``--columns``, ``--k``, ``--sigma``, ``--start``, ``--prior``."""
    group = parser.add_argument_group(
        "your data and starting point (one named scenario, not --all)")
    group.add_argument("--data", metavar="FILE",
                       help="your data: a CSV with a header (Gaussian scenarios), lines of H and T "
                            "(coin scenarios; coin-sets: one set per line) or a heads,tosses CSV (coin-sets)")
    group.add_argument("--column", metavar="NAME", help="gaussian-mixture, gaussian-means: the CSV column to fit")
    group.add_argument("--columns", type=_columns, metavar="A,B",
                       help="gaussian-mixture-2d: the CSV columns to fit (default: all)")
    group.add_argument("--k", type=_positive_int, help="Gaussian scenarios: number of components (default 2)")
    group.add_argument("--sigma", type=_positive_float,
                       help="gaussian-means: the components' known SD, in the data's units (needed with --data)")
    group.add_argument("--start", type=parse_start, action="append", metavar="NAME=V,V[;NAME=V,...]",
                       help="EM's and MAP's start, e.g. theta=0.6,0.5; several parameters separated by ';' "
                            "or by repeating --start; parameters left out keep the default start")
    group.add_argument("--prior", type=parse_prior, metavar="A,B",
                       help="coin scenarios: Beta(A, B) prior on every bias (default 1,1, flat: MAP = MLE)")


@dataclass(frozen=True)
class Choices:
    """What the command line chose for one scenario: ``None``/empty where it chose nothing.

    ``data`` is the scenario's data object, ``start`` EM's start (every parameter, shaped as
    the scenario wants), ``model_options`` the PyMC builder's options (``{"prior": (a, b)}``).
    """

    data: Any = None
    start: dict[str, np.ndarray] | None = None
    model_options: dict[str, Any] = dataclasses.field(default_factory=dict)

    def as_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``emtwin.compare``: only what was chosen."""
        kwargs = {"data": self.data, "start": self.start, "model_options": self.model_options or None}
        return {name: value for name, value in kwargs.items() if value is not None}


def _full_start(sc: Scenario, data: Any, given: Sequence[Mapping[str, list[float]]]) -> dict[str, np.ndarray]:
    """The default start for ``data`` with the given parameters replaced, each reshaped to the
    default's shape when the count of numbers matches (``mu=1,2,3,4`` for a (2, 2) mean)."""
    merged: dict[str, list[float]] = {}
    for part in given:
        twice = sorted(set(part) & set(merged))
        if twice:
            raise DataFileError(f"--start gives {', '.join(twice)} more than once.")
        merged.update(part)
    template = {name: np.asarray(value, dtype=float)
                for name, value in sc.start_for(data if data is not None else sc.make_data(),
                                                data_given=data is not None).items()}
    unknown = [name for name in merged if name not in template]
    if unknown:
        raise DataFileError(
            f"--start names {', '.join(unknown)}, which {sc.name} does not have; its parameters are "
            f"{', '.join(template)} (start now {_shown(template)})."
        )
    start = dict(template)
    for name, numbers in merged.items():
        value = np.asarray(numbers, dtype=float)
        shape = template[name].shape
        start[name] = value.reshape(shape) if value.size == int(np.prod(shape)) else value
    return start


def _shown(params: Mapping[str, np.ndarray]) -> str:
    return "; ".join(f"{name}={','.join(f'{v:g}' for v in np.ravel(value))}" for name, value in params.items())


def choices(args: argparse.Namespace, scenario: str | Scenario | None) -> Choices:
    """The data object, start and model options the command line asked for.

    ``scenario`` is the one scenario run (a registered name or a loaded Scenario), or
    ``None`` for ``--all``, which takes none of these options. Files are read here, so a bad
    one fails before anything runs or is written.
    """
    options = DataOptions(args.column, args.columns, args.k, args.sigma)
    asked = [f"--{name}" for name in ("data", *DATA_OPTIONS, "start", "prior")
             if getattr(args, name) is not None]
    if not asked:
        return Choices()
    if scenario is None:
        raise DataFileError(f"{', '.join(asked)} set{'s' if len(asked) == 1 else ''} up one scenario; "
                            "name it instead of --all.")
    sc = scenario if isinstance(scenario, Scenario) else SCENARIOS[scenario]
    registered = SCENARIOS.get(sc.name) is sc
    data = None
    if args.data is not None or any(getattr(options, name) is not None for name in DATA_OPTIONS):
        if not registered:
            raise DataFileError(f"--data and its options read files for {', '.join(READERS)}; "
                                f"{sc.name} loads its own data in its Python function.")
        data = read_data(sc.name, args.data, options)
    model_options = {}
    if args.prior is not None:
        coin = [s.name for s in SCENARIOS.values() if s.map_is_mle is flat_beta_prior]
        if sc.map_is_mle is not flat_beta_prior:
            raise DataFileError(f"--prior sets the Beta prior of the coin scenarios ({', '.join(coin)}); "
                                f"{sc.name} has no such prior.")
        model_options["prior"] = args.prior
    start = None if args.start is None else _full_start(sc, data, args.start)
    return Choices(data, start, model_options)


def with_choices(scenario: str | Scenario, chosen: Choices) -> str | Scenario:
    """``scenario`` with the chosen data and start as its own: what ``emtwin report`` runs,
    so the table's fits and the refits on these data use them. The model options go to
    the report's settings (``ReportSettings.model_options``), which every fit takes."""
    if chosen.data is None and chosen.start is None:
        return scenario
    sc = SCENARIOS[scenario] if isinstance(scenario, str) else scenario
    changes: dict[str, Any] = {"default_start": chosen.start if chosen.start is not None
                               else sc.start_for(chosen.data, data_given=True)}
    if chosen.data is not None:
        changes["make_data"] = lambda: chosen.data
    return dataclasses.replace(sc, **changes)
