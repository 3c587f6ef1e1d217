"""Curve files: learning curves from anywhere, one row per measurement (docs/curve-files.md).

A curve file is CSV (a header line, comma-separated) or Parquet with the columns

- ``id`` (text; a number is read as its text): which curve the row belongs to;
- ``epoch`` (a finite number >= 0: logs that count epochs from 0 are read as they are), ``valAcc`` (percent; ``nan``/``inf`` are read as measured,
  a diverged network);
- optionally ``valLoss``, ``trainLoss``, ``trainAcc`` (an empty cell is ``nan``).

Other columns are ignored. The rows of one ``id`` need not be contiguous, but in file order
their epochs must be strictly increasing and evenly spaced (any spacing: 0.5, 1, 5, 0.1 ...).
The point index (1, 2, 3, ...) is the ``x`` every prediction method fits on, so a table's half
epochs (0.5, 1.0, ...) give PENGUIN's ``x = 2 * epoch`` exactly.

Every problem is a :class:`CurveFileError`: one line naming the file, the line (CSV; the header
is line 1) or row (Parquet; the first data row is row 1), the column, what was expected and
what was found.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from .errors import InputError, InputWarning
from .spec import NetworkSpec
from .table import TEMP_PREFIX, Curve, Table, atomic_write_text, is_parquet

REQUIRED = ("id", "epoch", "valAcc")
OPTIONAL = ("valLoss", "trainLoss", "trainAcc")
# Two epochs are "evenly spaced" when their step differs from the first step by at most this
# fraction of it: decimal spacings such as 0.1 are not exact in binary floating point.
SPACING_RTOL = 1e-6


class CurveFileError(InputError):
    """A curve file that does not follow the format; ``path``, ``where`` (``"line N"`` or
    ``"row N"``, or ``None`` for the file as a whole), ``column`` and the message."""

    def __init__(self, path: str | Path, where: str | None, column: str | None, expected: str, got: object = None):
        self.path, self.where, self.column = str(path), where, column
        place = self.path if where is None else f"{self.path}: {where}"
        what = f"column '{column}': " if column else ""
        got_text = "" if got is None else f", got {_short(got)}"
        super().__init__(f"{place}: {what}expected {expected}{got_text}")


def _short(value: object, limit: int = 60) -> str:
    text = str(value)  # callers pass a field's raw text as its repr, a description as it is
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class LabeledCurve:
    """One network's curve from any source: its ``ID``, the :class:`~nnlife.table.Curve`
    (``epochs`` evenly spaced; missing columns are ``nan``), the network's spec when the
    source has one (a table, a Parquet pack), and where it came from (``source``, ``where``:
    the file and the line or row of its first measurement) for messages."""

    ID: str
    curve: Curve
    spec: NetworkSpec | None = None
    source: str = "<curve>"
    where: str | None = None

    @property
    def spacing(self) -> float | None:
        """The step between two epochs (``None`` for a curve of fewer than two points)."""
        e = self.curve.epochs
        return e[1] - e[0] if len(e) >= 2 else None

    @classmethod
    def of_table(cls, table: Table, source: str = "<table>") -> "LabeledCurve":
        return cls(table.spec.ID, table.curve, table.spec, source)


def target_index(curve: LabeledCurve, target_epoch: float) -> int:
    """The 0-based point index of ``target_epoch`` on the curve's grid of epochs (first epoch
    plus a whole number of steps; it may lie past the curve's end). :class:`InputError` when
    it is not an epoch of that grid."""
    epochs = curve.curve.epochs
    where = f"{curve.source}" + (f": {curve.where}" if curve.where else "")
    if not epochs:
        raise InputError(f"{where}: curve {curve.ID!r} has no rows")
    first = epochs[0]
    step = epochs[1] - epochs[0] if len(epochs) >= 2 else None
    if step is None:
        if target_epoch == first:
            return 0
        raise InputError(f"{where}: target epoch {target_epoch:g}: curve {curve.ID!r} has one row, at epoch {first:g}")
    k = (target_epoch - first) / step
    if not (k > -0.5 and abs(k - round(k)) <= SPACING_RTOL * max(1.0, abs(k))):
        raise InputError(
            f"{where}: target epoch {target_epoch:g}: not an epoch of curve {curve.ID!r} "
            f"(epochs {first:g}, {first + step:g}, ... every {step:g})"
        )
    return int(round(k))


# --------------------------------------------------------------------------------------
# Reading


def is_curve_file(path: Path) -> bool:
    """A ``.csv`` file, or a Parquet file with ``id`` and ``epoch`` columns (a Parquet pack of
    tables has neither)."""
    if path.suffix.lower() == ".csv":
        return True
    if not is_parquet(path):
        return False
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
    except Exception:  # pyarrow raises its own error types for a damaged footer
        return False
    return "id" in names and "epoch" in names




def read_curve_file(path: str | Path) -> list[LabeledCurve]:
    """Every curve of a CSV or Parquet curve file, in order of each ``id``'s first row."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if is_parquet(path):
        header, rows = _parquet_rows(path)
        where = lambda i: f"row {i + 1}"  # noqa: E731
    else:
        header, rows = _csv_rows(path)
        where = lambda i: f"line {i + 2}"  # noqa: E731
    curves = _build(path, header, rows, where)
    _warn_if_fractions(path, curves)
    return curves


