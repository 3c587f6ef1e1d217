"""The seed-noise floor of a set of networks trained more than once (docs/training.md, "Repeats").

Two repeats of one network differ only in their training seeds, so the spread between them is
what no predictor of a network's accuracy can beat: predicting repeat 1 from repeat 0's whole
curve would still miss by it. :func:`noise_floor` measures it at the epoch the predictors
predict: the mean absolute difference of valAcc over every pair of repeats of a network
(pairs of all networks pooled), and Spearman's rank correlation of repeat 0's and repeat 1's
valAcc across the networks that have both. ``nnlife evaluate`` prints it beside the methods'
errors when its tables hold repeats (:func:`seed_noise`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from .errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


@dataclass(frozen=True)
class NoiseFloor:
    """``networks``: networks with at least two repeats that reach the epoch; ``pairs``: the
    pairs of repeats compared; ``mae``: mean |valAcc_i - valAcc_j| over those pairs (points);
    ``spearman``: rank correlation of repeat 0 and repeat 1 over ``ranked`` networks (NaN for
    fewer than two, or when either side is constant)."""

    target_epoch: float
    networks: int
    pairs: int
    mae: float
    spearman: float
    ranked: int

    def text(self) -> str:
        return (f"seed-noise floor at epoch {self.target_epoch:g} ({self.networks} networks with repeats, "
                f"{self.pairs} pairs of repeats): MAE {self.mae:.2f} points between repeats; Spearman "
                f"{_show(self.spearman)} between repeat 0 and repeat 1 ({self.ranked} networks). "
                f"No predictor can be expected to do better.")


def _show(value: float) -> str:
    return f"{value:.3f}" if math.isfinite(value) else "n/a"


def noise_floor(frame: "pd.DataFrame", target_epoch: float) -> NoiseFloor | None:
    """The floor from a frame with columns ``dataset``, ``network``, ``repeat`` and ``acc``
    (valAcc at ``target_epoch``; NaN where a curve does not reach it, left out). None when no
    network has two repeats with a value."""
    from scipy.stats import spearmanr

    frame = frame[frame["acc"].notna()]
    diffs: list[float] = []
    first: list[float] = []
    second: list[float] = []
    networks = 0
    for _, group in frame.groupby(["dataset", "network"], sort=False):
        if len(group) < 2:
            continue
        networks += 1
        values = group["acc"].tolist()
        diffs += [abs(a - b) for a, b in itertools.combinations(values, 2)]
        by_repeat = dict(zip(group["repeat"].tolist(), values))
        if 0 in by_repeat and 1 in by_repeat:
            first.append(by_repeat[0])
            second.append(by_repeat[1])
    if not diffs:
        return None
    rho = float("nan")
    if len(first) >= 2 and len(set(first)) > 1 and len(set(second)) > 1:
        rho = float(spearmanr(first, second).statistic)
    return NoiseFloor(float(target_epoch), networks, len(diffs), sum(diffs) / len(diffs), rho, len(first))


def seed_noise(paths: Iterable[str | Path], target_epoch: float) -> NoiseFloor | None:
    """The floor of the tables under ``paths`` (their records say which are repeats of which
    network; :func:`nnlife.analysis.with_repeats`), at ``target_epoch``. None when they hold no
    repeats, or are not tables (curve files have no repeats)."""
    import numpy as np

    from .analysis import load

    try:
        data = load([Path(p) for p in paths])
    except InputError:
        return None
    summary = data.summary
    if not (summary["repeat"] > 0).any():
        return None
    index = int(round(2 * target_epoch)) - 1
    acc = [float(v[index]) if len(v) > index else float("nan") for v in data.networks["valAcc"].to_pylist()]
    frame = summary[["dataset", "network", "repeat"]].assign(acc=np.array(acc, dtype=float))
    return noise_floor(frame, target_epoch)
