"""What a hostile or unlucky user meets: every failure is one line naming the file, exit 2.

Each test runs the command a user would run (``python -m nnlife ...`` in a subprocess) or the
library function behind it, and asserts the exact line printed. Failures of the file system
are real: a full or read-only file system is a small tmpfs mounted for the test (as root;
skipped otherwise), a denied permission is ``chmod`` with the privileges that would override it
dropped from the subprocess (root's ``CAP_DAC_OVERRIDE`` and ``CAP_DAC_READ_SEARCH``).
docs/reliability.md lists every case and the test that backs it.
"""

from __future__ import annotations

import contextlib
import ctypes
import gzip
import io
import os
import pickle
import random
import shutil
import stat
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import REFERENCE, REFERENCE_IDS
from datafiles import cifar_pickle_bytes, random_split, write_svhn_mat
from nnlife.analysis import pack, unpack
from nnlife.data import find_file, FASHION_MNIST_FILES, read_cifar_pickle, read_idx, read_svhn_mat
from nnlife.describe import describe
from nnlife.errors import DataError, InputError, OutputError, SpecError, TableFormatError
from nnlife.outputs import atomic_write_text, check_writable, current_umask
from nnlife.sample import plan
from nnlife.shapes import analyse
from nnlife.spec import DATASETS, MAX_ACTIVATION_BYTES, MAX_PARAMS, NetworkSpec
from nnlife.table import Curve, MAX_TABLE_BYTES, format_table, parse_table, read_table, write_table

IS_ROOT = os.geteuid() == 0
TABLE = REFERENCE / f"{REFERENCE_IDS[1]}.txt"  # CIFAR-100, 3 conv layers, one pooling block


# --------------------------------------------------------------------------------------
# Helpers


def _drop_dac_capabilities() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP: gone from the exec'd program
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def run(*args: str, unprivileged: bool = False, timeout: float = 120, code: str | None = None):
    """``python -m nnlife ARGS`` (or ``python -c CODE``); ``unprivileged``: file permissions
    apply even to root."""
    cmd = [sys.executable, "-c", code] if code is not None else [sys.executable, "-m", "nnlife", *args]
    preexec = _drop_dac_capabilities if unprivileged and IS_ROOT else None
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, preexec_fn=preexec)


