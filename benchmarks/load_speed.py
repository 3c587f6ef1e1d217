"""How fast `nnlife load` reads a data set, against the plain way, in the same run.

Writes N tables (default 6000: N/3 per data set) with nnlife's own writer, from real sampled
specs (nnlife.sample.plan) and synthetic curves (learning, never learning, diverging and
early-stopped networks), then times:

1. the plain way, as the published DataLoader.py does it: a Python loop of
   ``pandas.read_csv`` per table, per-network metrics (max, min, mean, final of accuracy and
   losses, epoch of the best, hyperparameters), then ``pd.concat`` of all tables and one
   DataFrame of the metrics;
2. ``nnlife.analysis.load`` of the .txt tables (process pool over all cores), summary and
   long frame;
3. ``nnlife.analysis.load`` of the same data set packed into one Parquet file, summary and
   long frame.

It checks that the plain metrics and nnlife's summary agree, and prints the three times and
the ratios. With --skip-plain it times nnlife alone and prints the peak memory of this process
and of its workers (for the memory bound on large data sets, e.g. --count 60000). Usage:

    python benchmarks/load_speed.py [--count 6000] [--workers N] [--dir DIR] [--repeat 1] [--skip-plain]
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from nnlife import __version__
from nnlife.analysis import default_workers, load, pack
from nnlife.sample import plan
from nnlife.spec import DATASETS, make_id
from nnlife.table import Curve, find_tables, write_table

MASTER_SEED = 2022
HALF_EPOCHS = 80


def synthetic_curve(rng: np.random.Generator, classes: int) -> Curve:
    """A plausible lifespan: most networks learn, some stay at chance, a few diverge (NaN
    from some half epoch on) and some stop early."""
    chance = 100.0 / classes
    kind = rng.choice(["learns", "chance", "diverges"], p=[0.7, 0.25, 0.05])
    n = HALF_EPOCHS if rng.random() < 0.9 else int(rng.integers(4, HALF_EPOCHS))
    t = 0.5 * np.arange(1, n + 1)
    noise = rng.normal(0.0, 1.0, size=(3, n))
    start_loss = math.log(classes)
    if kind == "learns":
        top = rng.uniform(2.5 * chance, 95.0 if classes == 10 else 60.0)
        tau = rng.uniform(0.5, 8.0)
        rise = 1.0 - np.exp(-t / tau)
        acc = chance + (top - chance) * rise + 0.4 * noise[0]
        final_loss = rng.uniform(0.05, 0.8) * start_loss
        train = start_loss - (start_loss - final_loss) * rise + 0.02 * noise[1]
        val = train * rng.uniform(1.0, 1.4) + 0.02 * np.abs(noise[2])
    else:
        acc = chance + 0.1 * chance * noise[0]
        train = start_loss + 0.01 * noise[1]
        val = start_loss + 0.01 * noise[2]
        if kind == "diverges":
            at = int(rng.integers(1, n)) if n > 1 else 0
            train[at:] = np.nan
            val[at:] = np.nan
    return Curve.from_halves(np.abs(train), np.abs(val), np.clip(acc, 0.0, 100.0))


def write_data_set(root: Path, count: int) -> int:
    rng = np.random.default_rng(MASTER_SEED)
    per = count // len(DATASETS)
    when = datetime(2026, 1, 1)
    written = 0
    for d, name in enumerate(DATASETS):
        n = per + (1 if d < count - per * len(DATASETS) else 0)
        for planned in plan(name, n, MASTER_SEED):
            when += timedelta(seconds=1, microseconds=int(rng.integers(0, 999_999)))
            spec = planned.spec().with_run(ID=make_id(when), train_GPU=False, torch_set_deterministic=True)
            write_table(root, spec, synthetic_curve(rng, spec.info.classes))
            written += 1
    return written


# ---- the plain way ---------------------------------------------------------------------

HYPERPARAMETERS = [
    "ID", "dataset", "random_seed", "batch_size", "learning_rate", "momentum", "dampening",
    "weight_decay", "dropout_rate", "FC_dropout_rate", "layer_types", "convFilters", "FCFilters",
]


def plain_load(files: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One pandas.read_csv per table, per-network metrics, pd.concat: the published way."""
    frames = []
    rows = []
    for path in files:
        df = pd.read_csv(path, sep=" ")
        meta = df.iloc[0]
        row = {name: meta[name] for name in HYPERPARAMETERS}
        for name in ("valAcc", "valLoss", "trainLoss"):
            column = df[name]
            row[f"{name}_max"] = column.max()
            row[f"{name}_min"] = column.min()
            row[f"{name}_mean"] = column.mean()
            row[f"{name}_final"] = column.iloc[-1]
            best = column.idxmax() if name == "valAcc" else column.idxmin()
            row[f"{name}_best_epoch"] = df["epochs"].iloc[best] if not pd.isna(best) else np.nan
        row["n_rows"] = len(df)
        rows.append(row)
        frames.append(df)
    return pd.DataFrame(rows), pd.concat(frames, ignore_index=True)


def nnlife_load(source: Path, workers: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    data = load(source, workers=workers)
    return data.summary, data.long()


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the pool's workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(fn, repeat: int):
    """(best wall-clock seconds, CPU seconds of that run, result)."""
    best, cpu, result = math.inf, math.inf, None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), cpu_seconds()
        result = fn()
        wall = time.perf_counter() - start
        if wall < best:
            best, cpu = wall, cpu_seconds() - start_cpu
    return best, cpu, result


