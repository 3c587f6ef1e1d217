"""The bulk reader of `load` (nnlife.table.read_bulk and the vectorised spec checks of
nnlife.analysis) against the exact per-table reader (nnlife.table.read_table): same values, bit
for bit, on every kind of table; what the bulk reader is unsure of goes to the exact reader."""

from __future__ import annotations

import gc
import math
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnlife.analysis import _read_chunk, _read_exact, _specs_bulk, load, pack, unpack
from nnlife.sample import plan
from nnlife.spec import DATASETS, make_id
from nnlife.table import Curve, read_bulk, write_table

REFERENCE = Path(__file__).parent / "fixtures" / "reference"
GROUPS = ("strings", "string_lengths", "ints", "bools", "floats", "lists", "lengths", "curves", "other")


def assert_same(paths: list[Path], keep_text: bool) -> dict:
    """The bulk path (_read_chunk) and the exact reader give the same chunk, bit for bit."""
    paths = [str(p) for p in paths]
    fast = _read_chunk(paths, keep_text)
    exact, _ = _read_exact(paths, keep_text)
    assert fast["rows"] == exact["rows"] and fast["count"] == len(paths)
    for group in GROUPS:
        assert fast[group].keys() == exact[group].keys()
        for name, want in exact[group].items():
            got = fast[group][name]
            assert got.dtype == want.dtype, (group, name)
            if want.dtype.kind == "f":  # NaN equals NaN, and the sign of zero counts
                assert np.array_equal(got, want, equal_nan=True), (group, name)
                assert np.array_equal(np.signbit(got), np.signbit(want)), (group, name)
            else:
                assert np.array_equal(got, want), (group, name)
    assert fast["raw"] == exact["raw"]
    assert [(s.path, s.line, s.field, s.message) for s in fast["skipped"]] == [
        (s.path, s.line, s.field, s.message) for s in exact["skipped"]
    ]
    return fast


def curve_of(kind: str, rng: np.random.Generator, classes: int) -> Curve:
    """A curve of each kind the data sets hold."""
    n = 80
    t = 0.5 * np.arange(1, n + 1)
    chance = 100.0 / classes
    if kind == "learning":
        acc = chance + (80 - chance) * (1 - np.exp(-t / 4)) + rng.normal(0, 0.3, n)
        train = math.log(classes) * np.exp(-t / 10) + rng.uniform(0.01, 0.1, n)
        return Curve.from_halves(train, train * 1.1, np.clip(acc, 0, 100))
    if kind == "flat":
        return Curve.from_halves([math.log(classes)] * n, [2.302585092994046] * n, [chance] * n)
    if kind == "nan_inf":
        train = [2.0, 1.5] + [math.nan] * (n - 3) + [math.inf]
        val = [2.1, -math.inf] + [math.nan] * (n - 2)
        return Curve.from_halves(train, val, [10.0] * n)
    if kind == "early_stopped":
        m = int(rng.integers(1, 20))
        return Curve.from_halves(rng.uniform(0, 3, m), rng.uniform(0, 3, m), rng.uniform(0, 100, m))
    if kind == "integers":  # integer-valued floats: written 2.0, 100.0, 0.0
        return Curve.from_halves([2.0] * n, [0.0] * n, [float(i % 101) for i in range(n)])
    if kind == "exponents":  # written 1e-05, 4.877743709660678e-05, 1.5e+16, 5e-324
        values = [1e-05, 4.877743709660678e-05, 1.5e16, 5e-324, 1.7976931348623157e308, 1e22, 1e-7]
        return Curve.from_halves((values * 12)[:n], (values[::-1] * 12)[:n], [1e-05] * n)
    raise AssertionError(kind)


KINDS = ("learning", "flat", "nan_inf", "early_stopped", "integers", "exponents")


def write_kinds(root: Path, per_kind: int = 2, seed: int = 5) -> list[Path]:
    rng = np.random.default_rng(seed)
    when = datetime(2031, 1, 1)
    paths = []
    for name in DATASETS:
        for i, planned in enumerate(plan(name, per_kind * len(KINDS), seed)):
            when += timedelta(seconds=1, microseconds=int(rng.integers(1_000_000)))
            spec = planned.spec().with_run(ID=make_id(when), train_GPU=i % 2 == 0, torch_set_deterministic=i % 3 == 0)
            paths.append(write_table(root, spec, curve_of(KINDS[i % len(KINDS)], rng, spec.info.classes)))
    return paths


