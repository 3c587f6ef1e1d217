"""The published table format (docs/table-format.md), read and written byte for byte.

A table is ``<root>/<Dataset dir>_models/<ID>.txt``: a header line of 28 names, then one line
per half epoch (0.5, 1.0, ...). Line 2 holds all 28 fields, later lines the four curve fields
and 24 empty ones; fields are separated by exactly one space and every line ends in ``\\n``.

Writing is atomic: the text goes to a hidden temporary file in the same directory, is flushed
to disk, and is renamed over the final name, so a reader (or a crash) never sees half a table
(see :mod:`nnlife.outputs`: mode ``0666 & ~umask``, one :class:`~nnlife.errors.OutputError`
for any failed write).

Reading takes regular files only, of at most :data:`MAX_TABLE_BYTES`; anything that cannot be
read becomes one :class:`~nnlife.errors.InputError` line naming the file.
"""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from .errors import InputError, TableFormatError
from .outputs import TEMP_PREFIX, atomic_write_text, check_writable  # noqa: F401 (re-exported)
from .spec import NetworkSpec, format_value, parse_number

CURVE_FIELDS = ("epochs", "trainLoss", "valLoss", "valAcc")
HEADER_FIELDS = CURVE_FIELDS + NetworkSpec.field_names()
HEADER = " ".join(HEADER_FIELDS)
N_FIELDS = len(HEADER_FIELDS)  # 28
# A table of 40 epochs is about 10 KB; one of 100,000 half epochs about 6 MB. A file larger than
# this is not a table, and reading it whole (a FIFO, /dev/zero, a mistaken data file) is refused.
MAX_TABLE_BYTES = 16 * 2**20


@dataclass(frozen=True)
class Curve:
    """The measured half-epoch rows of one network. All four tuples have the same length;
    ``epochs`` is 0.5, 1.0, 1.5, ... A diverged network holds ``nan``/``inf`` as measured."""

    epochs: tuple[float, ...]
    trainLoss: tuple[float, ...]
    valLoss: tuple[float, ...]
    valAcc: tuple[float, ...]

    def __post_init__(self) -> None:
        n = len(self.epochs)
        for name in CURVE_FIELDS:
            value = tuple(getattr(self, name))
            if len(value) != n:
                raise ValueError(f"curve field {name} has {len(value)} rows, epochs has {n}")
            object.__setattr__(self, name, value)

    @classmethod
    def from_halves(cls, trainLoss: Sequence[float], valLoss: Sequence[float], valAcc: Sequence[float]) -> "Curve":
        """A curve of consecutive half epochs starting at 0.5."""
        return cls(
            epochs=tuple(0.5 * (i + 1) for i in range(len(trainLoss))),
            trainLoss=tuple(float(v) for v in trainLoss),
            valLoss=tuple(float(v) for v in valLoss),
            valAcc=tuple(float(v) for v in valAcc),
        )

    def __len__(self) -> int:
        return len(self.epochs)


@dataclass(frozen=True)
class Table:
    """One network's table: its spec and its curve (and where it was read from, if read)."""

    spec: NetworkSpec
    curve: Curve
    path: Path | None = None


# --------------------------------------------------------------------------------------
# Writing


def format_table(spec: NetworkSpec, curve: Curve) -> str:
    """The text of a table, byte for byte as published."""
    if not spec.ID:
        raise ValueError("a table needs a spec with an ID (see NetworkSpec.with_run)")
    if len(curve) == 0:
        raise ValueError("a table needs at least one half-epoch row (line 2 holds the spec)")
    empty = [""] * (N_FIELDS - len(CURVE_FIELDS))
    meta = spec.to_row()
    lines = [HEADER]
    for i in range(len(curve)):
        row = [format_value(getattr(curve, name)[i]) for name in CURVE_FIELDS]
        lines.append(" ".join(row + (meta if i == 0 else empty)))
    return "\n".join(lines) + "\n"


def table_path(root: str | Path, spec: NetworkSpec) -> Path:
    """Where the table of ``spec`` lives under an output root."""
    return Path(root) / spec.info.models_dir / f"{spec.ID}.txt"


def write_table(root: str | Path, spec: NetworkSpec, curve: Curve) -> Path:
    """Write ``<root>/<Dataset dir>_models/<ID>.txt`` atomically; returns its path."""
    return atomic_write_text(table_path(root, spec), format_table(spec, curve))


# --------------------------------------------------------------------------------------
# Reading