def one_line_error(proc, command: str, message: str) -> None:
    """Exit status 2 and exactly ``nnlife COMMAND: error: MESSAGE`` on stderr."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [l for l in proc.stderr.splitlines() if not l.startswith("skipped")]
    assert lines == [f"nnlife {command}: error: {message}"], proc.stderr


@contextlib.contextmanager
def tmpfs(directory: Path, size: str = "64k", read_only: bool = False):
    """A small tmpfs at ``directory`` for the duration; unmounted even if the test fails."""
    if not IS_ROOT:
        pytest.skip("mounting a tmpfs needs root")
    directory.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(directory)], check=True)
        yield directory
    finally:
        if subprocess.run(["umount", str(directory)]).returncode != 0:
            subprocess.run(["umount", "-l", str(directory)])


def fill(directory: Path) -> None:
    """Fill a small file system up to the last byte."""
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        for block in (4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * block)
            except OSError:
                pass
    finally:
        os.close(fd)


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> Path:
    """The three reference tables packed into one Parquet file."""
    out = tmp_path_factory.mktemp("packed") / "ref.parquet"
    pack(REFERENCE, out)
    return out


def rewrite_parquet(src: Path, dst: Path, **columns) -> Path:
    """A copy of a packed file with some columns replaced (lists of Python values)."""
    networks = pq.read_table(src)
    for name, values in columns.items():
        i = networks.schema.get_field_index(name)
        networks = networks.set_column(i, networks.schema.field(name), pa.array(values, type=networks.schema.field(name).type))
    pq.write_table(networks, dst)
    return dst


def edited_table(tmp_path: Path, field: str, value: str, name: str = "bad.txt") -> Path:
    """The reference table with one field of line 2 replaced."""
    lines = TABLE.read_text().split("\n")
    fields = lines[1].split(" ")
    header = lines[0].split(" ")
    fields[header.index(field)] = value
    lines[1] = " ".join(fields)
    path = tmp_path / name
    path.write_text("\n".join(lines))
    return path


# --------------------------------------------------------------------------------------
# 1. Output that cannot be written


def test_output_error_is_an_input_error_and_an_os_error():
    err = OutputError("out/x.parquet", "No space left on device", 28)
    assert isinstance(err, InputError) and isinstance(err, OSError) and err.errno == 28
    assert str(err) == "out/x.parquet: cannot write: No space left on device"
    assert str(pickle.loads(pickle.dumps(err))) == str(err)


def test_read_only_file_system_for_every_writer(tmp_path, packed):
    ro = tmp_path / "ro"
    with tmpfs(ro, read_only=True):
        one_line_error(run("unpack", str(packed), "--out", str(ro / "u")), "unpack", f"{ro / 'u'}: cannot write: Read-only file system")
        one_line_error(run("pack", str(REFERENCE), "--out", str(ro / "x.parquet")), "pack", f"{ro}: cannot write: Read-only file system")
        one_line_error(run("load", str(REFERENCE), "--csv", str(ro / "s.csv")), "load", f"{ro}: cannot write: Read-only file system")
        one_line_error(run("report", str(REFERENCE), "--out", str(ro / "r")), "report", f"{ro / 'r'}: cannot write: Read-only file system")
        one_line_error(run("predict", "--method", "menndl", str(REFERENCE), "--csv", str(ro / "p.csv")), "predict",
                       f"{ro / 'p.csv'}: cannot write: Read-only file system")
        with pytest.raises(OutputError) as info:
            check_writable(ro)
        assert str(info.value) == f"{ro}: cannot write: Read-only file system"


def test_full_disk_for_unpack_pack_and_report(tmp_path, packed):
    full = tmp_path / "full"
    with tmpfs(full, size="64k"):
        (full / "u").mkdir()
        (full / "r").mkdir()
        fill(full)
        name = f"{REFERENCE_IDS[0]}.txt"
        one_line_error(run("unpack", str(packed), "--out", str(full / "u")), "unpack",
                       f"{full / 'u' / 'CIFAR-100_models' / name}: cannot write: No space left on device")
        one_line_error(run("pack", str(REFERENCE), "--out", str(full / "x.parquet")), "pack",
                       f"{full / 'x.parquet'}: cannot write: No space left on device")
        one_line_error(run("report", str(REFERENCE), "--out", str(full / "r")), "report",
                       f"{full / 'r' / 'curves_CIFAR-100.png'}: cannot write: No space left on device")
        # nothing half-written is left behind, not even a temporary file
        assert [p.name for p in full.rglob("*") if p.is_file()] == ["filler"]


def test_permission_denied_output(tmp_path, packed):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        one_line_error(run("unpack", str(packed), "--out", str(locked / "u"), unprivileged=True), "unpack",
                       f"{locked / 'u'}: cannot write: Permission denied")
        one_line_error(run("load", str(REFERENCE), "--csv", str(locked / "s.csv"), unprivileged=True), "load",
                       f"{locked}: cannot write: Permission denied")
        one_line_error(run("pack", str(REFERENCE), "--out", str(locked / "x.parquet"), unprivileged=True), "pack",
                       f"{locked}: cannot write: Permission denied")
    finally:
        locked.chmod(0o755)
    assert list(locked.iterdir()) == []


def test_dangling_out_link_and_file_in_the_way(tmp_path, packed):
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere" / "deeper")
    why = f"{link}: cannot write: a symbolic link to {tmp_path / 'nowhere' / 'deeper'}, which does not exist"
    one_line_error(run("unpack", str(packed), "--out", str(link)), "unpack", why)
    one_line_error(run("report", str(REFERENCE), "--out", str(link)), "report", why)
    one_line_error(run("pack", str(REFERENCE), "--out", str(link / "x.parquet")), "pack", why)
    afile = tmp_path / "afile"
    afile.write_text("x")
    one_line_error(run("unpack", str(packed), "--out", str(afile)), "unpack", f"{afile}: cannot write: is a file, expected a directory")
    one_line_error(run("pack", str(REFERENCE), "--out", str(tmp_path)), "pack", f"{tmp_path}: cannot write: is a directory, expected a file name")


def test_check_writable_creates_and_leaves_nothing(tmp_path):
    target = tmp_path / "a" / "b"
    assert check_writable(target) == target
    assert target.is_dir() and list(target.iterdir()) == []


# --------------------------------------------------------------------------------------
# 2. Corrupt or unreadable data files


def test_corrupt_deflate_truncated_and_not_gzip(tmp_path):
    raw = b"\0\0\x08\x01" + (1000).to_bytes(4, "big") + bytes(range(256)) * 4
    good = gzip.compress(raw[:1008])
    body = bytearray(good)
    body[10] = 0xFF  # the first deflate block has the reserved type 3: zlib.error, not an OSError
    cases = {
        "deflate.gz": (bytes(body), "Error -3 while decompressing data: invalid block type"),
        "short.gz": (good[: len(good) // 2], "Compressed file ended before the end-of-stream marker was reached"),
        "plain.gz": (b"not gzip at all", "Not a gzipped file (b'no')"),
    }
    for name, (data, words) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(DataError) as info:
            read_idx(tmp_path / name)
        message = str(info.value)
        assert message.startswith(f"{tmp_path / name}: not a readable gzip file (") and words in message
        assert message.endswith("; expected a gzip-compressed IDX file") and "\n" not in message
    with pytest.raises(zlib.error):  # the case really is the one that used to escape
        gzip.decompress(bytes(body))


def test_unreadable_data_file_and_directory(tmp_path):
    fm = tmp_path / "FashionMNIST"
    fm.mkdir()
    images = fm / FASHION_MNIST_FILES["train_images"].name
    images.write_bytes(gzip.compress(b"x"))
    images.chmod(0)
    code = (
        "import sys\nfrom nnlife.data import read_idx, find_file, FASHION_MNIST_FILES\n"
        "from nnlife.errors import DataError\n"
        f"try:\n    read_idx({str(images)!r})\nexcept DataError as e:\n    print(e)\n"
        f"try:\n    find_file('FashionMNIST', FASHION_MNIST_FILES['train_images'], {str(tmp_path)!r}, download_ok=False, system=False)\n"
        "except DataError as e:\n    print(e)\n"
    )
    proc = run(code=code, unprivileged=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"{images}: cannot read: Permission denied"] * 2
    images.chmod(0o644)
    fm.chmod(0)  # the directory on the way cannot be searched
    try:
        proc = run(code=code.replace("read_idx(", "(lambda p: None)("), unprivileged=True)
    finally:
        fm.chmod(0o755)
    assert proc.stdout.splitlines() == [f"{images}: cannot read: Permission denied"]


def _pickle_with(data: np.ndarray, labels) -> bytes:
    return pickle.dumps({b"data": data, b"fine_labels": labels}, protocol=2)


EXPECTED_CIFAR = "expected a dict with 'data' uint8 (N, 3072) and N 'fine_labels' in 0..99"


@pytest.mark.parametrize("labels,problem", [
    (["a", 3], "'fine_labels' is not a list of integers"),
    ([10**30, 3], "'fine_labels' holds 1000000000000000000000000000000"),
    ([-1, 3], "'fine_labels' holds -1"),
    ([100, 3], "'fine_labels' holds 100"),
    ([[1], [2]], "'fine_labels' is not a list of integers"),
    (None, "'fine_labels' is not a list of integers"),
])
def test_cifar_pickle_with_bad_labels(labels, problem):
    with pytest.raises(DataError) as info:
        read_cifar_pickle(_pickle_with(np.zeros((2, 3072), np.uint8), labels), "train")
    assert str(info.value) == f"train: {problem}; {EXPECTED_CIFAR}"


def test_cifar_pickle_declaring_a_huge_array_is_refused_before_allocation():
    small = _pickle_with(np.zeros(4, np.uint8), [1])
    shape = b"K\x04\x85"  # BININT1 4, TUPLE1: the shape (4,) in the array's state
    assert small.count(shape) == 1
    ten_tb = small.replace(shape, b"\x8a\x06" + (10**13).to_bytes(6, "little") + b"\x85")
    with pytest.raises(DataError) as info:
        read_cifar_pickle(ten_tb, "train")
    assert str(info.value) == (
        "train: not a CIFAR-100 pickle (an array of 10,000,000,000,000 x 1 bytes, more than the largest "
        f"split (50,000 images, 153,600,000 bytes)); {EXPECTED_CIFAR}"
    )
    objects = pickle.dumps({b"data": np.array([1, None], dtype=object), b"fine_labels": [1]}, protocol=2)
    with pytest.raises(DataError) as info:
        read_cifar_pickle(objects, "train")
    assert str(info.value) == f"train: not a CIFAR-100 pickle (an array of Python objects); {EXPECTED_CIFAR}"


def test_cifar_pickle_still_reads_the_official_layout():
    x, y = random_split(7, 3, 32, 100, seed=3)
    got_x, got_y = read_cifar_pickle(cifar_pickle_bytes(x, y, "training"), "train")
    assert np.array_equal(got_x, x) and np.array_equal(got_y, y)


def test_truncated_and_wrong_mat_files(tmp_path):
    x, y = random_split(5, 3, 32, 10, seed=1)
    whole = write_svhn_mat(tmp_path / "test_32x32.mat", x, y).read_bytes()
    expected = "expected a MATLAB v5 file with X uint8 (32, 32, 3, N) and N labels y in 1..10"
    seen = set()
    for cut in (0, 10, 100, 128, 200, 3000, len(whole) // 2):
        path = tmp_path / f"cut{cut}.mat"
        path.write_bytes(whole[:cut])
        with pytest.raises(DataError) as info:
            read_svhn_mat(path)
        message = str(info.value)
        assert message.startswith(f"{path}: ") and message.endswith(expected) and "\n" not in message
        seen.add(message.split(": ", 1)[1])
    assert f"not a readable MATLAB file (MatReadError: Mat file appears to be truncated); {expected}" in seen
    import scipy.io

    scipy.io.savemat(tmp_path / "labels.mat", {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[0], [11]], np.uint8)})
    with pytest.raises(DataError) as info:
        read_svhn_mat(tmp_path / "labels.mat")
    assert str(info.value) == f"{tmp_path / 'labels.mat'}: got X uint8 (32, 32, 3, 2), y uint8 (2, 1); {expected}"


# --------------------------------------------------------------------------------------
# 3. Impossible networks


@pytest.mark.parametrize("field,value,message", [
    ("convFilters", "1000000000000-306-383", "field 'convFilters': expected filter counts in [1, 4000], got '1000000000000-306-383'"),
    ("convPaddings", "1000000-0-0", "field 'convPaddings': expected paddings in [0, 50], got '1000000-0-0'"),
    ("FCFilters", "100000000000-100", "field 'FCFilters': expected widths in [1, 4000], got '100000000000-100'"),
    ("batch_size", "10000", "field 'batch_size': expected an integer in [1, 2500], got 10000"),
    ("convStrides", "1-1-99", "field 'convStrides': expected stride of conv layer 3 in [1, 15] (the padded input side), got 99"),
])
def test_impossible_networks_are_refused_by_load_describe_and_predict(tmp_path, field, value, message):
    bad = edited_table(tmp_path, field, value)
    with pytest.raises(TableFormatError) as info:
        read_table(bad)
    assert str(info.value) == f"{bad}:2: {message}"
    one_line_error(run("describe", str(bad)), "describe", f"{bad}:2: {message}")
    one_line_error(run("predict", "--method", "penguin", str(bad)), "predict", f"{bad}:2: {message}")
    proc = run("load", str(bad))
    assert proc.returncode == 0 and f"skipped {bad}:2: {message}" in proc.stderr.splitlines()


def test_networks_too_large_in_total(tmp_path):
    base = read_table(TABLE).spec
    import dataclasses

    with pytest.raises(SpecError) as info:  # every field in bounds, the whole is not
        dataclasses.replace(base, convFilters=(4000, 4000, 4000), convPaddings=(50, 50, 50),
                            convKernels=(1, 1, 1), convStrides=(1, 1, 1), poolKernels=(1,), poolPaddings=(0,), poolStrides=(1,))
    assert str(info.value).startswith(f"field 'FCFilters': expected a network of at most {MAX_PARAMS:,} parameters (2**33), got ")
    with pytest.raises(SpecError) as info:
        dataclasses.replace(base, layer_types=(5,) * 40, convFilters=(4000,) * 39 + (1,), convPaddings=(50,) * 40,
                            convKernels=(1,) * 40, convStrides=(1,) * 40, poolKernels=(), poolPaddings=(), poolStrides=(),
                            FCFilters=(100,), FC_dropout_layers=())
    assert str(info.value).startswith(
        f"field 'convFilters': expected a network of at most {MAX_ACTIVATION_BYTES:,} bytes of activations per image (2**31), got "
    )


def _largest_taxonomy_network(dataset: str) -> NetworkSpec:
    """A network at the taxonomy's extremes: 10 conv layers of 400 filters, each growing the
    side by 11 (kernel 1, padding 5, then a pooling of kernel 2, padding 1, stride 1), the last
    conv with a kernel as large as the side it meets, and 5 FC layers of 400."""
    info = DATASETS[dataset]
    d, kernels = info.side, []
    for i in range(10):
        k = d if i == 8 else 1  # the largest conv of all, then it grows again
        kernels.append(k)
        d = d + 10 - k + 1 + 1
    return NetworkSpec(
        random_seed=0, dataset=dataset, batch_size=250, learning_rate=1.0, momentum=0, dampening=0,
        weight_decay=0, layer_types=(7,) * 10, dropout_rate=0.5, convKernels=tuple(kernels),
        convStrides=(1,) * 10, convPaddings=(5,) * 10, poolKernels=(2,) * 10, poolStrides=(1,) * 10,
        poolPaddings=(1,) * 10, convFilters=(400,) * 10, FC_dropout_rate=0.5, FC_dropout_layers=(1,) * 4,
        FCFilters=(400,) * 4 + (info.classes,),
    )


def test_the_whole_taxonomy_stays_valid_and_the_bounds_match_the_shape_arithmetic():
    for dataset in DATASETS:
        big = _largest_taxonomy_network(dataset)
        arith = analyse(big)
        assert 2.2e9 < arith.params <= MAX_PARAMS and arith.activation_bytes <= MAX_ACTIVATION_BYTES
        info = describe(big)  # built on the meta device: no memory, whatever the size
        assert info["params"] == arith.params
        for planned in plan(dataset, 2000, 12345):  # __post_init__ checks every bound
            spec = planned.spec()
            assert spec.n_conv <= 10 and max(spec.convFilters) <= 400
    for path in REFERENCE.glob("*.txt"):
        read_table(path)


def test_spec_walk_totals_equal_nnlife_shapes():
    # spec.py sums parameters and activations itself (shapes imports spec); hold them equal
    import nnlife.spec as spec_module

    seen = 0
    for dataset in DATASETS:
        for planned in plan(dataset, 300, 99):
            spec = planned.spec()
            arith = analyse(spec)
            limit_p, limit_a = spec_module.MAX_PARAMS, spec_module.MAX_ACTIVATION_BYTES
            try:  # with the limits set to the exact totals the spec passes, one below it fails
                spec_module.MAX_PARAMS, spec_module.MAX_ACTIVATION_BYTES = arith.params, arith.activation_bytes
                NetworkSpec(**{f: getattr(spec, f) for f in NetworkSpec.field_names()})
                spec_module.MAX_PARAMS = arith.params - 1
                with pytest.raises(SpecError, match="parameters"):
                    NetworkSpec(**{f: getattr(spec, f) for f in NetworkSpec.field_names()})
                spec_module.MAX_PARAMS, spec_module.MAX_ACTIVATION_BYTES = limit_p, arith.activation_bytes - 1
                with pytest.raises(SpecError, match="activations"):
                    NetworkSpec(**{f: getattr(spec, f) for f in NetworkSpec.field_names()})
            finally:
                spec_module.MAX_PARAMS, spec_module.MAX_ACTIVATION_BYTES = limit_p, limit_a
            seen += 1
    assert seen == 900


# --------------------------------------------------------------------------------------
# 4. Unreadable tables, FIFOs, devices, huge files; bad IDs


def test_unreadable_table_for_describe_predict_and_load(tmp_path):
    secret = tmp_path / "secret.txt"
    shutil.copy(TABLE, secret)
    secret.chmod(0)
    one_line_error(run("describe", str(secret), unprivileged=True), "describe", f"{secret}: cannot read: Permission denied")
    one_line_error(run("predict", "--method", "penguin", str(secret), unprivileged=True), "predict",
                   f"{secret}: cannot read: Permission denied")
    proc = run("load", str(tmp_path), unprivileged=True)
    assert f"skipped {secret}: cannot read: Permission denied" in proc.stderr.splitlines()
    one_line_error(run("describe", str(tmp_path)), "describe", f"{tmp_path}: is a directory, expected a table file")


def test_fifo_and_devices_are_refused_without_reading(tmp_path):
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    one_line_error(run("describe", str(fifo), timeout=60), "describe", f"{fifo}: is a FIFO (named pipe), expected a table file")
    one_line_error(run("describe", "/dev/zero", timeout=60), "describe", "/dev/zero: is a character device, expected a table file")
    one_line_error(run("predict", "--method", "penguin", str(fifo), timeout=60), "predict",
                   f"{fifo}: is a FIFO (named pipe), expected a table, a directory of tables or a Parquet file")
    one_line_error(run("load", str(fifo), timeout=60), "load",
                   f"{fifo}: is a FIFO (named pipe), expected a table, a directory of tables or a Parquet file")


def test_huge_file_is_refused_before_reading(tmp_path):
    huge = tmp_path / "huge.txt"
    with open(huge, "wb") as handle:
        handle.truncate(MAX_TABLE_BYTES + 1)  # sparse: nothing is written
    one_line_error(run("describe", str(huge)), "describe", f"{huge}: is 16,777,217 bytes, expected a table file of at most 16,777,216 bytes")
    missing = tmp_path / "gone.txt"
    missing.symlink_to(tmp_path / "nowhere.txt")
    one_line_error(run("describe", str(missing)), "describe",
                   f"{missing}: a symbolic link to {tmp_path / 'nowhere.txt'}, which does not exist; expected a table file")


ID_RULE = "expected a file name of 1 to 128 of A-Z a-z 0-9 _ - . not starting with '.'"


@pytest.mark.parametrize("bad_id,shown", [
    (".", "'.'"), ("..", "'..'"), ("a\x00b", "'a\\x00b'"), ("x" * 300, "'" + "x" * 56 + "..."),
    ("réseau", "'réseau'"), (".hidden", "'.hidden'"), ("../escape", "'../escape'"),
])
def test_unpack_refuses_ids_that_are_not_safe_file_names(tmp_path, packed, bad_id, shown):
    ids = pq.read_table(packed)["ID"].to_pylist()
    bad = rewrite_parquet(packed, tmp_path / "bad.parquet", ID=[bad_id] + ids[1:])
    out = tmp_path / "out"
    proc = run("unpack", str(bad), "--out", str(out))
    one_line_error(proc, "unpack", f"{bad}: row 0 (ID {shown}): field 'ID': {ID_RULE}, got {shown}")
    assert not out.exists() or list(out.rglob("*.txt")) == []


def test_table_ids_must_be_safe_file_names(tmp_path):
    bad = edited_table(tmp_path, "ID", "..")
    one_line_error(run("describe", str(bad)), "describe", f"{bad}:2: field 'ID': {ID_RULE}, got '..'")


# --------------------------------------------------------------------------------------
# 5. unpack never silently wrong; load says what it skipped


def test_unpack_refuses_duplicate_ids(tmp_path, packed):
    ids = pq.read_table(packed)["ID"].to_pylist()
    bad = rewrite_parquet(packed, tmp_path / "dup.parquet", ID=[ids[0], ids[2], ids[2]])
    out = tmp_path / "out"
    one_line_error(run("unpack", str(bad), "--out", str(out)), "unpack",
                   f"{bad}: rows 1 and 2: field 'ID': expected an ID unique within data set CIFAR100, got '{ids[2]}' "
                   "twice (they would be one table file)")
    assert list(out.rglob("*.txt")) == []  # nothing written


def test_unpack_checks_raw_text_against_its_row(tmp_path, packed):
    networks = pq.read_table(packed)
    texts = [p.read_text() for p in sorted(REFERENCE.glob("*.txt"))]
    order = networks["ID"].to_pylist()
    by_id = {t.split("\n")[1].split(" ")[4]: t for t in texts}
    # a row whose verbatim text is another network's table
    swapped = rewrite_parquet(packed, tmp_path / "swap.parquet", raw_text=[by_id[order[1]], None, None])
    one_line_error(run("unpack", str(swapped), "--out", str(tmp_path / "o1")), "unpack",
                   f"{swapped}: row 0: column 'raw_text': expected the table of this row's network and curve, "
                   "got the text of another table")
    # a row whose verbatim text is not a table at all
    broken = rewrite_parquet(packed, tmp_path / "broken.parquet", raw_text=[by_id[order[0]].replace("CrossEntropyLoss", "MSELoss"), None, None])
    one_line_error(run("unpack", str(broken), "--out", str(tmp_path / "o2")), "unpack",
                   f"{broken}: row 0: column 'raw_text': line 2, field 'loss_fn': expected CrossEntropyLoss, got 'MSELoss'")
    # the row's own text, written differently ("1" for "1.0"), is accepted and written verbatim
    own = by_id[order[0]].replace("\n1.0 ", "\n1 ", 1)
    assert own != by_id[order[0]]
    fine = rewrite_parquet(packed, tmp_path / "fine.parquet", raw_text=[own, None, None])
    written = unpack(fine, tmp_path / "o3")
    assert written[0].read_text() == own


def test_load_reports_hidden_tables(tmp_path):
    models = tmp_path / "CIFAR-100_models"
    shutil.copytree(REFERENCE, models)
    shutil.copy(TABLE, models / ".backup.txt")
    (tmp_path / ".old").mkdir()
    shutil.copy(TABLE, tmp_path / ".old" / "x.txt")
    proc = run("load", str(tmp_path))
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[0] == "loaded 3 networks from 3 tables"
    assert (f"skipped 2 hidden files (a name starting with '.', e.g. an unfinished write), such as {tmp_path / '.old' / 'x.txt'}"
            in proc.stderr.splitlines())


# --------------------------------------------------------------------------------------
# 6. Messages name the file, line and field


def test_crlf_table_names_the_carriage_return(tmp_path):
    crlf = tmp_path / "crlf.txt"
    crlf.write_bytes(TABLE.read_bytes().replace(b"\n", b"\r\n"))
    one_line_error(run("describe", str(crlf)), "describe",
                   f"{crlf}:1: expected lines ending in \\n only, not \\r\\n (convert the file with dos2unix), got '\\r'")


# --------------------------------------------------------------------------------------
# 7. Modes of written files


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_get_0666_minus_umask(tmp_path, packed, umask, mode):
    old = os.umask(umask)
    try:
        assert current_umask() == umask
        table = read_table(TABLE)
        paths = [
            write_table(tmp_path / "w", table.spec, table.curve),
            atomic_write_text(tmp_path / "note.txt", "x\n"),
            *unpack(packed, tmp_path / "u"),
        ]
        pack(REFERENCE, tmp_path / "p.parquet")
        paths.append(tmp_path / "p.parquet")
    finally:
        os.umask(old)
    assert {stat.S_IMODE(p.stat().st_mode) for p in paths} == {mode}


def test_cli_output_modes_follow_the_umask(tmp_path, packed):
    code = (
        "import os, sys\nos.umask(0o027)\nfrom nnlife.cli import main\n"
        f"sys.exit(main(['unpack', {str(packed)!r}, '--out', {str(tmp_path / 'u')!r}]) or "
        f"main(['load', {str(REFERENCE)!r}, '--csv', {str(tmp_path / 's.csv')!r}]))\n"
    )
    proc = run(code=code)
    assert proc.returncode == 0, proc.stderr
    files = list((tmp_path / "u").rglob("*.txt")) + [tmp_path / "s.csv"]
    assert len(files) == 4 and {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o640}


# --------------------------------------------------------------------------------------
# Fuzzing the table reader


def _mutations(rng: random.Random, text: str):
    lines = text.split("\n")
    i = rng.randrange(1, min(len(lines) - 1, 6)) if rng.random() < 0.7 else rng.randrange(len(lines))
    fields = lines[i].split(" ")
    j = rng.randrange(len(fields))
    values = ["", "nan", "-nan", "inf", "-inf", "-1", "0", "-0", "1e309", "1" * rng.choice([19, 400, 5000]),
              str(10 ** rng.randrange(2, 40)), "é", "\u0661\u0662", "1-2-3", "4000", "4001", "0.5", "True", "x",
              "\t", "1_0", "-".join(["400"] * rng.randrange(1, 120))]
    kind = rng.randrange(11)
    if kind == 0:
        del fields[j]
    elif kind == 1:
        fields.insert(j, fields[j])
    elif kind == 2:
        k = rng.randrange(len(fields))
        fields[j], fields[k] = fields[k], fields[j]
    elif kind == 3:
        fields[j] = rng.choice(values)
    elif kind == 4:
        del lines[i]
        return "\n".join(lines).encode("utf-8")
    elif kind == 5:
        lines.insert(i, lines[i])
        return "\n".join(lines).encode("utf-8")
    elif kind == 6:
        k = rng.randrange(len(lines))
        lines[i], lines[k] = lines[k], lines[i]
        return "\n".join(lines).encode("utf-8")
    elif kind == 7:
        data = bytearray(text.encode())
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        return bytes(data)
    elif kind == 8:
        return text.replace("\n", "\r\n", rng.randrange(1, 4)).encode()
    elif kind == 9:
        fields[j] = fields[j] + rng.choice(["0", "00000", "9" * 12, ".5", "e5"])
    else:
        fields[j] = "-" + fields[j]
    lines[i] = " ".join(fields)
    return "\n".join(lines).encode("utf-8")


def test_table_fuzzing_parses_to_a_buildable_spec_or_one_input_error(tmp_path):
    rng = random.Random(20260101)
    texts = [p.read_text() for p in sorted(REFERENCE.glob("*.txt"))]
    outcomes = {"valid": 0, "refused": 0}
    path = tmp_path / "fuzz.txt"
    for n in range(400):
        data = _mutations(rng, rng.choice(texts))
        path.write_bytes(data)
        try:
            table = read_table(path)
        except InputError as err:
            message = str(err)
            assert "\n" not in message and message.startswith(f"{path}"), (n, data[:200], message)
            outcomes["refused"] += 1
            continue
        # whatever parses is a buildable network, described by the module itself
        info = describe(table.spec)
        assert info["params"] == analyse(table.spec).params <= MAX_PARAMS
        assert format_table(table.spec, table.curve).count("\n") == len(table.curve) + 1
        outcomes["valid"] += 1
    assert outcomes["valid"] >= 30 and outcomes["refused"] >= 200, outcomes
