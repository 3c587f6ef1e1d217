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
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

from .errors import InputError, TableFormatError
from .outputs import TEMP_PREFIX, atomic_write_text, check_writable  # noqa: F401 (re-exported)
from .spec import NetworkSpec, format_value, parse_number

# numpy and pyarrow only for the bulk reader: reading one table (e.g. `nnlife describe`) should
# not pay for importing them.
if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

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
    hidden files such as unfinished temporary writes are skipped: see :func:`hidden_tables`).
    One path alone (a ``str`` or ``Path``) is taken as that path, not as its characters."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: list[Path] = []
    for p in paths:
        p = Path(p)
        if _kind(p) == "directory":
            found.extend(p.joinpath(*parts) for parts in sorted(_walk_tables(str(p))[0]))
        else:
            found.append(p)
    return found


def find_table_names(paths: Iterable[str | Path]) -> list[str]:
    """:func:`find_tables` as the strings of its paths, without a Path per table (a tenth of a
    second for 6000 tables): ``DIR`` and the parts found under it joined as pathlib joins them."""
    if os.sep != "/" or os.altsep is not None:  # pragma: no cover - pathlib's rules elsewhere
        return [str(p) for p in find_tables(paths)]
    found: list[str] = []
    for p in paths:
        p = Path(p)
        if _kind(p) == "directory":
            base = str(p)
            found.extend(_names_under(base, "" if base == "." else base if base.endswith("/") else base + "/"))
        else:
            found.append(str(p))
    return found


def _names_under(root: str, prefix: str) -> list[str]:
    """``prefix`` + the relative path of every table :func:`_walk_tables` finds under
    ``root`` (not the hidden ones), in the order of its sorted parts: each directory's entries
    by name, a subdirectory's tables in its place. Strings from the start, and no sort of the
    whole list: the walk of 60,000 tables is a quarter of their main process's work."""
    out: list[str] = []
    stack: list = [(root, prefix)]  # a directory to list, or a table's name in its turn
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        directory, pre = item
        files, dirs = [], []
        with os.scandir(directory) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith("."):  # hidden, and so is everything under it
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    dirs.append(name)
                elif name.endswith(".txt") and entry.is_file():
                    files.append(name)
        if not dirs:
            out.extend([pre + name for name in sorted(files)])
            continue
        for name, is_dir in sorted([(n, False) for n in files] + [(n, True) for n in dirs], reverse=True):
            stack.append((os.path.join(directory, name), pre + name + "/") if is_dir else pre + name)
    return out


def is_parquet(path: Path) -> bool:
    """Whether ``path`` starts with Parquet's magic bytes (False when it cannot be read: the
    table reader then names the reason)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"PAR1"
    except OSError:
        return False


def hidden_tables(paths: Iterable[str | Path]) -> list[Path]:
    """The ``*.txt`` files that :func:`find_tables` skips under the given directories because
    a part of their path starts with ``.`` (nnlife's unfinished writes, editors' backups)."""
    return [Path(p).joinpath(*parts) for p in paths if Path(p).is_dir() for parts in sorted(_walk_tables(str(p))[1])]


def _walk_tables(root: str) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """The relative parts of every ``*.txt`` file under ``root`` that is a file (or a link to
    one), as ``sorted(Path(root).rglob("*.txt"))`` would find them (linked directories are not
    entered): those with no hidden part, and those with one (a name starting with ``.``). With
    os.scandir, as pathlib's glob and a stat per file cost more than reading a small table does."""
    found: list[tuple[str, ...]] = []
    hidden: list[tuple[str, ...]] = []
    stack: list[tuple[tuple[str, ...], str, bool]] = [((), root, False)]
    while stack:
        parts, directory, inside_hidden = stack.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                is_hidden = inside_hidden or entry.name.startswith(".")
                if entry.is_dir() and not entry.is_symlink():
                    stack.append((parts + (entry.name,), entry.path, is_hidden))
                elif entry.name.endswith(".txt") and entry.is_file():
                    (hidden if is_hidden else found).append(parts + (entry.name,))
    return found, hidden


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


# --------------------------------------------------------------------------------------
# Bulk reading (the fast path of nnlife.analysis.load)

# A curve field longer than this is left to the exact reader: every float's repr fits in 24
# characters, and a short integer text converts to the same float as Python's int-then-float.
_BULK_FIELD_CHARS = 25
_HEADER_LINE = (HEADER + "\n").encode("ascii")