@pytest.fixture(scope="module")
def kinds(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kinds")
    write_kinds(root)
    shutil.copytree(REFERENCE, root / "CIFAR-100_models", dirs_exist_ok=True)
    return root


def test_bulk_reads_every_kind_of_curve_as_the_exact_reader(kinds):
    paths = sorted(kinds.rglob("*.txt"))
    assert len(paths) == 3 * 2 * len(KINDS) + 3
    for keep_text in (False, True):
        chunk = assert_same(paths, keep_text)
        assert chunk["rows"] == len(paths) and chunk["raw"] == []
    # and the bulk reader really read them all (none was left to the exact reader)
    bulk = read_bulk(paths, canonical=True)
    assert len(bulk.ok) == len(paths) and len(bulk.exact) == 0 and bulk.canonical.all()
    assert fast_tables(paths) == list(range(len(paths)))


def test_bulk_reads_the_reference_tables(reference_paths):
    assert_same(reference_paths, keep_text=True)
    bulk = read_bulk(reference_paths)
    assert bulk.ok.tolist() == [0, 1, 2] and bulk.rows.tolist() == [80, 80, 80]
    assert bulk.meta["ID"].to_pylist() == [p.stem for p in reference_paths]
    assert bulk.curves["valAcc"][79] == 26.35  # the last valAcc of the first table


def edit_line(path: Path, line: int, edit) -> None:
    lines = path.read_bytes().split(b"\n")
    lines[line - 1] = edit(lines[line - 1])
    path.write_bytes(b"\n".join(lines))


def field(index: int, value: bytes):
    def edit(line: bytes) -> bytes:
        fields = line.split(b" ")
        fields[index] = value
        return b" ".join(fields)

    return edit


# Tables the exact reader accepts but writes differently, or refuses: (line, edit, accepted)
ODD = [
    (3, field(1, b"1E-5"), True),
    (3, field(1, b"7"), True),  # an integer text: the float 7.0
    (3, field(1, b"-0"), True),  # an integer -0: +0.0
    (3, field(1, b"-0.0"), True),
    (3, field(2, b"+5"), True),
    (3, field(2, b".5"), True),
    (3, field(2, b"5."), True),
    (3, field(3, b"007"), True),
    (3, field(3, b"NaN"), True),
    (3, field(3, b"-nan"), True),
    (3, field(3, b"Infinity"), True),
    (3, field(3, b"1e999"), True),
    (3, field(3, b"1" * 40), True),  # 40 digits: 1.1111111111111111e+39
    (3, field(3, b"1" * 400), False),  # too large for a float
    (2, field(0, b"0.50"), True),
    (3, field(0, b"1"), True),
    (4, field(0, b"1.0"), False),
    (3, field(1, b"1_0"), False),
    (3, field(1, b""), False),
    (3, field(1, b"1\t"), False),
    (3, field(1, b"1\r"), False),
    (3, field(2, b"1.2.3"), False),
    (3, field(2, b"0x10"), False),
    (5, field(20, b"3"), False),
    (5, lambda l: l[:-1], False),
    (5, lambda l: l + b" ", False),
    (5, lambda l: b"", False),
    (2, field(4, b"a/b"), False),
    (2, field(4, b"id\xe9"), False),
    (2, field(5, b"0012"), True),
    (2, field(5, b"4294967296"), False),
    (2, field(6, b"true"), False),
    (2, field(9, b"025"), True),
    (2, field(9, b"0"), False),
    (2, field(12, b"1E-1"), True),
    (2, field(12, b"0.100"), True),
    (2, field(12, b"0"), False),
    (2, field(13, b"0.0"), True),
    (2, field(13, b"-0"), True),
    (2, field(13, b"1e+999"), False),
    (2, field(17, b"1"), False),  # dropout rate
    (2, field(18, b"03-2-1"), True),
    (2, field(16, b"4-1-9"), False),
    (2, field(26, b""), False),
    (2, field(27, b"145-10"), False),
    (2, field(27, b"145-0100"), True),
    # beyond the bulk grammar, and beyond the spec's bounds (a stride at most the padded side, at
    # most 4000 filters): the exact reader refuses them
    (2, field(22, b"99999999999"), False),
    (2, field(24, b"190-306-383000000000"), False),
    (2, field(24, b"190-306-38300000000000000000"), False),  # beyond int64
    # the spec's bounds (nnlife.spec._check), at and beyond each
    (2, field(4, b"a" * 128), True),
    (2, field(4, b"a" * 129), False),  # an ID of more than 128 characters
    (2, field(4, b".a"), False),  # not a safe file name
    (2, field(9, b"2500"), True),
    (2, field(9, b"2501"), False),  # batch size
    (2, field(20, b"50-2-3"), True),
    (2, field(20, b"51-2-3"), False),  # conv padding
    (2, field(19, b"36-1-2"), True),
    (2, field(19, b"37-1-2"), False),  # a conv stride beyond the padded side (36)
    (2, field(22, b"7"), True),
    (2, field(22, b"8"), False),  # a pooling stride beyond the padded side (7)
    (2, field(24, b"4000-4000-4000"), True),
    (2, field(24, b"190-306-4001"), False),  # conv filters
    (2, field(27, b"4000-100"), True),
    (2, field(27, b"4001-100"), False),  # FC width
    (2, lambda l: field(27, b"-".join([b"10"] * 49 + [b"100"]))(field(26, b"-".join([b"0"] * 49))(l)), True),
    (2, lambda l: field(27, b"-".join([b"10"] * 50 + [b"100"]))(field(26, b"-".join([b"0"] * 50))(l)), False),  # 51 FC layers
]


@pytest.mark.parametrize("line,edit,accepted", ODD)
def test_odd_and_bad_tables_go_to_the_exact_reader(tmp_path, reference_paths, line, edit, accepted):
    for i, src in enumerate(reference_paths):
        shutil.copy(src, tmp_path / src.name)
    target = tmp_path / reference_paths[1].name
    edit_line(target, line, edit)
    paths = sorted(tmp_path.glob("*.txt"))
    for keep_text in (False, True):
        chunk = assert_same(paths, keep_text)
        assert chunk["rows"] == (3 if accepted else 2)
    if not accepted:  # the bulk path left the bad table to the exact reader, and only that one
        assert fast_tables(paths) == [0, 2]


def fast_tables(paths: list[Path]) -> list[int]:
    """The positions of the tables that the bulk path read itself."""
    bulk = read_bulk(paths)
    _, ok = _specs_bulk(bulk, [str(paths[i]) for i in bulk.ok], keep_text=False)
    return bulk.ok[ok].tolist()


@pytest.mark.parametrize("body", [b"", b"\n", b"x\n", b"x\n\n", b"1 2 3 4\n\n", b"0.5 1 2 3" + b" " * 24 + b"\n" * 2,
                                  b" " * 27 + b"\n" + b" " * 27 + b"\n"])
def test_tiny_tables(tmp_path, body):
    from nnlife.table import HEADER

    (tmp_path / "t.txt").write_bytes(HEADER.encode() + b"\n" + body)
    for keep_text in (False, True):
        assert assert_same([tmp_path / "t.txt"], keep_text)["rows"] == 0


def test_pack_of_odd_tables_unpacks_byte_for_byte(tmp_path, reference_paths):
    root = tmp_path / "odd"
    root.mkdir()
    for i, (line, edit, accepted) in enumerate(ODD):
        if not accepted:
            continue
        text = reference_paths[1].read_bytes().replace(b"2021_02_15", b"2030_01_%02d" % i, 1)
        out = root / f"t{i:02d}.txt"
        out.write_bytes(text)
        edit_line(out, line, edit)
    data = pack(root, tmp_path / "odd.parquet")
    assert data.skipped == ()
    unpack(tmp_path / "odd.parquet", tmp_path / "back")
    originals = sorted(p.read_bytes() for p in root.glob("*.txt"))
    copies = sorted(p.read_bytes() for p in (tmp_path / "back").rglob("*.txt"))
    assert copies == originals


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(alphabet="0123456789.eE+-naifNIty_ ", min_size=0, max_size=8), min_size=3, max_size=3))
def test_curve_field_texts_read_as_the_exact_reader(tmp_path_factory, texts):
    root = tmp_path_factory.mktemp("fuzz")
    src = REFERENCE / "2021_02_15_13_56_59_917381.txt"
    target = root / src.name
    shutil.copy(src, target)
    edit_line(target, 4, lambda l: b" ".join([b"1.5"] + [t.encode() for t in texts] + l.split(b" ")[4:]))
    shutil.copy(REFERENCE / "2021_02_15_13_55_26_539263.txt", root)
    for keep_text in (False, True):
        assert_same(sorted(root.glob("*.txt")), keep_text)


