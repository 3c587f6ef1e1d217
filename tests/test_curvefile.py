"""Curve files (CSV and Parquet): round trips with `nnlife curves`, any even spacing, and one
exact line for every malformed file."""

import math
import warnings
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nnlife.cli import main
from nnlife.curvefile import read_curve_file, write_curve_file
from nnlife.errors import InputError, InputWarning
from nnlife.predict import load_curves, run_methods, simulate
from nnlife.table import read_table

from conftest import REFERENCE_IDS


def _run(args, capsys):
    try:
        status = main(args)
    except SystemExit as exit:
        status = exit.code
    return status, capsys.readouterr()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_round_trip_through_nnlife_curves(suffix, reference_dir, tmp_path, capsys):
    out = tmp_path / f"curves{suffix}"
    status, cap = _run(["curves", str(reference_dir), "--out", str(out)], capsys)
    assert status == 0 and cap.out == f"wrote 3 curves (240 rows) to {out}\n"
    curves = read_curve_file(out)
    assert [c.ID for c in curves] == list(REFERENCE_IDS)
    for c in curves:
        table = read_table(reference_dir / f"{c.ID}.txt")
        assert c.curve == table.curve  # every float back exactly (repr / float64)
        assert c.spec is None and c.source == str(out)
    if suffix == ".csv":
        lines = out.read_text().splitlines()
        assert lines[0] == "id,epoch,valAcc,valLoss,trainLoss"
        assert lines[1] == "2021_02_15_13_55_26_539263,0.5,9.68,3.8971090102730845,4.253769808530808"
    # exported again from the curve file: the same bytes (CSV) / the same curves (Parquet)
    again = tmp_path / f"again{suffix}"
    assert _run(["curves", str(out), "--out", str(again)], capsys)[0] == 0
    if suffix == ".csv":
        assert again.read_bytes() == out.read_bytes()
    assert [c.curve for c in read_curve_file(again)] == [c.curve for c in curves]
    if suffix == ".parquet":
        return
    # a curve file predicts exactly as the tables do
    from_file = run_methods(curves, ["penguin"], 20, workers=1)["penguin"]
    from_tables = run_methods(load_curves([reference_dir]), ["penguin"], 20, workers=1)["penguin"]
    assert from_file == from_tables
    assert [o.stop_epoch for o in from_file] == [4.0, 3.0, 8.5]


def test_parquet_pack_is_read_with_its_specs(reference_dir, tmp_path, capsys):
    pack = tmp_path / "pack.parquet"
    assert _run(["pack", str(reference_dir), "--out", str(pack)], capsys)[0] == 0
    curves = load_curves([pack])
    assert [c.ID for c in curves] == list(REFERENCE_IDS)
    assert all(c.spec is not None and c.spec.dataset == "CIFAR100" for c in curves)
    tables = load_curves([reference_dir])
    assert [c.curve for c in curves] == [t.curve for t in tables]


def test_directories_without_tables(reference_dir, tmp_path, capsys):
    """A directory without tables adds no curve; with nothing else given, one line naming
    every path and exit 2 (the loader's own "no tables" is not what the user sees)."""
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "notes.md").write_text("not a table\n")
    with pytest.raises(InputError, match=r"^no curves \(tables \*\.txt, Parquet packs or curve files\) under .*empty$"):
        load_curves([empty])
    # beside a directory of tables: exactly the tables' curves, in order
    both = load_curves([empty, reference_dir])
    assert [c.ID for c in both] == list(REFERENCE_IDS)
    assert [c.source for c in both] == [c.source for c in load_curves([reference_dir])]
    code, (_, err) = _run(["evaluate", str(empty), "--target-epoch", "20"], capsys)
    assert code == 2 and err.count("\n") == 1 and "no curves" in err and str(empty) in err


def _respaced(table, step, first=None):
    """The table's rows as a curve file measured every ``step`` epochs (same values), the first
    at epoch ``first`` (default ``step``)."""
    c = table.curve
    first = step if first is None else first
    lines = ["id,epoch,valAcc,valLoss,trainLoss,note"]
    for i, row in enumerate(zip(c.valAcc, c.valLoss, c.trainLoss)):
        lines.append(",".join([table.spec.ID, repr(first + step * i), *map(repr, row), "ignored"]))
    return "\n".join(lines) + "\n"


def test_epochs_counted_from_zero(reference_paths, tmp_path):
    # Logs that count epochs from 0: the same curve labelled 0, 1, 2, ... and 1, 2, 3, ... gets
    # the same decisions at the same point (methods fit on the point index; triage's test comes
    # at the third point either way), one epoch earlier by the labels
    for path in reference_paths:
        table = read_table(path)
        zero, one = tmp_path / "zero.csv", tmp_path / "one.csv"
        zero.write_text(_respaced(table, 1.0, first=0.0))
        one.write_text(_respaced(table, 1.0))
        [z], [o] = read_curve_file(zero), read_curve_file(one)
        assert z.curve.epochs[:3] == (0.0, 1.0, 2.0)
        for m in ("penguin", "menndl", "ensemble", "triage", "pow3"):
            got, ref = simulate(m, z, 19), simulate(m, o, 20)  # both the 20th point
            assert got.converged == ref.converged and got.predicted == ref.predicted, m
            assert got.lower == ref.lower and got.upper == ref.upper and got.actual == ref.actual, m
            assert (got.stop_epoch is None) == (ref.stop_epoch is None), m
            if got.stop_epoch is not None:
                assert got.stop_epoch == ref.stop_epoch - 1, m


