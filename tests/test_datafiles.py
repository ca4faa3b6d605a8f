"""comparisons/datafiles.py: a user's file read into each scenario's data object, and every
bad file refused with one line naming the file, the line and the fix (issue 16)."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from emtwin.comparisons import SCENARIOS, cli, datafiles
from emtwin.comparisons.datafiles import DataFileError, DataOptions, read_data
from emtwin.em_reference import coins as em_coins
from emtwin.em_reference import gaussian_mixture as em_gm
from emtwin.em_reference import interleaved_coins as em_interleaved

FAITHFUL = em_gm.old_faithful()  # (272, 2): eruptions, waiting; read by the package, not by datafiles


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- good files


def test_a_faithful_csv_column_is_the_mixture_data(tmp_path):
    lines = ["eruptions,waiting"] + [f"{e:g},{w:g}" for e, w in FAITHFUL]
    path = _write(tmp_path, "faithful.csv", "\n".join(lines) + "\n")
    data = read_data("gaussian-mixture", path, DataOptions(column="waiting", k=3))
    np.testing.assert_array_equal(data.x, FAITHFUL[:, 1])
    assert data.k == 3
    both = read_data("gaussian-mixture-2d", path, DataOptions(columns=("waiting", "eruptions")))
    np.testing.assert_array_equal(both.x, FAITHFUL[:, ::-1])
    assert (both.k, both.columns) == (2, ("waiting", "eruptions"))


def test_without_data_the_options_apply_to_the_shipped_old_faithful():
    data = read_data("gaussian-mixture", None, DataOptions(column="eruptions", k=3))
    np.testing.assert_array_equal(data.x, FAITHFUL[:, 0])
    assert data.k == 3
    assert read_data("gaussian-mixture", None).x.tolist() == FAITHFUL[:, 1].tolist()


def test_a_single_column_needs_no_column_option_and_spaces_and_a_bom_are_fine(tmp_path):
    path = tmp_path / "z.csv"
    path.write_bytes("\ufeff z \n -1.5 \n\n 0.5\n2\n".encode())
    data = read_data("gaussian-means", path, DataOptions(sigma=0.5, k=3))
    assert data.z.tolist() == [-1.5, 0.5, 2.0]
    assert (data.sigma, data.k) == (0.5, 3)


def test_coin_sets_from_lines_of_h_and_t_and_from_a_heads_tosses_csv(tmp_path):
    # Do & Batzoglou's five sets: 5, 9, 8, 4, 7 heads of 10.
    lines = _write(tmp_path, "sets.txt", "\n".join(em_coins.DO_BATZOGLOU_SETS[:2]) + "\n\n"
                   + "\n".join(s.lower() for s in em_coins.DO_BATZOGLOU_SETS[2:]) + "\n")
    sets = read_data("coin-sets", lines)
    assert sets.heads.tolist() == [5, 9, 8, 4, 7]
    assert sets.tosses.tolist() == [10] * 5
    counts = read_data("coin-sets", _write(tmp_path, "sets.csv", "heads,tosses\n5,10\n9,10\n8,10\n4,10\n7,10\n"))
    assert counts.heads.tolist() == [5, 9, 8, 4, 7]
    assert counts.tosses.tolist() == [10] * 5
    uneven = read_data("coin-sets", _write(tmp_path, "uneven.txt", "H T T\nHHHHH\n"))
    assert (uneven.heads.tolist(), uneven.tosses.tolist()) == ([1, 5], [3, 5])


def test_interleaved_tosses_over_several_lines_are_one_sequence(tmp_path):
    seq = em_interleaved.LECTURE_SEQUENCE
    tosses = read_data("interleaved-coins", _write(tmp_path, "t.txt", f"{seq[:7]}\n{seq[7:]}\n"))
    assert tosses.heads.tolist() == [int(c == "H") for c in seq]
    assert int(tosses.heads.sum()) == 11  # the lecture's 11 heads of 20
    one = read_data("one-coin", _write(tmp_path, "one.txt", "HHTHT\nHHH\n"))
    assert (one.heads, one.tosses) == (6, 8)


# --------------------------------------------------------------------------- bad files

BAD_FILES = [
    # (scenario, file name, contents, options, the whole message with <f> for the path)
    ("gaussian-mixture", "empty.csv", "", DataOptions(column="waiting"),
     "<f> is empty; give a header line naming the columns, then one data row per line."),
    ("gaussian-mixture", "blank.csv", "\n  \n", DataOptions(column="waiting"),
     "<f> is empty; give a header line naming the columns, then one data row per line."),
    ("gaussian-mixture", "header.csv", "eruptions,waiting\n", DataOptions(column="waiting"),
     "<f> has a header (eruptions, waiting) but no data rows."),
    ("gaussian-mixture", "f.csv", "eruptions,waiting\n3.6,79\n", DataOptions(column="wait"),
     "<f> has no column 'wait'; its columns are eruptions, waiting."),
    ("gaussian-mixture-2d", "f.csv", "eruptions,waiting\n3.6,79\n", DataOptions(columns=("eruption", "waiting")),
     "<f> has no column 'eruption'; its columns are eruptions, waiting."),
    ("gaussian-mixture", "f.csv", "eruptions,waiting\n3.6,79\n1.8,54\n", DataOptions(),
     "<f> has 2 columns (eruptions, waiting); choose one with --column."),
    ("gaussian-mixture", "cell.csv", "eruptions,waiting\n3.6,79\n1.8,54\n3.3,7O\n", DataOptions(column="waiting"),
     "<f> line 4, column waiting: '7O' is not a number."),
    ("gaussian-mixture-2d", "gap.csv", "eruptions,waiting\n3.6,79\n,54\n", DataOptions(),
     "<f> line 3, column eruptions: '' is not a number."),
    ("gaussian-mixture", "inf.csv", "waiting\n79\ninf\n", DataOptions(),
     "<f> line 3, column waiting: 'inf' is not a finite number."),
    ("gaussian-mixture", "short.csv", "eruptions,waiting\n3.6,79\n1.8\n", DataOptions(column="waiting"),
     "<f> line 3 has 1 cell; the header names 2 (eruptions, waiting)."),
    ("gaussian-mixture", "noheader.csv", "3.6,79\n1.8,54\n", DataOptions(column="waiting"),
     "<f> line 1 is '3.6,79', data rather than column names; the first line must name the columns, e.g. waiting."),
    ("gaussian-mixture", "twice.csv", "x,x\n1,2\n", DataOptions(column="x"),
     "<f> names column 'x' more than once; give each column its own name."),
    # Four rows but two distinct values: three components cannot be told apart.
    ("gaussian-mixture", "two.csv", "x\n1\n1\n2\n2\n", DataOptions(k=3),
     "<f>: k = 3 components need at least 3 distinct data points; data has 2."),
    ("gaussian-mixture-2d", "two2.csv", "a,b\n1,5\n1,5\n2,6\n", DataOptions(k=3),
     "<f>: k = 3 components need at least 3 distinct data points; data has 2."),
    ("gaussian-means", "two.csv", "x\n1\n1\n2\n2\n", DataOptions(k=3, sigma=1.0),
     "<f>: k = 3 components need at least 3 distinct data points; z has 2 distinct values (1, 2)."),
    ("gaussian-means", "z.csv", "z\n1\n2\n", DataOptions(),
     "gaussian-means fits components of known SD: give it with --sigma (in <f>'s units)."),
    ("coin-sets", "sets.txt", "HTTTHHTHTH\nHHHHTHHHHH\nHTHHXHHTHH\n", DataOptions(),
     "<f> line 3: 'HTHHXHHTHH' contains 'X'; write a set of tosses with H (heads) and T (tails) only."),
    ("coin-sets", "sets.txt", "HTTH\n\nHT1T0\n", DataOptions(),
     "<f> line 3: 'HT1T0' contains '0', '1'; write a set of tosses with H (heads) and T (tails) only."),
    ("interleaved-coins", "t.txt", "HTTHH\nHTHTHX\n", DataOptions(),
     "<f> line 2: 'HTHTHX' contains 'X'; write tosses with H (heads) and T (tails) only."),
    ("coin-sets", "empty.txt", "", DataOptions(),
     "<f> is empty; write tosses as H and T, e.g. HTTHH, one set per line, or a CSV of heads,tosses."),
    ("one-coin", "empty.txt", "\n", DataOptions(),
     "<f> is empty; write tosses as H and T, e.g. HTTHH."),
    ("coin-sets", "counts.csv", "heads,tosses\n5,10\n12,10\n", DataOptions(),
     "<f> line 3: 12 heads in 10 tosses; a set needs at least one toss and between 0 and that many heads."),
    ("coin-sets", "counts.csv", "heads,tosses\n5.5,10\n", DataOptions(),
     "<f> line 2, column heads: 5.5 is not a whole number."),
    ("coin-sets", "counts.csv", "heads,n\n5,10\n", DataOptions(),
     "<f> has no column 'tosses'; its columns are heads, n."),
    ("coin-sets", "counts.csv", "heads,tosses\n", DataOptions(),
     "<f> has a header (heads, tosses) but no data rows."),
]


@pytest.mark.parametrize(("scenario", "name", "text", "options", "message"), BAD_FILES,
                         ids=[f"{s}-{n}-{m[4:30]}" for s, n, _, _, m in BAD_FILES])
def test_a_bad_file_is_one_line_naming_file_line_and_fix(tmp_path, scenario, name, text, options, message):
    path = _write(tmp_path, name, text)
    with pytest.raises(DataFileError) as err:
        read_data(scenario, path, options)
    assert str(err.value) == message.replace("<f>", str(path))


def test_a_missing_file_and_a_folder(tmp_path):
    with pytest.raises(DataFileError) as err:
        read_data("coin-sets", tmp_path / "nope.txt")
    assert str(err.value) == f"{tmp_path / 'nope.txt'}: no such file."
    with pytest.raises(DataFileError) as err:
        read_data("coin-sets", tmp_path)
    assert str(err.value) == f"{tmp_path} is a folder; --data takes a file."


@pytest.mark.parametrize(
    ("scenario", "options", "message"),
    [
        ("coin-sets", DataOptions(k=3), "--k does not apply to coin-sets; its data come from --data alone."),
        ("gaussian-mixture", DataOptions(sigma=1.0, columns=("a", "b")),
         "--columns, --sigma does not apply to gaussian-mixture; its data options are --data and --column, --k."),
        ("gaussian-means", DataOptions(column="z"),
         "--column picks a column of --data FILE; gaussian-means' own data has none."),
    ],
)
def test_an_option_the_scenario_does_not_take(scenario, options, message):
    with pytest.raises(DataFileError) as err:
        read_data(scenario, None, options)
    assert str(err.value) == message


# --------------------------------------------------------------------------- --start and --prior


def test_start_text_parses_to_numbers_per_parameter():
    assert datafiles.parse_start("theta=0.6,0.5") == {"theta": [0.6, 0.5]}
    assert datafiles.parse_start(" weights = 0.3, 0.7 ; mu=55,80; ") == {"weights": [0.3, 0.7], "mu": [55.0, 80.0]}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("theta", "write NAME=NUMBERS, e.g. theta=0.6,0.5; got 'theta'"),
        ("theta=", "write NAME=NUMBERS, e.g. theta=0.6,0.5; got 'theta='"),
        ("theta=0.6,abc", "theta: 'abc' is not a number (in 'theta=0.6,abc')"),
        ("mu=1,2;mu=3,4", "mu is given twice (in 'mu=1,2;mu=3,4')"),
        (";", "write NAME=NUMBERS, e.g. theta=0.6,0.5; got ';'"),
    ],
)
def test_bad_start_text(text, message):
    with pytest.raises(argparse.ArgumentTypeError) as err:
        datafiles.parse_start(text)
    assert str(err.value) == message


@pytest.mark.parametrize("text", ["2", "22", "2,2,2", "0,2", "2,-1", "a,b", "2,inf"])
def test_bad_prior_text(text):
    with pytest.raises(argparse.ArgumentTypeError) as err:
        datafiles.parse_prior(text)
    assert str(err.value) == f"write a,b for Beta(a, b), both > 0, e.g. 2,2; got {text!r}"


def _args(argv):
    return cli._parser().parse_args(argv)


def test_a_partial_start_keeps_the_default_for_the_rest_and_takes_the_default_shapes():
    args = _args(["compare", "gaussian-mixture-2d", "--start", "mu=2,55,4.5,80", "--start", "weights=0.4,0.6"])
    chosen = datafiles.choices(args, "gaussian-mixture-2d")
    default = SCENARIOS["gaussian-mixture-2d"].default_start
    np.testing.assert_array_equal(chosen.start["mu"], [[2.0, 55.0], [4.5, 80.0]])
    np.testing.assert_array_equal(chosen.start["weights"], [0.4, 0.6])
    np.testing.assert_array_equal(chosen.start["cov"], default["cov"])
    assert chosen.data is None and chosen.model_options == {}


def test_a_start_for_your_data_is_shaped_by_your_k(tmp_path):
    path = _write(tmp_path, "z.csv", "z\n-5\n-4\n0\n1\n5\n6\n")
    args = _args(["compare", "gaussian-means", "--data", str(path), "--k", "3", "--sigma", "0.5"])
    chosen = datafiles.choices(args, "gaussian-means")
    assert chosen.start is None and chosen.data.k == 3
    # No --start: the scenario's start for these data, the (j − ½)/k quantiles of z.
    start = SCENARIOS["gaussian-means"].start_for(chosen.data, data_given=True)
    np.testing.assert_allclose(start["mu"], np.quantile([-5, -4, 0, 1, 5, 6], [1 / 6, 1 / 2, 5 / 6]))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["compare", "coin-sets", "--start", "thet=0.6,0.5"],
         "--start names thet, which coin-sets does not have; its parameters are theta (start now theta=0.6,0.5)."),
        (["compare", "coin-sets", "--start", "theta=0.6,0.5", "--start", "theta=0.7,0.4"],
         "--start gives theta more than once."),
        (["compare", "gaussian-mixture", "--prior", "2,2"],
         "--prior sets the Beta prior of the coin scenarios (one-coin, interleaved-coins, coin-sets); "
         "gaussian-mixture has no such prior."),
        (["compare", "--all", "--prior", "2,2", "--k", "3"], "--k, --prior set up one scenario; name it instead of --all."),
    ],
)
def test_knobs_the_scenario_cannot_take(argv, message):
    args = _args(argv)
    with pytest.raises(DataFileError) as err:
        datafiles.choices(args, None if args.all else args.scenario)
    assert str(err.value) == message


def test_with_choices_gives_the_report_your_data_and_start(tmp_path):
    path = _write(tmp_path, "sets.txt", "HHHH\nHHHT\nTTTH\n")
    args = _args(["report", "coin-sets", "--data", str(path), "--start", "theta=0.7,0.2", "--out", "r"])
    sc = datafiles.with_choices("coin-sets", datafiles.choices(args, "coin-sets"))
    assert sc.make_data().heads.tolist() == [4, 3, 1]
    np.testing.assert_array_equal(sc.default_start["theta"], [0.7, 0.2])
    np.testing.assert_array_equal(SCENARIOS["coin-sets"].default_start["theta"], [0.6, 0.5])  # untouched
    assert datafiles.with_choices("coin-sets", datafiles.Choices(model_options={"prior": (2, 2)})) == "coin-sets"


# --------------------------------------------------------------------------- the command line


@pytest.mark.parametrize("command", ["compare", "report"])
def test_a_bad_file_exits_2_with_one_line_and_writes_nothing(command, tmp_path, capsys):
    path = _write(tmp_path, "sets.txt", "HTTH\nHHTTQ\n")
    out = tmp_path / "r"
    argv = [command, "coin-sets", "--data", str(path)] + (["--out", str(out)] if command == "report" else [])
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err == (f"emtwin: error: {path} line 2: 'HHTTQ' contains 'Q'; write a set of tosses "
                            "with H (heads) and T (tails) only.\n")
    assert captured.out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sets.txt"]


def test_a_malformed_start_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["compare", "coin-sets", "--start", "theta=0.6,x"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "emtwin compare: error: argument --start: theta: 'x' is not a number (in 'theta=0.6,x')")
