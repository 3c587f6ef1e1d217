"""The published table format: byte-exact round trip, atomic writes, and one-line errors."""

import os
import shutil
import subprocess
import sys

import pytest

from nnlife.errors import InputError, TableFormatError
from nnlife.sample import sample
from nnlife.table import (
    HEADER,
    Curve,
    find_tables,
    format_table,
    parse_table,
    read_table,
    read_tables,
    table_path,
    write_table,
)


def test_reference_tables_round_trip_byte_for_byte(reference_paths, tmp_path):
    for path in reference_paths:
        original = path.read_bytes()
        table = read_table(path)
        assert format_table(table.spec, table.curve).encode() == original
        written = write_table(tmp_path, table.spec, table.curve)
        assert written == tmp_path / "CIFAR-100_models" / path.name
        assert written.read_bytes() == original


def test_reference_table_values(reference_paths):
    t = read_table(reference_paths[0])
    s = t.spec
    assert s.ID == "2021_02_15_13_55_26_539263"
    assert s.random_seed == 2476382228 and s.train_GPU is True and s.torch_set_deterministic is False
    assert s.dataset == "CIFAR100" and s.batch_size == 25
    assert s.learning_rate == 0.11464760689500715
    assert s.momentum == 4.877743709660678e-05
    assert s.dampening == 0 and isinstance(s.dampening, int)  # written "0", kept as int
    assert s.layer_types == (3, 3, 1)
    assert s.poolKernels == (1, 1) and s.poolPaddings == (0, 0)
    assert s.FC_dropout_rate == 0.4558671863403917 and s.FC_dropout_layers == ()
    assert s.FCFilters == (100,)
    c = t.curve
    assert len(c) == 80
    assert c.epochs[0] == 0.5 and c.epochs[-1] == 40.0
    assert c.valAcc[0] == 9.68 and c.valAcc[-1] == 26.35
    assert c.trainLoss[-1] == 1.4958381524682045


