"""Synthetic per-epoch curves of networks that learn to high accuracy, as a curve file: the shape
of curves from elsewhere (measured once an epoch, about 25 epochs, accuracies up to 100 %), in
one of two shapes, to see how much each prediction method depends on the shape it extrapolates.

    python benchmarks/saturating_curves.py --shape exp --out /tmp/exp.csv
    python benchmarks/saturating_curves.py --shape power --out /tmp/power.csv
    nnlife evaluate /tmp/exp.csv --target-epoch 25

Curve ``i`` rises from a start of 10-60 % towards a top of 90-100.5 % (clipped to 100) with
Gaussian noise of 0 to 0.8 points:

- ``exp``: ``top - (top - start) * exp(-epoch / tau)``, tau in 0.5-6 epochs (PENGUIN's model
  and the ``exp3`` family are of this form);
- ``power``: ``top - (top - start) * epoch ** (-3 / tau)`` (the ``pow3`` family's form).

Every tenth curve reaches 100 % and stays there after epoch 5. Each curve has a validation loss
falling the same way from about 2 (so ``triage`` sees every network learning) and a training
loss 0.9 times it. Synthetic curves favour the methods whose formula they were drawn from;
neither shape is a claim about real curves, the pair shows the dependence.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

import numpy as np


def curves(shape: str, count: int, epochs: int, seed: int):
    """``(id, epoch, valAcc, valLoss, trainLoss)`` rows, curve after curve."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        top, tau, noise, start = rng.uniform(90, 100.5), rng.uniform(0.5, 6), rng.uniform(0, 0.8), rng.uniform(10, 60)
        for e in range(1, epochs + 1):
            left = math.exp(-e / tau) if shape == "exp" else e ** (-3.0 / tau)
            acc = float(np.clip(top - (top - start) * left + rng.normal(0, noise), 0, 100))
            if i % 10 == 0 and e > 5:
                acc = 100.0
            loss = 0.02 + 2 * left + abs(rng.normal(0, 0.01))
            yield f"n{i}", e, round(acc, 2), round(loss, 4), round(0.9 * loss, 4)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", choices=("exp", "power"), required=True)
    p.add_argument("--count", type=int, default=200)
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", required=True, help="the curve file to write (CSV)")
    args = p.parse_args(argv)
    if args.count < 1 or args.epochs < 2:
        p.error("--count must be at least 1 and --epochs at least 2")
    out = Path(args.out)
    with open(out, "w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["id", "epoch", "valAcc", "valLoss", "trainLoss"])
        w.writerows(curves(args.shape, args.count, args.epochs, args.seed))
    print(f"{out}: {args.count} {args.shape} curves of {args.epochs} epochs (seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