@pytest.mark.parametrize("step", [0.5, 1.0, 5.0])
def test_any_spacing_x_is_the_point_index(step, reference_paths, tmp_path):
    # The same values measured every `step` epochs: methods fit on the point index, so PENGUIN
    # decides the same at the same point; triage's test comes at the third point on all three
    # (epoch 1.5, 3 and 15), so it stops the never-learning network at the same point too.
    for path, methods in zip(reference_paths[:2], (["penguin"], ["penguin", "triage"])):
        table = read_table(path)
        f = tmp_path / f"{table.spec.ID}-{step}.csv"
        f.write_text(_respaced(table, step))
        [curve] = read_curve_file(f)
        assert curve.spacing == step
        target = 40 * step  # the 40th point: epoch 20 of the table
        for m in methods:
            got, ref = simulate(m, curve, target), simulate(m, table, 20)
            assert got.converged == ref.converged and got.predicted == ref.predicted, m
            assert got.lower == ref.lower and got.upper == ref.upper, m
            assert got.stop_epoch == ref.stop_epoch * 2 * step and got.actual == ref.actual, m


def test_menndl_patience_is_in_the_files_epoch_units():
    # 10 epochs without a new minimum training loss: 20 rows of a table, 10 every epoch, 2 every 5
    for step, rows in [(0.5, 20), (1.0, 10), (5.0, 2)]:
        n = 60
        epochs = [step * (i + 1) for i in range(n)]
        loss = [2.0 - 0.01 * i if i < 5 else 1.95 for i in range(n)]  # last new minimum at row 6 (index 5)
        out = simulate("menndl", (epochs, [10.0] * n, loss), epochs[-1])
        assert out.converged and out.stop_epoch == epochs[5 + rows], step


def _curve_text(rows):
    return "id,epoch,valAcc,valLoss\n" + "".join(f"{r}\n" for r in rows)


GOOD = ["a,1,10.0,2.3", "a,2,11.0,2.2", "a,3,12.0,2.1"]


@pytest.mark.parametrize(
    "body,line,message",
    [
        ("id,epoch,valLoss\na,1,2.3\n", None, "line 1: column 'valAcc': expected the columns id, epoch, valAcc in the header, got no such column"),
        (_curve_text(["a,1,10.0,2.3", "a,3,11.0,2.2", "a,2,12.0,2.1"]), 4,
         "line 4: column 'epoch': expected strictly increasing epochs for id 'a', got 2 after 3"),
        (_curve_text(["a,1,10.0,2.3", "a,2,11.0,2.2", "a,4,12.0,2.1"]), 4,
         "line 4: column 'epoch': expected evenly spaced epochs for id 'a' (every 1: 3 after 2), got 4"),
        (_curve_text(["a,1,10.0,2.3", "a,2,ten,2.2"]), 3, "line 3: column 'valAcc': expected a number, got 'ten'"),
        (_curve_text(["a,1,10.0,2.3", "a,2,11.0,low"]), 3, "line 3: column 'valLoss': expected a number, got 'low'"),
        (_curve_text(["a,1,10.0,2.3", "b,1,10.0,2.3", "a,1,11.0,2.2"]), 4,
         "line 4: column 'epoch': expected one row per epoch of id 'a', got epoch 1 again"),
        (_curve_text(["a,-1,10.0,2.3"]), 2, "line 2: column 'epoch': expected a finite number >= 0, got '-1'"),
        (_curve_text(["a,1,,2.3"]), 2, "line 2: column 'valAcc': expected a number, got an empty field"),
        (_curve_text([",1,10.0,2.3"]), 2, "line 2: column 'id': expected a non-empty id, got an empty field"),
        (_curve_text(["a,1,10.0"]), 2, "line 2: expected 4 comma-separated fields as in the header, got 3"),
        ("id,epoch,valAcc\n", None, "expected at least one row of measurements, got a header only"),
    ],
)
def test_malformed_curve_file_is_one_exact_line_and_exit_2(body, line, message, tmp_path, capsys):
    f = tmp_path / "bad.csv"
    f.write_text(body)
    with pytest.raises(InputError) as err:
        read_curve_file(f)
    assert str(err.value) == f"{f}: {message}"
    status, cap = _run(["evaluate", str(f), "--methods", "last"], capsys)
    assert status == 2 and cap.err == f"nnlife evaluate: error: {f}: {message}\n"