@dataclass
class BulkTables:
    """What :func:`read_bulk` made of a batch of table files.

    ``exact`` holds the positions (in the paths given) of the tables the bulk reader does not
    vouch for: they must go through :func:`read_table`, which accepts them with the same values
    or names their problem. The other tables, ``ok`` (positions, in order), have their curves
    flattened in ``curves`` (``rows[i]`` half epochs each) and their 24 line-2 fields as Arrow
    string arrays in ``meta``. ``canonical`` (when asked for) says per ``ok`` table whether
    every curve field is written as nnlife's writer writes it (``repr`` of the float).
    """

    ok: np.ndarray
    exact: np.ndarray
    rows: np.ndarray
    curves: dict
    meta: dict
    canonical: np.ndarray | None = None

    def keep(self, mask: np.ndarray) -> "BulkTables":
        """The same batch with only the ``ok`` tables where ``mask`` is true; the others move
        to ``exact``."""
        import numpy as np

        if mask.all():
            return self
        line_mask = np.repeat(mask, self.rows)
        return BulkTables(
            ok=self.ok[mask],
            exact=np.sort(np.concatenate([self.exact, self.ok[~mask]])),
            rows=self.rows[mask],
            curves={name: values[line_mask] for name, values in self.curves.items()},
            meta={name: arrow_call("filter", values, arrow_bools(mask)) for name, values in self.meta.items()},
            canonical=None if self.canonical is None else self.canonical[mask],
        )


