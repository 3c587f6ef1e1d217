"""`nnlife predict`, `nnlife evaluate`, `nnlife curves` and `nnlife predictor fit`."""

from __future__ import annotations

import argparse

from ..errors import InputError
from . import argtypes

# nnlife.predict (and numpy, which it imports) is imported when a prediction command runs or its
# help is shown, not to build the parser: `nnlife --help` registers every command. The method
# names and default values in the help are filled in by _Help when it is printed, and an
# option left out is given its default by _defaults when the command runs.
INPUTS_HELP = ("tables, directories searched for *.txt tables, Parquet packs (nnlife pack), or curve files "
               "(CSV or Parquet: id, epoch, valAcc[, valLoss, trainLoss, trainAcc])")
METHOD_HELP = ("one of {methods}; learned:MODEL (nnlife predictor fit); penguin_stop+learned:MODEL (penguin_stop's "
               "stops, the model's prediction there); package.module:Class "
               "(your Predictor); any of these followed by @W stops once the predictive interval is at most W points wide")


def _help_values() -> dict[str, str]:
    from ..predict import DEFAULT_BUDGET, DEFAULT_LEVEL, DEFAULT_N, DEFAULT_TARGET_EPOCH, DEFAULT_THRESHOLD, METHODS

    return {
        "methods": ", ".join(METHODS), "all_methods": ",".join(METHODS), "target_epoch": f"{DEFAULT_TARGET_EPOCH:g}",
        "N": str(DEFAULT_N), "threshold": str(DEFAULT_THRESHOLD), "level": f"{DEFAULT_LEVEL:g}",
        "budget": f"{DEFAULT_BUDGET:g}",
    }


class _Help(argparse.HelpFormatter):
    """Help whose texts name nnlife.predict's methods and defaults as ``{methods}``, ``{N}``, ...,
    looked up when the help is shown."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = super()._get_help_string(action) or ""
        return text.format(**_help_values()) if "{" in text else text


def _defaults(args: argparse.Namespace) -> argparse.Namespace:
    """The options left out, as nnlife.predict's defaults."""
    from ..predict import DEFAULT_BUDGET, DEFAULT_LEVEL, DEFAULT_N, DEFAULT_TARGET_EPOCH, DEFAULT_THRESHOLD, METHODS

    values = {"target_epoch": DEFAULT_TARGET_EPOCH, "N": DEFAULT_N, "threshold": DEFAULT_THRESHOLD,
              "level": DEFAULT_LEVEL, "budget": DEFAULT_BUDGET, "methods": list(METHODS)}
    for name, value in values.items():
        if getattr(args, name, value) is None:
            setattr(args, name, value)
    return args


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict",
        help="predict each network's valAcc at a target epoch from the start of its curve",
        description="Replay each curve through an early-termination method, as a training run "
        "would feed it, and print per network: ID, whether the method stopped it early "
        "(converged), the epoch training would stop at, the predicted valAcc at the target "
        "epoch with its predictive interval, and the actual valAcc there.",
        formatter_class=_Help,
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
        formatter_class=_Help,
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help=INPUTS_HELP)
    p.add_argument("--methods", type=_methods, default=None, metavar="A,B,...",
                   help="comma-separated methods (default: all: {all_methods}); " + METHOD_HELP)
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
        formatter_class=_Help,
    )
    f.add_argument("paths", nargs="+", metavar="PATH", help=INPUTS_HELP)
    f.add_argument("--out", required=True, metavar="MODEL", help="the model file to write (JSON)")
    f.add_argument("--level", type=_level, default=None, metavar="P",
                   help="coverage of the predictive interval the model learns (default {level})")
    f.set_defaults(func=run_fit)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target-epoch", type=_target_epoch, default=None, metavar="E",
                   help="epoch whose valAcc is predicted, in the curves' epoch units; one of their epochs "
                   "(default {target_epoch})")
    p.add_argument("--N", type=argtypes.positive, default=None, dest="N",
                   help="predictions that must agree before stopping (default {N})")
    p.add_argument("--threshold", type=_threshold, default=None, metavar="T",
                   help="agreement: all within T points of their median (default {threshold})")
    p.add_argument("--level", type=_level, default=None, metavar="P",
                   help="coverage of the predictive intervals (default {level})")
    p.add_argument("--budget", type=_budget, default=None, metavar="F",
                   help="where the baselines last and best_so_far stop: this fraction of the target epoch "
                   "(default {budget})")
    p.add_argument("--workers", type=argtypes.positive, default=None, metavar="W",
                   help="processes that fit curves in parallel (default: one per CPU)")


def _method(text: str) -> str:
    from ..predict import make_predictor

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
    from ..predict import format_outcomes, outcome_row, predict_curves, write_csv

    _defaults(args)
    outcomes = predict_curves(args.paths, args.method, args.target_epoch, **_params(args))
    print(format_outcomes(outcomes))
    if args.csv:
        write_csv(args.csv, [outcome_row(o) for o in outcomes])
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from ..predict import evaluate, format_scores, write_csv
    from ..seednoise import seed_noise

    _defaults(args)
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
    from ..curvefile import write_curve_file
    from ..predict import load_curves

    curves = load_curves(args.paths)
    out = write_curve_file(curves, args.out)
    print(f"wrote {len(curves)} curves ({sum(len(c.curve) for c in curves)} rows) to {out}")
    return 0


def run_fit(args: argparse.Namespace) -> int:
    from ..predict import load_curves
    from ..predict.learned import fit_model, save_model

    _defaults(args)
    curves = load_curves(args.paths)
    content = fit_model(curves, level=args.level, sources=[str(p) for p in args.paths])
    out = save_model(content, args.out)
    print(f"fitted on {len(curves)} curves ({content['trained_on']['rows']} prefixes) -> {out}")
    return 0