def test_load_uses_the_same_values_in_parallel_chunks(kinds):
    serial = load(kinds, workers=1)
    parallel = load(kinds, workers=2, chunk_size=5)
    pd.testing.assert_frame_equal(serial.summary, parallel.summary)
    pd.testing.assert_frame_equal(serial.long(), parallel.long())


def test_chunk_readers_leave_no_reference_cycles(tmp_path, reference_paths):
    """Nothing of a chunk waits for the garbage collector: a cycle would keep the chunk's text
    and arrays alive until it runs, which numpy-heavy code (few Python objects) makes rare, so a
    worker would grow chunk after chunk."""
    for src in reference_paths:
        shutil.copy(src, tmp_path / src.name)
    edit_line(tmp_path / reference_paths[1].name, 3, field(2, b"0x10"))  # refused by Arrow: runs halved
    edit_line(tmp_path / reference_paths[2].name, 3, field(1, b"1E-5"))  # not the writer's text: kept when packing
    paths = [str(p) for p in sorted(tmp_path.glob("*.txt"))]
    _read_chunk(paths, True)  # first calls may build what modules keep for good
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for keep_text in (False, True):
            assert read_bulk(paths, canonical=keep_text).exact.tolist() == [1]
            assert gc.collect() == 0
            assert _read_chunk(paths, keep_text)["rows"] == 2
            assert gc.collect() == 0
    finally:
        if enabled:
            gc.enable()