def test_malformed_parquet_names_the_row(tmp_path):
    f = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"id": ["a", "a", "a"], "epoch": [1.0, 2.0, 2.5], "valAcc": [1.0, 2.0, 3.0]}), f)
    with pytest.raises(InputError) as err:
        read_curve_file(f)
    assert str(err.value) == f"{f}: row 3: column 'epoch': expected evenly spaced epochs for id 'a' (every 1: 3 after 2), got 2.5"
    pq.write_table(pa.table({"id": ["a"], "epoch": [1.0], "valAcc": ["x"]}), f)
    with pytest.raises(InputError, match=r"row 1: column 'valAcc': expected a number, got 'x'"):
        read_curve_file(f)


def test_target_not_an_epoch_of_the_file(tmp_path, capsys):
    f = tmp_path / "c.csv"
    f.write_text(_curve_text(GOOD + ["b,5,10.0,2.3", "b,10,11.0,2.2"]))
    curves = read_curve_file(f)
    assert [c.ID for c in curves] == ["a", "b"] and curves[1].spacing == 5
    assert simulate("last", curves[1], 20).actual is None  # on the grid, past the curve's end
    message = f"{f}: line 5: target epoch 7: not an epoch of curve 'b' (epochs 5, 10, ... every 5)"
    with pytest.raises(InputError) as err:
        run_methods(curves, ["last"], 7, workers=1)
    assert str(err.value) == message
    status, cap = _run(["predict", str(f), "--method", "last", "--target-epoch", "7"], capsys)
    assert status == 2 and cap.err == f"nnlife predict: error: {message}\n"


def test_decimal_spacing_and_interleaved_ids(tmp_path):
    f = tmp_path / "c.csv"
    rows = []
    for i in range(1, 31):  # epochs 0.1 .. 3.0, not exact in binary; ids interleaved
        rows += [f"x,{i / 10!r},{50 - 40 * 0.9 ** i!r},", f"y,{i / 10!r},{20.0!r},"]
    f.write_text(_curve_text(rows))
    x, y = read_curve_file(f)
    assert len(x.curve) == len(y.curve) == 30 and math.isnan(x.curve.valLoss[0])
    out = simulate("best_so_far", x, 2.0, budget=0.5)
    assert out.stop_epoch == 1.0 and out.actual == x.curve.valAcc[19]


def test_write_curve_file_refuses_bad_names(tmp_path, reference_dir):
    curves = load_curves([reference_dir])
    with pytest.raises(InputError, match="expected a file name ending in .csv or .parquet"):
        write_curve_file(curves, tmp_path / "c.txt")
    with pytest.raises(InputError, match="does not exist"):
        write_curve_file(curves, tmp_path / "no" / "c.csv")


def test_cli_curves_from_a_subprocess(reference_dir, tmp_path):
    out = tmp_path / "c.parquet"
    done = subprocess.run([sys.executable, "-m", "nnlife", "curves", str(reference_dir), "--out", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert pq.read_table(out).column_names == ["id", "epoch", "valAcc", "valLoss", "trainLoss"]
    assert pq.read_table(out).num_rows == 240


def test_accuracies_that_look_like_fractions_are_one_warning_line(tmp_path, capsys):
    f = tmp_path / "frac.csv"
    rows = [f"a,{e},{0.5 + 0.01 * e!r}," for e in range(1, 11)]
    f.write_text(_curve_text(rows))
    with pytest.warns(InputWarning, match=r"column 'valAcc': every value is at most 1 \(largest 0.6\)"):
        curves = read_curve_file(f)
    assert curves[0].curve.valAcc[0] == 0.51  # read as given, in percent
    status, cap = _run(["predict", str(f), "--method", "last", "--target-epoch", "10"], capsys)
    warning = (f"nnlife predict: warning: {f}: column 'valAcc': every value is at most 1 (largest 0.6); it is read "
               f"as percent (0-100), so if these are fractions, multiply them by 100\n")
    assert status == 0 and cap.err == warning and cap.out.startswith("ID")
    # percent, or nothing above 0 (a curve of zeros), is no warning
    for acc in (50.0, 0.0):
        g = tmp_path / f"ok{acc}.csv"
        g.write_text(_curve_text([f"a,{e},{acc!r}," for e in range(1, 11)]))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            read_curve_file(g)


def test_per_epoch_view_keeps_the_whole_epochs(reference_dir, reference_paths, tmp_path):
    # benchmarks/per_epoch_view.py: the published tables seen as per-epoch curves of 25 epochs
    out = tmp_path / "pe.csv"
    script = str(Path(__file__).parent.parent / "benchmarks" / "per_epoch_view.py")
    r = subprocess.run([sys.executable, script, str(reference_dir), "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("3 curves, whole epochs 1 to 25")
    got = {c.ID: c.curve for c in read_curve_file(out)}
    for p in reference_paths:
        t = read_table(p)
        c = got[t.spec.ID]
        assert c.epochs == tuple(float(e) for e in range(1, 26))
        assert c.valAcc == t.curve.valAcc[1:50:2] and c.valLoss == t.curve.valLoss[1:50:2]
        assert c.trainLoss == t.curve.trainLoss[1:50:2]
    bad = subprocess.run([sys.executable, script, str(tmp_path / "none"), "--out", str(tmp_path / "x.csv")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
