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

Then, for the methods that combine families (`ensemble`, `best_fit`, and `triage`, `auto`
before 2026-12-03; today's `auto`, `penguin_stop`, saves what `penguin` saves by construction),
a savings-matched comparison: the method rerun with larger stability thresholds, and the smallest threshold at which it saves at least as many epochs
as `penguin`, with its MAE and rank correlation next to penguin's.

With `--learned-cv`, the learned method (`nnlife predictor fit`) is measured under
cross-validation, never on the curves it was fitted to: with several corpora, each corpus in
turn is held out and the model fitted on the others (cross-validation by corpus); with one,
its networks are split into `--folds` seeded folds (by network: say so when quoting it). Its
outcomes on every held-out fold, pooled, are scored as one more row, `learned (cv)`.

    python benchmarks/prediction_quality.py CORPUS_A CORPUS_B ... --learned-cv
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from nnlife.analysis import LEARNED_CHANCE_MULTIPLE, learned
from nnlife.curvefile import LabeledCurve, target_index
from nnlife.predict import (
    DEFAULT_THRESHOLD,
    METHODS,
    MethodScore,
    Outcome,
    _fit_shared,
    format_scores,
    load_curves,
    run_methods,
    score,
    simulate,
)
from nnlife.predict.learned import fit_model, save_model
from nnlife.spec import dataset_info

MATCHED = ("ensemble", "best_fit", "triage")


def one_network(task: tuple[LabeledCurve, tuple[str, ...], float, tuple[float, ...]]):
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


def has_learned(curve: LabeledCurve) -> bool:
    """:func:`nnlife.analysis.learned` of a curve's final valAcc (the ``learned`` column of
    ``nnlife load``'s summary); a curve without a spec (a curve file) has no chance level:
    False."""
    if curve.spec is None:
        return False
    final = float(curve.curve.valAcc[-1]) if len(curve.curve) else math.nan
    return bool(learned(final, dataset_info(curve.spec.dataset).classes))


def reaches(curve: LabeledCurve, target: float) -> bool:
    return target_index(curve, target) < len(curve.curve)


def learned_cv(groups: list[list[LabeledCurve]], reaching: list[LabeledCurve], target: float, workers: int,
               folds: int, seed: int = 0) -> tuple[list[Outcome], str]:
    """The learned method's outcomes on ``reaching`` (in its order), each from a model fitted
    without the curve's fold: the corpora when there are several, else ``folds`` seeded
    random folds of the networks. Returns the outcomes and a line saying how it was split."""
    if len(groups) >= 2:
        fold_of = {id(c): g for g, group in enumerate(groups) for c in group}
        every = [c for group in groups for c in group]
        n_folds, how = len(groups), f"by corpus ({len(groups)} corpora, each held out in turn)"
    else:
        every = groups[0]
        order = np.random.default_rng(seed).permutation(len(every))
        fold_of = {id(every[i]): k % folds for k, i in enumerate(order)}
        n_folds, how = folds, f"by network ({folds} seeded folds of one corpus: not by corpus)"
    out: dict[int, Outcome] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(n_folds):
            train = [c for c in every if fold_of[id(c)] != k]
            test = [c for c in reaching if fold_of[id(c)] == k]
            if not test or not train:
                continue
            model = os.path.join(tmp, f"fold{k}.json")
            save_model(fit_model(train), model)
            name = f"learned:{model}"
            got = run_methods(test, [name], target, workers=workers)[name]
            out.update({id(c): o for c, o in zip(test, got)})
    return [dataclasses.replace(out[id(c)], method="learned (cv)") for c in reaching], how



def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b and math.isfinite(a) and math.isfinite(b) else "-"


def table_with_ratios(scores: list[MethodScore], seconds: list[float]) -> str:
    """The evaluate table of ``scores`` with the ratios to penguin's; ``seconds[i]`` is the CPU
    time per network of ``scores[i]``'s method (keyed by position: a plug-in's score carries its
    predictor's name, not the ``module:Class`` it was asked for by)."""
    base = next((i for i, s in enumerate(scores) if s.method == "penguin"), None)
    lines = format_scores(scores).splitlines()
    lines[0] += " MAE / penguin | CPU s / network | CPU / penguin |"
    lines[1] += "---:|---:|---:|"
    for i, s in enumerate(scores):
        mae_ratio = ratio(s.mae, scores[base].mae) if base is not None else "-"
        cpu_ratio = ratio(seconds[i], seconds[base]) if base is not None else "-"
        lines[i + 2] += f" {mae_ratio} | {seconds[i]:.3f} | {cpu_ratio} |"
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
    parser.add_argument("--thresholds", default="0.75,1.0,1.5,2.0", help="extra thresholds for ensemble, best_fit and triage")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (0: no bootstrap)")
    parser.add_argument("--learned-cv", action="store_true", help="add the learned method, cross-validated")
    parser.add_argument("--folds", type=int, default=5, help="folds by network when only one corpus is given")
    args = parser.parse_args(argv)
    methods = tuple(m for m in args.methods.split(",") if m)
    if "penguin" not in methods:
        methods = ("penguin",) + methods  # the reference every ratio is taken against
    thresholds = tuple(float(t) for t in args.thresholds.split(",") if t)
    groups = [load_curves([c]) for c in args.corpus]
    tables = [c for g in groups for c in g]
    print(f"# Prediction quality: {len(tables)} networks from {', '.join(args.corpus)} "
          f"({', '.join(str(len(g)) for g in groups)})\n")
    for target in (float(t) for t in args.targets.split(",")):
        reaching = [t for t in tables if reaches(t, target)]
        start = time.perf_counter()
        tasks = [(t, methods, target, thresholds) for t in reaching]
        with ProcessPoolExecutor(max_workers=max(1, min(args.workers, len(tasks)))) as pool:
            results = list(pool.map(one_network, tasks))
        wall = time.perf_counter() - start
        scores = [score([r[0][m] for r in results]) for m in methods]
        seconds = {m: sum(r[1][m] for r in results) / len(results) for m in methods}
        cv_line = ""
        if args.learned_cv:
            start_cv = time.process_time()
            cv, cv_line = learned_cv(groups, reaching, target, args.workers, args.folds)
            for r, o in zip(results, cv):
                r[0]["learned (cv)"] = o
                r[1]["learned (cv)"] = math.nan  # fitted and run in a pool: CPU time not per network
            scores.append(score(cv))
            seconds["learned (cv)"] = math.nan
            methods_shown = methods + ("learned (cv)",)
            cv_line += f"; fitting and running took {time.process_time() - start_cv:.0f} CPU s in this process"
        else:
            methods_shown = methods
        print(f"## Target epoch {target:g}: {len(reaching)} networks "
              f"({wall:.0f} s wall on {args.workers} workers)\n")
        print(f"`nnlife evaluate {' '.join(args.corpus)} --target-epoch {target:g}`, "
              f"stability threshold {DEFAULT_THRESHOLD:g} for every method:\n")
        print(table_with_ratios(scores, [seconds[m] for m in methods_shown]))
        if cv_line:
            print(f"\n`learned (cv)`: cross-validated {cv_line}.")
        kept = [i for i, t in enumerate(reaching) if has_learned(t)]
        if kept:
            part = [score([results[i][0][m] for i in kept]) for m in methods_shown]
            part_seconds = {m: sum(results[i][1][m] for i in kept) / len(kept) for m in methods_shown}
            print(f"\nThe {len(kept)} of these networks that learned (final valAcc at least "
                  f"{LEARNED_CHANCE_MULTIPLE:g}x chance), same outcomes:\n")
            print(table_with_ratios(part, [part_seconds[m] for m in methods_shown]))
        else:
            print("\nNone of these networks learned (final valAcc at least twice chance).")
        if args.resamples > 0:
            print(f"\nAgainst penguin, paired bootstrap over the {len(reaching)} networks "
                  f"({args.resamples} resamples, seed 0): share of resamples in which the method\n")
            print(bootstrap_against_penguin({m: [r[0][m] for r in results] for m in methods_shown}, args.resamples))
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
