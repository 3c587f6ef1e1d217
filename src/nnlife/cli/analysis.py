"""`nnlife load`, `nnlife pack`, `nnlife unpack` and `nnlife report`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from typing import TYPE_CHECKING

from . import argtypes

# The library (numpy, pyarrow, pandas) is imported inside the handlers, not here: building the
# parser must stay cheap for the start-up of every command.
if TYPE_CHECKING:  # pragma: no cover
    from ..analysis import Lifespans


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "load",
        help="load tables and/or packed Parquet files, summarise each network",
        description="Read every table under the given directories (recursively, *.txt, hidden "
        "files skipped) and every packed Parquet file named, on all cores; print a summary per "
        "data set. A malformed table is reported (file, line, field) and skipped, or with "
        "--strict stops the load (exit status 2).",
    )
    _inputs(p)
    p.add_argument("--csv", type=Path, metavar="OUT.csv", help="save the per-network summary as CSV")
    p.set_defaults(func=run_load)

    p = subparsers.add_parser(
        "pack",
        help="pack a data set into one Parquet file",
        description="Load a data set as `load` does and write one self-describing Parquet file "
        "(one row per network: typed metadata and curves) that `load` reads and `unpack` turns "
        "back into the exact tables.",
    )
    _inputs(p)
    p.add_argument("--out", type=Path, required=True, metavar="FILE.parquet", help="the Parquet file to write")
    p.set_defaults(func=run_pack)

    p = subparsers.add_parser(
        "unpack",
        help="write the tables of a packed Parquet file",
        description="Write every network of a packed Parquet file as its published table, "
        "OUT/<Dataset dir>_models/<ID>.txt, byte for byte as it was packed.",
    )
    p.add_argument("parquet", type=Path, metavar="FILE.parquet", help="a file written by `nnlife pack`")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output root directory")
    p.set_defaults(func=run_unpack)

    p = subparsers.add_parser(
        "report",
        help="make a static HTML report with figures of a data set, optionally against a reference",
        description="Load a data set and write REPORT_DIR/index.html with PNG figures: what each data "
        "set is (inputs, counts, campaign options), sample learning curves, median and quartile bands "
        "of the curves, final accuracy distributions, the fraction that learned per data set and per "
        "conv-layer count, accuracy against structure and hyperparameters, which spec fields predict "
        "final accuracy (cross-validated gradient boosting, permutation importance), the seed spread "
        "of repeated networks, and a summary table. With --reference, another data set (the published "
        "one, an earlier campaign) is drawn in the same figures.",
    )
    _inputs(p)
    p.add_argument("--out", type=Path, required=True, metavar="REPORT_DIR", help="directory for index.html and the PNGs")
    p.add_argument("--curves", type=argtypes.positive, default=20, metavar="N", help="sample curves drawn per data set (default 20)")
    p.add_argument("--label", metavar="NAME", help="name of the data set in legends (default: its first input's name)")
    p.add_argument("--reference", type=Path, action="append", metavar="DIR|FILE",
                   help="a data set to draw against (tables or a packed Parquet file); repeat for several inputs")
    p.add_argument("--reference-label", metavar="NAME", help="name of the reference in legends (default: its first input's name)")
    p.set_defaults(func=run_report)


def _inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", type=Path, metavar="DIR|FILE", help="directories of tables, tables, or packed Parquet files")
    p.add_argument("--strict", action="store_true", help="stop at the first malformed table (exit status 2)")
    p.add_argument("--workers", type=argtypes.positive, metavar="N", help="processes to parse tables with (default: all cores)")


def _load(args: argparse.Namespace) -> "Lifespans":
    from ..analysis import load

    return load(args.paths, strict=args.strict, workers=args.workers, progress=_progress_bar())


def _progress_bar():
    """A tqdm bar on stderr when it is a terminal; None otherwise."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    bar = tqdm(unit="table", file=sys.stderr, leave=False)
    state = {"done": 0}

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - state["done"])
        state["done"] = done
        if done >= total:
            bar.close()

    return update


