"""How well each prediction method does on a corpus of real curves, at target epochs 20 and 40.

    python benchmarks/prediction_quality.py CORPUS_DIR [--targets 20,40] [--methods a,b,...]
        [--thresholds 0.75,1.0,1.5] [--workers W]

For each target epoch it prints, in markdown, the table `nnlife evaluate CORPUS_DIR
--target-epoch E` prints (same rule, same numbers), with three more columns: MAE and CPU
time relative to `penguin` (the plain way, measured in the same run), and the CPU seconds
one network costs the method alone (its fits not shared with other methods).

Random networks often never learn (flat at chance level), and every method predicts those
alike, so a second table scores the same outcomes on the networks that learned only (final
valAcc at least twice chance, the `learned` column of `nnlife load`'s summary).

Then how sure each comparison with `penguin` is, on corpora of this size: a paired bootstrap
over networks (``--resamples`` resamples of the networks with replacement, every method scored
on the same resample) gives, per method, the share of resamples in which it saves at least as
many epochs as penguin, has a lower MAE, a higher Spearman, and all three at once.

Then, for the combined methods, a savings-matched comparison: the method rerun with larger
stability thresholds, and the smallest threshold at which it saves at least as many epochs
as `penguin`, with its MAE and rank correlation next to penguin's.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from nnlife.analysis import LEARNED_CHANCE_MULTIPLE, learned
from nnlife.predict import (
    DEFAULT_THRESHOLD,
    METHODS,
    MethodScore,
    Outcome,
    _fit_shared,
    format_scores,
    load_curves,
    score,
    simulate,
)
from nnlife.spec import dataset_info
from nnlife.table import Table

MATCHED = ("ensemble", "best_fit")


def one_network(task: tuple[Table, tuple[str, ...], float, tuple[float, ...]]):
    """Every method on one network, each timed alone (the fit cache cleared before it);
    then the matched methods at the extra thresholds (fits now cached, untimed)."""
    table, methods, target, thresholds = task
    outcomes: dict[str, Outcome] = {}
    seconds: dict[str, float] = {}
    for m in methods:
        _fit_shared.cache_clear()
        start = time.process_time()
        outcomes[m] = simulate(m, table, target)
        seconds[m] = time.process_time() - start
    extra = {
        (m, t): simulate(m, table, target, threshold=t) for m in methods if m in MATCHED for t in thresholds
    }
    return outcomes, seconds, extra


def has_learned(table: Table) -> bool:
    """:func:`nnlife.analysis.learned` of a table's final valAcc (the ``learned`` column of
    ``nnlife load``'s summary)."""
    final = float(table.curve.valAcc[-1]) if len(table.curve) else math.nan
    return bool(learned(final, dataset_info(table.spec.dataset).classes))


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b and math.isfinite(a) and math.isfinite(b) else "-"


def table_with_ratios(scores: list[MethodScore], seconds: dict[str, float]) -> str:
    base = next((s for s in scores if s.method == "penguin"), None)
    lines = format_scores(scores).splitlines()
    lines[0] += " MAE / penguin | CPU s / network | CPU / penguin |"
    lines[1] += "---:|---:|---:|"
    for i, s in enumerate(scores):
        mae_ratio = ratio(s.mae, base.mae) if base else "-"
        cpu_ratio = ratio(seconds[s.method], seconds["penguin"]) if base else "-"
        lines[i + 2] += f" {mae_ratio} | {seconds[s.method]:.3f} | {cpu_ratio} |"
    return "\n".join(lines)