def read_bulk(paths: Sequence[str | Path], *, canonical: bool = False) -> BulkTables:
    """Tokenise a batch of tables at once: all bytes in one buffer, lines found with numpy,
    the curve numbers converted by Arrow's CSV reader (correctly rounded, as Python's ``float``
    is). Hand-written around a CSV reader rather than one CSV read of the files because a table
    is two shapes at once (a 28-field line 2, then rows of 4 fields and 24 empty ones) and every
    rule of :func:`parse_table` must hold.

    The bulk reader is stricter than :func:`parse_table`, never looser: anything it is not sure
    of (an unreadable or non-ASCII file, a control character, a line that is not 28 fields, a
    number such as ``-0`` or a 30-digit integer, epochs out of order) is left to the exact reader
    (:attr:`BulkTables.exact`), which either accepts the table with the same values or names the
    file, line and field of its problem. What it accepts, it reads to the same values.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pcsv

    n = len(paths)
    exact = np.zeros(n, dtype=bool)
    header = len(_HEADER_LINE)
    # Every table's text after its header, read straight into one growing buffer (no bytes
    # object per file, no second copy for joining them).
    buf = bytearray(1 << 22)
    view = memoryview(buf)
    ends: list[int] = []
    first = bytearray(header)
    used = 0
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    for i, path in enumerate(paths):
        # os.open and one readv (the header into its own buffer, the rest into the chunk's):
        # three system calls a table, and no file object (a third of the time of open())
        try:
            fd = os.open(path, flags)
        except OSError:
            exact[i] = True
            continue
        try:
            st = os.fstat(fd)
            size = st.st_size
            if size <= header or not stat.S_ISREG(st.st_mode):
                exact[i] = True
                continue
            need = used + size - header + 1  # one byte more, to notice a file that grew
            if need > len(buf):
                view.release()
                buf.extend(bytes(max(need - len(buf), len(buf))))
                view = memoryview(buf)
            got = os.readv(fd, [first, view[used:need]]) - header
        except OSError:
            exact[i] = True
            continue
        finally:
            os.close(fd)
        # changed while read, not a table's header, or no final newline
        if got != size - header or first != _HEADER_LINE or buf[used + got - 1] != 10:
            exact[i] = True
            continue
        used += got
        ends.append(used)
    view.release()
    candidates = np.flatnonzero(~exact)
    m = len(candidates)
    file_end = np.array(ends, dtype=np.int64)
    del buf[used:]
    arr = np.frombuffer(buf, dtype=np.uint8)
    bad = np.zeros(m, dtype=bool)

    # bytes outside 32..126 (control characters, DEL and non-ASCII) other than newlines
    unusual = np.flatnonzero((arr - np.uint8(32)) > 94)
    is_newline = arr[unusual] == 10
    line_end = unusual[is_newline]
    if not is_newline.all():
        bad[np.searchsorted(file_end, unusual[~is_newline], side="right")] = True
    line_start = np.zeros(len(line_end), dtype=np.int64)
    line_start[1:] = line_end[:-1] + 1
    table_of_line = np.searchsorted(file_end, line_start, side="right")
    rows = np.bincount(table_of_line, minlength=m).astype(np.int64)
    first_line = np.zeros(m, dtype=np.int64)
    np.cumsum(rows[:-1], out=first_line[1:])  # every file has a row: it is longer than its header
    is_first = np.zeros(len(line_end), dtype=bool)
    is_first[first_line] = True

    # Line 2 of each table: its 28 fields, from its own spaces.
    l2_start, l2_end = line_start[first_line], line_end[first_line]
    l2_text = _gather(arr, l2_start, l2_end - l2_start)
    l2_offsets = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(l2_end - l2_start, out=l2_offsets[1:])
    space = np.flatnonzero(l2_text == 32)
    first_space = np.searchsorted(space, l2_offsets[:-1])
    bad |= np.searchsorted(space, l2_offsets[1:]) - first_space != N_FIELDS - 1
    if len(space) < N_FIELDS - 1:  # not one good line 2 in the batch
        space = np.zeros(N_FIELDS - 1, dtype=np.int64)
        bad[:] = True
    at = np.minimum(first_space, len(space) - (N_FIELDS - 1))  # in range where line 2 is good
    field_start = [l2_offsets[:-1]] + [space[at + j] + 1 for j in range(N_FIELDS - 1)]
    field_end = [space[at + j] for j in range(N_FIELDS - 1)] + [l2_offsets[1:]]
    for j in range(len(CURVE_FIELDS)):
        length = field_end[j] - field_start[j]
        bad |= (length < 1) | (length > _BULK_FIELD_CHARS)

    # Later rows: valAcc is followed by exactly 24 spaces (the empty fields) and the newline.
    rest = np.flatnonzero(~is_first)
    rest_end = line_end[rest]
    empty = N_FIELDS - len(CURVE_FIELDS)
    ok = rest_end - empty > line_start[rest]
    # 24 bytes as three 8-byte words read at any offset: three comparisons instead of 24
    words, blank = _words(arr), np.uint64(int.from_bytes(b" " * 8, "little"))
    at_word = np.maximum(rest_end - empty, 0)
    if len(words):
        for k in range(0, empty, 8):
            ok &= words[np.minimum(at_word + k, len(words) - 1)] == blank
    else:  # a batch of a few bytes: no row ends in 24 spaces
        ok[:] = False
    bad[table_of_line[rest[~ok]]] = True
    # Keep only "trainLoss valLoss valAcc epochs\n" of each row: drop the 24 spaces of later
    # rows and line 2's metadata (copied out below), and every table already refused.
    meta_text_start = l2_start + (field_end[len(CURVE_FIELDS) - 1] - l2_offsets[:-1])
    keep_byte = np.ones(len(arr), dtype=bool)
    keep_words = _words(keep_byte.view(np.uint8))
    for k in range(0, empty, 8):
        keep_words[rest_end[ok] - empty + k] = 0
    keep_byte[_ranges(meta_text_start, l2_end - meta_text_start)] = False
    table_start = np.zeros(m, dtype=np.int64)
    table_start[1:] = file_end[:-1]
    refused = np.flatnonzero(bad)
    compacted_tables = np.flatnonzero(~bad)
    keep_byte[_ranges(table_start[refused], file_end[refused] - table_start[refused])] = False
    kept = np.where(bad, 0, file_end - table_start - empty * (rows - 1) - (l2_end - meta_text_start))
    kept_end = np.cumsum(kept)
    compact = arr[keep_byte]
    del keep_byte

    # one block for the whole chunk (its text, a few MB): Arrow's threads are the pool's job
    read = pcsv.ReadOptions(column_names=list(CURVE_FIELDS), use_threads=False, block_size=max(len(compact), 1 << 16))
    parse_options = pcsv.ParseOptions(delimiter=" ", quote_char=False, escape_char=False,
                                      newlines_in_values=False, ignore_empty_lines=False)
    convert = pcsv.ConvertOptions(column_types={name: pa.float64() for name in CURVE_FIELDS}, null_values=[],
                                  strings_can_be_null=False, quoted_strings_can_be_null=False)

    pieces = _read_runs(compact, kept_end, bad, 0, m, (read, parse_options, convert)) if m else []
    good = np.flatnonzero(~bad)
    columns = {
        name: np.concatenate([numpy_of(p[name]) for p in pieces]) if pieces else np.zeros(0)
        for name in CURVE_FIELDS
    }
    if len(columns["epochs"]) != rows[good].sum():  # pragma: no cover - every line is one row
        raise AssertionError("bulk reader: rows and lines disagree")
    # epochs must be 0.5, 1.0, ... in order; -0.0 goes to the exact reader, which reads an
    # integer "-0" as +0.0
    position = np.arange(len(columns["epochs"]), dtype=np.int64) - np.repeat(
        np.cumsum(rows[good]) - rows[good], rows[good]
    )
    wrong = columns["epochs"] != 0.5 * (position + 1)
    infinite = np.zeros(len(wrong), dtype=bool)
    for name in CURVE_FIELDS[1:]:
        wrong |= (columns[name] == 0) & np.signbit(columns[name])
        infinite |= np.isinf(columns[name])
    if infinite.any():
        # An integer text of 310 digits overflows in the exact reader; Arrow makes it inf.
        compacted = np.repeat(compacted_tables, rows[compacted_tables])  # the table of each line
        newline = np.flatnonzero(compact == 10)
        line_of_row = np.flatnonzero(~bad[compacted])
        for row in np.flatnonzero(infinite).tolist():
            line = line_of_row[row]
            text = compact[newline[line - 1] + 1 if line else 0 : newline[line]].tobytes()
            if max(map(len, text.split(b" "))) > _BULK_FIELD_CHARS:
                wrong[row] = True
    if wrong.any():
        table_of_row = np.repeat(good, rows[good])
        bad[table_of_row[wrong]] = True
        keep = ~bad[table_of_row]
        columns = {name: values[keep] for name, values in columns.items()}
        good = np.flatnonzero(~bad)

    is_canonical = None
    if canonical:
        # The writer writes repr of each float: decide it for all fields at once, then per table.
        kept_now = np.zeros(m, dtype=bool)
        kept_now[good] = True
        if kept_now.sum() == (kept > 0).sum():  # no table refused since the compaction
            written = compact.copy()
        else:
            written = compact[np.repeat(kept_now, kept)]
        written[written == 10] = 32
        values = np.stack([columns[name] for name in CURVE_FIELDS], axis=1).ravel()
        field_table = np.repeat(np.arange(len(good)), rows[good] * len(CURVE_FIELDS))
        is_canonical = np.bincount(field_table[~repr_fields(written, values)], minlength=len(good)) == 0

    meta = {}
    for j, name in enumerate(HEADER_FIELDS[len(CURVE_FIELDS):], start=len(CURVE_FIELDS)):
        start = field_start[j][good]
        meta[name] = _strings(l2_text, start, field_end[j][good] - start)

    return BulkTables(
        ok=candidates[good],
        exact=np.sort(np.concatenate([np.flatnonzero(exact), candidates[bad]])),
        rows=rows[good],
        curves={name: columns[name] for name in CURVE_FIELDS[1:]},
        meta=meta,
        canonical=is_canonical,
    )


def repr_fields(text: "np.ndarray", values: "np.ndarray") -> "np.ndarray":
    """Whether each field of ``text`` (bytes, every field followed by one space) is
    ``repr(values[i])``, where ``values[i]`` is the float the field reads as.

    Hand-made because repr of every value was most of ``pack``. Arrow's float-to-text cast (in
    C++, several times faster than repr) writes the same shortest digits that read back as the
    float, the nearest such digits to it, as repr does (tests compare them on millions of
    floats); only its layout differs, so the text repr writes is built from Arrow's where the
    layouts are known to agree: a float with a fraction between 1e-4 and 1e15 that Arrow
    writes without an exponent (both write the digits with a point), and an integer Arrow
    writes as digits (repr adds ".0"). Everything else goes to repr itself: zero's, NaN's and
    inf's text, exponents, and a float that lies exactly halfway between two decimals of its
    shortest length, where the two might pick different ones (repr picks the even one).
    """
    import numpy as np
    import pyarrow as pa

    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=bool)
    space = np.flatnonzero(text == 32)
    if len(space) != n:  # pragma: no cover - the caller's fields are the values
        raise AssertionError("repr_fields: fields and values disagree")
    ours = arrow_cast(arrow_numbers(values, pa.float64()), pa.string())
    point = numpy_of(arrow_call("find_substring", ours, options=arrow_options("MatchSubstringOptions", ".")))
    digits, size = utf8_of(ours)
    start = np.zeros(n, dtype=np.int64)
    start[1:] = space[:-1] + 1
    length = space - start
    magnitude = np.abs(values)
    with np.errstate(invalid="ignore"):
        integer = (values == np.floor(values)) & (magnitude < 1e15)  # NaN and inf are not
        fraction = ~integer & (magnitude >= 1e-4) & (magnitude < 1e15) & (point > 0)
        # halfway: x * 10**f is an odd multiple of 1/2 for f digits after the point, that is,
        # the lowest set bit of x is 2**-(f + 1)
        mantissa, power = np.frexp(magnitude)
        bits = (mantissa * 2.0**53).astype(np.int64)
    lowest = np.frexp((bits & -bits).astype(np.float64))[1] - 1 + power - 53
    fraction &= lowest != point - size  # -(f + 1) with f = size - point - 1
    safe = (integer | fraction) & (values != 0)
    # the text is repr when it is Arrow's digits, with ".0" after an integer (and no exponent)
    strip = np.where(integer, 2, 0)
    same = safe & (length - strip == size)
    same[integer] &= (text[space[integer] - 2] == 46) & (text[space[integer] - 1] == 48)
    other = np.flatnonzero(text == 101)  # an "e"
    if len(other):
        same[np.searchsorted(space, other)] = False
    # Compare the digits 8 bytes at a time (words read at any offset, the last one masked to
    # the field's length): a few operations per field rather than per byte.
    theirs, mine = _words(_padded(text)), _words(_padded(digits))
    ours_start = np.zeros(n, dtype=np.int64)
    np.cumsum(size[:-1], out=ours_start[1:])
    for k in range(0, int(size[same].max(initial=0)), 8):
        left = np.clip(size - k, 0, 8)
        mask = np.where(left == 8, np.uint64(2**64 - 1),
                        (np.uint64(1) << (np.uint64(8) * left.astype(np.uint64))) - np.uint64(1))
        at_theirs = np.minimum(start + k, len(theirs) - 1)  # (past the end only where lengths differ)
        at_mine = np.minimum(ours_start + k, len(mine) - 1)
        same &= ((theirs[at_theirs] ^ mine[at_mine]) & mask) == 0
    out = same  # what is not Arrow's text (another text, or another layout) goes to repr

    unsure = np.flatnonzero(~out)
    if len(unsure):
        flat = values[unsure].tolist()
        for i, k in enumerate(unsure.tolist()):
            out[k] = repr(flat[i]).encode("ascii") == text[start[k] : space[k]].tobytes()
    return out


def _read_runs(compact: "np.ndarray", kept_end: "np.ndarray", bad: "np.ndarray", lo: int, hi: int, options: tuple) -> list:
    """The numbers of tables lo..hi-1 of ``compact`` (each of their lines is one row). A run
    Arrow refuses is halved until the refused tables are alone (they are marked in ``bad``, for
    the exact reader).

    A module-level function, not a closure of :func:`read_bulk`: a recursive closure is a
    reference cycle that keeps the chunk's text alive until the garbage collector runs, which
    numpy-heavy code (few Python objects) makes rare; a worker grew by one chunk's text per chunk.
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv

    start = kept_end[lo - 1] if lo else 0
    if kept_end[hi - 1] == start:
        return []
    read, parse_options, convert = options
    try:
        return [pcsv.read_csv(pa.py_buffer(compact[start:kept_end[hi - 1]]), read_options=read,
                              parse_options=parse_options, convert_options=convert)]
    except pa.ArrowInvalid:
        if hi - lo == 1:
            bad[lo] = True
            return []
        half = (lo + hi) // 2
        return (_read_runs(compact, kept_end, bad, lo, half, options)
                + _read_runs(compact, kept_end, bad, half, hi, options))


