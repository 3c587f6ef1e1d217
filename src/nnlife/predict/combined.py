"""``combined`` and ``penguin_stop``: PENGUIN and triage side by side (docs/predictors.md).

``combined`` stops by whichever is confident first. ``penguin_stop`` stops where PENGUIN does
(or at triage's not-learning test) and predicts with triage's ensemble there.

PENGUIN's rule stops early; the ensemble behind ``triage`` extrapolates better on curves that
learn but agrees with itself later, and stops the networks that do not learn at all earlier.
``penguin_stop+learned:MODEL`` stops where ``penguin_stop`` does and predicts with a model
fitted on a corpus (``nnlife predictor fit``) there.

``combined`` feeds both the same rows and stops at the first row where either rule is
confident, reporting the prediction (and interval) of the rule that stopped; when both stop on
the same row, triage's. Nothing is tuned: on every curve it trains no longer than PENGUIN, and
its prediction is PENGUIN's own wherever PENGUIN stops first, so it differs from PENGUIN only
on the curves where triage is confident earlier, with triage's prediction there.
"""

from __future__ import annotations

import math

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


class PenguinStop(_Windowed):
    """PENGUIN's stop, triage's prediction.

    PENGUIN's model is rigid (three parameters, one shape), so its predictions agree with each
    other early; that is when it stops. The ensemble behind ``triage`` extrapolates better on
    curves of other shapes but agrees with itself later. ``penguin_stop`` feeds both the same
    rows and stops exactly where PENGUIN's rule does (same ``N`` and ``threshold``), or earlier
    where triage's not-learning test stops a network, and reports triage's prediction and
    predictive interval at that row (PENGUIN's own where the ensemble has none yet: fewer
    than five rows, or no family fitted). Nothing is tuned: on every curve it trains no longer than
    PENGUIN, and it differs from PENGUIN only in what it predicts.
    """

    name = "penguin_stop"

    def __init__(self, N: int = DEFAULT_N, threshold: float = DEFAULT_THRESHOLD, level: float = DEFAULT_LEVEL):
        super().__init__(N, threshold, level)

    def tracker(self, target_epoch: float = DEFAULT_TARGET_EPOCH) -> Tracker:
        target = check_target(target_epoch)
        return self._tracker(target, Penguin(self.N, self.threshold, self.level).tracker(target))

    def _tracker(self, target: float, penguin: Tracker) -> Tracker:
        """The rule's state on one curve, with ``penguin`` as PENGUIN's decisions."""
        return _PenguinStopTracker(target, penguin, Triage(self.N, self.threshold, level=self.level).tracker(target))


class _PenguinStopTracker(_CombinedTracker):
    def step(self, train_loss, val_loss) -> Prediction:
        epoch, acc = self.epochs[-1], self.acc[-1]
        self.penguin.need_interval = self.need_interval
        self.triage.spec = self.spec
        p = self.penguin.observe(epoch, acc, train_loss, val_loss)
        # triage's interval is needed where PENGUIN stops, even when triage itself does not
        self.triage.need_interval = self.need_interval or p.confident
        t = self.triage.observe(epoch, acc, train_loss, val_loss)
        if self.triage.verdict:  # not learning: triage stops here, with the last accuracy
            return t
        if not p.confident:
            return Prediction(t.value, t.uncertainty, False, t.lower, t.upper)
        return self.at_stop(p, t)

    def at_stop(self, p: Prediction, t: Prediction) -> Prediction:
        """The prediction where PENGUIN stops, from PENGUIN's (``p``) and triage's (``t``) on
        that row: triage's, or PENGUIN's where the ensemble has none."""
        if t.uncertainty is None or not math.isfinite(t.value):  # the ensemble has no fit yet
            return p
        return Prediction(t.value, t.uncertainty, True, t.lower, t.upper)


class PenguinStopLearned(PenguinStop):
    """``penguin_stop+learned:MODEL``: ``penguin_stop``'s stops (PENGUIN's, or triage's
    not-learning test), with the learned model's prediction and interval where PENGUIN stops
    (triage's where the prefix has no finite accuracy). For a corpus of one's own kind of
    curves: fit a model on some (``nnlife predictor fit``), stop the others at PENGUIN's savings
    with its prediction. The model's ``level`` gives the interval."""

    def __init__(self, learned, N: int = DEFAULT_N, threshold: float = DEFAULT_THRESHOLD, name: str | None = None):
        super().__init__(N, threshold, float(learned.level))
        self.learned = learned
        self.name = name or f"penguin_stop+{learned.name}"

    def _tracker(self, target: float, penguin: Tracker) -> Tracker:
        return _LearnedStopTracker(target, penguin, Triage(self.N, self.threshold, level=self.level).tracker(target),
                                   self.learned)


class _LearnedStopTracker(_PenguinStopTracker):
    def __init__(self, target: float, penguin: Tracker, triage: Tracker, learned):
        super().__init__(target, penguin, triage)
        self.learned = learned
        self.train_losses: list[float] = []
        self.val_losses: list[float] = []

    def step(self, train_loss, val_loss) -> Prediction:
        self.train_losses.append(math.nan if train_loss is None else float(train_loss))
        self.val_losses.append(math.nan if val_loss is None else float(val_loss))
        return super().step(train_loss, val_loss)

    def at_stop(self, p: Prediction, t: Prediction) -> Prediction:
        pred = self.learned.predict_prefix(self.acc, self.val_losses, self.train_losses, int(self.x_target), self.spec)
        if pred is None:
            return super().at_stop(p, t)
        return Prediction(pred.value, pred.uncertainty, True, pred.lower, pred.upper)


class _ReplayedPenguin(Tracker):
    """PENGUIN's decisions on a curve already replayed, from its outcome (anything with
    ``converged``, ``stop_epoch``, ``predicted``, ``lower``, ``upper``): confident at its stop
    row only, with its prediction there. So that an evaluation that has PENGUIN's outcomes
    gets ``penguin_stop``'s without fitting PENGUIN again; the rows before the stop are not
    used by ``penguin_stop`` (it reports triage's there)."""

    def __init__(self, target_epoch: float, outcome):
        super().__init__(target_epoch)
        self.outcome = outcome

    def step(self, train_loss, val_loss) -> Prediction:
        o = self.outcome
        if o.converged and self.epochs[-1] == o.stop_epoch:
            return Prediction(o.predicted, o.uncertainty, True, o.lower, o.upper)
        return self.no_prediction()


class KnownPenguinStop(PenguinStop):
    """``rule`` (``penguin_stop``, or ``auto`` or ``penguin_stop+learned``, its subclasses) on
    one curve whose PENGUIN outcome, with the same ``N``, ``threshold``, ``level`` and target,
    is known: the same decisions as ``rule`` itself (tested), PENGUIN's fits not made again."""

    def __init__(self, rule: PenguinStop, penguin_outcome):
        super().__init__(rule.N, rule.threshold, rule.level)
        self.name = rule.name
        self.rule = rule
        self.penguin_outcome = penguin_outcome

    def tracker(self, target_epoch: float = DEFAULT_TARGET_EPOCH) -> Tracker:
        target = check_target(target_epoch)
        return self.rule._tracker(target, _ReplayedPenguin(target, self.penguin_outcome))
