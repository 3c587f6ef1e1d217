"""``combined``: PENGUIN and triage side by side, stopped by whichever is confident first
(docs/predictors.md).

PENGUIN's rule stops early; the ensemble behind ``triage`` extrapolates better on curves that
learn but agrees with itself later, and stops the networks that do not learn at all earlier.
``combined`` feeds both the same rows and stops at the first row where either rule is
confident, reporting the prediction (and interval) of the rule that stopped; when both stop on
the same row, triage's. Nothing is tuned: on every curve it trains no longer than PENGUIN, and
its prediction is PENGUIN's own wherever PENGUIN stops first, so it differs from PENGUIN only
on the curves where triage is confident earlier, with triage's prediction there.
"""

from __future__ import annotations

from .core import DEFAULT_LEVEL, DEFAULT_N, DEFAULT_TARGET_EPOCH, DEFAULT_THRESHOLD, Prediction, Tracker, _Windowed, check_target
from .methods import Penguin, Triage


class Combined(_Windowed):
    """PENGUIN and triage on the same rows (each with ``N`` and ``threshold``); stops when
    either is confident, with the prediction of the one that stopped (triage's when both
    stop on the same row)."""

    name = "combined"

    def __init__(self, N: int = DEFAULT_N, threshold: float = DEFAULT_THRESHOLD, level: float = DEFAULT_LEVEL):
        super().__init__(N, threshold, level)

    def tracker(self, target_epoch: float = DEFAULT_TARGET_EPOCH) -> Tracker:
        target = check_target(target_epoch)
        return _CombinedTracker(target, Penguin(self.N, self.threshold, self.level).tracker(target),
                                Triage(self.N, self.threshold, level=self.level).tracker(target))


class _CombinedTracker(Tracker):
    def __init__(self, target_epoch: float, penguin: Tracker, triage: Tracker):
        super().__init__(target_epoch)
        self.penguin = penguin
        self.triage = triage

    def fit_requests(self, val_acc: float) -> list[tuple]:
        return self.penguin.fit_requests(val_acc) + self.triage.fit_requests(val_acc)

    def step(self, train_loss, val_loss) -> Prediction:
        epoch, acc = self.epochs[-1], self.acc[-1]
        self.penguin.need_interval = self.triage.need_interval = self.need_interval
        self.triage.spec = self.spec
        p = self.penguin.observe(epoch, acc, train_loss, val_loss)
        t = self.triage.observe(epoch, acc, train_loss, val_loss)
        return p if p.confident and not t.confident else t