def _warn_if_fractions(path: Path, curves: Sequence[LabeledCurve]) -> None:
    """Warn when no ``valAcc`` of the file exceeds 1 although some exceed 0: accuracies given
    as fractions would be read as percent and every prediction would be off by a factor of
    100. Only a warning: a file of networks stuck at CIFAR-100's chance level (1 %) looks the
    same."""
    import warnings

    import numpy as np

    acc = [c.curve.valAcc for c in curves]
    values = np.concatenate([np.asarray(a, dtype=float) for a in acc]) if acc else np.empty(0)
    values = values[np.isfinite(values)]
    if values.size and values.max() <= 1.0 and values.max() > 0.0:
        warnings.warn(InputWarning(
            f"{path}: column 'valAcc': every value is at most 1 (largest {values.max():g}); it is read as percent "
            f"(0-100), so if these are fractions, multiply them by 100"), stacklevel=2)


def _csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise CurveFileError(path, None, None, "a header line naming the columns id, epoch, valAcc", "an empty file")
            rows = []
            for row in reader:
                if len(row) != len(header):
                    raise CurveFileError(path, f"line {reader.line_num}", None,
                                         f"{len(header)} comma-separated fields as in the header", f"{len(row)}")
                rows.append(row)
    except UnicodeDecodeError as err:
        raise CurveFileError(path, None, None, "UTF-8 text (CSV) or Parquet", f"undecodable byte at offset {err.start}") from None
    except csv.Error as err:
        raise CurveFileError(path, None, None, "CSV", str(err)) from None
    return header, rows