# Conversions between numpy and Arrow through their buffers. pyarrow's own (to_numpy,
# pa.array, a compute function given a Python scalar) import pandas, half a second of CPU and
# tens of MB in every worker process that parses tables and never needs pandas.


def numpy_of(array, copy: bool = True) -> "np.ndarray":
    """A numpy copy of an Arrow array (or chunked array) of int32, int64, float64 or bool
    without nulls; with ``copy=False``, of numbers, a read-only view of Arrow's memory where it
    can be one (no copy to make and no fresh pages to fault in: a second of a 60,000-table
    summary)."""
    import numpy as np
    import pyarrow as pa

    if isinstance(array, pa.ChunkedArray):
        if array.num_chunks == 1 and not copy:
            return numpy_of(array.chunk(0), copy=False)
        parts = [numpy_of(chunk) for chunk in array.chunks]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=_NUMPY_TYPES[str(array.type)])
    if array.null_count:
        raise ValueError("numpy_of: an array with nulls")
    data = array.buffers()[1]
    if array.type == pa.bool_():
        if data is None:
            return np.zeros(0, dtype=bool)
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
        return bits[array.offset : array.offset + len(array)].astype(bool)
    dtype = _NUMPY_TYPES[str(array.type)]
    if data is None:
        return np.zeros(0, dtype=dtype)
    view = np.frombuffer(data, dtype=dtype)[array.offset : array.offset + len(array)]
    return view.copy() if copy else view


