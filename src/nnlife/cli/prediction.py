"""`nnlife predict` and `nnlife evaluate`."""

from __future__ import annotations

import argparse

from ..predict import (
    DEFAULT_N,
    DEFAULT_TARGET_EPOCH,
    DEFAULT_THRESHOLD,
    METHODS,
    evaluate,
    format_outcomes,
    format_scores,
    outcome_row,
    predict_tables,
    write_csv,
)
from . import argtypes


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict",
        help="predict each network's valAcc at a target epoch from the start of its curve",
        description="Replay each table's curve through an early-termination method, as a "
        "training run would feed it, and print per network: ID, whether the method stopped "
        "it early (converged), the epoch training would stop at, the predicted and the actual "
        "valAcc at the target epoch.",
    )
    p.add_argument("paths", nargs="+", metavar="DIR|FILE", help="tables, or directories searched for *.txt tables")
    p.add_argument("--method", required=True, type=_method, help=f"one of {', '.join(METHODS)}")
    _common(p)
    p.add_argument("--csv", metavar="OUT", help="also write the rows to this CSV file")
    p.set_defaults(func=run_predict)

    p = subparsers.add_parser(
        "evaluate",
        help="compare prediction methods over a set of networks",
        description="Run every method on every network and print one markdown row per "
        "method: networks, fraction stopped early, mean fraction of epochs saved (relative to "
        "training up to the target epoch), mean absolute error of the predicted valAcc, "
        "Spearman rank correlation of predicted and actual, and how many of the true top 10 "
        "% remain in the predicted top 10 %. When the tables hold repeats of networks (their "
        "records say so), it then prints the seed-noise floor: the MAE between repeats' valAcc at "
        "the target epoch and the Spearman correlation of repeat 0 and repeat 1.",
    )
    p.add_argument("paths", nargs="+", metavar="DIR|FILE", help="tables, or directories searched for *.txt tables")
    p.add_argument("--methods", type=_methods, default=list(METHODS), metavar="A,B,...",
                   help=f"comma-separated methods (default: all: {','.join(METHODS)})")
    _common(p)
    p.add_argument("--csv", metavar="OUT", help="also write the table to this CSV file")
    p.set_defaults(func=run_evaluate)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target-epoch", type=_target_epoch, default=DEFAULT_TARGET_EPOCH, metavar="E",
                   help=f"epoch whose valAcc is predicted, a multiple of 0.5 (default {DEFAULT_TARGET_EPOCH:g})")
    p.add_argument("--N", type=argtypes.positive, default=DEFAULT_N, dest="N",
                   help=f"predictions that must agree before stopping (default {DEFAULT_N})")
    p.add_argument("--threshold", type=_threshold, default=DEFAULT_THRESHOLD, metavar="T",
                   help=f"agreement: all within T points of their median (default {DEFAULT_THRESHOLD})")
    p.add_argument("--workers", type=argtypes.positive, default=None, metavar="W",
                   help="processes that fit curves in parallel (default: one per CPU)")


def _method(text: str) -> str:
    if text not in METHODS:
        raise argparse.ArgumentTypeError(f"unknown method {text!r}: expected one of {', '.join(METHODS)}")
    return text


def _methods(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated methods, got {text!r}")
    return [_method(n) for n in names]


def _target_epoch(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value > 0 and (2 * value).is_integer()):
        raise argparse.ArgumentTypeError(f"expected a positive multiple of 0.5 (e.g. 20 or 40), got {text!r}")
    return value


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a non-negative number of percentage points, got {text!r}")
    return value


def run_predict(args: argparse.Namespace) -> int:
    outcomes = predict_tables(args.paths, args.method, args.target_epoch, N=args.N, threshold=args.threshold, workers=args.workers)
    print(format_outcomes(outcomes))
    if args.csv:
        write_csv(args.csv, [outcome_row(o) for o in outcomes])
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from ..seednoise import seed_noise

    scores = evaluate(args.paths, args.methods, args.target_epoch, N=args.N, threshold=args.threshold, workers=args.workers)
    print(format_scores(scores))
    floor = seed_noise(args.paths, args.target_epoch)
    if floor is not None:
        print()
        print(floor.text())
    if args.csv:
        write_csv(args.csv, [s.row() for s in scores])
    return 0
