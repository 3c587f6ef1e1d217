"""How fast `nnlife evaluate` runs every built-in method, against today's plain way, in one run.

The curves: ``--count`` tables (default 6000) of 80 half-epoch rows (40 epochs), written with
nnlife's own writer under real sampled specs (nnlife.sample.plan, FashionMNIST, CIFAR-100 and
SVHN). Their shapes follow the corpora of benchmarks/prediction_quality.py, where 85 to 92 %
of random networks never learn:

- 80 % never learning: stuck at the share of one class of the test set after the first row,
  with the validation loss fixed to 4 or 5 digits (the published tables' stuck networks), or
  wandering around chance level (noise of 0.05 to 1 point);
- 11 % learning: saturating curves from chance to 30-92 % with time constants of 0.5 to 10
  epochs and noise of 0.1 to 1.5 points;
- 3 % slow learners (flat for 1 to 10 epochs, then learning), 2 % early collapse (learning,
  then back to chance), 4 % diverging (losses, and for some the accuracy, ``nan`` from some
  half epoch on);
- and the real curves: the three published CIFAR-100 tables (tests/fixtures/reference) and
  every table under the ``--real`` directories (default: the learn corpus of
  ``make_corpus.py``, ``corpus-learn/FashionMNIST_models``) present when the script runs,
  each used as is once and then resampled (time stretched by 0.6 to 1.6, accuracy rescaled
  around chance by 0.8 to 1.1, noise of 0 to 0.4 points), deterministically from ``--seed``,
  for 10 % of the curves in place of synthetic ones of the same kind (learning or not).

It then times, each as a command in a fresh process (start-up and reading the tables
included): ``nnlife evaluate DIR --target-epoch 20 --workers W`` of every built-in method with
this tree's nnlife (``--repeats`` times, default 3: the median and the range are printed), and
the same command with today's implementation (the tree at
``--baseline``, a git revision, default 9637299: the commit the ``penguinfit`` branch started
from, ``git merge-base penguinfit main``, the last tree whose PENGUIN fits call
``scipy.optimize.curve_fit`` itself rather than nnlife.penguin_fit) on the first
``--plain-count`` curves (default 100), extrapolated per curve to all. It prints both times,
the ratio, and, on the plain subset, the agreement of every method's decisions with today's (PENGUIN: stop epochs and
predictions identical, required 100 %; every other method likewise, with the largest
difference of the predictions).

nnlife's solvers are compiled by numba on their first use and cached next to their source
(``__pycache__``), so the first command after an install or a change of those files spends
some 30 s of each worker compiling them. Before the timed runs each tree evaluates the plain
subset once, untimed, so that every timed run, of either tree, finds its cache warm (as a
user's second and later runs do); that first run's time is printed on its own, as the one-off
cost it is.

    python benchmarks/evaluate_speed.py [--count 6000] [--plain-count 100] [--workers 2] [--repeats 3] [--dir DIR]
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from nnlife.sample import plan
from nnlife.spec import make_id
from nnlife.table import Curve, find_tables, read_table, write_table

ROOT = Path(__file__).resolve().parents[1]
REAL_DIRS = [ROOT / "tests" / "fixtures" / "reference"]
DEFAULT_REAL = "corpus-learn/FashionMNIST_models"
HALF_EPOCHS = 80
BASELINE = "9637299"  # the tree before nnlife.penguin_fit (PENGUIN still fitted by curve_fit)
CHANCE_SHARES = {10: (9.0, 9.43, 9.8, 10.0, 10.25, 10.6, 11.51), 100: (0.85, 1.0, 1.13, 1.2)}


def real_curves(extra_dirs=()) -> list[Curve]:
    curves = []
    for d in [*REAL_DIRS, *map(Path, extra_dirs)]:
        if d.is_dir():
            for path in find_tables([d]):
                c = read_table(path).curve
                if len(c) >= HALF_EPOCHS:
                    curves.append(c)
    return curves


def _learned(c: Curve) -> bool:
    acc = np.asarray(c.valAcc, dtype=float)
    return bool(np.nanmax(acc[:HALF_EPOCHS]) >= 2.5 * max(acc[0], 1.0)) if np.isfinite(acc).any() else False


def resample(rng: np.random.Generator, c: Curve, chance: float) -> Curve:
    """A real curve, stretched in time, rescaled around chance level and noised."""
    t = 0.5 * np.arange(1, HALF_EPOCHS + 1)
    stretch = rng.uniform(0.6, 1.6)
    src_t = np.asarray(c.epochs[:HALF_EPOCHS], dtype=float)

    def warp(v):
        v = np.asarray(v[:HALF_EPOCHS], dtype=float)
        return np.interp(np.clip(t * stretch, src_t[0], src_t[-1]), src_t, v)

    acc = warp(c.valAcc)
    base = float(acc[0])
    acc = chance + (acc - base) * rng.uniform(0.8, 1.1) + rng.normal(0, rng.uniform(0, 0.4), HALF_EPOCHS)
    return Curve.from_halves(np.abs(warp(c.trainLoss)), np.abs(warp(c.valLoss)), np.clip(acc, 0.0, 100.0))


def synthetic_curve(rng: np.random.Generator, kind: str, classes: int) -> Curve:
    n = HALF_EPOCHS
    t = 0.5 * np.arange(1, n + 1)
    chance = 100.0 / classes
    start_loss = math.log(classes)
    shares = CHANCE_SHARES[100 if classes == 100 else 10]
    if kind == "stuck":
        acc = np.full(n, rng.choice(shares))
        acc[0] = rng.choice(shares)
        val = np.round(np.full(n, start_loss + rng.uniform(-0.01, 0.01)), int(rng.choice([4, 5])))
        val = val + rng.choice([0.0, 1e-5], n)
        train = val + rng.normal(0, 1e-4, n)
    elif kind == "noisy":
        acc = chance + rng.normal(0, rng.uniform(0.05, 1.0), n)
        val = start_loss + rng.normal(0, 0.002, n)
        train = start_loss + rng.normal(0, 0.002, n)
    else:
        top = rng.uniform(30, 92) if classes == 10 else rng.uniform(8, 55)
        tau = rng.uniform(0.5, 10.0)
        power = rng.uniform(0.6, 1.5)
        delay = rng.uniform(1, 10) if kind == "slow" else 0.0
        rise = 1 - np.exp(-(np.maximum(t - delay, 0) / tau) ** power)
        acc = chance + (top - chance) * rise + rng.normal(0, rng.uniform(0.1, 1.5), n)
        final = rng.uniform(0.1, 0.8) * start_loss
        train = start_loss - (start_loss - final) * rise + rng.normal(0, 0.01, n)
        val = train * rng.uniform(1.0, 1.3) + np.abs(rng.normal(0, 0.01, n))
        if kind == "collapse":
            at = int(rng.integers(4, 30))
            acc[at:] = rng.choice(shares)
            train[at:] = start_loss
            val[at:] = start_loss + rng.normal(0, 1e-4, n - at)
        if kind == "diverges":
            at = int(rng.integers(1, 60))
            train[at:] = np.nan
            val[at:] = np.nan
            acc[at:] = np.nan if rng.random() < 0.5 else rng.choice(shares)
    return Curve.from_halves(np.abs(train), np.abs(val), np.clip(acc, 0.0, 100.0))


KINDS = (("stuck", 0.55), ("noisy", 0.25), ("learns", 0.11), ("slow", 0.03), ("collapse", 0.02), ("diverges", 0.04))


def make_curves(count: int, seed: int, real_dirs=(DEFAULT_REAL,)) -> list[tuple[str, Curve, int]]:
    """(kind, curve, classes) of ``count`` networks, deterministic in ``seed`` (and the real
    tables found in ``real_dirs``)."""
    rng = np.random.default_rng(seed)
    real = real_curves(real_dirs)
    real_learned = [c for c in real if _learned(c)]
    real_flat = [c for c in real if not _learned(c)]
    out: list[tuple[str, Curve, int]] = []
    for i, c in enumerate(real[:count]):
        out.append(("real", c, 100 if max(c.valAcc[:5]) < 5 else 10))
    names = [k for k, _ in KINDS]
    probs = [p for _, p in KINDS]
    while len(out) < count:
        kind = str(rng.choice(names, p=probs))
        classes = int(rng.choice([10, 100], p=[0.8, 0.2]))
        pool = real_learned if kind == "learns" else real_flat if kind in ("stuck", "noisy") else []
        if pool and rng.random() < 0.1:
            out.append(("real " + kind, resample(rng, pool[int(rng.integers(len(pool)))], 100.0 / classes), classes))
        else:
            out.append((kind, synthetic_curve(rng, kind, classes), classes))
    return out


def write_corpus(root: Path, curves: list[tuple[str, Curve, int]], seed: int) -> list[Path]:
    specs = {10: plan("FashionMNIST", 50, seed) + plan("SVHN", 50, seed), 100: plan("CIFAR-100", 50, seed)}
    when = datetime(2026, 1, 1)
    paths = []
    for i, (_, curve, classes) in enumerate(curves):
        when += timedelta(seconds=1)
        planned = specs[classes][i % len(specs[classes])]
        spec = planned.spec().with_run(ID=make_id(when), train_GPU=False, torch_set_deterministic=True)
        paths.append(write_table(root, spec, curve))
    return paths


def baseline_tree(revision: str, where: Path) -> Path:
    """Today's implementation: ``src`` of ``revision`` of this repository, extracted."""
    where.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "src"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    return where / "src"