def _parquet_rows(path: Path) -> tuple[list[str], list[list[object]]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as err:  # a damaged file: pyarrow's own error types
        raise CurveFileError(path, None, None, "a readable Parquet file", str(err).splitlines()[0]) from None
    header = table.column_names
    columns = [table.column(n).to_pylist() for n in header]
    return header, [list(r) for r in zip(*columns)] if columns else []


def _number(path: Path, where: str, column: str, value: object, *, empty_is_nan: bool) -> float:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        if empty_is_nan:
            return math.nan
        raise CurveFileError(path, where, column, "a number", "an empty field")
    if isinstance(value, bool):
        raise CurveFileError(path, where, column, "a number", repr(value))
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        raise CurveFileError(path, where, column, "a number", repr(value)) from None


def _build(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]], where) -> list[LabeledCurve]:
    head_where = "line 1" if not is_parquet(path) else None
    for name in REQUIRED:
        if name not in header:
            raise CurveFileError(path, head_where, name, f"the columns {', '.join(REQUIRED)} in the header", "no such column")
    col = {name: header.index(name) for name in REQUIRED + OPTIONAL if name in header}
    groups: dict[str, dict[str, list]] = {}
    for i, row in enumerate(rows):
        at = where(i)
        raw_id = row[col["id"]]
        if raw_id is None or str(raw_id).strip() == "":
            raise CurveFileError(path, at, "id", "a non-empty id", "an empty field")
        ident = str(raw_id).strip()
        epoch = _number(path, at, "epoch", row[col["epoch"]], empty_is_nan=False)
        if not (math.isfinite(epoch) and epoch >= 0):
            raise CurveFileError(path, at, "epoch", "a finite number >= 0", repr(row[col["epoch"]]))
        g = groups.get(ident)
        if g is None:
            g = groups[ident] = {"where": at, "epoch": [], "valAcc": [], "valLoss": [], "trainLoss": []}
        elif len(g["epoch"]) >= 1:
            prev = g["epoch"][-1]
            if epoch == prev:
                raise CurveFileError(path, at, "epoch", f"one row per epoch of id {ident!r}", f"epoch {epoch:g} again")
            if epoch < prev:
                raise CurveFileError(path, at, "epoch", f"strictly increasing epochs for id {ident!r}", f"{epoch:g} after {prev:g}")
            if len(g["epoch"]) >= 2:
                step = g["epoch"][1] - g["epoch"][0]
                if abs((epoch - prev) - step) > SPACING_RTOL * step:
                    raise CurveFileError(path, at, "epoch", f"evenly spaced epochs for id {ident!r} (every {step:g}: "
                                         f"{prev + step:g} after {prev:g})", f"{epoch:g}")
        g["epoch"].append(epoch)
        g["valAcc"].append(_number(path, at, "valAcc", row[col["valAcc"]], empty_is_nan=False))
        for name in ("valLoss", "trainLoss"):
            g[name].append(_number(path, at, name, row[col[name]], empty_is_nan=True) if name in col else math.nan)
        if "trainAcc" in col:  # checked, as documented, though no method uses it yet
            _number(path, at, "trainAcc", row[col["trainAcc"]], empty_is_nan=True)
    if not groups:
        raise CurveFileError(path, None, None, "at least one row of measurements", "a header only")
    return [
        LabeledCurve(ident, Curve(tuple(g["epoch"]), tuple(g["trainLoss"]), tuple(g["valLoss"]), tuple(g["valAcc"])),
                     None, str(path), g["where"])
        for ident, g in groups.items()
    ]


# --------------------------------------------------------------------------------------
# Writing


def _format(value: float) -> str:
    return repr(float(value))


def write_curve_file(curves: Iterable[LabeledCurve], out: str | Path) -> Path:
    """Write curves as a curve file (CSV, or Parquet when ``out`` ends in ``.parquet``),
    atomically; columns ``id, epoch, valAcc, valLoss, trainLoss``, floats at full precision
    (CSV: Python's ``repr``), so reading it back gives the same numbers."""
    out = Path(out)
    if out.is_dir():
        raise InputError(f"{out}: is a directory, expected a file name ending in .csv or .parquet")
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise InputError(f"--out {out}: expected a file name ending in .csv or .parquet")
    if not out.parent.is_dir():
        raise InputError(f"--out {out}: directory {out.parent} does not exist")
    columns = ("id", "epoch", "valAcc", "valLoss", "trainLoss")
    records = [
        (c.ID, e, a, vl, tl)
        for c in curves
        for e, a, vl, tl in zip(c.curve.epochs, c.curve.valAcc, c.curve.valLoss, c.curve.trainLoss)
    ]
    if suffix == ".csv":
        lines = [",".join(columns)]
        for ident, *values in records:
            if any(ch in ident for ch in ',"\n\r') or not ident.isascii():
                raise InputError(f"id {ident!r}: a CSV curve file's ids are ASCII without commas, quotes or line "
                                 "breaks (write .parquet instead)")
            lines.append(",".join([ident, *(_format(v) for v in values)]))
        return atomic_write_text(out, "\n".join(lines) + "\n")
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({name: [r[i] for r in records] for i, name in enumerate(columns)},
                     schema=pa.schema([("id", pa.string())] + [(n, pa.float64()) for n in columns[1:]]))
    tmp = out.parent / f"{TEMP_PREFIX}{out.name}.part"
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out
