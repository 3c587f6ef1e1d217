"""Loading, summarising, packing and unpacking data sets of tables (nnlife.analysis)."""

from __future__ import annotations

import math
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import nnlife
from nnlife.analysis import FORMAT_VERSION, learned, load, overview, pack, read_parquet_networks, unpack
from nnlife.cli import main
from nnlife.errors import InputError, TableFormatError
from nnlife.sample import plan
from nnlife.shapes import analyse
from nnlife.spec import DATASETS, make_id
from nnlife.table import Curve, read_table, write_table

REFERENCE = Path(__file__).parent / "fixtures" / "reference"
NEVER_LEARNED = "2021_02_15_13_56_59_917381"


def synthetic_curve(rng: np.random.Generator, classes: int, n: int, learns: bool) -> Curve:
    chance = 100.0 / classes
    t = 0.5 * np.arange(1, n + 1)
    top = rng.uniform(3 * chance, 90.0) if learns else chance
    acc = chance + (top - chance) * (1 - np.exp(-t / 3)) + rng.normal(0, 0.3, n)
    train = math.log(classes) * np.exp(-t / 10 if learns else 0 * t) + rng.uniform(0.01, 0.1, n)
    val = train * 1.1
    return Curve.from_halves(train, val, np.clip(acc, 0, 100))


def make_data_set(root: Path, per_dataset: int = 4, seed: int = 7, datasets=tuple(DATASETS)) -> list[Path]:
    """Tables of real sampled specs with synthetic curves: some learn, some stay at chance,
    some stop early, one diverges (NaN then inf)."""
    rng = np.random.default_rng(seed)
    when = datetime(2030, 1, 1)
    paths = []
    for name in datasets:
        for i, planned in enumerate(plan(name, per_dataset, seed)):
            when += timedelta(seconds=1, microseconds=int(rng.integers(1_000_000)))
            spec = planned.spec().with_run(ID=make_id(when), train_GPU=False, torch_set_deterministic=True)
            n = 80 if i % 3 else int(rng.integers(3, 80))
            curve = synthetic_curve(rng, spec.info.classes, n, learns=i % 2 == 0)
            if name == "SVHN" and i == 1:  # diverges at half epoch 3
                loss = list(curve.valLoss)
                loss[2:] = [math.nan] * (n - 2)
                loss[-1] = math.inf
                curve = Curve.from_halves(curve.trainLoss, loss, curve.valAcc)
            paths.append(write_table(root, spec, curve))
    return paths


def rows_of(path: Path) -> dict[str, list[float]]:
    """The curve columns of a table, straight from its text."""
    lines = path.read_text().splitlines()[1:]
    cols = {"epochs": [], "trainLoss": [], "valLoss": [], "valAcc": []}
    for line in lines:
        fields = line.split(" ")
        for name, value in zip(cols, fields):
            cols[name].append(float(value))
    return cols


