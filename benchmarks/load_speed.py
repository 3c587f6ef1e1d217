"""How fast `nnlife load` reads a data set, against the plain way, in the same run.

Writes N tables (default 6000: N/3 per data set) with nnlife's own writer, from real sampled
specs (nnlife.sample.plan) and synthetic curves (learning, never learning, diverging and
early-stopped networks), then times:

1. the plain way, as the published DataLoader.py does it: a Python loop of one
   ``pandas.read_csv`` per table, eight per-network metrics (max, min and mean of valAcc and
   valLoss, the final valAcc, the learning rate), then one ``pd.concat`` of all tables;
2. the fuller plain way: the same loop computing every metric nnlife's summary has for the
   three curves (max, min, mean, final, epoch of the best) and the hyperparameters;
3. the command ``nnlife load DIR --csv OUT`` as a new process (start-up included);
4. ``nnlife.analysis.load`` of the .txt tables in this process, summary and long frame;
5. ``nnlife pack DIR --out FILE`` as a new process, then ``load`` of the Parquet file in this
   process (summary and long frame) and ``nnlife load FILE`` as a new process;
6. start-up: ``nnlife --help`` and ``nnlife load`` of one table, as new processes.

It checks that the plain metrics and nnlife's summary agree, and prints the times and the
ratios. With --skip-plain it times nnlife alone (``load`` in this process, then the command
``nnlife load DIR --csv OUT``) and prints the peak memory of this process and of each worker,
and each worker's private memory (for the memory bound on large data sets, e.g. --count
60000). Usage:

    python benchmarks/load_speed.py [--count 6000] [--workers N] [--dir DIR] [--repeat 1] [--skip-plain]
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import nnlife.analysis
from nnlife import __version__
from nnlife.analysis import default_workers, load
from nnlife.sample import plan
from nnlife.spec import DATASETS, make_id
from nnlife.table import Curve, find_tables, write_table

if TYPE_CHECKING:
    import pandas as pd

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


def plain_minimal(files: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One pandas.read_csv per table, eight per-network metrics, one pd.concat."""
    import pandas as pd

    frames = []
    rows = []
    for path in files:
        df = pd.read_csv(path, sep=" ")
        acc, loss = df["valAcc"], df["valLoss"]
        rows.append({
            "valAcc_max": acc.max(), "valAcc_min": acc.min(), "valAcc_mean": acc.mean(),
            "valLoss_max": loss.max(), "valLoss_min": loss.min(), "valLoss_mean": loss.mean(),
            "valAcc_final": acc.iloc[-1], "learning_rate": df["learning_rate"].iloc[0],
        })
        frames.append(df)
    return pd.DataFrame(rows), pd.concat(frames, ignore_index=True)


