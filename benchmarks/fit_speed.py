"""How fast `nnlife predictor fit` builds its training rows, against the plain way, in the same run.

The learned method is fitted on every prefix ``k = 2 .. K`` of every curve for eight targets
``K`` per curve. The plain way computes each row's features from scratch with the public
:func:`nnlife.predict.learned.prefix_features` (once per prefix and target); nnlife computes
the features of a prefix once and adds the four that depend on the target
(:func:`nnlife.predict.learned.training_rows`). Both are timed on the same curves (the
synthetic and ``make_curves`` sets ``fit_auto_model.py`` fits on, plus any corpora given),
the rows are checked to be the same bit for bit, and the fit itself (three LightGBM quantile
models) is timed after. Usage:

    python benchmarks/fit_speed.py [CORPUS ...]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from fit_auto_model import fit_curves  # noqa: E402

from nnlife.errors import InputError  # noqa: E402
from nnlife.predict import learned  # noqa: E402


def plain_rows(curves, targets_per_curve: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """The rows of :func:`learned.training_rows`, every feature computed for every row."""
    X, y = [], []
    for c in curves:
        acc, vl, tl = c.curve.valAcc, c.curve.valLoss, c.curve.trainLoss
        spec = learned.spec_features(c.spec)
        for K in learned.target_indices(len(acc), targets_per_curve):
            truth = acc[K - 1]
            if not math.isfinite(truth):
                continue
            for k in range(learned.MIN_POINTS, K + 1):
                f = learned.prefix_features(acc[:k], vl[:k], tl[:k], K)
                if f is not None:
                    X.append(f + spec)
                    y.append(truth - f[learned.LAST])
    return np.asarray(X, dtype=float), np.asarray(y, dtype=float)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpora", nargs="*", help="directories of real tables, or per-epoch curve files")
    args = ap.parse_args(argv)
    try:
        curves, sources = fit_curves(args.corpora)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    t = time.perf_counter()
    X0, y0 = plain_rows(curves)
    plain = time.perf_counter() - t
    t = time.perf_counter()
    X1, y1 = learned.training_rows(curves)
    ours = time.perf_counter() - t
    same = np.array_equal(X0, X1, equal_nan=True) and np.array_equal(y0, y1)
    t = time.perf_counter()
    learned.fit_model(curves, sources=sources)
    whole = time.perf_counter() - t
    print(f"{len(curves)} curves ({', '.join(sources)}), {len(y1)} rows of {X1.shape[1]} features")
    print(f"rows, plain (every feature per row): {plain:.1f} s")
    print(f"rows, nnlife (a prefix's features once): {ours:.1f} s  ({plain / ours:.1f}x); the same rows: {same}")
    print(f"the whole fit (rows and three LightGBM models): {whole:.1f} s")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