def line2(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(zip(lines[0].split(" "), lines[1].split(" ")))


# ---- the reference tables -------------------------------------------------------------


def test_reference_summary_equals_values_from_rows():
    data = load(REFERENCE)
    assert len(data) == 3 and data.n_tables == 3 and data.skipped == ()
    summary = data.summary.set_index("ID")
    for path in sorted(REFERENCE.glob("*.txt")):
        cols = rows_of(path)
        meta = line2(path)
        row = summary.loc[path.stem]
        assert row["dataset"] == "CIFAR100" and row["classes"] == 100
        assert row["n_rows"] == 80 and row["final_epoch"] == 40.0
        for name, best in (("valAcc", max), ("valLoss", min), ("trainLoss", min)):
            values = cols[name]
            assert row[f"{name}_max"] == max(values)
            assert row[f"{name}_min"] == min(values)
            assert row[f"{name}_final"] == values[-1]
            assert row[f"{name}_mean"] == pytest.approx(sum(values) / len(values), rel=1e-13)
            assert row[f"{name}_best_epoch"] == cols["epochs"][values.index(best(values))]
        # hyperparameters as written on line 2, lists as their text
        for name in ("learning_rate", "momentum", "dampening", "weight_decay", "dropout_rate", "FC_dropout_rate"):
            assert row[name] == float(meta[name])
        for name in ("layer_types", "convKernels", "poolKernels", "convFilters", "FC_dropout_layers", "FCFilters"):
            assert row[name] == meta[name]
        assert row["random_seed"] == int(meta["random_seed"]) and row["batch_size"] == int(meta["batch_size"])
        spec = read_table(path).spec
        arith = analyse(spec)
        assert (row["params"], row["flops"]) == (arith.params, arith.flops)
        assert row["n_conv"] == len(meta["layer_types"].split("-"))
        assert row["n_fc"] == len(meta["FCFilters"].split("-"))
        assert not row["diverged"] and math.isnan(row["diverged_epoch"])
    assert summary.loc[NEVER_LEARNED, "learned"] == False  # noqa: E712 (numpy bool)
    assert summary.loc["2021_02_15_13_55_26_539263", "learned"] == True  # noqa: E712
    assert summary.loc["2021_02_15_14_01_32_105932", "learned"] == True  # noqa: E712
    # two values worth seeing in the clear
    assert summary.loc["2021_02_15_13_55_26_539263", "valAcc_final"] == 26.35
    assert summary.loc["2021_02_15_13_55_26_539263", "valAcc_max"] == 28.77
    assert summary.loc["2021_02_15_13_55_26_539263", "valAcc_best_epoch"] == 10.5


def test_long_frame_has_every_row_with_metadata():
    data = load(REFERENCE)
    long = data.long()
    assert list(long.columns) == list(nnlife.table.HEADER_FIELDS)
    assert len(long) == 240
    for path in sorted(REFERENCE.glob("*.txt")):
        part = long[long["ID"] == path.stem]
        cols = rows_of(path)
        for name in ("epochs", "trainLoss", "valLoss", "valAcc"):
            assert part[name].tolist() == cols[name]
        meta = line2(path)
        assert (part["batch_size"] == int(meta["batch_size"])).all()
        assert (part["learning_rate"] == float(meta["learning_rate"])).all()
        assert (part["convFilters"].astype(str) == meta["convFilters"]).all()
        assert (part["train_GPU"] == True).all()  # noqa: E712


# ---- pack and unpack --------------------------------------------------------------------


def non_canonical_table(root: Path) -> Path:
    """A valid table whose text nnlife's writer would not produce: epoch 1.0 written as 1 and
    a learning rate in upper-case exponent form."""
    src = REFERENCE / "2021_02_15_14_01_32_105932.txt"
    lines = src.read_text().split("\n")
    first = lines[1].split(" ")
    first[4] = "2021_02_15_14_01_32_999999"
    first[12] = "7.803497065523131E-1"
    lines[1] = " ".join(first)
    third = lines[2].split(" ")
    assert third[0] == "1.0"
    third[0] = "1"
    lines[2] = " ".join(third)
    out = root / "CIFAR-100_models" / "2021_02_15_14_01_32_999999.txt"
    out.write_text("\n".join(lines))
    return out


@pytest.fixture(scope="module")
def data_set(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    make_data_set(root, per_dataset=5)
    shutil.copytree(REFERENCE, root / "CIFAR-100_models", dirs_exist_ok=True)
    non_canonical_table(root)
    return root


def test_pack_unpack_reproduces_every_table_byte_for_byte(data_set, tmp_path):
    out = tmp_path / "all.parquet"
    packed = pack(data_set, out)
    assert len(packed) == 19 and packed.skipped == ()
    unpacked = tmp_path / "unpacked"
    written = unpack(out, unpacked)
    originals = {p.relative_to(data_set): p.read_bytes() for p in data_set.rglob("*.txt")}
    copies = {p.relative_to(unpacked): p.read_bytes() for p in unpacked.rglob("*.txt")}
    assert len(written) == 19 and len(originals) == 19
    assert copies == originals
    # only the one table nnlife would write differently keeps its text
    raw = pq.read_table(out, columns=["ID", "raw_text"]).to_pylist()
    assert [r["ID"] for r in raw if r["raw_text"] is not None] == ["2021_02_15_14_01_32_999999"]


def test_parquet_is_typed_and_self_describing(data_set, tmp_path):
    out = tmp_path / "all.parquet"
    pack(data_set, out)
    schema = pq.read_schema(out)
    meta = schema.metadata
    assert meta[b"nnlife.version"].decode() == nnlife.__version__
    assert int(meta[b"nnlife.format"]) == FORMAT_VERSION
    assert schema.field("random_seed").type == pa.int64()
    assert schema.field("learning_rate").type == pa.float64()
    assert schema.field("train_GPU").type == pa.bool_()
    assert schema.field("convFilters").type == pa.list_(pa.int64())
    assert schema.field("valAcc").type == pa.list_(pa.float64())
    networks = pq.read_table(out)
    row = networks.filter(pa.compute.equal(networks["ID"], NEVER_LEARNED)).to_pylist()[0]
    assert row["convFilters"] == [190, 306, 383] and row["FCFilters"] == [145, 100]
    assert row["integer_fields"] == ["momentum", "dampening"]  # written as 0 in the table
    assert len(row["valAcc"]) == 80 and row["valAcc"][-1] == 0.9332521809697707


def test_write_parquet_casts_a_table_of_other_types_to_the_same_file(data_set, tmp_path):
    from nnlife.analysis import write_parquet

    packed = pack(data_set, tmp_path / "all.parquet").networks
    i = packed.schema.get_field_index("batch_size")
    narrower = packed.set_column(i, pa.field("batch_size", pa.int32()), packed["batch_size"].cast(pa.int32()))
    assert not narrower.schema.equals(packed.schema)
    write_parquet(narrower, tmp_path / "cast.parquet")
    assert (tmp_path / "cast.parquet").read_bytes() == (tmp_path / "all.parquet").read_bytes()


def test_load_of_parquet_equals_load_of_tables(data_set, tmp_path):
    out = tmp_path / "all.parquet"
    pack(data_set, out)
    from_tables = load(data_set)
    from_parquet = load(out)
    assert from_parquet.n_parquet == 1 and from_parquet.n_tables == 0
    pd.testing.assert_frame_equal(from_tables.summary, from_parquet.summary)
    pd.testing.assert_frame_equal(from_tables.long(), from_parquet.long())
    # a Parquet file is recognised by its content, whatever its name
    renamed = tmp_path / "lifespans.data"
    shutil.copy(out, renamed)
    pd.testing.assert_frame_equal(load(renamed).summary, from_tables.summary)
    # every network comes back as the spec and curve its table holds
    for table in from_parquet.tables():
        original = read_table(table.path)
        assert table.spec == original.spec
        for name in ("epochs", "valAcc", "valLoss", "trainLoss"):  # NaN equals NaN here
            np.testing.assert_array_equal(getattr(table.curve, name), getattr(original.curve, name))
    # tables and Parquet files load together: tables first, then Parquet files
    more = tmp_path / "more"
    make_data_set(more, per_dataset=1, seed=99)
    mixed = load([out, more])
    assert (mixed.n_tables, mixed.n_parquet, len(mixed)) == (3, 1, 22)
    assert mixed.summary["path"].iloc[:3].str.startswith(str(more)).all()


def test_pack_refuses_two_networks_with_one_id(tmp_path):
    root = tmp_path / "twice"
    for sub in ("a", "b"):
        shutil.copytree(REFERENCE, root / sub)
    with pytest.raises(InputError, match=r"expected an ID unique within data set CIFAR100"):
        pack(root, tmp_path / "x.parquet")
    assert not (tmp_path / "x.parquet").exists()


# ---- summaries ------------------------------------------------------------------------


def test_summary_of_diverged_short_and_chance_networks(tmp_path):
    spec = plan("FashionMNIST", 1, 3)[0].spec().with_run(ID="a", train_GPU=False, torch_set_deterministic=False)
    nan, inf = math.nan, math.inf
    # diverges at half epoch 3 (loss NaN, then inf), stopped early after 6 half epochs
    write_table(tmp_path, spec, Curve.from_halves(
        [2.0, 1.5, nan, nan, inf, nan], [2.1, 1.4, 1.6, nan, nan, inf], [30.0, 45.0, 40.0, 10.0, 10.0, 19.99]))
    # exactly twice chance at the end: learned (the rule is >=)
    write_table(tmp_path, spec.with_run(ID="b", train_GPU=False, torch_set_deterministic=False),
                Curve.from_halves([2.3] * 4, [2.3] * 4, [10.0, 25.0, 25.0, 20.0]))
    cifar = plan("CIFAR100", 1, 3)[0].spec().with_run(ID="c", train_GPU=True, torch_set_deterministic=False)
    write_table(tmp_path, cifar, Curve.from_halves([4.6] * 3, [4.6] * 3, [1.0, 1.5, 1.99]))
    # a loss that is never finite, between networks that are
    write_table(tmp_path, cifar.with_run(ID="d", train_GPU=True, torch_set_deterministic=False),
                Curve.from_halves([nan, nan], [4.6, 4.5], [1.0, 2.5]))
    s = load(tmp_path).summary.set_index("ID")

    a = s.loc["a"]
    assert a["n_rows"] == 6 and a["final_epoch"] == 3.0
    assert a["diverged"] and a["diverged_epoch"] == 1.5
    assert a["valLoss_max"] == 2.1 and a["valLoss_min"] == 1.4 and a["valLoss_best_epoch"] == 1.0
    assert a["valLoss_mean"] == pytest.approx((2.1 + 1.4 + 1.6) / 3)
    assert math.isinf(a["valLoss_final"]) and math.isnan(a["trainLoss_final"])
    assert a["trainLoss_min"] == 1.5 and a["trainLoss_best_epoch"] == 1.0
    assert a["valAcc_max"] == 45.0 and a["valAcc_best_epoch"] == 1.0 and a["valAcc_final"] == 19.99
    assert not a["learned"]  # 19.99 < 20 = twice chance on 10 classes

    b = s.loc["b"]
    assert b["learned"] and not b["diverged"] and math.isnan(b["diverged_epoch"])
    assert b["valAcc_best_epoch"] == 1.0  # the first of two equal maxima
    assert b["valLoss_best_epoch"] == 0.5
    c = s.loc["c"]
    assert not c["learned"] and c["classes"] == 100 and c["dataset"] == "CIFAR100"
    assert c["valAcc_best_epoch"] == 1.5 and c["valLoss_best_epoch"] == 0.5
    d = s.loc["d"]
    assert d["diverged"] and d["diverged_epoch"] == 0.5 and d["learned"]
    for key in ("max", "min", "mean", "final", "best_epoch"):
        assert math.isnan(d[f"trainLoss_{key}"])
    # the same rule on single values, as the benchmarks use it
    assert learned(20.0, 10) and not learned(19.99, 10) and not learned(math.nan, 10)
    assert learned(2.0, 100) and not learned(1.99, 100) and not learned(math.inf, 100)
    assert d["valLoss_best_epoch"] == 1.0 and d["valAcc_best_epoch"] == 1.0


def test_structure_columns(tmp_path):
    paths = make_data_set(tmp_path, per_dataset=10, datasets=("SVHN",))
    s = load(tmp_path).summary.set_index("ID")
    for path in paths:
        spec = read_table(path).spec
        row = s.loc[spec.ID]
        assert row["n_conv"] == spec.n_conv and row["n_fc"] == spec.n_fc
        assert row["n_pool"] == len(spec.poolKernels)
        assert row["n_relu"] == sum(1 for c in spec.layer_types if c & 1)
        assert row["n_conv_dropout"] == sum(1 for c in spec.layer_types if c & 4)
        assert row["n_fc_dropout"] == sum(spec.FC_dropout_layers)
        assert row["conv_filters_max"] == max(spec.convFilters)
        assert row["conv_filters_total"] == sum(spec.convFilters)
        assert row["flatten_features"] == analyse(spec).flatten_features
        assert row["n_rows"] == len(read_table(path).curve)


# ---- malformed tables ----------------------------------------------------------------


def corrupt(path: Path, line: int, column: int, value: str) -> None:
    lines = path.read_text().split("\n")
    fields = lines[line - 1].split(" ")
    fields[column] = value
    lines[line - 1] = " ".join(fields)
    path.write_text("\n".join(lines))


@pytest.fixture()
def with_bad_tables(tmp_path) -> tuple[Path, dict[str, tuple[int | None, str | None]]]:
    root = tmp_path / "mixed"
    paths = make_data_set(root, per_dataset=3)
    bad: dict[str, tuple[int | None, str | None]] = {}
    corrupt(paths[0], 7, 3, "abc")
    bad[str(paths[0])] = (7, "valAcc")
    corrupt(paths[3], 2, 9, "-5")  # batch_size
    bad[str(paths[3])] = (2, "batch_size")
    corrupt(paths[4], 1, 2, "val_loss")
    bad[str(paths[4])] = (1, "valLoss")
    widths = line2(paths[6])["FCFilters"].split("-")
    corrupt(paths[6], 2, 27, "-".join(widths[:-1] + ["99"]))  # must end in the classes (10)
    bad[str(paths[6])] = (2, "FCFilters")
    paths[7].write_bytes(paths[7].read_bytes().replace(b"False", b"Fals\xe9", 1))
    bad[str(paths[7])] = (2, None)
    paths[8].write_text("")
    bad[str(paths[8])] = (None, None)
    return root, bad


def test_malformed_tables_are_named_and_skipped(with_bad_tables):
    root, bad = with_bad_tables
    data = load(root)
    assert len(data) == 9 - len(bad) and data.n_tables == 9 - len(bad)
    assert {s.path for s in data.skipped} == set(bad)
    for s in data.skipped:
        assert (s.line, s.field) == bad[s.path]
        assert s.message.startswith(s.path)
    assert not set(data.summary["path"]) & set(bad)


def test_strict_load_stops_at_the_first_malformed_table(with_bad_tables):
    root, bad = with_bad_tables
    first = sorted(bad)[0]
    with pytest.raises(TableFormatError) as err:
        load(root, strict=True)
    assert err.value.path == first and (err.value.line, err.value.field) == bad[first]


def test_parallel_load_equals_serial(with_bad_tables):
    root, bad = with_bad_tables
    serial = load(root, workers=1)
    parallel = load(root, workers=2, chunk_size=2)
    pd.testing.assert_frame_equal(serial.summary, parallel.summary)
    assert parallel.skipped == serial.skipped
    with pytest.raises(TableFormatError) as err:
        load(root, workers=2, chunk_size=2, strict=True)
    assert err.value.path == sorted(bad)[0]


def test_cli_load_reports_skipped_tables(with_bad_tables, capsys, tmp_path):
    root, bad = with_bad_tables
    csv = tmp_path / "summary.csv"
    assert main(["load", str(root), "--csv", str(csv)]) == 0
    out, err = capsys.readouterr()
    assert "loaded 3 networks from 3 tables" in out
    assert f"skipped {len(bad)} malformed tables" in out
    assert sorted(line.split(":")[0].removeprefix("skipped ") for line in err.splitlines()) == sorted(bad)
    table = pd.read_csv(csv)
    assert len(table) == 3 and {"ID", "params", "flops", "valAcc_best_epoch", "learned"} <= set(table.columns)

    assert main(["load", str(root), "--strict"]) == 2
    out, err = capsys.readouterr()
    first = sorted(bad)[0]
    line, field = bad[first]
    assert err.count("\n") == 1
    assert err.startswith(f"nnlife load: error: {first}:{line}: field '{field}': expected")


def test_hidden_files_records_and_repeats_are_ignored(tmp_path):
    make_data_set(tmp_path, per_dataset=2, datasets=("FashionMNIST",))
    models = tmp_path / "FashionMNIST_models"
    (models / ".nnlife-tmp-abc.txt").write_text("half a table")
    (tmp_path / "FashionMNIST_records").mkdir()
    (tmp_path / "FashionMNIST_records" / "x.json").write_text("{}")
    (tmp_path / "campaign.json").write_text("{}")
    data = load([tmp_path, models])
    assert len(data) == 2 and data.skipped == ()


# ---- the command line ----------------------------------------------------------------


def test_cli_pack_unpack_and_load_parquet(data_set, tmp_path, capsys):
    out = tmp_path / "d.parquet"
    assert main(["pack", str(data_set), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "packed 19 networks from 19 tables" in text and "skipped 0 malformed tables" in text
    assert main(["load", str(out), "--csv", str(tmp_path / "s.csv")]) == 0
    text = capsys.readouterr().out
    assert "loaded 19 networks from 0 tables and 1 Parquet file" in text
    assert "CIFAR100" in text and "FashionMNIST" in text and "SVHN" in text
    assert len(pd.read_csv(tmp_path / "s.csv")) == 19
    assert main(["unpack", str(out), "--out", str(tmp_path / "u")]) == 0
    assert "wrote 19 tables" in capsys.readouterr().out
    assert len(list((tmp_path / "u").rglob("*.txt"))) == 19


def test_cli_rejects_bad_inputs_in_one_line(tmp_path, capsys):
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"PAR1 not really")
    foreign = tmp_path / "foreign.parquet"
    pq.write_table(pa.table({"x": [1, 2]}), foreign)
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (["load", str(garbage)], f"{garbage}: not a readable Parquet file"),
        (["load", str(foreign)], "no 'nnlife.format'"),
        (["unpack", str(foreign), "--out", str(tmp_path / "u")], "no 'nnlife.format'"),
        (["load", str(empty)], "no tables (*.txt) or Parquet files found"),
        (["load", str(tmp_path / "missing")], "no such file or directory"),
        (["pack", str(REFERENCE), "--out", str(tmp_path)], "is a directory"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, (argv, err)
    with pytest.raises(SystemExit) as exit_:
        main(["load", str(REFERENCE), "--workers", "0"])
    assert exit_.value.code == 2


def test_parquet_with_a_wrong_column_type_is_refused(tmp_path):
    out = tmp_path / "r.parquet"
    pack(REFERENCE, out)
    table = pq.read_table(out)
    i = table.schema.get_field_index("batch_size")
    bad = table.set_column(i, "batch_size", pa.compute.cast(table["batch_size"], pa.float64()))
    pq.write_table(bad, tmp_path / "bad.parquet")
    with pytest.raises(InputError, match=r"column 'batch_size': expected type int64, got double"):
        read_parquet_networks(tmp_path / "bad.parquet")


def test_overview_equals_pandas_on_every_kind_of_network(tmp_path):
    """overview (numpy, no pandas needed for `nnlife load`) gives what pandas' NaN-skipping
    median, mean and max give, also with NaN and inf."""
    make_data_set(tmp_path, per_dataset=7)
    spec = plan("CIFAR100", 1, 4)[0].spec()
    nan, inf = math.nan, math.inf
    for i, acc in enumerate(([1.0, nan], [2.0, inf], [nan, nan])):
        write_table(tmp_path, spec.with_run(ID=f"x{i}", train_GPU=False, torch_set_deterministic=False),
                    Curve.from_halves([1.0, 1.0], [1.0, 1.0], acc))
    summary = load(tmp_path).summary
    table = overview(summary)
    for row in table.itertuples(index=False):
        part = summary[summary["dataset"] == row.dataset]
        assert row.networks == len(part) and row.learned == part["learned"].sum()
        assert row.diverged == part["diverged"].sum()
        for got, want in ((row.valAcc_final_median, part["valAcc_final"].median()),
                          (row.valAcc_final_mean, part["valAcc_final"].mean()),
                          (row.valAcc_max, part["valAcc_max"].max()),
                          (row.params_median, part["params"].median())):
            assert got == want or (math.isnan(got) and math.isnan(want))
        assert (row.n_rows_min, row.n_rows_max) == (part["n_rows"].min(), part["n_rows"].max())
    assert table["dataset"].tolist() == ["FashionMNIST", "CIFAR100", "SVHN"]
    assert math.isinf(table.set_index("dataset").loc["CIFAR100", "valAcc_final_mean"])


# ---- the summary as CSV without pandas -------------------------------------------------


def test_summary_csv_is_the_bytes_pandas_writes(data_set, tmp_path):
    """`nnlife load --csv` writes the summary without pandas: the same bytes as to_csv, with
    NaN, inf, records of repeats and every kind of network."""
    import json

    root = tmp_path / "d"
    shutil.copytree(data_set, root)
    first = sorted((root / "SVHN_models").glob("*.txt"))[:2]
    (root / "SVHN_records").mkdir()
    (root / "SVHN_records" / f"{first[1].stem}.json").write_text(
        json.dumps({"ID": first[1].stem, "network": first[0].stem, "repeat": 1}))
    data = load(root)
    assert data.summary["diverged"].any() and data.summary["repeat"].max() == 1
    ours, theirs = tmp_path / "ours.csv", tmp_path / "theirs.csv"
    data.write_summary_csv(ours)
    data.summary.to_csv(theirs, index=False)
    assert ours.read_bytes() == theirs.read_bytes()
    assert main(["load", str(root), "--csv", str(tmp_path / "cli.csv")]) == 0
    assert (tmp_path / "cli.csv").read_bytes() == theirs.read_bytes()


def test_write_csv_follows_pandas_on_odd_values(tmp_path):
    from nnlife.analysis import write_csv

    rng = np.random.default_rng(5)
    bits = rng.integers(0, 2**64, size=20_000, dtype=np.uint64).view(np.float64)
    odd = [math.nan, math.inf, -math.inf, -0.0, 0.0, 1e16, 9999999999999998.0, 1e-4, 9.999e-5, 5e-324, 1e22, 0.1 + 0.2]
    floats = np.concatenate([bits, odd, rng.random(1000) * 100])
    n = len(floats)
    with np.errstate(over="ignore", invalid="ignore"):
        narrow = floats.astype(np.float32)
    texts = ["plain", "a,b", 'say "x"', "two\nlines", "cr\rhere", "", " lead", "ünï", "semi;colon"]
    columns = {
        "ID": np.array([texts[i % len(texts)] for i in range(n)], dtype=object),
        "f": floats,
        "f32": narrow,
        "i": rng.integers(-2**63, 2**63 - 1, size=n, dtype=np.int64),
        "b": rng.random(n) < 0.5,
        "u": np.array([texts[(i + 3) % len(texts)] for i in range(n)], dtype=str),
        "maybe": np.array([None if i % 7 == 0 else "x" for i in range(n)], dtype=object),
    }
    ours, theirs = tmp_path / "ours.csv", tmp_path / "theirs.csv"
    write_csv(columns, ours)
    pd.DataFrame(columns).to_csv(theirs, index=False)
    assert ours.read_bytes() == theirs.read_bytes()
    # without a text that needs quotes (the lines are then joined without the csv module)
    plain = ["plain", "", " lead", "ünï", "semi;colon", "x-y_z.txt"]
    columns["ID"] = np.array([plain[i % len(plain)] for i in range(n)], dtype=object)
    columns["u"] = np.array([plain[(i + 1) % len(plain)] for i in range(n)], dtype=str)
    columns["maybe"] = np.array([None if i % 7 == 0 else "x" for i in range(n)], dtype=object)
    write_csv(columns, ours)
    pd.DataFrame(columns).to_csv(theirs, index=False)
    assert ours.read_bytes() == theirs.read_bytes()
    del columns["maybe"]
    write_csv(columns, ours)
    pd.DataFrame(columns).to_csv(theirs, index=False)
    assert ours.read_bytes() == theirs.read_bytes()
    empty = {name: values[:0] for name, values in columns.items()}
    write_csv(empty, ours)
    pd.DataFrame(empty).to_csv(theirs, index=False)
    assert ours.read_bytes() == theirs.read_bytes()


def test_curve_metrics_are_the_same_in_blocks(tmp_path, monkeypatch):
    """curve_stats works through blocks of networks (buffers made once): any block size, a
    network longer than a block included, gives the same metrics."""
    import nnlife.analysis as analysis

    make_data_set(tmp_path, per_dataset=6)
    spec = plan("CIFAR100", 1, 4)[0].spec()
    nan, inf = math.nan, math.inf
    for i, acc in enumerate(([1.0, nan], [2.0, inf], [nan, nan], [-inf, 3.0, 3.0])):
        write_table(tmp_path, spec.with_run(ID=f"x{i}", train_GPU=False, torch_set_deterministic=False),
                    Curve.from_halves([1.0] * len(acc), [nan] + [1.0] * (len(acc) - 1), acc))
    networks = load(tmp_path).networks
    whole = analysis.summary_columns(networks)
    for block in (1, 2, 7, 50):
        monkeypatch.setattr(analysis, "_STATS_BLOCK", block)
        parts = analysis.summary_columns(networks)
        for name, values in whole.items():
            if values.dtype.kind == "f":
                assert np.array_equal(values, parts[name], equal_nan=True), (block, name)
            else:
                assert np.array_equal(values, parts[name]), (block, name)
    assert whole["diverged"].sum() >= 5 and np.isnan(whole["valAcc_max"]).any()