_NUMPY_TYPES = {"int32": "int32", "int64": "int64", "uint8": "uint8", "double": "float64"}


def arrow_call(function: str, *args, options=None):
    """Arrow's compute function ``function`` on ``args``: ``pyarrow.compute.call_function``,
    taken from the module that defines it. Importing ``pyarrow.compute`` itself (and calling
    an array's ``take``, ``filter`` or ``cast``, which import it) builds a Python wrapper with a
    docstring for each of its hundreds of functions, some 30 ms of CPU in every process that
    loads tables, the workers included."""
    try:
        from pyarrow._compute import call_function
    except ImportError:  # pragma: no cover - a pyarrow that moved it
        from pyarrow.compute import call_function
    return call_function(function, list(args), options)


def arrow_options(name: str, *args):
    """An options object of Arrow's compute functions (``CastOptions``, ...), as
    :func:`arrow_call` takes it, from the same module."""
    try:
        import pyarrow._compute as compute
    except ImportError:  # pragma: no cover
        import pyarrow.compute as compute
    kind, _, constructor = name.partition(".")
    made = getattr(compute, kind)
    return getattr(made, constructor)(*args) if constructor else made(*args)


def arrow_cast(array, type):
    """``pyarrow.compute.cast(array, type)`` (a safe cast) through :func:`arrow_call`."""
    return arrow_call("cast", array, options=arrow_options("CastOptions.safe", type))