def agree(plain: pd.DataFrame, ours: pd.DataFrame) -> int:
    """Compare the metrics both compute on networks whose curves are all finite."""
    ours = ours[~ours["diverged"]].set_index(["dataset", "ID"])
    plain = plain.set_index(["dataset", "ID"]).loc[ours.index]
    for name in ("valAcc", "valLoss", "trainLoss"):
        for key in ("max", "min", "final", "best_epoch"):
            column = f"{name}_{key}"
            if not np.array_equal(plain[column].to_numpy(float), ours[column].to_numpy(float)):
                raise SystemExit(f"plain and nnlife disagree on {column}")
        column = f"{name}_mean"
        if not np.allclose(plain[column].to_numpy(float), ours[column].to_numpy(float), rtol=1e-12, atol=0):
            raise SystemExit(f"plain and nnlife disagree on {column}")
    if not np.array_equal(plain["n_rows"].to_numpy(), ours["n_rows"].to_numpy()):
        raise SystemExit("plain and nnlife disagree on n_rows")
    return len(ours)


def peak_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def nnlife_only(root: Path, files: list[Path], workers: int) -> int:
    base = peak_mb(resource.RUSAGE_SELF)
    start = time.perf_counter()
    data = load(root, workers=workers)
    summary = data.summary
    t_load = time.perf_counter() - start
    after_load = peak_mb(resource.RUSAGE_SELF)
    start = time.perf_counter()
    long = data.long()
    t_long = time.perf_counter() - start
    curve_mb = sum(data.networks[name].nbytes for name in ("trainLoss", "valLoss", "valAcc")) / 1e6
    print(f"nnlife load of {len(summary)} tables ({len(long)} half-epoch rows): {t_load:.2f} s, "
          f"long frame {t_long:.2f} s more")
    print(f"peak memory: this process {base:.0f} MB before, {after_load:.0f} MB after load + summary, "
          f"{peak_mb(resource.RUSAGE_SELF):.0f} MB after the long frame ({long.memory_usage(deep=True).sum() / 1e6:.0f} MB); "
          f"largest worker {peak_mb(resource.RUSAGE_CHILDREN):.0f} MB; the curves themselves {curve_mb:.0f} MB")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=6000, help="tables to write (default 6000)")
    parser.add_argument("--workers", type=int, default=default_workers(), help="nnlife load workers (default: all cores)")
    parser.add_argument("--dir", type=Path, help="where to write the tables (default: a temporary directory, removed)")
    parser.add_argument("--repeat", type=int, default=1, help="time each method this many times, keep the best")
    parser.add_argument("--skip-plain", action="store_true", help="time nnlife only; print peak memory")
    args = parser.parse_args()

    root = args.dir or Path(tempfile.mkdtemp(prefix="nnlife-bench-"))
    try:
        root.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        existing = find_tables([root])
        if not existing:
            write_data_set(root, args.count)
        elif len(existing) != args.count:
            raise SystemExit(f"{root} holds {len(existing)} tables, not {args.count}: give a new or empty --dir")
        files = find_tables([root])
        print(f"nnlife {__version__}, {len(files)} tables under {root} "
              f"(ready in {time.perf_counter() - start:.1f} s), {os.cpu_count()} cores, workers={args.workers}")

        if args.skip_plain:
            return nnlife_only(root, files, args.workers)
        t_plain, c_plain, (plain_summary, plain_long) = timed(lambda: plain_load(files), args.repeat)
        t_tables, c_tables, (summary, long) = timed(lambda: nnlife_load(root, args.workers), args.repeat)
        parquet = root / "lifespans.parquet"
        start = time.perf_counter()
        pack(root, parquet, workers=args.workers)
        t_pack = time.perf_counter() - start
        t_parquet, c_parquet, (p_summary, p_long) = timed(lambda: nnlife_load(parquet, args.workers), args.repeat)

        checked = agree(plain_summary, summary)
        if len(plain_long) != len(long) or len(p_long) != len(long):
            raise SystemExit("long frames differ in length")
        pd.testing.assert_frame_equal(summary.drop(columns="path"), p_summary.drop(columns="path"))
        table_bytes = sum(f.stat().st_size for f in files)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        print(f"summary metrics agree with the plain way on {checked} networks with finite curves; "
              f"{len(long)} half-epoch rows")
        print()
        load1, load5, _ = os.getloadavg()
        print(f"{'method':52s} {'seconds':>8s} {'speed-up':>9s} {'CPU s':>8s}")
        rows = [
            ("plain: pandas.read_csv loop + metrics + pd.concat", t_plain, c_plain),
            (f"nnlife load, .txt tables ({args.workers} workers)", t_tables, c_tables),
            ("nnlife load, Parquet", t_parquet, c_parquet),
        ]
        for label, wall, cpu in rows:
            print(f"{label:52s} {wall:8.3f} {t_plain / wall:8.1f}x {cpu:8.2f}")
        print(f"(wall-clock seconds, best of {args.repeat}; CPU s: this process and its workers; "
              f"load average {load1:.1f} / {load5:.1f} over 1 / 5 min after the run)")
        print()
        print(f"tables {table_bytes / 1e6:.1f} MB; Parquet {parquet.stat().st_size / 1e6:.1f} MB, packed in {t_pack:.2f} s; "
              f"peak memory of this process {rss:.0f} MB")
        ok = t_plain / t_tables >= 5 and t_plain / t_parquet >= 50
        print(f"targets (tables >= 5x, Parquet >= 50x): {'met' if ok else 'NOT met'}")
        return 0
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