def test_reference_valacc_follows_dropped_partial_batch_rule(reference_paths):
    # valAcc = 100 * correct / seen with seen = floor(10000 / b) * b, exactly as published.
    for path in reference_paths:
        t = read_table(path)
        seen = (10_000 // t.spec.batch_size) * t.spec.batch_size
        for acc in t.curve.valAcc:
            k = round(acc * seen / 100)
            assert 100 * k / seen == acc


def test_format_layout(tmp_path):
    spec = sample("SVHN", 99, 2).with_run(ID="2026_01_02_03_04_05_000006", train_GPU=False, torch_set_deterministic=True)
    curve = Curve.from_halves([2.3, 2.2, 2.1], [2.31, 2.21, float("nan")], [10.0, 11.5, 0.0])
    text = format_table(spec, curve)
    lines = text.split("\n")
    assert lines[-1] == "" and len(lines) == 5  # header + 3 rows, each ending in \n
    assert lines[0] == HEADER and len(HEADER.split(" ")) == 28
    assert all(len(line.split(" ")) == 28 for line in lines[:-1])
    assert lines[1].startswith("0.5 2.3 2.31 10.0 2026_01_02_03_04_05_000006 99 False True SVHN ")
    assert lines[2] == "1.0 2.2 2.21 11.5" + " " * 24
    assert lines[3] == "1.5 2.1 nan 0.0" + " " * 24
    back = parse_table(text)
    assert back.spec == spec
    assert format_table(back.spec, back.curve) == text


def test_write_is_atomic_on_failure(tmp_path, monkeypatch):
    spec = sample("FashionMNIST", 5, 1).with_run(ID="2026_01_01_00_00_00_000001", train_GPU=False, torch_set_deterministic=False)
    curve = Curve.from_halves([1.0], [1.0], [10.0])

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        write_table(tmp_path, spec, curve)
    directory = tmp_path / "FashionMNIST_models"
    assert list(directory.iterdir()) == []  # neither the table nor a temporary file remains


def test_killed_writer_leaves_no_visible_table(tmp_path):
    # A writer killed between writing the temporary file and renaming it leaves only a hidden
    # temporary file, which readers skip.
    code = f"""
import os, signal
from nnlife.sample import sample
from nnlife.table import Curve, write_table
os.replace = lambda a, b: os.kill(os.getpid(), signal.SIGKILL)
spec = sample("FashionMNIST", 5, 1).with_run(ID="2026_01_01_00_00_00_000001", train_GPU=False, torch_set_deterministic=False)
write_table({str(tmp_path)!r}, spec, Curve.from_halves([1.0], [1.0], [10.0]))
"""
    proc = subprocess.run([sys.executable, "-c", code])
    assert proc.returncode == -9
    names = [p.name for p in (tmp_path / "FashionMNIST_models").iterdir()]
    assert len(names) == 1 and names[0].startswith(".")
    assert find_tables([tmp_path]) == []


def test_read_directory(reference_dir, tmp_path):
    tables = list(read_tables(reference_dir))
    assert [t.spec.ID for t in tables] == sorted(p.stem for p in reference_dir.glob("*.txt"))
    for t in tables:
        assert t.path is not None and t.path.stem == t.spec.ID
    spec = tables[0].spec
    assert table_path(tmp_path, spec) == tmp_path / "CIFAR-100_models" / f"{spec.ID}.txt"


def _corrupt(reference_paths, tmp_path, line_no, edit):
    text = reference_paths[1].read_text()
    lines = text.split("\n")
    lines[line_no - 1] = edit(lines[line_no - 1])
    bad = tmp_path / "bad.txt"
    bad.write_text("\n".join(lines))
    return bad


def _replace_field(index, value):
    def edit(line):
        fields = line.split(" ")
        fields[index] = value
        return " ".join(fields)

    return edit


BAD_CASES = [
    # (line, edit, field, words in the expectation)
    (2, lambda l: l + " extra", None, "28 fields"),
    (5, lambda l: l[:-1], None, "28 fields"),
    (3, _replace_field(2, "4.5x"), "valLoss", "a number"),
    (2, _replace_field(12, "fast"), "learning_rate", "a number"),
    (4, _replace_field(0, "2.0"), "epochs", "1.5"),
    (2, _replace_field(8, "MNIST"), "dataset", "one of FashionMNIST, CIFAR100, SVHN"),
    (2, _replace_field(18, "32-1"), "convKernels", "3 entries"),
    (2, _replace_field(21, "5-5"), "poolKernels", "1 entries"),
    (2, _replace_field(26, ""), "FC_dropout_layers", "1 entries"),
    (2, _replace_field(16, "4-1-9"), "layer_types", "block codes in 1..7"),
    (2, _replace_field(27, "145-10"), "FCFilters", "last entry 100"),
    (2, _replace_field(9, "-5"), "batch_size", "an integer in [1, 2500]"),
    (7, _replace_field(20, "3"), "convPaddings", "empty field"),
    (1, lambda l: l.replace("valAcc", "valAccuracy"), "valAcc", "header column 4"),
]


@pytest.mark.parametrize("line,edit,field,expected", BAD_CASES)
def test_bad_table_names_file_line_field(reference_paths, tmp_path, line, edit, field, expected):
    bad = _corrupt(reference_paths, tmp_path, line, edit)
    with pytest.raises(TableFormatError) as info:
        read_table(bad)
    err = info.value
    assert isinstance(err, InputError)
    assert (err.line, err.field) == (line, field)
    message = str(err)
    assert "\n" not in message
    assert message.startswith(f"{bad}:{line}: ")
    if field:
        assert f"field '{field}'" in message
    assert expected in message


def test_kernel_that_does_not_fit_is_rejected(reference_paths, tmp_path):
    # conv 2 of this network meets a 1x1 input with padding 2: a kernel of 6 cannot fit.
    bad = _corrupt(reference_paths, tmp_path, 2, _replace_field(18, "32-6-3"))
    with pytest.raises(TableFormatError, match=r"bad.txt:2: field 'convKernels': expected kernel of conv layer 2 in \[1, 5\]"):
        read_table(bad)


def test_missing_newline_and_non_ascii(reference_paths, tmp_path):
    bad = tmp_path / "a.txt"
    bad.write_text(reference_paths[0].read_text()[:-1])
    with pytest.raises(TableFormatError, match="newline"):
        read_table(bad)
    bad.write_bytes(reference_paths[0].read_bytes().replace(b"SGD", b"S\xc3\xa9D"))
    with pytest.raises(TableFormatError, match=r"a.txt:2: expected ASCII"):
        read_table(bad)
    with pytest.raises(InputError, match="no such table file"):
        read_table(tmp_path / "missing.txt")


def test_numbers_too_long_for_python_are_a_field_error(reference_paths, tmp_path):
    # Python refuses int() of more than 4,300 digits with a ValueError of its own
    for line, index, field in ((2, 24, "convFilters"), (2, 5, "random_seed"), (3, 3, "valAcc")):
        bad = _corrupt(reference_paths, tmp_path, line, _replace_field(index, "7" * 5000))
        with pytest.raises(TableFormatError) as info:
            read_table(bad)
        assert (info.value.line, info.value.field) == (line, field)


def test_hidden_tables_are_listed_apart(reference_dir, tmp_path):
    from nnlife.table import hidden_tables

    shutil.copytree(reference_dir, tmp_path / "t")
    (tmp_path / "t" / ".draft.txt").write_text("x\n")
    assert [p.name for p in find_tables([tmp_path])] == sorted(p.name for p in reference_dir.glob("*.txt"))
    assert hidden_tables([tmp_path]) == [tmp_path / "t" / ".draft.txt"]


def test_reader_takes_regular_files_only(tmp_path):
    fifo = tmp_path / "p.txt"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match=r"is a FIFO \(named pipe\), expected a table file$"):
        read_table(fifo)  # opened without blocking: returns at once
    with pytest.raises(InputError, match="is a directory, expected a table file$"):
        read_table(tmp_path)
    with pytest.raises(InputError, match="is a FIFO"):
        find_tables([fifo])