def parse_table(text: str, path: str | Path | None = None) -> Table:
    """Parse the text of a table. Raises :class:`TableFormatError` naming the file, line and
    field of the first problem."""
    cr = text.find("\r")
    if cr >= 0:
        raise TableFormatError(
            path, text.count("\n", 0, cr) + 1, None,
            "lines ending in \\n only, not \\r\\n (convert the file with dos2unix)", "\r",
        )
    if not text.endswith("\n"):
        raise TableFormatError(path, None, None, "every line to end in a newline (\\n)", "no newline at end of file")
    lines = text[:-1].split("\n")
    if lines[0] != HEADER:
        got = lines[0].rstrip("\r").split(" ")
        for i, name in enumerate(HEADER_FIELDS):
            if i >= len(got) or got[i] != name:
                raise TableFormatError(path, 1, name, f"header column {i + 1} to be '{name}'", got[i] if i < len(got) else "end of line")
        raise TableFormatError(path, 1, None, f"a header of exactly {N_FIELDS} names separated by one space", lines[0])
    if len(lines) < 2:
        raise TableFormatError(path, None, None, "at least one half-epoch row after the header", "header only")
    columns: dict[str, list[float]] = {name: [] for name in CURVE_FIELDS}
    spec: NetworkSpec | None = None
    for i, line in enumerate(lines[1:]):
        lineno = i + 2
        fields = line.split(" ")
        if len(fields) != N_FIELDS:
            raise TableFormatError(path, lineno, None, f"{N_FIELDS} fields separated by single spaces", f"{len(fields)} fields")
        for name, value in zip(CURVE_FIELDS, fields):
            try:
                number = parse_number(value)
            except ValueError:
                raise TableFormatError(path, lineno, name, "a number", value) from None
            columns[name].append(number)
        want = 0.5 * (i + 1)
        if columns["epochs"][-1] != want:
            raise TableFormatError(path, lineno, "epochs", f"{want!r} (half epochs 0.5, 1.0, 1.5, ... in order)", fields[0])
        if i == 0:
            spec = NetworkSpec.from_row(fields[len(CURVE_FIELDS):], path=path, line=lineno)
        elif any(fields[len(CURVE_FIELDS):]):  # rare: find the first non-empty field
            for name, value in zip(HEADER_FIELDS[len(CURVE_FIELDS):], fields[len(CURVE_FIELDS):]):
                if value != "":
                    raise TableFormatError(path, lineno, name, "an empty field (metadata is only on line 2)", value)
    assert spec is not None
    curve = Curve(**{name: tuple(values) for name, values in columns.items()})
    return Table(spec, curve, Path(path) if path is not None else None)


def read_table(path: str | Path) -> Table:
    """Read one table file. Raises :class:`InputError` naming the file for anything that is
    not a readable regular file of at most :data:`MAX_TABLE_BYTES`, and
    :class:`TableFormatError` for a malformed table."""
    path = Path(path)
    data = read_regular_file(path, MAX_TABLE_BYTES, "table file")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise TableFormatError(path, line, None, "ASCII text", "a non-ASCII byte") from None
    return parse_table(text, path)


_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_regular_file(path: str | Path, limit: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes. Anything else (missing,
    unreadable, a directory, FIFO or device, too large) raises one :class:`InputError` line
    naming ``path``. A FIFO is opened without blocking, so a pipe without a writer never hangs."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        if path.is_symlink():
            raise InputError(f"{path}: a symbolic link to {os.readlink(path)}, which does not exist; expected a {what}") from None
        raise InputError(f"{path}: no such {what}") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror or err}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = next((name for test, name in _FILE_KINDS if test(st.st_mode)), "not a regular file")
            raise InputError(f"{path}: is {kind}, expected a {what}")
        if st.st_size > limit:
            raise InputError(f"{path}: is {st.st_size:,} bytes, expected a {what} of at most {limit:,} bytes")
        chunks = []
        size = 0
        while size <= limit:  # the file may grow after fstat: never read past the limit
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise InputError(f"{path}: is more than {limit:,} bytes, expected a {what} of at most {limit:,} bytes")
        return b"".join(chunks)
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror or err}") from None
    finally:
        os.close(fd)


def find_tables(paths: Iterable[str | Path]) -> list[Path]:
    """Every table under the given files and directories (``*.txt``, recursively, sorted;
    hidden files such as unfinished temporary writes are skipped: see :func:`hidden_tables`)."""
    found: list[Path] = []
    for p in paths:
        p = Path(p)
        if _kind(p) == "directory":
            found.extend(f for f, hidden in _txt_files(p) if not hidden)
        else:
            found.append(p)
    return found


def hidden_tables(paths: Iterable[str | Path]) -> list[Path]:
    """The ``*.txt`` files that :func:`find_tables` skips under the given directories because
    a part of their path starts with ``.`` (nnlife's unfinished writes, editors' backups)."""
    return [f for p in paths if Path(p).is_dir() for f, hidden in _txt_files(Path(p)) if hidden]


def _txt_files(directory: Path) -> Iterator[tuple[Path, bool]]:
    for f in sorted(directory.rglob("*.txt")):
        if f.is_file():
            yield f, any(part.startswith(".") for part in f.relative_to(directory).parts)


def _kind(p: Path) -> str:
    """``directory`` or ``file`` for an input path; one :class:`InputError` line otherwise."""
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        if p.is_symlink():
            raise InputError(f"{p}: a symbolic link to {os.readlink(p)}, which does not exist") from None
        raise InputError(f"{p}: no such file or directory") from None
    except OSError as err:
        raise InputError(f"{p}: cannot read: {err.strerror or err}") from None
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISREG(mode):
        return "file"
    kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")
    raise InputError(f"{p}: is {kind}, expected a table, a directory of tables or a Parquet file")


def read_tables(*paths: str | Path) -> Iterator[Table]:
    """Read every table under the given files or directories, in sorted order."""
    for path in find_tables(paths):
        yield read_table(path)


def is_finite_curve(curve: Curve) -> bool:
    """True when no value of the curve is nan or inf (the network did not diverge)."""
    return all(math.isfinite(v) for name in CURVE_FIELDS[1:] for v in getattr(curve, name))