def plain_load(files: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One pandas.read_csv per table, all of nnlife's curve metrics, pd.concat: the fuller way."""
    import pandas as pd

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


def resident_mb() -> float:
    """This process's memory now (Linux; NaN elsewhere)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return math.nan


def private_mb() -> float:
    """This process's private memory now (Linux; NaN elsewhere): the pages only it holds.

    A forked worker's resident size counts the pages it shares with its parent; when the
    parent has loaded a data set before (the benchmark's repeats), that is hundreds of MB the
    worker never allocated. Its private memory is what it costs."""
    try:
        with open("/proc/self/smaps_rollup") as handle:
            fields = dict(line.split(":", 1) for line in handle if ":" in line)
        return sum(int(fields[k].split()[0]) for k in ("Private_Clean", "Private_Dirty")) / 1024
    except (OSError, KeyError, ValueError):
        return math.nan


def record_worker_peaks(folder: Path) -> None:
    """Make every chunk a worker parses add a line to ``folder``/<pid>: the worker's peak
    memory, its memory now and its private memory now, after the chunk (workers are forked,
    so they run this patched function)."""
    read_chunk = nnlife.analysis._read_chunk

    def measured(paths, keep_text):
        result = read_chunk(paths, keep_text)
        with open(folder / str(os.getpid()), "a") as out:
            out.write(f"{peak_mb(resource.RUSAGE_SELF)} {resident_mb()} {private_mb()}\n")
        return result

    # the pool sends the function by name: make the name lead to this one
    measured.__module__, measured.__qualname__ = "nnlife.analysis", "_read_chunk"
    nnlife.analysis._read_chunk = measured


def nnlife_only(root: Path, files: list[Path], workers: int, repeat: int) -> int:
    peaks = Path(tempfile.mkdtemp(prefix="nnlife-peaks-"))
    record_worker_peaks(peaks)
    base = peak_mb(resource.RUSAGE_SELF)
    t_load, c_load, data, summary = math.inf, math.inf, None, None
    first_workers = None
    for _ in range(repeat):
        data = summary = None
        start, start_cpu = time.perf_counter(), cpu_seconds()
        data = load(root, workers=workers)
        summary = data.summary
        if time.perf_counter() - start < t_load:
            t_load, c_load = time.perf_counter() - start, cpu_seconds() - start_cpu
        if first_workers is None:
            first_workers = list(peaks.iterdir())
    after_load = peak_mb(resource.RUSAGE_SELF)
    start = time.perf_counter()
    long = data.long()
    t_long = time.perf_counter() - start
    curve_mb = sum(data.networks[name].nbytes for name in ("trainLoss", "valLoss", "valAcc")) / 1e6
    chunks = [[line.split() for line in f.read_text().splitlines()] for f in peaks.iterdir()]
    first_load = [float(line.split()[0]) for f in first_workers for line in f.read_text().splitlines()]
    workers_mb = sorted(float(lines[-1][0]) for lines in chunks)
    growth = [(len(lines), float(lines[0][1]), float(lines[-1][1]), max(float(line[2]) for line in lines))
              for lines in chunks]
    shutil.rmtree(peaks, ignore_errors=True)
    load1, load5, _ = os.getloadavg()
    print(f"nnlife load of {len(summary)} tables ({len(long)} half-epoch rows) + summary: {t_load:.2f} s "
          f"(best of {repeat}; CPU {c_load:.2f} s, this process and its workers), long frame {t_long:.2f} s more "
          f"(load average {load1:.1f} / {load5:.1f})")
    print(f"peak memory: this process {base:.0f} MB before, {after_load:.0f} MB after load + summary, "
          f"{peak_mb(resource.RUSAGE_SELF):.0f} MB after the long frame ({long.memory_usage(deep=True).sum() / 1e6:.0f} MB); "
          f"the curves themselves {curve_mb:.0f} MB")
    print(f"peak memory of each worker ({len(workers_mb)} processes): "
          + (", ".join(f"{mb:.0f}" for mb in workers_mb) + " MB" if workers_mb else "none (parsed in this process)"))
    print("  (the first load's workers are forked from a process that has loaded nothing yet, as a command's are; "
          "later ones count the pages they share with this process: see the private memory)")
    for n, first, last, private in growth:
        print(f"  a worker of {n} chunks: {first:.0f} MB after its first chunk, {last:.0f} MB after its last, "
              f"private memory after a chunk at most {private:.0f} MB")
    with tempfile.TemporaryDirectory(prefix="nnlife-csv-") as out:
        t_cli, c_cli = best_command(repeat, "load", str(root), "--csv", os.path.join(out, "summary.csv"),
                                    "--workers", str(workers))
    print(f"`nnlife load DIR --csv OUT` of {len(summary)} tables ({workers} workers, new process): {t_cli:.2f} s "
          f"(best of {repeat}; CPU {c_cli:.2f} s)")
    if len(summary) >= 60000:
        goals = {
            f"{len(summary)} tables (`nnlife load --csv`, new process) <= 5 s": t_cli <= 5.0,
            "each worker under 150 MB (the first load's peaks; every worker's private memory)":
                max(first_load) < 150 and max(g[3] for g in growth) < 150,
        }
        for goal, met in goals.items():
            print(f"goal {goal}: {'met' if met else 'NOT met'}")
    return 0


def command(*args: str) -> tuple[float, float]:
    """Wall-clock and CPU seconds of ``python -m nnlife ARGS`` as a new process (CPU: the
    process and its workers)."""
    start, start_cpu = time.perf_counter(), cpu_seconds()
    subprocess.run([sys.executable, "-m", "nnlife", *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start, cpu_seconds() - start_cpu


def best_command(repeat: int, *args: str) -> tuple[float, float]:
    return min(command(*args) for _ in range(repeat))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=6000, help="tables to write (default 6000)")
    parser.add_argument("--workers", type=int, default=default_workers(), help="nnlife load workers (default: all cores)")
    parser.add_argument("--dir", type=Path, help="where to write the tables (default: a temporary directory, removed)")
    parser.add_argument("--repeat", type=int, default=1, help="time each method this many times, keep the best")
    parser.add_argument("--skip-plain", action="store_true", help="time nnlife only; print peak memory")
    args = parser.parse_args()

    root = args.dir or Path(tempfile.mkdtemp(prefix="nnlife-bench-"))
    out = Path(tempfile.mkdtemp(prefix="nnlife-bench-out-"))
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

        if args.skip_plain:  # (pandas not imported before the load: workers fork from this process)
            return nnlife_only(root, files, args.workers, args.repeat)
        import pandas as pd

        workers = ["--workers", str(args.workers)]
        t_plain8, c_plain8, _ = timed(lambda: plain_minimal(files), args.repeat)
        t_plain, c_plain, (plain_summary, plain_long) = timed(lambda: plain_load(files), args.repeat)
        t_cli, c_cli = best_command(args.repeat, "load", str(root), "--csv", str(out / "summary.csv"), *workers)
        t_tables, c_tables, (summary, long) = timed(lambda: nnlife_load(root, args.workers), args.repeat)
        parquet = out / "lifespans.parquet"
        t_pack, c_pack = best_command(args.repeat, "pack", str(root), "--out", str(parquet), *workers)
        t_parquet, c_parquet, (p_summary, p_long) = timed(lambda: nnlife_load(parquet, args.workers), args.repeat)
        t_parquet_load, c_parquet_load, _ = timed(lambda: load(parquet), args.repeat)
        t_cli_parquet, c_cli_parquet = best_command(args.repeat, "load", str(parquet))
        t_help, c_help = best_command(max(args.repeat, 3), "--help")
        t_one, c_one = best_command(max(args.repeat, 3), "load", str(files[0]))
        t_python, c_python = min(timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), 1)[:2]
                                 for _ in range(3))

        checked = agree(plain_summary, summary)
        if len(plain_long) != len(long) or len(p_long) != len(long):
            raise SystemExit("long frames differ in length")
        pd.testing.assert_frame_equal(summary.drop(columns="path"), p_summary.drop(columns="path"))
        cli_summary = pd.read_csv(out / "summary.csv")
        if len(cli_summary) != len(summary) or list(cli_summary["ID"]) != list(summary["ID"]):
            raise SystemExit("the CSV of `nnlife load` and load() differ")
        table_bytes = sum(f.stat().st_size for f in files)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        print(f"summary metrics agree with the plain way on {checked} networks with finite curves; "
              f"{len(long)} half-epoch rows")
        print()
        load1, load5, _ = os.getloadavg()
        rows = [
            ("plain: read_csv loop + 8 metrics + pd.concat", t_plain8, c_plain8),
            ("fuller plain: read_csv loop + all metrics + pd.concat", t_plain, c_plain),
            (f"`nnlife load DIR --csv OUT` ({args.workers} workers, new process)", t_cli, c_cli),
            (f"load(DIR) + summary + long frame, in process", t_tables, c_tables),
            (f"`nnlife pack DIR --out FILE` (new process)", t_pack, c_pack),
            ("load(FILE.parquet) + summary + long frame, in process", t_parquet, c_parquet),
            ("load(FILE.parquet) alone, in process", t_parquet_load, c_parquet_load),
            ("`nnlife load FILE.parquet` (new process)", t_cli_parquet, c_cli_parquet),
            ("`nnlife --help` (new process)", t_help, c_help),
            ("`nnlife load` of one table (new process)", t_one, c_one),
            ("`python -c pass` (new process)", t_python, c_python),
        ]
        print(f"{'method':58s} {'seconds':>8s} {'vs plain':>9s} {'vs fuller':>9s} {'CPU s':>7s} {'CPU vs plain':>12s}")
        for label, wall, cpu in rows:
            print(f"{label:58s} {wall:8.3f} {t_plain8 / wall:8.1f}x {t_plain / wall:8.1f}x {cpu:7.2f} {c_plain8 / cpu:11.1f}x")
        print(f"(wall-clock seconds, best of {args.repeat}, start-up best of {max(args.repeat, 3)}; CPU s: this "
              f"process and its workers; load average {load1:.1f} / {load5:.1f} over 1 / 5 min after the run)")
        print()
        print(f"tables {table_bytes / 1e6:.1f} MB; Parquet {parquet.stat().st_size / 1e6:.1f} MB; "
              f"peak memory of this process {rss:.0f} MB")
        goals = {
            "`nnlife load --csv` >= 20x the plain loop (wall)": t_plain8 / t_cli >= 20,
            "`nnlife load --csv` >= 20x the plain loop (CPU)": c_plain8 / c_cli >= 20,
            "`nnlife pack` <= 1 s": t_pack <= 1.0,
            "load of the Parquet file <= 0.1 s": t_parquet_load <= 0.1,
            "`nnlife --help` and `nnlife load` of one table < 0.5 s": max(t_help, t_one) < 0.5,
        }
        for goal, met in goals.items():
            print(f"goal {goal}: {'met' if met else 'NOT met'}")
        return 0
    finally:
        shutil.rmtree(out, ignore_errors=True)
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
