"""Load a data set of lifespans fast, summarise it, and pack it into one Parquet file and back.

A data set is any set of tables in the published format (``<Dataset dir>_models/*.txt``, or any
directory of tables) and/or Parquet files written by :func:`pack`. :func:`load` turns it into a
:class:`Lifespans`: one columnar table with one row per network (:func:`parquet_schema`, the
same columns the Parquet file holds), from which it derives

* :attr:`Lifespans.summary`, one row per table (with its network and repeat,
  :func:`with_repeats`; :func:`per_network` groups repeats): structure, every hyperparameter, and curve
  metrics (see :func:`summarise` for every column and the handling of NaN and inf);
* :meth:`Lifespans.long`, one row per network per half epoch with the network's metadata on
  every row (the 28 table columns, typed).

Tables are parsed in chunks, streaming, in a pool of forked processes over all cores (or in
this process for a small data set): each chunk is read at once by the bulk reader
(:func:`nnlife.table.read_bulk` for the lines and curve numbers, :func:`_specs_bulk` for line 2:
the spec's parsing, checks and shape arithmetic for all tables at once, in numpy), and every
table it is not sure of goes through the exact reader, :func:`nnlife.table.read_table`, which
reads it to the same values or names its problem. Each chunk becomes compact numpy arrays, never
Python objects per value or per table, so memory grows with the numbers of the data set and
nothing else. A malformed table is reported (file, line, field) and skipped, or with
``strict=True`` stops the load with its :class:`~nnlife.errors.TableFormatError`.

The Parquet layout (format version 1) is one row per network:

* the 24 spec fields under their table names, typed: ``random_seed`` and ``batch_size``
  int64, ``train_GPU`` and ``torch_set_deterministic`` bool, the six rates and weights float64,
  the ten list fields list<int64>, ``ID``, ``dataset``, ``loss_fn``, ``optimizer`` string;
* ``integer_fields``: list<string>, the float fields that the table writes as an integer (an
  unused hyperparameter is written ``0``, not ``0.0``); this keeps the text exact;
* ``trainLoss``, ``valLoss``, ``valAcc``: list<double>, one value per half epoch; the epochs
  are implied (0.5, 1.0, 1.5, ... as the format requires), so ``n_rows`` is the list length;
* ``params``, ``flops``, ``activation_bytes``, ``flatten_features``: int64, derived from the
  spec by :func:`nnlife.shapes.analyse` (stored so a Parquet load needs no per-network work);
* ``path``: the table the row was read from, as it was named when packed;
* ``raw_text``: null, unless the table's text is not exactly what nnlife's writer produces from
  the typed values above (for instance ``1E-5`` where the writer writes ``1e-05``); then it holds
  the table's text verbatim, so :func:`unpack` reproduces every table byte for byte.

The file's key-value metadata holds ``nnlife.version``, ``nnlife.format`` (the format version)
and ``nnlife.layout`` (a one-line description of the above).
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import os
import sys
import warnings
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import closing
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence

import numpy as np

from .errors import InputError, NoTablesError, TableFormatError, _short
from .shapes import analyse
from .spec import (
    ACTIVATION_BYTES_PER_VALUE,
    BLOCK_CODES,
    BOOL_FIELDS,
    DATASETS,
    DROPOUT,
    FLOAT_FIELDS,
    LIST_FIELDS,
    MAX_ACTIVATION_BYTES,
    MAX_BATCH_SIZE,
    MAX_CONV_LAYERS,
    MAX_CONV_PADDING,
    MAX_FC_LAYERS,
    MAX_ID_LENGTH,
    MAX_PARAMS,
    MAX_WIDTH,
    POOL,
    RELU,
    NetworkSpec,
)
from .table import (
    CURVE_FIELDS,
    HEADER_FIELDS,
    TEMP_PREFIX,
    Curve,
    _spaced,
    Table,
    atomic_write_text,
    find_table_names,
    is_parquet,
    BulkTables,
    arrow_bools,
    arrow_call,
    arrow_cast,
    arrow_ints,
    arrow_numbers,
    arrow_optional_strings,
    arrow_options,
    arrow_utf8,
    arrow_words,
    format_table,
    numpy_objects,
    numpy_of,
    parse_table,
    read_bulk,
    read_table,
    repr_fields,
    table_path,
    utf8_encode,
    utf8_of,
)
from .outputs import atomic_output, check_writable

# pandas and pyarrow are imported inside the functions that need them: the worker processes
# only parse tables into numpy arrays, and starting a worker should not pay for those imports.
# Between numpy and Arrow, loading and summarising go through buffers (nnlife.table's
# numpy_of, arrow_numbers, arrow_utf8, ...): pyarrow's own conversions (to_numpy, pa.array,
# a Python scalar given to a compute function) import pandas, half a second of CPU, which only
# what returns a DataFrame needs.
if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import pyarrow as pa

FORMAT_VERSION = 1
LAYOUT = (
    "one row per network; the 24 table fields typed (lists as list<int64>); integer_fields names "
    "the float fields written as integers; trainLoss/valLoss/valAcc as list<double> per network, "
    "epochs implied 0.5, 1.0, ...; params/flops/activation_bytes/flatten_features derived; "
    "raw_text holds a table's exact text only where the writer would not reproduce it"
)

# A network has "learned" when its final validation accuracy is at least this many times the
# accuracy of guessing (100 / classes percent): 20 % on the 10-class sets, 2 % on CIFAR-100.
# Guessing on a test split of 10,000 images scatters by about 0.1-0.3 points, so twice chance
# is far outside what an untrained network reaches by luck.
LEARNED_CHANCE_MULTIPLE = 2.0


def learned(final_acc, classes):
    """Whether a network learned: its final valAcc (percent) is finite and at least
    :data:`LEARNED_CHANCE_MULTIPLE` times chance, ``100 / classes``. Scalars or arrays (then
    element-wise, a boolean array)."""
    final_acc = np.asarray(final_acc, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.isfinite(final_acc) & (final_acc >= LEARNED_CHANCE_MULTIPLE * 100.0 / np.asarray(classes))

CURVE_METRICS = ("valAcc", "valLoss", "trainLoss")
SPEC_FIELDS = NetworkSpec.field_names()
STRING_FIELDS = ("ID", "dataset", "loss_fn", "optimizer")
INT_FIELDS = ("random_seed", "batch_size")
DERIVED_INT_FIELDS = ("params", "flops", "activation_bytes", "flatten_features")
_INT64_MAX = 2**63 - 1

# Parallel loading: below this many tables (and with no explicit worker count) one process is
# faster than starting a pool.
MIN_TABLES_FOR_POOL = 200


def parquet_schema() -> "pa.Schema":
    """The columns and types of a network table and of the Parquet file (format version 1)."""
    import pyarrow as pa

    types: dict[str, pa.DataType] = {}
    for name in SPEC_FIELDS:
        if name in STRING_FIELDS:
            types[name] = pa.string()
        elif name in INT_FIELDS:
            types[name] = pa.int64()
        elif name in BOOL_FIELDS:
            types[name] = pa.bool_()
        elif name in FLOAT_FIELDS:
            types[name] = pa.float64()
        elif name in LIST_FIELDS:
            types[name] = pa.list_(pa.int64())
        else:  # pragma: no cover - every spec field is one of the above
            raise AssertionError(name)
    fields = [pa.field(name, t, nullable=False) for name, t in types.items()]
    fields.append(pa.field("integer_fields", pa.list_(pa.string()), nullable=False))
    fields += [pa.field(name, pa.list_(pa.float64()), nullable=False) for name in CURVE_FIELDS[1:]]
    fields += [pa.field(name, pa.int64(), nullable=False) for name in DERIVED_INT_FIELDS]
    fields.append(pa.field("path", pa.string(), nullable=False))
    fields.append(pa.field("raw_text", pa.string(), nullable=True))
    return pa.schema(fields)


# --------------------------------------------------------------------------------------
# What a load returns


@dataclass(frozen=True)
class Skipped:
    """A table that could not be loaded: where, and what was expected there."""

    path: str
    line: int | None
    field: str | None
    message: str  # one line: "<path>:<line>: field '<field>': expected ..., got ..."
    expected: str | None = None
    got: object = None

    def error(self) -> InputError:
        """The error this table raised, to re-raise it (``strict`` loads)."""
        if self.expected is not None:
            return TableFormatError(self.path, self.line, self.field, self.expected, self.got)
        return InputError(self.message)


@dataclass(frozen=True, eq=False)
class Lifespans:
    """A loaded data set: one row per network in :attr:`networks` (a ``pyarrow.Table`` with
    the columns of :func:`parquet_schema`), the tables that were skipped, and what was read."""

    networks: "pa.Table"
    skipped: tuple[Skipped, ...] = ()
    n_tables: int = 0  # table files read successfully
    n_parquet: int = 0  # Parquet files read
    sources: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return self.networks.num_rows

    @cached_property
    def summary(self) -> "pd.DataFrame":
        """One row per table; see :func:`summarise`, with the columns ``network`` and
        ``repeat`` of :func:`with_repeats`."""
        import pandas as pd

        return with_repeats(pd.DataFrame(self.summary_columns))

    @cached_property
    def summary_columns(self) -> dict[str, np.ndarray]:
        """The columns of :attr:`summary` as numpy arrays (what needs no pandas uses these)."""
        return summary_columns(self.networks)

    def write_summary_csv(self, out: str | Path) -> None:
        """Write :attr:`summary` as CSV, the bytes ``summary.to_csv(out, index=False)`` writes,
        without pandas (see :func:`write_csv`)."""
        write_csv(columns_with_repeats(self.summary_columns), out)

    def per_network(self) -> "pd.DataFrame":
        """One row per network, its repeats grouped; see :func:`per_network`."""
        return per_network(self.summary)

    def long(self) -> "pd.DataFrame":
        """One row per network per half epoch; see :func:`long_frame`."""
        return long_frame(self.networks)

    def tables(self) -> Iterator[Table]:
        """Every network as a :class:`~nnlife.table.Table` (spec and curve), in row order."""
        for table, _raw in _iter_tables(self.networks):
            yield table


# --------------------------------------------------------------------------------------
# Loading


def load(
    paths: str | Path | Iterable[str | Path],
    *,
    strict: bool = False,
    workers: int | None = None,
    chunk_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    _keep_text: bool = False,
) -> Lifespans:
    """Load every table under ``paths`` (files or directories, searched recursively for
    ``*.txt``, hidden files skipped) and every Parquet file named in ``paths`` (recognised by
    its content, whatever its name).

    Tables are parsed on ``workers`` processes (default: every core available; a small data set
    is parsed in this process unless ``workers`` is given) in chunks of ``chunk_size`` tables.
    A malformed table is recorded in :attr:`Lifespans.skipped` and left out; with
    ``strict=True`` the first one (in path order) is raised instead. ``progress(done, total)``
    is called with the numbers of tables handled and to handle after each chunk. Networks come
    in path order: the tables first, then the rows of each Parquet file in the order given.

    Raises :class:`~nnlife.errors.NoTablesError` (an :class:`InputError`) when the paths hold
    no table and no Parquet file.
    """
    import pyarrow as pa

    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise InputError("no input: expected at least one directory, table or Parquet file")
    parquet_files: list[Path] = []
    table_inputs: list[Path] = []
    for p in paths:
        (parquet_files if p.is_file() and is_parquet(p) else table_inputs).append(p)
    # one input cannot name a table twice; several may (a directory and its subdirectory)
    table_files = find_table_names(table_inputs) if table_inputs else []
    if len(table_inputs) > 1:
        table_files = _unique(table_files)
    if not table_files and not parquet_files:
        raise NoTablesError(f"{', '.join(map(str, paths))}: no tables (*.txt) or Parquet files found")

    parts = [read_parquet_networks(p) for p in parquet_files]
    columns, skipped = _load_tables(
        table_files,
        strict=strict,
        workers=workers,
        chunk_size=chunk_size,
        progress=progress,
        keep_text=_keep_text,
    )
    n_tables = len(table_files) - len(skipped)
    if table_files or not parts:
        parts.insert(0, columns)
    networks = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    return Lifespans(
        networks=networks,
        skipped=tuple(skipped),
        n_tables=n_tables,
        n_parquet=len(parquet_files),
        sources=tuple(str(p) for p in paths),
    )


def _unique(files: list[str]) -> list[str]:
    """Drop repeats of a file named twice (e.g. a directory and its subdirectory)."""
    seen: set[str] = set()
    out = []
    for f in files:
        key = os.path.abspath(f)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out




def default_workers() -> int:
    """The number of cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _load_tables(
    paths: list[str],
    *,
    strict: bool,
    workers: int | None,
    chunk_size: int | None,
    progress: Callable[[int, int], None] | None,
    keep_text: bool,
) -> tuple["pa.Table", list[Skipped]]:
    n = len(paths)
    use_pool = workers if workers is not None else (default_workers() if n >= MIN_TABLES_FOR_POOL else 1)
    if use_pool < 1:
        raise InputError(f"workers {workers!r}: expected a positive integer")
    if chunk_size is None:
        # A few chunks per worker balance the load; the bulk reader's cost per chunk is fixed
        # (tens of Arrow calls), and 500 tables (3.5 MB of text) keep a worker's memory small.
        chunk_size = max(8, min(500, math.ceil(n / (use_pool * 4)))) if n else 1
    if chunk_size < 1:
        raise InputError(f"chunk_size {chunk_size!r}: expected a positive integer")
    chunks = [paths[i : i + chunk_size] for i in range(0, n, chunk_size)]
    results: list[dict] = []
    skipped: list[Skipped] = []
    done = 0
    with closing(_map_chunks(chunks, keep_text, use_pool)) as replies:  # closing stops the pool
        for result in replies:
            if result["skipped"] and strict:
                raise result["skipped"][0].error()
            skipped.extend(result["skipped"])
            results.append(result)
            done += result["count"]
            if progress is not None:
                progress(done, n)
    return _assemble(results), skipped