def arrow_bools(mask: "np.ndarray"):
    """A numpy bool array as an Arrow boolean array."""
    import numpy as np
    import pyarrow as pa

    mask = np.asarray(mask, dtype=bool)
    return pa.Array.from_buffers(pa.bool_(), len(mask), [None, pa.py_buffer(np.packbits(mask, bitorder="little"))])


def arrow_ints(values: "np.ndarray"):
    """A numpy integer array as an Arrow int64 array."""
    import numpy as np
    import pyarrow as pa

    values = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])


def numpy_objects(array) -> "np.ndarray":
    """An Arrow string array (or chunked array) as a numpy array of Python strings (None for
    a null), as ``to_numpy(zero_copy_only=False)`` gives it."""
    import numpy as np

    values = array.to_pylist()
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def arrow_numbers(values: "np.ndarray", type):
    """A numpy array of int32, int64, uint8 or float64 as an Arrow array of ``type`` (the same
    width), through its buffer."""
    import numpy as np
    import pyarrow as pa

    values = np.ascontiguousarray(values, dtype=_NUMPY_TYPES[str(type)])
    return pa.Array.from_buffers(type, len(values), [None, pa.py_buffer(values)])


def utf8_of(array) -> "tuple[np.ndarray, np.ndarray]":
    """The UTF-8 bytes (one uint8 array) and the byte length of each string of an Arrow string
    array without nulls: how chunks carry text between processes (no Python string per
    value, and Arrow takes them back as they are: :func:`arrow_utf8`)."""
    import numpy as np

    if array.null_count:
        raise ValueError("utf8_of: an array with nulls")
    n = len(array)
    buffers = array.buffers()
    if n == 0 or buffers[1] is None:
        return np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.int64)
    offsets = np.frombuffer(buffers[1], dtype=np.int32)[array.offset : array.offset + n + 1].astype(np.int64)
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, dtype=np.uint8)
    return data[offsets[0] : offsets[-1]].copy(), np.diff(offsets)


