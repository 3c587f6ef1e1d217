"""nnlife.penguin_fit against scipy's curve_fit on every distinct prefix of a synthetic corpus.

The curves are evaluate_speed.py's (``make_curves(COUNT, SEED)``: stuck, noisy, learning,
slow, collapsing and diverging networks, and resampled real tables). For every distinct prefix
of 2 to 80 points of their valAcc, on x = 1..k as PENGUIN fits it, it compares the parameters
of ``nnlife.penguin_fit.fit`` with those of ``curve_fit`` (``nnlife.curves.fit_penguin_curve_fit``)
with ``==``, ``None`` where curve_fit fails, and prints the count of prefixes, of mismatches
(each mismatch also on its own line), how the fits ended, and the CPU seconds of each side.

    python benchmarks/penguin_fit_agreement.py [--count 300] [--seed 2026]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from evaluate_speed import make_curves  # noqa: E402

from nnlife import penguin_fit  # noqa: E402
from nnlife.curves import fit_penguin_curve_fit, penguin_model, quiet  # noqa: E402


def port(x, y):
    with quiet():
        try:
            params = penguin_fit.fit(penguin_model, x, y)
        except penguin_fit.FitFailed:
            return None, "max_nfev"
        except ValueError:
            return None, "ValueError"
        except np.linalg.LinAlgError:
            return None, "LinAlgError"
    return params, ("a at its bound" if params[0] >= 199.99 else "fitted")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=300)
    p.add_argument("--seed", type=int, default=2026)
    args = p.parse_args(argv)
    if not penguin_fit.available():
        print(f"scipy is not {penguin_fit.SCIPY_VERSION}: nnlife uses curve_fit itself, nothing to compare")
        return 0
    seen: set[bytes] = set()
    compared = mismatches = 0
    ends: dict[str, int] = {}
    cpu_scipy = cpu_port = 0.0
    for kind, curve, _ in make_curves(args.count, args.seed):
        acc = np.asarray(curve.valAcc, dtype=float)
        for k in range(2, len(acc) + 1):
            key = acc[:k].tobytes()
            if key in seen:
                continue
            seen.add(key)
            x = np.arange(1, k + 1, dtype=float)
            start = time.process_time()
            expected = fit_penguin_curve_fit(x.copy(), acc[:k].copy())
            cpu_scipy += time.process_time() - start
            start = time.process_time()
            got, end = port(x.copy(), acc[:k].copy())
            cpu_port += time.process_time() - start
            compared += 1
            ends[end] = ends.get(end, 0) + 1
            if got != expected:
                mismatches += 1
                print(f"MISMATCH {kind} prefix {k}: port {got}, curve_fit {expected}", flush=True)
    print(f"{args.count} curves, seed {args.seed}: {compared} distinct prefixes compared, {mismatches} mismatches; "
          + ", ".join(f"{v} {k}" for k, v in sorted(ends.items()))
          + f"; CPU curve_fit {cpu_scipy:.1f} s, port {cpu_port:.1f} s ({cpu_scipy / cpu_port:.2f}x)")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