def _print_loaded(data: "Lifespans", verb: str = "loaded", paths: list[Path] | None = None) -> None:
    from ..table import hidden_tables

    for s in data.skipped:
        print(f"skipped {s.message}", file=sys.stderr)
    hidden = hidden_tables(paths or [])
    if hidden:  # unfinished writes and the like: said, not silently dropped
        print(f"skipped {len(hidden)} hidden file{'s' * (len(hidden) != 1)} (a name starting with '.', "
              f"e.g. an unfinished write), such as {hidden[0]}", file=sys.stderr)
    parquet = f" and {data.n_parquet} Parquet file{'s' * (data.n_parquet != 1)}" if data.n_parquet else ""
    print(f"{verb} {len(data)} networks from {data.n_tables} table{'s' * (data.n_tables != 1)}{parquet}")
    print(f"skipped {len(data.skipped)} malformed table{'s' * (len(data.skipped) != 1)}")


def format_overview(data: "Lifespans") -> str:
    """The per-data-set lines `nnlife load` prints (from the summary's columns: no pandas)."""
    from ..analysis import overview_rows

    head = ("dataset", "networks", "learned", "never learned", "diverged", "final valAcc median", "best valAcc", "half epochs")
    rows = [head]
    for r in overview_rows(data.summary_columns):
        span = f"{r['n_rows_min']}" if r["n_rows_min"] == r["n_rows_max"] else f"{r['n_rows_min']}-{r['n_rows_max']}"
        rows.append((
            r["dataset"], str(r["networks"]), str(r["learned"]), f"{r['never_learned']} ({r['never_learned_pct']:.1f}%)",
            str(r["diverged"]), f"{r['valAcc_final_median']:.2f}%", f"{r['valAcc_max']:.2f}%", span,
        ))
    widths = [max(len(row[c]) for row in rows) for c in range(len(head))]
    return "\n".join(
        "  ".join(cell.ljust(w) if c == 0 else cell.rjust(w) for c, (cell, w) in enumerate(zip(row, widths))).rstrip()
        for row in rows
    )


def run_load(args: argparse.Namespace) -> int:
    from ..outputs import atomic_output, check_writable_file

    if args.csv is not None:
        check_writable_file(args.csv)  # before the load, which may take minutes
    data = _load(args)
    _print_loaded(data, paths=args.paths)
    if len(data):
        print(format_overview(data))
    if args.csv is not None:
        with atomic_output(args.csv) as tmp:
            data.write_summary_csv(tmp)
        print(f"summary of {len(data)} networks written to {args.csv}")
    return 0


def run_pack(args: argparse.Namespace) -> int:
    from ..analysis import pack
    from ..outputs import check_writable_file

    check_writable_file(args.out)
    data = pack(args.paths, args.out, strict=args.strict, workers=args.workers)
    _print_loaded(data, "packed", args.paths)
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes)")
    return 0


def run_unpack(args: argparse.Namespace) -> int:
    from ..analysis import unpack

    written = unpack(args.parquet, args.out)
    print(f"wrote {len(written)} table{'s' * (len(written) != 1)} under {args.out}")
    return 0


def run_report(args: argparse.Namespace) -> int:
    from ..analysis import load
    from ..errors import InputError
    from ..outputs import check_writable
    from ..report import build_report

    for path in args.reference or ():
        if not path.exists():
            raise InputError(f"--reference {path}: no such file or directory")
    if args.reference_label is not None and not args.reference:
        raise InputError("--reference-label: only with --reference")
    check_writable(args.out, create=False)  # before the load; nothing is left if it fails
    data = _load(args)
    _print_loaded(data, paths=args.paths)
    reference = None
    if args.reference:
        try:
            reference = load(args.reference, strict=args.strict, workers=args.workers, progress=_progress_bar())
        except InputError as err:
            raise InputError(f"--reference: {err}") from None
        _print_loaded(reference, "reference: loaded")
    report = build_report(data, args.out, reference=reference, label=args.label,
                          reference_label=args.reference_label, curves_per_dataset=args.curves)
    print(f"report written to {report.index}")
    return 0
