"""The half-epoch curves of nnlife tables seen as the per-epoch curves users bring from elsewhere.

Curves from other NAS runs and benchmarks are usually measured once an epoch, for fewer epochs
than nnlife's 40. This writes, for every curve under the given paths (directories of tables,
Parquet packs, curve files), a curve file holding only its whole-epoch points (epochs 1, 2, ...)
up to ``--epochs`` (default 25), so that `nnlife evaluate` can be run on the same networks in
that shape:

    python benchmarks/per_epoch_view.py DIR... --out /tmp/per_epoch.csv [--epochs 25]
    nnlife evaluate /tmp/per_epoch.csv --target-epoch 25

Every prediction method then fits on the point index (1, 2, ... = the epoch), not on PENGUIN's
half-epoch x, and its window of N points spans N epochs. Curves with fewer whole epochs than
``--epochs`` keep the ones they have.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from nnlife.curvefile import LabeledCurve, write_curve_file  # noqa: E402
from nnlife.errors import InputError  # noqa: E402
from nnlife.predict import load_curves  # noqa: E402
from nnlife.table import Curve  # noqa: E402


def per_epoch(curve: LabeledCurve, epochs: int) -> LabeledCurve:
    """The curve's points at whole epochs 1 .. ``epochs``."""
    c = curve.curve
    keep = [i for i, e in enumerate(c.epochs) if float(e).is_integer() and 1 <= e <= epochs]
    pick = lambda values: tuple(values[i] for i in keep)  # noqa: E731
    return LabeledCurve(curve.ID, Curve(pick(c.epochs), pick(c.trainLoss), pick(c.valLoss), pick(c.valAcc)),
                        curve.spec, curve.source)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+", help="directories of tables, Parquet packs or curve files")
    ap.add_argument("--out", required=True, help="the curve file to write (.csv or .parquet)")
    ap.add_argument("--epochs", type=int, default=25, help="the last whole epoch kept (default 25)")
    args = ap.parse_args(argv)
    if args.epochs < 2:
        ap.error(f"--epochs {args.epochs}: expected a whole number of at least 2")
    try:
        curves = [per_epoch(c, args.epochs) for c in load_curves(args.paths)]
        curves = [c for c in curves if len(c.curve.epochs) >= 2]
        if not curves:
            raise InputError(f"{' '.join(args.paths)}: no curve with two whole epochs or more")
        out = write_curve_file(curves, args.out)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{len(curves)} curves, whole epochs 1 to {args.epochs} at most -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
