"""How fast `nnlife report` makes the report of a data set of 6000 networks, against the report
as it was before it drew bands, references and importances (commit c8fe56a), in the same run.

Writes N tables (default 6000, N/3 per data set) with load_speed.py's generator (real sampled
specs, synthetic learning, never-learning, diverging and early-stopped curves), packs them
into one Parquet file, then times end to end, each in a fresh Python process (imports, load,
figures, page):

1. before: ``nnlife.report.build_report`` as it was at ``--before`` (default c8fe56a), taken
   from git (``git show``) and run on today's ``nnlife.analysis.load`` of the Parquet file;
2. ``nnlife report PACK.parquet --out DIR``;
3. ``nnlife report PACK.parquet --reference PACK.parquet --out DIR`` (two data sets of N);
4. ``nnlife report TABLES_DIR --out DIR`` (the .txt tables, parsed on all cores).

It prints wall-clock seconds (best of --repeat), CPU seconds of the process and its children,
and the ratio of before to now. Usage (from the repository root, in a git checkout):

    python benchmarks/report_speed.py [--count 6000] [--dir DIR] [--repeat 1] [--before REV]
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_speed import write_data_set  # noqa: E402  (the shared generator of 6000 tables)

from nnlife import __version__  # noqa: E402
from nnlife.analysis import pack  # noqa: E402
from nnlife.table import find_tables  # noqa: E402

REPO = Path(__file__).resolve().parent.parent

BEFORE = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("nnlife._report_before", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
from nnlife.analysis import load
module.build_report(load(sys.argv[2]), sys.argv[3])
"""


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], repeat: int) -> tuple[float, float]:
    """(best wall-clock seconds, CPU seconds of that run) of a command run ``repeat`` times."""
    best, cpu = math.inf, math.inf
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), children_cpu()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        if wall < best:
            best, cpu = wall, children_cpu() - start_cpu
    return best, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=6000, help="tables to write (default 6000)")
    parser.add_argument("--dir", type=Path, help="where to write the tables (default: a temporary directory, removed)")
    parser.add_argument("--repeat", type=int, default=1, help="time each command this many times, keep the best")
    parser.add_argument("--before", default="c8fe56a", help="git revision of the report to compare with")
    args = parser.parse_args()

    root = args.dir or Path(tempfile.mkdtemp(prefix="nnlife-report-bench-"))
    try:
        tables = root / "tables"
        existing = find_tables([tables]) if tables.is_dir() else []
        if not existing:
            write_data_set(tables, args.count)
        elif len(existing) != args.count:
            raise SystemExit(f"{tables} holds {len(existing)} tables, not {args.count}: give a new or empty --dir")
        parquet = root / "lifespans.parquet"
        if not parquet.exists():
            pack(tables, parquet)
        before = root / "report_before.py"
        source = subprocess.run(["git", "-C", str(REPO), "show", f"{args.before}:src/nnlife/report.py"],
                                check=True, capture_output=True, text=True).stdout
        before.write_text(source)

        python = sys.executable
        env_note = f"{os.cpu_count()} cores"
        print(f"nnlife {__version__}, {args.count} networks under {root}, {env_note}")
        runs = [
            (f"before ({args.before}): build_report of the Parquet file", [python, "-c", BEFORE, str(before), str(parquet), str(root / "r0")]),
            ("nnlife report PACK.parquet", [python, "-m", "nnlife", "report", str(parquet), "--out", str(root / "r1")]),
            ("nnlife report PACK.parquet --reference PACK.parquet",
             [python, "-m", "nnlife", "report", str(parquet), "--reference", str(parquet), "--out", str(root / "r2")]),
            ("nnlife report TABLES_DIR (.txt tables)", [python, "-m", "nnlife", "report", str(tables), "--out", str(root / "r3")]),
        ]
        results = []
        for label, argv in runs:
            wall, cpu = timed(argv, args.repeat)
            results.append((label, wall, cpu))
        load1, load5, _ = os.getloadavg()
        t_before = results[0][1]
        print(f"{'command (end to end, fresh process)':58s} {'seconds':>8s} {'CPU s':>7s} {'before / this':>13s}")
        for label, wall, cpu in results:
            print(f"{label:58s} {wall:8.2f} {cpu:7.2f} {t_before / wall:12.2f}x")
        print(f"(wall-clock seconds, best of {args.repeat}; CPU s: the process and its children; "
              f"load average {load1:.1f} / {load5:.1f} over 1 / 5 min after the run)")
        print(f"target (nnlife report of {args.count} networks in at most 10 s): "
              f"{'met' if results[1][1] <= 10 else 'NOT met'}")
        return 0
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