def bootstrap_against_penguin(outcomes: dict[str, list[Outcome]], resamples: int, seed: int = 0) -> str:
    """The paired bootstrap table: per method, the share of resamples of the networks in which
    it saves at least as much as penguin, errs less, ranks better, and all three. Each resample
    is scored by :func:`score`, the rule of ``nnlife evaluate``."""
    n = len(outcomes["penguin"])
    rng = np.random.default_rng(seed)
    wins = {m: np.zeros(4) for m in outcomes if m != "penguin"}
    for _ in range(resamples):
        idx = rng.integers(0, n, n)
        base = score([outcomes["penguin"][i] for i in idx])
        for m in wins:
            s = score([outcomes[m][i] for i in idx])
            got = (s.epochs_saved >= base.epochs_saved, s.mae < base.mae, s.spearman > base.spearman)
            wins[m] += np.array([*got, all(got)], dtype=float)
    lines = ["| method | saves >= penguin | MAE < penguin | Spearman > penguin | all three |",
             "|---|---:|---:|---:|---:|"]
    for m, w in wins.items():
        lines.append(f"| {m} | " + " | ".join(f"{x / resamples:.2f}" for x in w) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="+", help="tables or directories of tables")
    parser.add_argument("--targets", default="20,40", help="comma-separated target epochs (default 20,40)")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated methods (default: all)")
    parser.add_argument("--thresholds", default="0.75,1.0,1.5,2.0", help="extra thresholds for ensemble and best_fit")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (0: no bootstrap)")
    args = parser.parse_args(argv)
    methods = tuple(m for m in args.methods.split(",") if m)
    if "penguin" not in methods:
        methods = ("penguin",) + methods  # the reference every ratio is taken against
    thresholds = tuple(float(t) for t in args.thresholds.split(",") if t)
    tables = load_curves(args.corpus)
    print(f"# Prediction quality: {len(tables)} networks from {', '.join(args.corpus)}\n")
    for target in (float(t) for t in args.targets.split(",")):
        reaching = [t for t in tables if len(t.curve) >= 2 * target]
        start = time.perf_counter()
        tasks = [(t, methods, target, thresholds) for t in reaching]
        with ProcessPoolExecutor(max_workers=max(1, min(args.workers, len(tasks)))) as pool:
            results = list(pool.map(one_network, tasks))
        wall = time.perf_counter() - start
        scores = [score([r[0][m] for r in results]) for m in methods]
        seconds = {m: sum(r[1][m] for r in results) / len(results) for m in methods}
        print(f"## Target epoch {target:g}: {len(reaching)} networks "
              f"({wall:.0f} s wall on {args.workers} workers)\n")
        print(f"`nnlife evaluate {' '.join(args.corpus)} --target-epoch {target:g}`, "
              f"stability threshold {DEFAULT_THRESHOLD:g} for every method:\n")
        print(table_with_ratios(scores, seconds))
        kept = [i for i, t in enumerate(reaching) if has_learned(t)]
        if kept:
            part = [score([results[i][0][m] for i in kept]) for m in methods]
            part_seconds = {m: sum(results[i][1][m] for i in kept) / len(kept) for m in methods}
            print(f"\nThe {len(kept)} of these networks that learned (final valAcc at least "
                  f"{LEARNED_CHANCE_MULTIPLE:g}x chance), same outcomes:\n")
            print(table_with_ratios(part, part_seconds))
        else:
            print("\nNone of these networks learned (final valAcc at least twice chance).")
        if args.resamples > 0:
            print(f"\nAgainst penguin, paired bootstrap over the {len(reaching)} networks "
                  f"({args.resamples} resamples, seed 0): share of resamples in which the method\n")
            print(bootstrap_against_penguin({m: [r[0][m] for r in results] for m in methods}, args.resamples))
        pen = scores[0]
        for m in (m for m in methods if m in MATCHED):
            rows = [(DEFAULT_THRESHOLD, next(s for s in scores if s.method == m))]
            rows += [(t, score([r[2][(m, t)] for r in results])) for t in thresholds]
            match = next(((t, s) for t, s in rows if s.epochs_saved >= pen.epochs_saved), None)
            print(f"\n{m} by stability threshold (penguin at {DEFAULT_THRESHOLD:g}: epochs saved "
                  f"{pen.epochs_saved:.3f}, MAE {pen.mae:.2f}, Spearman {pen.spearman:.3f}):\n")
            print("| threshold | epochs saved | MAE | Spearman | top-10% kept |\n|---:|---:|---:|---:|---:|")
            for t, s in rows:
                print(f"| {t:g} | {s.epochs_saved:.3f} | {s.mae:.2f} | {s.spearman:.3f} | {s.top_kept}/{s.top_size} |")
            if match is None:
                print(f"\n{m} saves fewer epochs than penguin at every threshold tried.")
            else:
                t, s = match
                better = s.mae < pen.mae and s.spearman > pen.spearman
                print(f"\nSavings-matched: {m} at threshold {t:g} saves {s.epochs_saved:.3f} "
                      f"(penguin {pen.epochs_saved:.3f}) with MAE {s.mae:.2f} (penguin {pen.mae:.2f}, "
                      f"ratio {ratio(s.mae, pen.mae)}) and Spearman {s.spearman:.3f} (penguin "
                      f"{pen.spearman:.3f}): {'better on both' if better else 'not better on both'}.")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