def _map_chunks(chunks: list[list[str]], keep_text: bool, workers: int) -> Iterator[dict]:
    """Parse chunks on ``workers`` processes and yield their results in chunk order.

    At most two chunks per worker are in flight; a new one is submitted as soon as any
    finishes, so a slow chunk never leaves a worker idle (finished results wait for their turn).
    """
    if workers <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            yield _read_chunk(chunk, keep_text)
        return
    waiting = enumerate(chunks)
    finished: dict[int, dict] = {}
    turn = 0
    with ProcessPoolExecutor(max_workers=min(workers, len(chunks)), mp_context=_pool_context(),
                             initializer=_keep_freed_memory) as pool:
        running = {pool.submit(_read_chunk, c, keep_text): i for i, c in itertools.islice(waiting, 2 * workers)}
        try:
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    finished[running.pop(future)] = future.result()
                    following = next(waiting, None)
                    if following is not None:
                        running[pool.submit(_read_chunk, following[1], keep_text)] = following[0]
                while turn in finished:
                    yield finished.pop(turn)
                    turn += 1
        finally:
            for future in running:
                future.cancel()


def _keep_freed_memory() -> None:
    """In a worker (a process of nnlife's own, gone after the load): let glibc's allocator keep
    the memory a chunk frees for the next chunk, rather than hand it back to the system and
    fault it in again page by page. Each chunk allocates and frees some 10 MB of arrays; with
    the defaults (arrays above a few MB mapped and unmapped each time) the page faults were a
    quarter of a worker's CPU time. The worker's peak is unchanged: it is the memory of one
    chunk either way. Elsewhere than glibc this does nothing."""
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 32 << 20)  # the largest glibc allows
    mallopt(m_trim_threshold, 256 << 20)


def _pool_context() -> multiprocessing.context.BaseContext:
    """How worker processes start: fork on Linux, the platform's default elsewhere.

    A worker only runs nnlife's table parser and numpy, never a thread of this process, so
    fork is safe for it there; it starts in milliseconds and, unlike spawn and forkserver, does
    not re-run the user's ``__main__`` (a script without an ``if __name__ == "__main__"``
    guard, or code fed on stdin, still works). macOS and Windows have no safe fork.
    """
    if sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


def _read_chunk(paths: Sequence[str], keep_text: bool) -> dict:
    """Parse the tables of one chunk into compact arrays (this runs in a worker process).

    Returns numpy arrays, one per column, with the lists, curves and texts flattened plus their
    lengths (``lengths``, ``other["curve_lengths"]``, ``string_lengths``: texts as UTF-8 bytes,
    which cost no Python string per value here or in the main process); ``raw`` holds (row, text) for the tables
    whose text nnlife's writer would not reproduce (only looked for when ``keep_text``, i.e.
    when packing).

    The bulk reader (:func:`nnlife.table.read_bulk` and :func:`_specs_bulk`) reads the chunk at
    once; the tables it leaves (malformed or unusual ones, and when packing those whose text is
    not the writer's) go through the exact reader one by one, which names a malformed table's
    file, line and field. The two sets of rows are merged back into path order.
    """
    bulk = read_bulk(paths, canonical=keep_text)
    fast, ok = _specs_bulk(bulk, [paths[i] for i in bulk.ok.tolist()], keep_text)
    if not ok.all():
        bulk = bulk.keep(ok)
        fast = _take_rows(fast, np.flatnonzero(ok))
    if len(bulk.exact) == 0:
        fast["count"] = len(paths)
        return fast
    exact, exact_rows = _read_exact([paths[i] for i in bulk.exact.tolist()], keep_text)
    positions = np.concatenate([bulk.ok, bulk.exact[exact_rows]])
    merged = _take_rows(_concat_results([fast, exact]), np.argsort(positions, kind="stable"))
    merged["skipped"] = exact["skipped"]
    merged["count"] = len(paths)
    return merged