def test_find_tables_walks_as_sorted_rglob_does(tmp_path, monkeypatch):
    """find_tables (os.scandir) finds what sorted(Path.rglob("*.txt")) finds, less hidden parts
    and non-files, in the same order (part by part, so "a/..." comes before "a-b/...")."""
    from pathlib import Path

    for d in ["a", "a-b", "a/b", ".h", "a/.h2", "z.txt", "B", "b"]:
        (tmp_path / d).mkdir(parents=True, exist_ok=True)
    for f in ["a/1.txt", "a-b/2.txt", "a/b/3.txt", ".h/4.txt", "a/.h2/5.txt", "a/.6.txt", "z.txt/7.txt",
              "B/8.txt", "b/9.txt", "10.TXT", "11.txt", "a/12.txt.bak", "b/10.txt", "b/1.txt"]:
        (tmp_path / f).write_text("x")
    os.symlink(tmp_path / "a", tmp_path / "link")  # a linked directory is not entered
    os.symlink(tmp_path / "a/1.txt", tmp_path / "b/l.txt")  # a linked file is a table
    os.symlink(tmp_path / "missing", tmp_path / "b/broken.txt")
    os.mkfifo(tmp_path / "b/fifo.txt")
    want = [
        f for f in sorted(Path(tmp_path).rglob("*.txt"))
        if f.is_file() and not any(part.startswith(".") for part in f.relative_to(tmp_path).parts)
    ]
    assert find_tables([tmp_path]) == want
    # the names load uses are the str of those paths, however the directory is written
    from nnlife.table import find_table_names

    monkeypatch.chdir(tmp_path)
    for given in [tmp_path, f"{tmp_path}/", f"{tmp_path}//a/..//b", ".", "./", "a", "a/./", "b/../a", "11.txt", "./a/1.txt"]:
        assert find_table_names([given, "z.txt"]) == [str(p) for p in find_tables([given, "z.txt"])], given
    assert [str(f.relative_to(tmp_path)) for f in want] == [
        "11.txt", "B/8.txt", "a/1.txt", "a/b/3.txt", "a-b/2.txt", "b/1.txt", "b/10.txt", "b/9.txt", "b/l.txt",
        "z.txt/7.txt",
    ]
    from nnlife.table import hidden_tables

    assert sorted(str(f.relative_to(tmp_path)) for f in hidden_tables([tmp_path])) == [".h/4.txt", "a/.6.txt", "a/.h2/5.txt"]


def test_one_path_alone_is_that_path_not_its_characters(reference_dir):
    # a str is iterable: taken character by character it would walk "/" and "t", ...
    want = find_tables([reference_dir])
    assert len(want) == 3
    assert find_tables(str(reference_dir)) == want
    assert find_tables(reference_dir) == want
