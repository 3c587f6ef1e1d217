"""`nnlife predict`, `nnlife evaluate`, `nnlife curves` and `nnlife predictor fit`."""

from __future__ import annotations

import argparse

from ..curvefile import write_curve_file
from ..errors import InputError
from ..predict import (
    DEFAULT_BUDGET,
    DEFAULT_LEVEL,
    DEFAULT_N,
    DEFAULT_TARGET_EPOCH,
    DEFAULT_THRESHOLD,
    METHODS,
    evaluate,
    format_outcomes,
    format_scores,
    load_curves,
    make_predictor,
    outcome_row,
    predict_curves,
    write_csv,
)
from ..predict.learned import fit_model, save_model
from . import argtypes

INPUTS_HELP = ("tables, directories searched for *.txt tables, Parquet packs (nnlife pack), or curve files "
               "(CSV or Parquet: id, epoch, valAcc[, valLoss, trainLoss, trainAcc])")
METHOD_HELP = (f"one of {', '.join(METHODS)}; learned:MODEL (nnlife predictor fit); package.module:Class "
               "(your Predictor); any of these followed by @W stops once the predictive interval is at most W points wide")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict",
        help="predict each network's valAcc at a target epoch from the start of its curve",
        description="Replay each curve through an early-termination method, as a training run "
        "would feed it, and print per network: ID, whether the method stopped it early "
        "(converged), the epoch training would stop at, the predicted valAcc at the target "
        "epoch with its predictive interval, and the actual valAcc there.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help=INPUTS_HELP)
    p.add_argument("--method", required=True, type=_method, help=METHOD_HELP)
    _common(p)
    p.add_argument("--csv", metavar="OUT", help="also write the rows to this CSV file")
    p.set_defaults(func=run_predict)

    p = subparsers.add_parser(
        "evaluate",
        help="compare prediction methods over a set of networks",
        description="Run every method on every network and print one markdown row per "
        "method: networks, fraction stopped early, mean fraction of epochs saved (relative to "
        "training up to the target epoch), mean absolute error of the predicted valAcc, "
        "Spearman rank correlation of predicted and actual, how many of the true top 10 % "
        "remain in the predicted top 10 %; then the MAE and Spearman of the best valAcc seen "
        "up to the same stop epochs (the baseline at the same cost), and the coverage and mean "
        "width of the predictive intervals of the networks stopped with one. When the tables hold "
        "repeats of networks (their records say so), it then prints the seed-noise floor: the MAE "
        "between repeats' valAcc at the target epoch and the Spearman correlation of repeat 0 and "
        "repeat 1.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help=INPUTS_HELP)
    p.add_argument("--methods", type=_methods, default=list(METHODS), metavar="A,B,...",
                   help=f"comma-separated methods (default: all: {','.join(METHODS)}); " + METHOD_HELP)
    _common(p)
    p.add_argument("--csv", metavar="OUT", help="also write the table to this CSV file")
    p.set_defaults(func=run_evaluate)

    p = subparsers.add_parser(
        "curves",
        help="export tables or Parquet packs as one curve file (CSV or Parquet)",
        description="Write every curve under the paths as a curve file, one row per "
        "measurement: id, epoch, valAcc, valLoss, trainLoss (floats at full precision).",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help=INPUTS_HELP)
    p.add_argument("--out", required=True, metavar="FILE", help="the curve file, ending in .csv or .parquet")
    p.set_defaults(func=run_curves)

    p = subparsers.add_parser("predictor", help="fit a learned prediction method on a corpus of curves")
    sub = p.add_subparsers(dest="predictor_command", metavar="COMMAND", parser_class=type(p))
    sub.required = True
    f = sub.add_parser(
        "fit",
        help="train a predictor on curves; use it as --method learned:MODEL",
        description="Train gradient-boosted quantile regressors on every prefix of every curve "
        "(several targets per curve) and write them as a verified JSON model file "
        "(docs/predictors.md).",
    )
    f.add_argument("paths", nargs="+", metavar="PATH", help=INPUTS_HELP)
    f.add_argument("--out", required=True, metavar="MODEL", help="the model file to write (JSON)")
    f.add_argument("--level", type=_level, default=DEFAULT_LEVEL, metavar="P",
                   help=f"coverage of the predictive interval the model learns (default {DEFAULT_LEVEL:g})")
    f.set_defaults(func=run_fit)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target-epoch", type=_target_epoch, default=DEFAULT_TARGET_EPOCH, metavar="E",
                   help=f"epoch whose valAcc is predicted, in the curves' epoch units; one of their epochs "
                   f"(default {DEFAULT_TARGET_EPOCH:g})")
    p.add_argument("--N", type=argtypes.positive, default=DEFAULT_N, dest="N",
                   help=f"predictions that must agree before stopping (default {DEFAULT_N})")
    p.add_argument("--threshold", type=_threshold, default=DEFAULT_THRESHOLD, metavar="T",
                   help=f"agreement: all within T points of their median (default {DEFAULT_THRESHOLD})")
    p.add_argument("--level", type=_level, default=DEFAULT_LEVEL, metavar="P",
                   help=f"coverage of the predictive intervals (default {DEFAULT_LEVEL:g})")
    p.add_argument("--budget", type=_budget, default=DEFAULT_BUDGET, metavar="F",
                   help=f"where the baselines last and best_so_far stop: this fraction of the target epoch "
                   f"(default {DEFAULT_BUDGET:g})")
    p.add_argument("--workers", type=argtypes.positive, default=None, metavar="W",
                   help="processes that fit curves in parallel (default: one per CPU)")


def _method(text: str) -> str:
    try:
        make_predictor(text)
    except InputError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def _methods(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated methods, got {text!r}")
    return [_method(n) for n in names]


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def _target_epoch(text: str) -> float:
    value = _float(text)
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"expected a positive number, an epoch of the curves (e.g. 20 or 40), got {text!r}")
    return value


def _threshold(text: str) -> float:
    value = _float(text)
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a non-negative number of percentage points, got {text!r}")
    return value


def _level(text: str) -> float:
    value = _float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a probability strictly between 0 and 1 (e.g. 0.8), got {text!r}")
    return value


def _budget(text: str) -> float:
    value = _float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction of the target epoch in (0, 1], got {text!r}")
    return value


def _params(args: argparse.Namespace) -> dict:
    return {"N": args.N, "threshold": args.threshold, "workers": args.workers, "level": args.level, "budget": args.budget}


def run_predict(args: argparse.Namespace) -> int:
    outcomes = predict_curves(args.paths, args.method, args.target_epoch, **_params(args))
    print(format_outcomes(outcomes))
    if args.csv:
        write_csv(args.csv, [outcome_row(o) for o in outcomes])
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from ..seednoise import seed_noise

    scores = evaluate(args.paths, args.methods, args.target_epoch, **_params(args))
    print(format_scores(scores))
    floor = seed_noise(args.paths, args.target_epoch)
    if floor is not None:
        print()
        print(floor.text())
    if args.csv:
        write_csv(args.csv, [s.row() for s in scores])
    return 0


def run_curves(args: argparse.Namespace) -> int:
    curves = load_curves(args.paths)
    out = write_curve_file(curves, args.out)
    print(f"wrote {len(curves)} curves ({sum(len(c.curve) for c in curves)} rows) to {out}")
    return 0


def run_fit(args: argparse.Namespace) -> int:
    curves = load_curves(args.paths)
    content = fit_model(curves, level=args.level, sources=[str(p) for p in args.paths])
    out = save_model(content, args.out)
    print(f"fitted on {len(curves)} curves ({content['trained_on']['rows']} prefixes) -> {out}")
    return 0