def utf8_encode(values: "Sequence[str]") -> "tuple[np.ndarray, np.ndarray]":
    """Python strings as :func:`utf8_of` gives them."""
    import numpy as np

    encoded = [v.encode("utf-8") for v in values]
    data = np.frombuffer(b"".join(encoded), dtype=np.uint8).copy()
    return data, np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))


def arrow_utf8(data: "np.ndarray", lengths: "np.ndarray"):
    """An Arrow string array of the strings ``data`` holds one after the other (``lengths``
    bytes each, UTF-8 checked)."""
    import numpy as np
    import pyarrow as pa

    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] >= 2**31:
        raise ValueError("arrow_utf8: more than 2 GB of text in one column")
    array = pa.StringArray.from_buffers(len(lengths), pa.py_buffer(offsets.astype(np.int32)),
                                        pa.py_buffer(np.ascontiguousarray(data, dtype=np.uint8)))
    array.validate(full=True)
    return array


def arrow_words(words: "Sequence[str]", codes: "np.ndarray"):
    """An Arrow string array of ``words[codes[i]]`` (each word encoded once)."""
    import numpy as np

    encoded = [w.encode("utf-8") for w in words]
    sizes = np.array([len(e) for e in encoded], dtype=np.int64)
    starts = np.zeros(len(encoded), dtype=np.int64)
    np.cumsum(sizes[:-1], out=starts[1:])
    codes = np.asarray(codes, dtype=np.int64)
    text = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    return arrow_utf8(text[_ranges(starts[codes], sizes[codes])], sizes[codes])


def arrow_optional_strings(values: "list[str | None]"):
    """A list of strings and Nones as an Arrow string array with nulls."""
    import numpy as np
    import pyarrow as pa

    present = np.array([v is not None for v in values], dtype=bool)
    encoded = [v.encode("utf-8") for v in values if v is not None]
    lengths = np.zeros(len(values), dtype=np.int64)
    lengths[present] = [len(b) for b in encoded]
    offsets = np.zeros(len(values) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    validity = None if present.all() else pa.py_buffer(np.packbits(present, bitorder="little"))
    return pa.StringArray.from_buffers(len(values), pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded)),
                                       validity, len(values) - int(present.sum()))


def _spaced(data: "np.ndarray", lengths: "np.ndarray") -> "np.ndarray":
    """Strings (UTF-8 bytes one after the other, ``lengths`` each) as text with a space after
    each, as :func:`repr_fields` takes them."""
    import numpy as np

    offsets = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    out = np.full(int(lengths.sum()) + len(lengths), 32, dtype=np.uint8)
    out[_ranges(offsets + np.arange(len(lengths)), lengths)] = data
    return out


def _padded(array: "np.ndarray") -> "np.ndarray":
    """A copy of a byte array with 8 zero bytes after it (so a word can be read at any of its
    offsets)."""
    import numpy as np

    out = np.zeros(len(array) + 8, dtype=np.uint8)
    out[: len(array)] = array
    return out


def _words(array: "np.ndarray") -> "np.ndarray":
    """The 8-byte word starting at each byte of a byte array (overlapping, unaligned views;
    writing a word writes its 8 bytes)."""
    import numpy as np

    return np.ndarray((max(len(array) - 7, 0),), dtype="<u8", buffer=array, strides=(1,))


def _ranges(starts: "np.ndarray", lengths: "np.ndarray") -> "np.ndarray":
    """The indices of the ranges ``starts[i] : starts[i] + lengths[i]``, concatenated."""
    import numpy as np

    offsets = np.zeros(len(starts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1], dtype=np.int64)


def _gather(arr: "np.ndarray", starts: "np.ndarray", lengths: "np.ndarray") -> "np.ndarray":
    return arr[_ranges(starts, lengths)]


def _strings(arr: "np.ndarray", starts: "np.ndarray", lengths: "np.ndarray"):
    """Arrow strings of ``arr[starts[i]:starts[i] + lengths[i]]`` (ASCII, so valid UTF-8)."""
    import numpy as np
    import pyarrow as pa

    offsets = np.zeros(len(starts) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.StringArray.from_buffers(len(starts), pa.py_buffer(offsets), pa.py_buffer(_gather(arr, starts, lengths)))
