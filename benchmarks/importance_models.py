"""The report's importance model against the one it replaced, in the same run: held-out R²,
the top-ranked spec fields and CPU seconds per data set.

*before*: 100 trees at learning rate 0.1, 5 permutation shuffles per fold; *now*:
``nnlife.report.stats.MODEL`` and ``PERMUTATION_REPEATS`` (50 trees at 0.2, 3 shuffles). Both are
scikit-learn's HistGradientBoostingRegressor in 5-fold cross-validation, seeded. Data sets:

* ``lr-300``, ``lr-2000``: every spec feature drawn at random, final accuracy a function of the
  learning rate alone plus noise (the report test's data, 300 and 2000 networks);
* ``mixed-2000``: accuracy following the learning rate, three other features and noise;
* ``synthetic-2000``: one data set of ``load_speed.py``'s generator (curves that do not depend
  on the spec: R² near 0, and the page says the ranking means little).

Usage:  python benchmarks/importance_models.py [--dir DIR]   (DIR: where to write the tables)
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_speed import write_data_set  # noqa: E402

import nnlife.report.stats as stats  # noqa: E402
from nnlife.analysis import load  # noqa: E402

SETTINGS = {
    "before": ({"max_iter": 100, "learning_rate": 0.1, "max_leaf_nodes": 15, "min_samples_leaf": 10}, 5),
    "now": (dict(stats.MODEL), stats.PERMUTATION_REPEATS),
}


def synthetic(n: int, seed: int, mixed: bool):
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = {column: rng.uniform(1, 100, n) for column, _, _ in stats.FEATURES}
    frame["learning_rate"] = 10.0 ** rng.uniform(-6, 0, n)
    log_lr = np.log10(frame["learning_rate"])
    if mixed:
        c = [column for column, _, _ in stats.FEATURES if column != "learning_rate"]
        acc = (10 + 50 * np.exp(-((log_lr + 2) ** 2)) + 0.2 * frame[c[0]] + 10 * np.sin(frame[c[1]] / 15)
               + 8 * (frame[c[2]] > 50))
    else:
        acc = 10 + 80 * np.exp(-((log_lr + 2) ** 2))
    frame.update(dataset="FashionMNIST", classes=10, valAcc_final=acc + rng.normal(0, 3, n))
    return pd.DataFrame(frame)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, help="where to write the 6000 generated tables (default: temporary)")
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="nnlife-importance-"))
    try:
        if not any(root.rglob("*.txt")):
            write_data_set(root, 6000)
        summary = load(root).summary
        sets = {
            "lr-300": synthetic(300, 0, mixed=False),
            "lr-2000": synthetic(2000, 1, mixed=False),
            "mixed-2000": synthetic(2000, 2, mixed=True),
            "synthetic-2000": summary[summary["dataset"] == "SVHN"],
        }
        stats.importance(sets["lr-300"])  # scikit-learn's import, not timed
        print(f"{'setting':7s} {'data set':15s} {'CPU s':>6s} {'R² (mean ± sd of 5 folds)':>26s}  top 3 fields (drop in R²)")
        for name, (model, repeats) in SETTINGS.items():
            stats.MODEL.clear()
            stats.MODEL.update(model)
            stats.PERMUTATION_REPEATS = repeats
            for label, part in sets.items():
                start = time.process_time()
                result = stats.importance(part, seed=0)
                cpu = time.process_time() - start
                top = ", ".join(f"{f} ({m:.3f})" for f, m in zip(result.features[:3], result.mean[:3]))
                print(f"{name:7s} {label:15s} {cpu:6.2f} {np.mean(result.r2):13.3f} ± {np.std(result.r2):.3f}  {top}")
        return 0
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