def repr_fields_of(texts: list[str]) -> np.ndarray:
    from nnlife.table import repr_fields

    values = np.array([float(t) for t in texts])
    return repr_fields(np.frombuffer((" ".join(texts) + " ").encode(), dtype=np.uint8).copy(), values)


def test_repr_fields_is_repr_on_every_kind_of_float():
    """pack keeps a table's text unless every curve field is repr of its float: the bulk
    check says so exactly where repr does, for repr's own texts and for other texts of the
    same floats (longer, shorter, padded, with exponents, halfway cases)."""
    rng = np.random.default_rng(11)
    bits = rng.integers(0, 2**64, size=20_000, dtype=np.uint64).view(np.float64)
    values = np.concatenate([
        bits[np.isfinite(bits)], rng.random(20_000) * 3, rng.random(20_000) * 100, 10 ** rng.uniform(-7, 17, 20_000),
        np.round(rng.random(5000) * 100, 2), 0.5 * rng.integers(0, 400, 5000), rng.integers(0, 2**60, 2000) * 1.0,
        -rng.random(2000), [0.0, -0.0, math.inf, -math.inf, math.nan, 5e-324, 1e-4, 1e16, 1e15, 1e22],
        # halfway between the two decimals of its shortest length: repr takes the even one
        [(2**52 + 1) / 4, (2**52 + 3) / 4, (2**53 - 1) / 8, 2**49 + 0.25, 2**50 + 0.75],
    ]).tolist()
    texts = [repr(v) for v in values]
    assert repr_fields_of(texts).all()
    others = []
    for v in values[::7]:
        others += [f"{v:.17g}", f"{v:.16g}", f"{v:.15g}", f"{v:.3e}", repr(v) + "0", "0" + repr(v), f"{v:.1f}"]
    others += ["1125899906842624.3", "1125899906842624.25", "0.30000000000000005", "0.10", "1e-5", "0.00001",
               "1e16", "10000000000000000.0", "100", "1.", ".5", "1e0", "-0", "+1.5", "4e1", "40.00", "040.0"]
    def number(text: str) -> bool:
        try:
            return math.isfinite(float(text)) and "_" not in text
        except ValueError:
            return False

    others = [t for t in others if number(t)]
    got = repr_fields_of(others)
    want = np.array([repr(float(t)) == t for t in others])
    assert np.array_equal(got, want), [t for t, g, w in zip(others, got, want) if g != w][:10]
    assert 0 < want.sum() < len(want)