def run_evaluate(src: Path, data: Path, workers: int, csv_out: Path, outcomes_dir: Path | None = None) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, the command and its worker processes) of
    `python -m nnlife evaluate DATA` with ``src`` as nnlife's source. On a shared machine the
    CPU time is the steadier of the two."""
    import resource

    env = dict(os.environ, PYTHONPATH=str(src))
    cmd = [sys.executable, "-m", "nnlife", "evaluate", str(data), "--target-epoch", "20", "--workers", str(workers),
           "--csv", str(csv_out)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


OUTCOMES_SCRIPT = """
import sys, json
from nnlife.predict import METHODS, load_curves, run_methods
tables = load_curves([sys.argv[1]])
methods = sys.argv[4].split(",") if len(sys.argv) > 4 else list(METHODS)
res = run_methods(tables, methods, 20, workers=int(sys.argv[2]))
with open(sys.argv[3], 'w') as handle:
    json.dump({m: [(o.ID, o.converged, o.stop_epoch, o.predicted) for o in v] for m, v in res.items()}, handle)
"""


def outcomes(src: Path, data: Path, workers: int, out: Path, methods: str | None = None) -> dict:
    """``{method: [(ID, converged, stop epoch, prediction)]}`` of ``src``'s nnlife on ``data``
    (through JSON, which keeps ``nan`` and every float's bits)."""
    import json

    env = dict(os.environ, PYTHONPATH=str(src))
    cmd = [sys.executable, "-c", OUTCOMES_SCRIPT, str(data), str(workers), str(out)] + ([methods] if methods else [])
    subprocess.run(cmd, check=True, env=env)
    with open(out) as handle:
        return {m: [tuple(o) for o in v] for m, v in json.load(handle).items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=6000)
    p.add_argument("--plain-count", type=int, default=100)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3, help="timed runs of this tree on all curves (the median counts)")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--real", action="append", default=None,
                   help=f"a directory of real tables to resample (repeatable; default {DEFAULT_REAL}, if present)")
    p.add_argument("--baseline", default=BASELINE, help="git revision of today's implementation")
    p.add_argument("--dir", help="work directory (default: a temporary one, removed)")
    args = p.parse_args(argv)

    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="nnlife-evaluate-speed-"))
    try:
        curves = make_curves(args.count, args.seed, args.real or (DEFAULT_REAL,))
        kinds: dict[str, int] = {}
        for k, _, _ in curves:
            kinds[k] = kinds.get(k, 0) + 1
        print(f"# {len(curves)} curves: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
        full = work / "all"
        subset = work / "subset"
        paths = write_corpus(full, curves, args.seed)
        sub_paths = write_corpus(subset, curves[: args.plain_count], args.seed)
        plain_src = baseline_tree(args.baseline, work / "baseline")
        here_src = ROOT / "src"

        for name, src in (("this tree", here_src), (f"today's implementation ({args.baseline})", plain_src)):
            t_first, c_first = run_evaluate(src, subset, args.workers, work / "warm.csv")
            print(f"{name}, first run on the {args.plain_count}-curve subset (compiles what its cache lacks, "
                  f"untimed below): {t_first:.1f} s wall, {c_first:.1f} s CPU", flush=True)
        runs = sorted(run_evaluate(here_src, full, args.workers, work / "new.csv") for _ in range(args.repeats))
        t_new, c_new = runs[len(runs) // 2]
        print(f"nnlife evaluate, {len(curves)} curves, every method, {args.workers} workers, median of "
              f"{len(runs)}: {t_new:.1f} s wall, {c_new:.1f} s CPU (wall {runs[0][0]:.1f} to {runs[-1][0]:.1f} s)",
              flush=True)
        t_plain_sub, c_plain_sub = run_evaluate(plain_src, subset, args.workers, work / "plain.csv")
        per_curve_plain = t_plain_sub / args.plain_count
        t_plain = per_curve_plain * len(curves)
        c_plain = c_plain_sub / args.plain_count * len(curves)
        print(f"today's implementation ({args.baseline}), first {args.plain_count} curves: {t_plain_sub:.1f} s wall, "
              f"{c_plain_sub:.1f} s CPU ({per_curve_plain:.3f} s wall per curve; extrapolated to {len(curves)}: "
              f"{t_plain:.0f} s wall, {c_plain:.0f} s CPU)")
        # The target is for 6000 curves: a smaller --count is scaled to 6000 per curve.
        t_6000 = t_new / len(curves) * 6000
        print(f"ratio (today's, extrapolated / this tree): {t_plain / t_new:.2f}x wall, {c_plain / c_new:.2f}x CPU; "
              f"6000 curves: {t_6000:.0f} s wall{'' if len(curves) == 6000 else ' (extrapolated)'}, "
              f"target 60 s: {'met' if t_6000 <= 60 else 'NOT met'}", flush=True)

        new = outcomes(here_src, subset, args.workers, work / "new.pkl")
        old = outcomes(plain_src, subset, args.workers, work / "old.pkl")
        print("| method | stop epochs equal | predictions equal | largest prediction difference |")
        print("|---|---:|---:|---:|")
        for m in old:
            a, b = new[m], old[m]
            same_stop = sum(x[1:3] == y[1:3] for x, y in zip(a, b))
            same_pred = sum(x[3] == y[3] or (math.isnan(x[3]) and math.isnan(y[3])) for x, y in zip(a, b))
            diffs = [abs(x[3] - y[3]) for x, y in zip(a, b) if math.isfinite(x[3]) and math.isfinite(y[3])]
            print(f"| {m} | {same_stop}/{len(a)} | {same_pred}/{len(a)} | {max(diffs, default=0.0):.2g} |")
        with open(work / "new.csv", newline="") as handle:
            print("# scores of this tree on all curves:")
            for row in csv.DictReader(handle):
                print("#", row["method"], row["converged"], row["epochs_saved"], row["mae"])
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