def _read_exact(paths: Sequence[str], keep_text: bool) -> tuple[dict, np.ndarray]:
    """Parse tables one by one with the exact reader; also returns the positions (in
    ``paths``) of the tables that gave a row."""
    parsed: list[int] = []
    strings: dict[str, list[str]] = {name: [] for name in STRING_FIELDS + ("path",)}
    ints: dict[str, list[int]] = {name: [] for name in INT_FIELDS + DERIVED_INT_FIELDS}
    bools: dict[str, list[bool]] = {name: [] for name in BOOL_FIELDS}
    floats: dict[str, list[float]] = {name: [] for name in FLOAT_FIELDS}
    int_mask: list[int] = []
    list_values: dict[str, list[int]] = {name: [] for name in LIST_FIELDS}
    list_lengths: dict[str, list[int]] = {name: [] for name in LIST_FIELDS}
    curves: dict[str, list[float]] = {name: [] for name in CURVE_METRICS}
    curve_lengths: list[int] = []
    raw: list[tuple[int, str]] = []
    skipped: list[Skipped] = []

    for position, path in enumerate(paths):
        try:
            table = read_table(path)
            spec, curve = table.spec, table.curve
            arith = analyse(spec)
            derived = {
                "params": arith.params,
                "flops": arith.flops,
                "activation_bytes": arith.activation_bytes,
                "flatten_features": arith.flatten_features,
            }
            _check_int64(path, spec, derived)
            values = {name: [float(v) for v in getattr(curve, name)] for name in CURVE_METRICS}
            text = None
            if keep_text:
                text = Path(path).read_bytes().decode("ascii")
                if _canonical_text(spec, values) == text:
                    text = None
        except TableFormatError as err:
            skipped.append(Skipped(err.path, err.line, err.field, str(err), err.expected, err.got))
            continue
        except InputError as err:
            skipped.append(Skipped(str(path), None, None, str(err)))
            continue
        except OSError as err:
            skipped.append(Skipped(str(path), None, None, f"{path}: cannot read: {err.strerror or err}"))
            continue
        except OverflowError:
            skipped.append(Skipped(str(path), None, None, f"{path}: a curve value too large for a float"))
            continue

        row = len(curve_lengths)
        parsed.append(position)
        if text is not None:
            raw.append((row, text))
        for name in STRING_FIELDS:
            strings[name].append(getattr(spec, name))
        strings["path"].append(str(path))
        for name in INT_FIELDS:
            ints[name].append(getattr(spec, name))
        for name, value in derived.items():
            ints[name].append(value)
        for name in BOOL_FIELDS:
            bools[name].append(getattr(spec, name))
        mask = 0
        for bit, name in enumerate(FLOAT_FIELDS):
            value = getattr(spec, name)
            floats[name].append(float(value))
            if isinstance(value, int):
                mask |= 1 << bit
        int_mask.append(mask)
        for name in LIST_FIELDS:
            value = getattr(spec, name)
            list_values[name].extend(value)
            list_lengths[name].append(len(value))
        for name in CURVE_METRICS:
            curves[name].extend(values[name])
        curve_lengths.append(len(curve))

    return {
        "count": len(paths),
        **_text_groups({k: utf8_encode(v) for k, v in strings.items()}),
        "ints": {k: np.array(v, dtype=np.int64) for k, v in ints.items()},
        "bools": {k: np.array(v, dtype=bool) for k, v in bools.items()},
        "floats": {k: np.array(v, dtype=np.float64) for k, v in floats.items()},
        "lists": {k: np.array(v, dtype=np.int64) for k, v in list_values.items()},
        "lengths": {k: np.array(v, dtype=np.int64) for k, v in list_lengths.items()},
        "curves": {k: np.array(v, dtype=np.float64) for k, v in curves.items()},
        "other": {
            "int_mask": np.array(int_mask, dtype=np.uint8),
            "curve_lengths": np.array(curve_lengths, dtype=np.int64),
        },
        "rows": len(curve_lengths),  # tables parsed (count minus skipped)
        "raw": raw,
        "skipped": skipped,
    }, np.array(parsed, dtype=np.int64)


# The bulk reader's grammar for line 2, stricter than the exact reader's (never looser): what
# it refuses goes to the exact reader. Integers are written without leading zeros, list entries
# have at most 9 digits (so the shape arithmetic below stays far inside int64), numbers are
# written as Python writes them (``0``, ``0.5``, ``1e-05``), never negative.
_BULK_INT = r"(0|[1-9][0-9]{0,17})"
_BULK_ENTRY = r"(0|[1-9][0-9]{0,8})"
_BULK_LIST = rf"^({_BULK_ENTRY}(-{_BULK_ENTRY})*)?$"
_BULK_FLOAT = r"^[0-9]+\.[0-9]+(e[-+][0-9]+)?$|^[0-9]+e[-+][0-9]+$"
_BULK_LIMIT = 2.0**62  # derived integers beyond this are left to the exact (Python int) arithmetic


def _specs_bulk(bulk: BulkTables, paths: list[str], keep_text: bool) -> tuple[dict, np.ndarray]:
    """The spec columns of the bulk reader's tables, checked and analysed for all tables at
    once: :meth:`NetworkSpec.from_row`'s parsing and checks and :func:`nnlife.shapes.analyse`'s
    arithmetic, in numpy. Returns the chunk result (as :func:`_read_chunk`) and a mask of the
    tables it vouches for; the others must go through the exact reader (which gives the same
    values or names the problem). Written out in numpy because per-table Python objects cost
    hundreds of microseconds a table; the exact reader stays the reference, and tests compare
    the two on every kind of table."""
    import pyarrow as pa

    meta = bulk.meta
    n = len(bulk.ok)
    ok = np.ones(n, dtype=bool)

    # (numpy_of, arrow_bools and arrow_ints rather than pyarrow's conversions: those import
    # pandas, which a worker never needs). Fields of one grammar are checked in one call on
    # their texts one after the other (field by field): Arrow compiles a pattern per call.
    def stacked(names: Sequence[str]) -> "pa.Array":
        return pa.concat_arrays([meta[name] for name in names])

    def regex(array: "pa.Array", pattern: str) -> np.ndarray:
        return numpy_of(arrow_call("match_substring_regex", array, options=arrow_options("MatchSubstringOptions", pattern)))

    def matches(name: str, pattern: str) -> np.ndarray:
        return regex(meta[name], pattern)

    def numbers(array: "pa.Array", good: np.ndarray, kind) -> np.ndarray:
        """The texts that are ``good`` as numbers of type ``kind`` (0 elsewhere)."""
        where = np.flatnonzero(good)
        out = np.zeros(len(good), dtype=np.int64 if kind == pa.int64() else np.float64)
        if len(where):
            out[where] = numpy_of(arrow_cast(arrow_call("take", array, arrow_ints(where)), kind))
        return out

    # the spec's bounds too (nnlife.spec._check): a table beyond one goes to the exact reader,
    # which names its field
    ok &= matches("ID", rf"^[A-Za-z0-9_-][A-Za-z0-9._-]{{0,{MAX_ID_LENGTH - 1}}}$")  # a safe file name
    text = stacked(INT_FIELDS)
    good = regex(text, rf"^{_BULK_INT}$")
    values = numbers(text, good, pa.int64()).reshape(len(INT_FIELDS), n)
    ok &= good.reshape(len(INT_FIELDS), n).all(axis=0)
    ints = {name: values[k] for k, name in enumerate(INT_FIELDS)}
    ok &= (ints["random_seed"] < 2**32) & (ints["batch_size"] >= 1) & (ints["batch_size"] <= MAX_BATCH_SIZE)
    text = stacked(BOOL_FIELDS)
    true, false = (regex(text, word).reshape(len(BOOL_FIELDS), n) for word in ("^True$", "^False$"))
    ok &= (true | false).all(axis=0)
    bools = {name: true[k] for k, name in enumerate(BOOL_FIELDS)}
    ok &= matches("loss_fn", "^CrossEntropyLoss$") & matches("optimizer", "^SGD$")
    names = list(DATASETS)
    which = np.full(n, -1, dtype=np.int64)
    for k, name in enumerate(names):
        which[matches("dataset", f"^{name}$")] = k
    ok &= which >= 0
    which = np.maximum(which, 0)
    channels, classes, side = (np.array([getattr(DATASETS[d], a) for d in names], dtype=np.int64)[which]
                               for a in ("channels", "classes", "side"))

    text = stacked(FLOAT_FIELDS)
    is_int = regex(text, rf"^{_BULK_INT}$")
    is_float = regex(text, _BULK_FLOAT) & (numpy_of(arrow_call("binary_length", text)) <= 25)
    values = numbers(text, is_int | is_float, pa.float64())
    good = (is_int | is_float) & np.isfinite(values)
    ok &= good.reshape(len(FLOAT_FIELDS), n).all(axis=0)
    if keep_text:  # the writer writes repr of a float: the text must be exactly that
        where = np.flatnonzero(is_float & good & np.tile(ok, len(FLOAT_FIELDS)))
        data, lengths = utf8_of(arrow_call("take", text, arrow_ints(where)))
        canonical = repr_fields(_spaced(data, lengths), values[where])
        wrong = np.zeros(len(values), dtype=bool)
        wrong[where[~canonical]] = True
        ok &= ~wrong.reshape(len(FLOAT_FIELDS), n).any(axis=0)
    values = values.reshape(len(FLOAT_FIELDS), n)
    is_int = is_int.reshape(len(FLOAT_FIELDS), n)
    floats = {name: values[bit] for bit, name in enumerate(FLOAT_FIELDS)}
    int_mask = np.zeros(n, dtype=np.uint8)
    for bit in range(len(FLOAT_FIELDS)):
        int_mask |= is_int[bit].astype(np.uint8) << bit
    ok &= floats["learning_rate"] > 0
    for name in ("dropout_rate", "FC_dropout_rate"):
        ok &= floats[name] < 1  # >= 0 by the grammar

    text = stacked(LIST_FIELDS)
    good = regex(text, _BULK_LIST)
    ok &= good.reshape(len(LIST_FIELDS), n).all(axis=0)
    text = arrow_call("filter", text, arrow_bools(good))  # the list texts of good tables only
    split = arrow_call("split_pattern", text, options=arrow_options("SplitPatternOptions", "-"))
    parts = numpy_of(arrow_call("list_value_length", split)).astype(np.int64)
    empty = numpy_of(arrow_call("binary_length", text)) == 0  # "" splits into [""]: no entries
    tokens = arrow_call("filter", arrow_call("list_flatten", split), arrow_bools(np.repeat(~empty, parts)))
    counts = np.zeros(len(good), dtype=np.int64)
    counts[good] = np.where(empty, 0, parts)
    entries = numpy_of(arrow_cast(tokens, pa.int64()))
    counts = counts.reshape(len(LIST_FIELDS), n)
    ends = np.cumsum(counts.sum(axis=1))
    lists = {name: (entries[ends[k] - counts[k].sum() : ends[k]], counts[k]) for k, name in enumerate(LIST_FIELDS)}

    def padded(*names: str) -> list[np.ndarray]:
        """Lists as rows of one 2-D array each, zero-padded to the longest of them."""
        width = max(1, *(int(lists[name][1].max(initial=0)) for name in names))
        out = []
        for name in names:
            values, counts = lists[name]
            array = np.zeros((n, width), dtype=np.int64)
            array[np.repeat(np.arange(n), counts), np.arange(len(values)) - np.repeat(_offsets(counts)[:-1], counts)] = values
            out.append(array)
        return out

    def any_per_table(name: str, bad_value: np.ndarray) -> np.ndarray:
        counts = lists[name][1]
        return np.bincount(np.repeat(np.arange(n), counts)[bad_value], minlength=n) > 0

    n_conv = lists["layer_types"][1]
    codes = lists["layer_types"][0]
    ok &= (n_conv >= 1) & (n_conv <= MAX_CONV_LAYERS)
    ok &= ~any_per_table("layer_types", ~np.isin(codes, np.array(BLOCK_CODES)))
    for name in ("convKernels", "convStrides", "convPaddings", "convFilters"):
        ok &= lists[name][1] == n_conv
    n_pool = np.bincount(np.repeat(np.arange(n), n_conv), weights=(codes & POOL) > 0, minlength=n).astype(np.int64)
    for name in ("poolKernels", "poolStrides", "poolPaddings"):
        ok &= lists[name][1] == n_pool
    n_fc = lists["FCFilters"][1]
    ok &= (n_fc >= 1) & (n_fc <= MAX_FC_LAYERS)
    ok &= lists["FC_dropout_layers"][1] == n_fc - 1
    ok &= ~any_per_table("FC_dropout_layers", lists["FC_dropout_layers"][0] > 1)
    for name in ("FCFilters", "convFilters", "convStrides", "poolStrides"):
        ok &= ~any_per_table(name, lists[name][0] < 1)
    for name in ("FCFilters", "convFilters"):
        ok &= ~any_per_table(name, lists[name][0] > MAX_WIDTH)
    ok &= ~any_per_table("convPaddings", lists["convPaddings"][0] > MAX_CONV_PADDING)
    fc, flags = padded("FCFilters", "FC_dropout_layers")
    ok &= fc[np.arange(n), np.maximum(n_fc - 1, 0)] == classes

    # The spatial walk of _check and the arithmetic of analyse, layer by layer for all tables;
    # every sum also in float64, so a network whose numbers leave int64 goes to the exact path.
    lt, ck, cs, cp, cf = padded("layer_types", "convKernels", "convStrides", "convPaddings", "convFilters")
    pk_, ps_, pp_ = padded("poolKernels", "poolStrides", "poolPaddings")
    d, c = side.copy(), channels.copy()
    params, flops, act = (np.zeros(n, dtype=np.int64) for _ in range(3))
    fparams, fflops, fact = (np.zeros(n) for _ in range(3))
    pool_i = np.zeros(n, dtype=np.int64)
    rows = np.arange(n)
    for i in range(lt.shape[1]):
        on = ok & (i < n_conv)
        k, stride, p, f, code = ck[:, i], np.maximum(cs[:, i], 1), cp[:, i], cf[:, i], lt[:, i]
        ok &= ~(on & ((k < 1) | (k > d + 2 * p) | (cs[:, i] > d + 2 * p)))
        on &= ok
        d = np.where(on, (d + 2 * p - k) // stride + 1, d)
        size = f * d * d
        fsize = f.astype(float) * d * d
        params += on * (f * c * k * k + f)
        fparams += on * (f.astype(float) * c * k * k + f)
        flops += on * size * (2 * c * k * k + 1)
        fflops += on * fsize * (2.0 * c * k * k + 1)
        act += on * size
        fact += on * fsize
        c = np.where(on, f, c)
        relu = on & ((code & RELU) > 0)
        flops += relu * size
        fflops += relu * fsize
        layers = relu.astype(np.int64) + (on & ((code & DROPOUT) > 0))  # ReLU and dropout keep one output each
        act += layers * size
        fact += layers * fsize
        pool = on & ((code & POOL) > 0)
        j = np.minimum(pool_i, pk_.shape[1] - 1)
        pk, ps, pp = pk_[rows, j], np.maximum(ps_[rows, j], 1), pp_[rows, j]
        ok &= ~(pool & ((pk < 1) | (pk > d + 2 * pp) | (pp > pk // 2) | (ps_[rows, j] > d + 2 * pp)))
        pool &= ok
        d = np.where(pool, (d + 2 * pp - pk) // ps + 1, d)
        size = c * d * d
        fsize = c.astype(float) * d * d
        flops += pool * size * (pk * pk - 1)
        fflops += pool * fsize * (pk.astype(float) * pk - 1)
        act += pool * size
        fact += pool * fsize
        pool_i += pool
    features = c * d * d
    ffeatures = c.astype(float) * d * d
    width, fwidth = features.copy(), ffeatures.copy()
    for j in range(fc.shape[1]):
        on = ok & (j < n_fc)
        w = fc[:, j]
        params += on * (w * width + w)
        fparams += on * (w.astype(float) * fwidth + w)
        flops += on * w * (2 * width + 1)
        fflops += on * w * (2.0 * fwidth + 1)
        dropout = on & (j < n_fc - 1) & (flags[:, min(j, flags.shape[1] - 1)] > 0)
        layers = on.astype(np.int64) + dropout
        act += layers * w
        fact += layers * w.astype(float)
        width = np.where(on, w, width)
        fwidth = np.where(on, w.astype(float), fwidth)
    ok &= (fparams < _BULK_LIMIT) & (fflops < _BULK_LIMIT) & (4 * fact < _BULK_LIMIT) & (ffeatures < _BULK_LIMIT)
    ok &= (params <= MAX_PARAMS) & (ACTIVATION_BYTES_PER_VALUE * act <= MAX_ACTIVATION_BYTES)
    if keep_text and bulk.canonical is not None:
        ok &= bulk.canonical

    ints.update(params=params, flops=flops, activation_bytes=4 * act, flatten_features=features)
    result = {
        **_text_groups({**{name: utf8_of(meta[name]) for name in STRING_FIELDS}, "path": utf8_encode(paths)}),
        "ints": ints,
        "bools": bools,
        "floats": floats,
        "lists": {name: lists[name][0] for name in LIST_FIELDS},
        "lengths": {name: lists[name][1] for name in LIST_FIELDS},
        "curves": dict(bulk.curves),
        "other": {"int_mask": int_mask, "curve_lengths": bulk.rows.astype(np.int64)},
        "rows": n,
        "raw": [],
        "skipped": [],
    }
    return result, ok


def _text_groups(texts: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict:
    """The groups of a chunk result that hold its text columns: ``strings`` (each column's
    UTF-8 bytes, one after the other) and ``string_lengths`` (bytes per row)."""
    return {"strings": {name: t[0] for name, t in texts.items()},
            "string_lengths": {name: t[1] for name, t in texts.items()}}


def _ragged_lengths(result: dict, group: str, name: str) -> np.ndarray:
    if group == "strings":
        return result["string_lengths"][name]
    return result["other"]["curve_lengths"] if group == "curves" else result["lengths"][name]


def _take_rows(result: dict, order: np.ndarray) -> dict:
    """The rows ``order`` of a chunk result, in that order (``raw`` follows its rows)."""
    out: dict = {"count": result.get("count", 0), "rows": len(order), "skipped": result["skipped"]}
    for group in ("ints", "bools", "floats", "lengths", "string_lengths", "other"):
        out[group] = {name: values[order] for name, values in result[group].items()}
    for group in ("lists", "curves", "strings"):
        out[group] = {}
        for name, values in result[group].items():
            lengths = _ragged_lengths(result, group, name)
            starts = _offsets(lengths)[:-1][order]
            out[group][name] = values[_ranges(starts, lengths[order])]
    new_row = np.full(result["rows"], -1, dtype=np.int64)
    new_row[order] = np.arange(len(order))
    out["raw"] = sorted((int(new_row[row]), text) for row, text in result["raw"] if new_row[row] >= 0)
    return out


def _concat_results(results: list[dict]) -> dict:
    """Chunk results one after the other, as one result."""
    out: dict = {"count": sum(r.get("count", 0) for r in results), "rows": sum(r["rows"] for r in results)}
    for group in ("strings", "string_lengths", "ints", "bools", "floats", "lengths", "other", "lists", "curves"):
        out[group] = {name: np.concatenate([r[group][name] for r in results]) for name in results[0][group]}
    out["raw"], out["skipped"], base = [], [], 0
    for r in results:
        out["raw"].extend((base + row, text) for row, text in r["raw"])
        out["skipped"].extend(r["skipped"])
        base += r["rows"]
    return out


def _check_int64(path: object, spec: NetworkSpec, derived: dict[str, int]) -> None:
    """Integers must fit the file's int64 columns."""
    for name in INT_FIELDS + LIST_FIELDS:
        value = getattr(spec, name)
        biggest = max(value, default=0) if isinstance(value, tuple) else value
        if biggest > _INT64_MAX:
            raise TableFormatError(path, 2, name, "integers below 2**63", biggest)
    for name, value in derived.items():
        if value > _INT64_MAX:
            raise TableFormatError(path, 2, None, f"a network whose {name} is below 2**63", value)


def _canonical_text(spec: NetworkSpec, values: dict[str, list[float]]) -> str:
    """The text nnlife writes for the typed values a Parquet row keeps."""
    return format_table(spec, Curve.from_halves(values["trainLoss"], values["valLoss"], values["valAcc"]))


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The indices of the ranges ``starts[i] : starts[i] + lengths[i]``, concatenated."""
    offsets = _offsets(lengths)
    return np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1], dtype=np.int64)


def _offsets(lengths: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets


def _assemble(results: list[dict]) -> "pa.Table":
    """Concatenate the chunks' arrays into one table with :func:`parquet_schema`. Each chunk's
    array is dropped once it is copied, so the peak stays near one copy of the data."""
    import pyarrow as pa

    schema = parquet_schema()
    kept: dict[int, str] = {}  # row -> verbatim text, for the few tables that keep theirs
    base = 0
    for r in results:
        kept.update((base + row, text) for row, text in r.pop("raw"))
        base += r["rows"]

    def cat(group: str, name: str, dtype: object) -> np.ndarray:
        arrays = [r[group].pop(name) for r in results]
        return np.concatenate(arrays) if arrays else np.zeros(0, dtype=dtype)

    def list_array(values: "pa.Array", lengths: np.ndarray) -> "pa.Array":
        return pa.ListArray.from_arrays(arrow_numbers(_offsets(lengths), pa.int32()), values)

    columns: dict[str, pa.Array] = {}
    for name in SPEC_FIELDS:
        if name in STRING_FIELDS:
            columns[name] = arrow_utf8(cat("strings", name, np.uint8), cat("string_lengths", name, np.int64))
        elif name in INT_FIELDS:
            columns[name] = arrow_numbers(cat("ints", name, np.int64), pa.int64())
        elif name in BOOL_FIELDS:
            columns[name] = arrow_bools(cat("bools", name, bool))
        elif name in FLOAT_FIELDS:
            columns[name] = arrow_numbers(cat("floats", name, np.float64), pa.float64())
        else:
            values = arrow_numbers(cat("lists", name, np.int64), pa.int64())
            columns[name] = list_array(values, cat("lengths", name, np.int64))
    # integer_fields: the names of the set bits of each mask, in bit order
    masks = cat("other", "int_mask", np.uint8)
    bits = (masks[:, None] >> np.arange(len(FLOAT_FIELDS), dtype=np.uint8)) & 1 > 0
    names = arrow_words(FLOAT_FIELDS, np.nonzero(bits)[1])
    columns["integer_fields"] = list_array(names, bits.sum(axis=1))
    lengths = cat("other", "curve_lengths", np.int64)
    for name in CURVE_FIELDS[1:]:
        columns[name] = list_array(arrow_numbers(cat("curves", name, np.float64), pa.float64()), lengths)
    for name in DERIVED_INT_FIELDS:
        columns[name] = arrow_numbers(cat("ints", name, np.int64), pa.int64())
    columns["path"] = arrow_utf8(cat("strings", "path", np.uint8), cat("string_lengths", "path", np.int64))
    columns["raw_text"] = arrow_optional_strings([kept.get(i) for i in range(base)] if kept else [None] * base)
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)


# --------------------------------------------------------------------------------------
# Parquet


def read_parquet_networks(path: str | Path) -> "pa.Table":
    """The network table of a Parquet file written by :func:`pack`, checked against
    :func:`parquet_schema`. Raises :class:`InputError` for anything else."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = Path(path)
    try:
        # ParquetFile rather than read_table: read_table goes through pyarrow.dataset, which
        # imports pandas (half a second of `nnlife load FILE.parquet`)
        with pq.ParquetFile(path) as handle:
            networks = handle.read()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, pa.ArrowException) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"{path}: not a readable Parquet file ({first})") from None
    meta = networks.schema.metadata or {}
    version = meta.get(b"nnlife.format")
    if version is None:
        raise InputError(f"{path}: not an nnlife Parquet file (no 'nnlife.format' in its metadata)")
    try:
        version_number = int(version)
    except ValueError:
        raise InputError(f"{path}: metadata 'nnlife.format': expected an integer, got {version!r}") from None
    if version_number > FORMAT_VERSION:
        raise InputError(
            f"{path}: metadata 'nnlife.format': expected a format version <= {FORMAT_VERSION}, "
            f"got {version_number} (written by a newer nnlife)"
        )
    schema = parquet_schema()
    for want in schema:
        if want.name not in networks.column_names:
            raise InputError(f"{path}: column '{want.name}': expected a column of type {want.type}, got none")
        got = networks.schema.field(want.name).type
        if got != want.type:
            raise InputError(f"{path}: column '{want.name}': expected type {want.type}, got {got}")
        if not want.nullable and networks[want.name].null_count:
            raise InputError(f"{path}: column '{want.name}': expected no missing values")
    networks = networks.select(schema.names).cast(schema)
    if networks.num_rows:
        lengths = [numpy_of(pc.list_value_length(networks[name])) for name in CURVE_FIELDS[1:]]
        bad = np.flatnonzero((lengths[0] < 1) | (lengths[0] != lengths[1]) | (lengths[0] != lengths[2]))
        if len(bad):
            row = int(bad[0])
            raise InputError(
                f"{path}: row {row} ({networks['ID'][row].as_py()}): expected trainLoss, valLoss and "
                "valAcc of one equal, non-zero length"
            )
    return networks.combine_chunks()


def write_parquet(networks: "pa.Table", out: str | Path) -> Path:
    """Write a network table as one Parquet file, atomically (a hidden temporary file in the
    same directory renamed over ``out``), with nnlife's version and format in its metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from . import __version__

    out = Path(out)
    meta = {
        b"nnlife.version": __version__.encode(),
        b"nnlife.format": str(FORMAT_VERSION).encode(),
        b"nnlife.layout": LAYOUT.encode(),
    }
    schema = parquet_schema()
    if networks.schema.equals(schema):
        # The usual case (a table nnlife loaded): the same columns with the schema's metadata.
        # Table.cast would give the same table but imports pyarrow.compute (60 ms of `pack`).
        table = pa.Table.from_arrays(networks.columns, schema=schema.with_metadata(meta))
    else:
        table = networks.cast(schema).replace_schema_metadata(meta)
    # Dictionaries only for the text columns (repeated data sets, paths' folders): the curves
    # and numbers are nearly all distinct, and trying a dictionary for them took half of the
    # write for a larger file.
    text = [f.name for f in table.schema if f.type in (pa.string(), pa.list_(pa.string()))]
    with atomic_output(out) as tmp:  # any failed write: one OutputError naming `out`
        pq.write_table(table, tmp, compression="zstd", use_dictionary=text)
    return out


def pack(
    paths: str | Path | Iterable[str | Path],
    out: str | Path,
    *,
    strict: bool = False,
    workers: int | None = None,
) -> Lifespans:
    """Load a data set (as :func:`load` does) and write it as one Parquet file ``out`` from
    which :func:`unpack` writes every table back byte for byte. Two networks with the same
    data set and ID would be one file when unpacked, so they are refused."""
    data = load(paths, strict=strict, workers=workers, _keep_text=True)
    ids = data.networks["ID"].to_pylist()
    datasets = data.networks["dataset"].to_pylist()
    where = data.networks["path"].to_pylist()
    first: dict[tuple[str, str], str] = {}
    for key, path in zip(zip(datasets, ids), where):
        if key in first:
            raise InputError(
                f"{path}: field 'ID': expected an ID unique within data set {key[0]}, "
                f"got {key[1]!r} (also in {first[key]})"
            )
        first[key] = path
    write_parquet(data.networks, out)
    return data


def _iter_tables(networks: "pa.Table") -> Iterator[tuple[Table, str | None]]:
    columns = {name: networks[name].to_pylist() for name in networks.column_names}
    for i in range(networks.num_rows):
        integer = set(columns["integer_fields"][i])
        values: dict[str, object] = {}
        for name in SPEC_FIELDS:
            value = columns[name][i]
            if name in FLOAT_FIELDS and name in integer:
                value = int(value)
            values[name] = value
        spec = NetworkSpec(**values)
        curve = Curve.from_halves(columns["trainLoss"][i], columns["valLoss"][i], columns["valAcc"][i])
        yield Table(spec, curve, Path(columns["path"][i])), columns["raw_text"][i]


def unpack(parquet: str | Path, out_dir: str | Path) -> list[Path]:
    """Write every network of a packed Parquet file as its published table,
    ``<out_dir>/<Dataset dir>_models/<ID>.txt`` (atomically). Returns the paths written.

    Nothing is written unless every row can be: each row must make a valid spec whose ID is a
    safe file name (see :mod:`nnlife.spec`), no two rows may share a data set and ID (they
    would be one file), a row's ``raw_text`` must parse to that row's own spec and curve, and
    ``out_dir`` must be writable. Each refusal is one :class:`InputError` naming the file and
    row (rows count from 0)."""
    parquet = Path(parquet)
    networks = read_parquet_networks(parquet)
    check_writable(out_dir, create=False)
    jobs: list[tuple[Path, str]] = []
    first: dict[tuple[str, str], int] = {}
    ids = networks["ID"].to_pylist()
    rows = _unpack_rows(parquet, networks, ids)
    for row, (table, raw) in enumerate(rows):
        key = (table.spec.dataset, table.spec.ID)
        if key in first:
            raise InputError(
                f"{parquet}: rows {first[key]} and {row}: field 'ID': expected an ID unique within "
                f"data set {key[0]}, got {key[1]!r} twice (they would be one table file)"
            )
        first[key] = row
        if raw is not None:
            _check_raw_text(parquet, row, raw, table)
        jobs.append((table_path(out_dir, table.spec), raw if raw is not None else format_table(table.spec, table.curve)))
    check_writable(out_dir)
    return [atomic_write_text(path, text) for path, text in jobs]


def _unpack_rows(parquet: Path, networks: "pa.Table", ids: list[str]) -> Iterator[tuple[Table, str | None]]:
    """The rows of a packed file as tables; a row that is not a valid spec is named."""
    rows = _iter_tables(networks)
    row = 0
    while True:
        try:
            item = next(rows)
        except StopIteration:
            return
        except InputError as err:  # a SpecError: field and expectation, without file or row
            raise InputError(f"{parquet}: row {row} (ID {_short(ids[row])}): {err}") from None
        yield item
        row += 1


def _check_raw_text(parquet: Path, row: int, raw: str, table: Table) -> None:
    """A row's verbatim text must be a table of the row's own network and curve (the same
    spec, and the same values as floats: the text may write them differently, ``1`` for
    ``1.0``, which is why it was kept)."""
    where = f"{parquet}: row {row}: column 'raw_text'"
    try:
        parsed = parse_table(raw)
    except TableFormatError as err:
        at = f" line {err.line}," if err.line else ""
        field = f" field '{err.field}':" if err.field else ""
        got = "" if err.got is None else f", got {_short(err.got)}"
        raise InputError(f"{where}:{at}{field} expected {err.expected}{got}") from None

    def floats(curve: Curve) -> list[list[str]]:
        return [[repr(float(v)) for v in getattr(curve, name)] for name in CURVE_FIELDS]

    try:
        same = parsed.spec == table.spec and floats(parsed.curve) == floats(table.curve)
    except OverflowError:  # a value no float holds cannot be the row's
        same = False
    if not same:
        raise InputError(f"{where}: expected the table of this row's network and curve, got the text of another table")


# --------------------------------------------------------------------------------------
# Summaries


def _flat_list(column: "pa.ChunkedArray | pa.Array", copy: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Values and lengths of a list column, as numpy arrays (the values a read-only view of
    Arrow's where they can be, with ``copy=False``)."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):  # (combining one chunk would copy it)
        column = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    values = numpy_of(arrow_call("list_flatten", column), copy=copy)
    return values, numpy_of(arrow_call("list_value_length", column)).astype(np.int64)


def _list_text(column: "pa.ChunkedArray") -> np.ndarray:
    """A list column as the table's text: integers joined by '-'."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    dashes = arrow_words(["-"], np.zeros(len(column), dtype=np.int64))  # an array, not the scalar "-" (see above)
    return numpy_objects(arrow_call("binary_join", arrow_cast(column, pa.list_(pa.string())), dashes))


def curve_stats(values: np.ndarray, lengths: np.ndarray, best: str) -> dict[str, np.ndarray]:
    """Per-network metrics of flattened curves (``lengths[i]`` values of network i, each >= 1).

    Returns arrays ``max``, ``min``, ``mean``, ``final`` and ``best_epoch``. ``max``, ``min``,
    ``mean`` and the best (``best="max"`` for accuracy, ``"min"`` for losses) are over the finite
    values only (NaN and +-inf left out), NaN when a curve has none; ``best_epoch`` is the first
    epoch (0.5, 1.0, ...) at which the best value occurs. ``final`` is the last value as
    measured, which may be NaN or inf. (Also ``nonfinite_epoch``: the first epoch of a NaN or
    inf value, NaN if none.)

    Computed over blocks of whole networks in buffers made once: a temporary array of every
    value (36 MB for 60,000 networks) is memory the system hands out page by page, and
    faulting those pages in took most of a large summary's time.
    """
    n = len(lengths)
    keys = ("max", "min", "mean", "final", "best_epoch", "nonfinite_epoch")
    if n == 0:
        return {key: np.zeros(0, dtype=np.float64) for key in keys}
    offsets = _offsets(lengths)
    out = {key: np.empty(n, dtype=np.float64) for key in keys}
    size = max(_STATS_BLOCK, int(lengths.max()))
    work = np.empty(min(size, len(values)), dtype=np.float64)
    finite, other, hit = (np.empty(len(work), dtype=bool) for _ in range(3))
    a = 0
    while a < n:
        # the networks a..b-1, at most `size` values (or one longer network)
        b = max(a + 1, int(np.searchsorted(offsets, offsets[a] + size, side="right")) - 1)
        b = min(b, n)
        v = values[offsets[a] : offsets[b]]
        k = len(v)
        local = offsets[a : b + 1] - offsets[a]
        starts = local[:-1]
        fin, nf, w, eq = finite[:k], other[:k], work[:k], hit[:k]
        np.isfinite(v, out=fin)
        np.logical_not(fin, out=nf)
        count = np.add.reduceat(fin, starts, dtype=np.int64)
        none = count == 0
        np.copyto(w, v)
        np.copyto(w, -np.inf, where=nf)
        hi = np.maximum.reduceat(w, starts)
        np.copyto(w, np.inf, where=nf)
        lo = np.minimum.reduceat(w, starts)
        np.copyto(w, 0.0, where=nf)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            mean = np.add.reduceat(w, starts) / count
        hi[none] = np.nan
        lo[none] = np.nan
        mean[none] = np.nan
        target = hi if best == "max" else lo
        np.equal(v, np.repeat(target, lengths[a:b]), out=eq)
        eq &= fin
        out["max"][a:b], out["min"][a:b], out["mean"][a:b] = hi, lo, mean
        out["best_epoch"][a:b] = first_epoch(eq, local)
        out["nonfinite_epoch"][a:b] = first_epoch(nf, local)
        out["final"][a:b] = v[local[1:] - 1]
        a = b
    return out


# values per block of curve_stats: 8 MB buffers
_STATS_BLOCK = 1 << 20


def first_epoch(mask: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """For each network (rows ``offsets[i]:offsets[i+1]`` of a flattened curve), the epoch
    (0.5, 1.0, ...) of its first row where ``mask`` is true; NaN where there is none."""
    starts, ends = offsets[:-1], offsets[1:]
    hits = np.flatnonzero(mask)
    if len(hits) == 0:
        return np.full(len(starts), np.nan)
    k = np.searchsorted(hits, starts)  # the first hit at or after each network's first row
    index = hits[np.minimum(k, len(hits) - 1)]
    found = (k < len(hits)) & (index < ends)
    return np.where(found, 0.5 * (index - starts + 1), np.nan)


def summarise(networks: "pa.Table") -> "pd.DataFrame":
    """One row per network of a network table.

    Columns, in order:

    * ``ID``, ``dataset``, ``path`` (the table it came from), ``classes``;
    * structure: ``n_conv``, ``n_fc`` (layers, the last FC layer included), ``params``,
      ``flops`` (forward, per image, multiply-add = 2), ``activation_bytes`` and
      ``flatten_features`` (from :func:`nnlife.shapes.analyse`), ``n_pool``, ``n_relu`` and
      ``n_conv_dropout`` (conv blocks with pooling, ReLU, dropout), ``n_fc_dropout`` (dropout
      layers between FC layers), ``conv_filters_max`` and ``conv_filters_total``;
    * the spec's fields under their table names (``random_seed`` ... ``FCFilters``; lists as
      the table's text, integers joined by ``-``);
    * ``n_rows`` (half epochs recorded; fewer than 80 for an early-stopped network) and
      ``final_epoch``;
    * for each of ``valAcc``, ``valLoss``, ``trainLoss``: ``<name>_max``, ``_min``, ``_mean``,
      ``_final`` and ``_best_epoch`` (max for accuracy, min for losses), as :func:`curve_stats`
      defines them: over finite values only, ``_final`` as measured;
    * ``learned``: the final valAcc is finite and at least twice chance (100 / classes percent:
      20 % on FashionMNIST and SVHN, 2 % on CIFAR-100);
    * ``diverged``: some value of the three curves is NaN or inf; ``diverged_epoch``: the first
      epoch with such a value (NaN if none).
    """
    import pandas as pd

    return pd.DataFrame(summary_columns(networks))


def summary_columns(networks: "pa.Table") -> dict[str, np.ndarray]:
    """The columns of :func:`summarise` as numpy arrays, in order (no pandas needed)."""
    n = networks.num_rows
    col: dict[str, object] = {}
    col["ID"] = numpy_objects(networks["ID"])
    dataset = numpy_objects(networks["dataset"])
    col["dataset"] = dataset
    col["path"] = numpy_objects(networks["path"])
    classes_of = {name: info.classes for name, info in DATASETS.items()}
    classes = np.array([classes_of[d] for d in dataset.tolist()], dtype=np.int64)
    col["classes"] = classes

    lists = {name: _flat_list(networks[name]) for name in LIST_FIELDS}
    codes, n_conv = lists["layer_types"]
    segment = np.repeat(np.arange(n), n_conv)

    def per_network(weights: np.ndarray, seg: np.ndarray) -> np.ndarray:
        return np.bincount(seg, weights=weights, minlength=n).astype(np.int64)

    col["n_conv"] = n_conv
    col["n_fc"] = lists["FCFilters"][1]
    for name in DERIVED_INT_FIELDS:
        col[name] = numpy_of(networks[name])
    col["n_pool"] = per_network((codes & POOL) > 0, segment)
    col["n_relu"] = per_network((codes & RELU) > 0, segment)
    col["n_conv_dropout"] = per_network((codes & DROPOUT) > 0, segment)
    flags, n_flags = lists["FC_dropout_layers"]
    col["n_fc_dropout"] = per_network(flags, np.repeat(np.arange(n), n_flags))
    filters, n_filters = lists["convFilters"]
    if n:
        col["conv_filters_max"] = np.maximum.reduceat(filters, _offsets(n_filters)[:-1]).astype(np.int64)
    else:
        col["conv_filters_max"] = np.zeros(0, dtype=np.int64)
    col["conv_filters_total"] = per_network(filters, np.repeat(np.arange(n), n_filters))

    for name in SPEC_FIELDS:
        if name in ("ID", "dataset"):
            continue
        if name in LIST_FIELDS:
            col[name] = _list_text(networks[name])
        elif name in STRING_FIELDS:
            col[name] = numpy_objects(networks[name])
        else:
            col[name] = numpy_of(networks[name])

    curves = {name: _flat_list(networks[name], copy=False) for name in CURVE_METRICS}
    lengths = curves["valAcc"][1]
    col["n_rows"] = lengths
    col["final_epoch"] = 0.5 * lengths
    nonfinite = {}
    for name in CURVE_METRICS:
        stats = curve_stats(curves[name][0], lengths, "max" if name == "valAcc" else "min")
        nonfinite[name] = stats["nonfinite_epoch"]
        for key in ("max", "min", "mean", "final", "best_epoch"):
            col[f"{name}_{key}"] = stats[key]
    col["learned"] = learned(col["valAcc_final"], classes)
    # the first epoch with a NaN or inf in any of the curves
    diverged_epoch = np.fmin(np.fmin(nonfinite["valAcc"], nonfinite["valLoss"]), nonfinite["trainLoss"])
    col["diverged"] = ~np.isnan(diverged_epoch)
    col["diverged_epoch"] = diverged_epoch
    return col


def long_frame(networks: "pa.Table") -> "pd.DataFrame":
    """One row per network per half epoch: the 28 table columns with the network's metadata
    on every row (not only on its first). Curve columns and numbers are float64/int64/bool;
    ``ID``, ``dataset``, ``loss_fn``, ``optimizer`` and the list fields (as the table's text)
    are categoricals, so the frame stays small."""
    import pandas as pd

    n = networks.num_rows
    curves = {name: _flat_list(networks[name]) for name in CURVE_METRICS}
    lengths = curves["valAcc"][1]
    segment = np.repeat(np.arange(n), lengths)
    position = np.arange(len(segment), dtype=np.int64) - np.repeat(_offsets(lengths)[:-1], lengths)
    col: dict[str, object] = {"epochs": 0.5 * (position + 1)}
    for name in CURVE_FIELDS[1:]:
        col[name] = curves[name][0]
    for name in HEADER_FIELDS[len(CURVE_FIELDS) :]:
        if name in LIST_FIELDS:
            per_network = _list_text(networks[name])
        else:
            per_network = networks[name].to_numpy()
        if name in LIST_FIELDS or name in STRING_FIELDS:
            codes, uniques = pd.factorize(per_network)
            col[name] = pd.Categorical.from_codes(codes[segment], categories=uniques)
        else:
            col[name] = per_network[segment]
    return pd.DataFrame(col)


def overview(summary: "pd.DataFrame") -> "pd.DataFrame":
    """One row per data set of a summary (those present, in the order of
    :data:`nnlife.spec.DATASETS`): networks, learned / never learned / diverged counts and percentages, final
    and best validation accuracy, parameters and half epochs recorded (see :func:`overview_rows`)."""
    import pandas as pd

    return pd.DataFrame(overview_rows(summary), columns=list(_OVERVIEW_COLUMNS))


def overview_rows(summary) -> list[dict]:
    """The rows of :func:`overview` as dicts, from a summary DataFrame or its columns
    (:attr:`Lifespans.summary_columns`). Medians, means and maxima leave NaN out."""
    dataset = np.asarray(summary["dataset"])
    rows = []
    for name in DATASETS:
        part = dataset == name
        count = int(part.sum())
        if not count:
            continue

        def values(column: str) -> np.ndarray:
            return np.asarray(summary[column])[part]

        learned = int(values("learned").sum())
        final = values("valAcc_final").astype(np.float64)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a data set whose every value is NaN
            rows.append(
                {
                    "dataset": name,
                    "networks": count,
                    "learned": learned,
                    "never_learned": count - learned,
                    "never_learned_pct": 100.0 * (count - learned) / count,
                    "diverged": int(values("diverged").sum()),
                    "valAcc_final_median": float(np.nanmedian(final)),
                    "valAcc_final_mean": float(np.nanmean(final)),
                    "valAcc_max": float(np.nanmax(values("valAcc_max"))),
                    "params_median": float(np.median(values("params"))),
                    "n_rows_min": int(values("n_rows").min()),
                    "n_rows_max": int(values("n_rows").max()),
                }
            )
    return rows


_OVERVIEW_COLUMNS = (
    "dataset",
    "networks",
    "learned",
    "never_learned",
    "never_learned_pct",
    "diverged",
    "valAcc_final_median",
    "valAcc_final_mean",
    "valAcc_max",
    "params_median",
    "n_rows_min",
    "n_rows_max",
)


# --------------------------------------------------------------------------------------
# Repeats (docs/training.md, "Repeats")


def with_repeats(summary: "pd.DataFrame") -> "pd.DataFrame":
    """``summary`` with two columns after ``ID``: ``network`` (the ID of the network's repeat 0)
    and ``repeat``, read from the record beside each table (``<X>_records/<ID>.json`` next to
    its ``<X>_models`` directory). A table without a readable record, or a record written
    before repeats existed, is repeat 0 of itself."""
    networks, repeats = repeats_of(summary["ID"].tolist(), summary["path"].tolist())
    out = summary.copy()
    at = list(out.columns).index("ID") + 1
    out.insert(at, "network", networks)
    out.insert(at + 1, "repeat", repeats)
    return out


def columns_with_repeats(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Summary columns (:func:`summary_columns`) with ``network`` and ``repeat`` after ``ID``,
    as :func:`with_repeats` adds them to the DataFrame."""
    networks, repeats = repeats_of(columns["ID"].tolist(), columns["path"].tolist())
    out: dict[str, np.ndarray] = {}
    for name, values in columns.items():
        out[name] = values
        if name == "ID":
            out["network"] = np.array(networks, dtype=object)
            out["repeat"] = repeats
    return out


def repeats_of(ids: Sequence[str], paths: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """The ``network`` and ``repeat`` of each table (see :func:`with_repeats`)."""
    import json

    networks, repeats = [], []
    has_records: dict[Path, bool] = {}  # a published data set has no records: one check per folder
    # The records folder per directory text (pathlib per row is a tenth of a second for 6000
    # tables): "DIR/NAME" has the parent Path("DIR/NAME").parent for every NAME that pathlib
    # keeps as a part (not "" or "."), so the first path of a directory stands for all of them.
    folder_of: dict[str, Path | None] = {}
    cache = os.sep == "/" and os.altsep is None
    for ID, path in zip(ids, paths):
        network, repeat = ID, 0
        path = str(path)
        head, slash, name = path.rpartition("/")
        key = head if cache and slash and name not in ("", ".") else None
        records = folder_of.get(key, False) if key is not None else False
        if records is False:
            folder = Path(path).parent
            records = folder.with_name(folder.name[: -len("_models")] + "_records") if folder.name.endswith("_models") else None
            if key is not None:
                folder_of[key] = records
        if records is not None and records not in has_records:
            has_records[records] = records.is_dir()
        if records is not None and has_records[records]:
            record = records / f"{ID}.json"
            try:
                obj = json.loads(record.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError):
                obj = None
            if isinstance(obj, dict) and obj.get("ID") == ID:
                # Only well-formed values are taken: a damaged record leaves its table on its own.
                if isinstance(obj.get("network"), str) and obj["network"]:
                    network = obj["network"]
                if isinstance(obj.get("repeat"), int) and not isinstance(obj["repeat"], bool) and obj["repeat"] >= 0:
                    repeat = obj["repeat"]
        networks.append(network)
        repeats.append(repeat)
    return networks, np.array(repeats, dtype=np.int64)


def write_csv(columns: dict[str, np.ndarray], out: str | Path) -> None:
    """Write columns as CSV, byte for byte as ``pandas.DataFrame(columns).to_csv(out,
    index=False)`` writes them, without pandas (importing it is half a second, most of a
    ``nnlife load --csv``). Hand-written after pandas' own rules, which tests compare it with:
    float64 as Python's ``repr`` (the shortest text that reads back to the same float, which is
    numpy's ``astype(str)`` that pandas uses), NaN as an empty field, other numbers as
    ``astype(str)``, booleans ``True``/``False``, text (None empty) quoted by the csv module with
    pandas' settings, lines ending in ``os.linesep``, UTF-8."""
    import csv

    texts = []
    quoting = []  # the text columns, where the csv module may have to quote
    for values in columns.values():
        values = np.asarray(values)
        kind = values.dtype.kind
        if kind == "f":
            if values.dtype == np.float64:
                # repr once per distinct value (by its bits: -0.0 is not 0.0) where values repeat
                # (epochs, unused hyperparameters)
                unique, inverse = np.unique(values.view(np.int64), return_inverse=True)
                if 2 * len(unique) < len(values):
                    words = np.array(list(map(repr, unique.view(np.float64).tolist())), dtype=object)
                    text = words[inverse].tolist()
                else:
                    text = list(map(repr, values.tolist()))
            else:
                text = values.astype(str).tolist()
            for i in np.flatnonzero(np.isnan(values)).tolist():
                text[i] = ""
        elif kind == "b":
            text = np.where(values, "True", "False").tolist()
        elif kind in "iu":
            text = list(map(str, values.tolist()))
        elif kind == "U":
            text = values.tolist()
            quoting.append(text)
        elif kind == "O":
            text = values.tolist()
            if not set(map(type, text)) <= {str}:
                text = ["" if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in text]
            quoting.append(text if set(map(type, text)) <= {str} else None)
        else:
            raise TypeError(f"write_csv: a column of {values.dtype}")
        texts.append(text)
    with open(out, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator=os.linesep)
        writer.writerow(list(columns))
        # The numbers' texts never need quotes; when no text does either (no comma, quote or
        # line break, and more than one column, so no line is empty), the lines are the fields
        # joined by commas, which is what the csv module writes, at a fraction of its cost.
        if len(texts) > 1 and None not in quoting and not any(
            c in joined for joined in ("".join(text) for text in quoting) for c in ',"\r\n'
        ):
            handle.write("".join([",".join(row) + os.linesep for row in zip(*texts)]))
        else:
            writer.writerows(zip(*texts))


PER_NETWORK_COLUMNS = ("dataset", "network", "random_seed", "n_conv", "repeats", "valAcc_final_mean",
                       "valAcc_final_std", "valAcc_max_mean", "valAcc_max_std")


def per_network(summary: "pd.DataFrame") -> "pd.DataFrame":
    """One row per network of a summary with ``network`` and ``repeat`` columns
    (:func:`with_repeats`), in order of first appearance: ``repeats`` (tables), and the mean
    and standard deviation over its repeats of the final and of the best valAcc
    (``valAcc_final_*``, ``valAcc_max_*``). The standard deviation is the sample one
    (``ddof=1``), NaN for a network of one repeat; NaN finals (a diverged run) are left out
    of both, as pandas does."""
    import pandas as pd

    groups = summary.groupby(["dataset", "network"], sort=False)
    out = groups.agg(
        random_seed=("random_seed", "first"),
        n_conv=("n_conv", "first"),
        repeats=("repeat", "size"),
        valAcc_final_mean=("valAcc_final", "mean"),
        valAcc_final_std=("valAcc_final", "std"),
        valAcc_max_mean=("valAcc_max", "mean"),
        valAcc_max_std=("valAcc_max", "std"),
    ).reset_index()
    return pd.DataFrame(out, columns=list(PER_NETWORK_COLUMNS))
