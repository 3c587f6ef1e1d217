"""Fitness prediction and early termination.

A *method* predicts a network's validation accuracy at a target epoch from the first rows of
its curve, and says when it is confident enough that training can stop. Every method is an
online rule: it is fed one half-epoch row at a time (:meth:`Predictor.tracker`), exactly as a
training loop produces them, and it never looks past the target epoch. The same rule serves
three uses, so they always agree:

- :class:`OnlineStopper`: plugged into a training loop, ``observe(...)`` says when to stop;
- :func:`simulate`: replays a recorded curve through an :class:`OnlineStopper`;
- :meth:`Predictor.predict`: the prediction after a given prefix of a curve.

Methods (:data:`METHODS`):

- ``penguin``: the authors' rule, SYSTEM.md section 6, exactly.
- ``menndl``: the authors' baseline; stop once the minimum training loss has not improved for
  10 epochs. It predicts nothing: its "prediction" is the last observed accuracy.
- ``pow3``, ``log_power``, ``exp3``, ``ilog2``, ``vapor_pressure``, ``janoschek``, ``mmf``,
  ``weibull``: one curve family of Domhan et al. (2015) each (:mod:`nnlife.curves`), refitted
  after every half epoch; stop by PENGUIN's stability rule on its predictions.
- ``best_fit``: after every half epoch, the family with the lowest held-out error on the
  prefix (fitted on its first half, scored on its second half); stop by the stability rule.
- ``ensemble``: all eight families averaged with weights ``1 / held-out MSE``, with an
  uncertainty (the weighted spread of the families' predictions); stop by the stability rule.
- ``triage``: first a test for networks that are not learning at all (at epoch 1.5, a
  validation loss that has not fallen by 0.03 % of its first value, or is not finite: stop
  there and predict the last accuracy), then ``ensemble`` for the others (:class:`Triage`).

Every method but ``menndl`` stops by the same rule, PENGUIN's: the last ``N`` predictions lie
within ``threshold`` points of their median and the newest is in (0, 100]
(:class:`StabilityWindow`); ``triage`` also stops on its not-learning test. So, at equal ``N``
and ``threshold``, methods differ only in how good and how steady their predictions are;
``threshold`` trades epochs saved for accuracy.

The *target epoch* is also the budget: a method that has not stopped by then lets training
reach the target, and its prediction is the accuracy observed there (PENGUIN's fallback).
"Fraction of epochs saved" is ``(target - stop epoch) / target``: 0 for a network that was not
stopped, 0.75 for one stopped at epoch 5 of a target of 20. MENNDL's published cap ("at 20
epochs at the latest") is that budget with the default target of 20.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import math
import os
from abc import ABC, abstractmethod
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from .curves import FAMILIES, Family, Fit, fit_family, fit_penguin, penguin_value
from .errors import InputError
from .outputs import atomic_output
from .table import Curve, Table, find_tables, read_table

DEFAULT_TARGET_EPOCH = 20.0
DEFAULT_N = 3
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class Prediction:
    """A method's prediction of valAcc (percent) at the target epoch after some rows.

    ``uncertainty`` is in percentage points (``None`` when the method has none); ``confident``
    is True when the method's rule says training can stop now.
    """

    value: float
    uncertainty: float | None
    confident: bool


# --------------------------------------------------------------------------------------
# Shared pieces of the rules


def check_target_epoch(target_epoch: float) -> float:
    """The target epoch as a float; it must be a positive multiple of 0.5 (a row of the
    table), else :class:`InputError`."""
    try:
        value = float(target_epoch)
    except (TypeError, ValueError):
        raise InputError(f"target epoch {target_epoch!r}: expected a positive multiple of 0.5") from None
    if not (value > 0 and math.isfinite(value) and (2 * value).is_integer()):
        raise InputError(f"target epoch {target_epoch!r}: expected a positive multiple of 0.5 (0.5, 1.0, ..., 20.0, ...)")
    return value


class StabilityWindow:
    """PENGUIN's stopping test on a stream of predictions.

    :meth:`push` appends a prediction; once ``N`` are held, they are stable when all lie within
    ``threshold`` points of their median and the newest is in (0, 100]; after each such check
    the oldest is dropped.
    """

    def __init__(self, N: int = DEFAULT_N, threshold: float = DEFAULT_THRESHOLD):
        if isinstance(N, bool) or not isinstance(N, int) or N < 1:
            raise InputError(f"N {N!r}: expected a positive integer")
        if not (isinstance(threshold, (int, float)) and math.isfinite(threshold) and threshold >= 0):
            raise InputError(f"threshold {threshold!r}: expected a non-negative number of percentage points")
        self.N = N
        self.threshold = float(threshold)
        self.values: deque[float] = deque()

    def clear(self) -> None:
        self.values.clear()

    def push(self, value: float) -> bool:
        self.values.append(value)
        if len(self.values) < self.N:
            return False
        median = float(np.median(self.values))
        stable = all(abs(v - median) <= self.threshold for v in self.values) and 0 < value <= 100
        self.values.popleft()
        return stable


class Tracker(ABC):
    """The online state of one method on one curve: :meth:`observe` takes the next row (rows
    after the target epoch must not be passed) and returns the method's prediction then."""

    def __init__(self, target_epoch: float):
        self.target_epoch = target_epoch
        self.x_target = 2.0 * target_epoch
        self.epochs: list[float] = []
        self.acc: list[float] = []
        self.fallback = math.nan  # the last finite accuracy observed

    def observe(self, epoch: float, val_acc: float, train_loss: float | None = None, val_loss: float | None = None) -> Prediction:
        self.epochs.append(float(epoch))
        self.acc.append(float(val_acc))
        if math.isfinite(val_acc):
            self.fallback = float(val_acc)
        return self.step(train_loss, val_loss)

    @abstractmethod
    def step(self, train_loss: float | None, val_loss: float | None) -> Prediction:
        """The prediction once the newest row is in ``self.epochs`` / ``self.acc``."""

    def no_prediction(self) -> Prediction:
        """What a method says when it has nothing of its own: the last observed accuracy."""
        return Prediction(self.fallback, None, False)


class Predictor(ABC):
    """A prediction method with its parameters; :data:`METHODS` makes them by name."""

    name = ""

    @abstractmethod
    def tracker(self, target_epoch: float = DEFAULT_TARGET_EPOCH) -> Tracker:
        """A fresh online state for one curve."""

    def predict(
        self,
        epochs: Sequence[float],
        val_acc: Sequence[float],
        *,
        train_loss: Sequence[float] | None = None,
        val_loss: Sequence[float] | None = None,
        target_epoch: float = DEFAULT_TARGET_EPOCH,
    ) -> Prediction:
        """The prediction after the given rows (those after the target epoch are ignored),
        and whether the rule is confident at the last of them. With no row: ``nan``."""
        target_epoch = check_target_epoch(target_epoch)
        tracker = self.tracker(target_epoch)
        prediction = Prediction(math.nan, None, False)
        for i, (epoch, acc) in enumerate(zip(epochs, val_acc)):
            if epoch > target_epoch:
                break
            prediction = tracker.observe(
                epoch,
                acc,
                None if train_loss is None else train_loss[i],
                None if val_loss is None else val_loss[i],
            )
        return prediction

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"


class _Windowed(Predictor):
    """A method that stops by the :class:`StabilityWindow` with ``N`` and ``threshold``."""

    def __init__(self, N: int = DEFAULT_N, threshold: float = DEFAULT_THRESHOLD):
        StabilityWindow(N, threshold)  # check the parameters now, not at the first curve
        self.N = N
        self.threshold = threshold

    def window(self) -> StabilityWindow:
        return StabilityWindow(self.N, self.threshold)


# --------------------------------------------------------------------------------------
# PENGUIN (SYSTEM.md section 6)

PENGUIN_A_RESET = 199.99  # a fit whose asymptote reaches the bound (200) clears the history


class Penguin(_Windowed):
    """PENGUIN exactly: after each new point i >= 2 (x = 2 * epoch, y = valAcc in percent),
    fit ``a - b**(c - x)`` on points [0, i) and evaluate it at ``x = 2 * target_epoch``; a
    failed or non-finite fit adds nothing, ``a >= 199.99`` clears the history, anything else
    goes to a :class:`StabilityWindow` of ``N`` and ``threshold``."""

    name = "penguin"

    def tracker(self, target_epoch: float = DEFAULT_TARGET_EPOCH) -> Tracker:
        return _PenguinTracker(check_target_epoch(target_epoch), self.window())


class _PenguinTracker(Tracker):
    def __init__(self, target_epoch: float, window: StabilityWindow):
        super().__init__(target_epoch)
        self.window = window

    def step(self, train_loss, val_loss) -> Prediction:
        if len(self.acc) < 2:
            return self.no_prediction()
        params = fit_penguin([2.0 * e for e in self.epochs], self.acc)
        if params is None:
            return self.no_prediction()
        value = penguin_value(params, self.x_target)
        if not math.isfinite(value):
            return self.no_prediction()
        if params[0] >= PENGUIN_A_RESET:
            self.window.clear()
            return self.no_prediction()
        return Prediction(value, None, self.window.push(value))


# --------------------------------------------------------------------------------------
# MENNDL's baseline rule


class Menndl(Predictor):
    """Stop once the minimum training loss has not improved for ``patience`` epochs (counted
    from the start of training while no finite loss has been seen). The prediction is the
    last observed accuracy; the method has no uncertainty. ``N`` and ``threshold`` are
    accepted for a uniform interface and not used."""

    name = "menndl"

    def __init__(self, N: int = DEFAULT_N, threshold: float = DEFAULT_THRESHOLD, patience: float = 10.0):
        if not (isinstance(patience, (int, float)) and patience > 0):
            raise InputError(f"patience {patience!r}: expected a positive number of epochs")
        self.patience = float(patience)

    def tracker(self, target_epoch: float = DEFAULT_TARGET_EPOCH) -> Tracker:
        return _MenndlTracker(check_target_epoch(target_epoch), self.patience)


class _MenndlTracker(Tracker):
    def __init__(self, target_epoch: float, patience: float):
        super().__init__(target_epoch)
        self.patience = patience
        self.best = math.inf
        self.best_epoch = 0.0

    def step(self, train_loss, val_loss) -> Prediction:
        if train_loss is None:
            raise ValueError("menndl needs the training loss of every row")
        epoch = self.epochs[-1]
        if train_loss < self.best:  # False for nan: a diverged loss never improves
            self.best = float(train_loss)
            self.best_epoch = epoch
        return Prediction(self.fallback, None, epoch - self.best_epoch >= self.patience)


# --------------------------------------------------------------------------------------
# Curve families, one at a time and combined

# Fits start once every family has more points than parameters. Starting each family as soon
# as it has more points than its own parameters (3 to 5) stops flat curves earlier, but on the
# benchmark corpus it cost the ensemble all of its accuracy advantage over PENGUIN: fits on 3 or
# 4 points agree by chance on slowly rising curves and stop them too soon.
MIN_FAMILY_POINTS = 5


@functools.lru_cache(maxsize=8192)
def _fit_shared(name: str, x: bytes, y: bytes, start: tuple[float, ...] | None) -> Fit | None:
    """:func:`fit_family`, remembered: the single-family methods, ``best_fit`` and
    ``ensemble`` refit the same families on the same prefixes from the same starts, so when
    they run on one curve in one process each fit is computed once. A fit is a pure function
    of these arguments, so the cache changes no result."""
    return fit_family(name, np.frombuffer(x), np.frombuffer(y), starts=[start] if start else [])


class _FamilyTracker(Tracker):
    """Refits a set of families after every row (each warm-started from its previous fit)
    and keeps every fit, so that held-out errors on the prefix cost no extra fit."""

    def __init__(self, target_epoch: float, families: Sequence[Family], window: StabilityWindow):
        super().__init__(target_epoch)
        self.families = list(families)
        self.window = window
        self.fits: dict[str, list[Fit | None]] = {f.name: [] for f in self.families}

    def step(self, train_loss, val_loss) -> Prediction:
        n = len(self.acc)
        if n < MIN_FAMILY_POINTS:
            for f in self.families:
                self.fits[f.name].append(None)
            return self.no_prediction()
        x = np.asarray(self.epochs) * 2.0
        y = np.asarray(self.acc) / 100.0
        for f in self.families:
            history = self.fits[f.name]
            previous = next((fit for fit in reversed(history) if fit is not None), None)
            history.append(_fit_shared(f.name, x.tobytes(), y.tobytes(), previous.params if previous else None))
        return self.combine(x, y)

    def value(self, fit: Fit) -> float:
        """A fit's prediction at the target, in percent, clipped to [0, 100]."""
        v = 100.0 * float(fit(self.x_target))
        return min(100.0, max(0.0, v)) if math.isfinite(v) else math.nan

    def held_out_error(self, name: str, x: np.ndarray, y: np.ndarray) -> float:
        """RMSE (percent) of the fit made ``h`` rows ago on the ``h`` rows that came since,
        ``h = max(2, n // 2)`` for ``n`` rows so far: how well the family, fitted on the first
        half of the prefix, extrapolated the second half of this very curve (extrapolating is
        what the method is asked to do). The in-sample RMSE of the current fit when no such
        earlier fit exists."""
        n = len(y)
        h = max(2, n // 2)
        history = self.fits[name]
        earlier = history[n - h - 1] if n - h - 1 >= 0 else None
        if earlier is None:
            now = history[-1]
            return math.inf if now is None else 100.0 * now.rmse
        tail = np.isfinite(y[n - h:])
        if not tail.any():
            return 100.0 * earlier.rmse
        err = earlier(x[n - h:][tail]) - y[n - h:][tail]
        rmse = 100.0 * float(np.sqrt(np.mean(err**2)))
        return rmse if math.isfinite(rmse) else math.inf

    def scored(self, x: np.ndarray, y: np.ndarray) -> list[tuple[float, float]]:
        """``(value at the target, held-out error)`` of each family's newest fit, in family
        order, for the families whose fit exists and whose both numbers are finite."""
        out = []
        for f in self.families:
            fit = self.fits[f.name][-1]
            if fit is None:
                continue
            value, error = self.value(fit), self.held_out_error(f.name, x, y)
            if math.isfinite(value) and math.isfinite(error):
                out.append((value, error))
        return out

    @abstractmethod
    def combine(self, x: np.ndarray, y: np.ndarray) -> Prediction:
        """The method's prediction from the families' newest fits."""


class FamilyMethod(_Windowed):
    """One curve family refitted after every row; stop by the :class:`StabilityWindow`."""

    def __init__(self, family: str, N: int = DEFAULT_N, threshold: float = DEFAULT_THRESHOLD):
        super().__init__(N, threshold)
        self.name = family
        self.family = FAMILIES[family]

    def tracker(self, target_epoch: float = DEFAULT_TARGET_EPOCH) -> Tracker:
        return _SingleTracker(check_target_epoch(target_epoch), [self.family], self.window())


class _SingleTracker(_FamilyTracker):
    def combine(self, x, y) -> Prediction:
        fit = self.fits[self.families[0].name][-1]
        value = math.nan if fit is None else self.value(fit)
        if not math.isfinite(value):
            return self.no_prediction()
        return Prediction(value, None, self.window.push(value))


class BestFit(_Windowed):
    """After every row, the family with the lowest held-out error on the prefix (see
    :meth:`_FamilyTracker.held_out_error`); its prediction, with that error as uncertainty;
    stop by the :class:`StabilityWindow`."""

    name = "best_fit"

    def tracker(self, target_epoch: float = DEFAULT_TARGET_EPOCH) -> Tracker:
        return _BestTracker(check_target_epoch(target_epoch), list(FAMILIES.values()), self.window())


class _BestTracker(_FamilyTracker):
    def combine(self, x, y) -> Prediction:
        scored = [(error, value) for value, error in self.scored(x, y)]
        if not scored:
            return self.no_prediction()
        error, value = min(scored)
        return Prediction(value, error, self.window.push(value))


class Ensemble(_Windowed):
    """All families, weighted by ``1 / held-out MSE`` (see
    :meth:`_FamilyTracker.held_out_error`), so that the families that extrapolated this curve
    well dominate; the uncertainty is the weighted standard deviation of the families'
    predictions (percentage points). Stop by the :class:`StabilityWindow` on the weighted mean.
    """

    name = "ensemble"

    def tracker(self, target_epoch: float = DEFAULT_TARGET_EPOCH) -> Tracker:
        return _EnsembleTracker(check_target_epoch(target_epoch), list(FAMILIES.values()), self.window())


class _EnsembleTracker(_FamilyTracker):
    def combine(self, x, y) -> Prediction:
        scored = self.scored(x, y)
        values = [value for value, _ in scored]
        weights = [1.0 / max(error, 1e-3) ** 2 for _, error in scored]  # a perfect fit must not divide by 0
        if not values:
            return self.no_prediction()
        v = np.asarray(values)
        w = np.asarray(weights) / np.sum(weights)
        mean = float(np.sum(w * v))
        spread = float(np.sqrt(np.sum(w * (v - mean) ** 2)))
        return Prediction(mean, spread, self.window.push(mean))


# --------------------------------------------------------------------------------------
# Triage: stop the networks that are not learning at all, then the ensemble

TRIAGE_EPOCH = 1.5
TRIAGE_MIN_DROP = 3e-4


class Triage(Ensemble):
    """The ensemble, after a test for networks that are not learning at all.

    Most random networks never learn: their weights are stuck, their validation loss sits at
    its starting value (to 4 digits or more) and their accuracy at the share of one class in
    the test set. Their accuracy curve is flat, but a flat start is also how many slow
    learners begin; their validation loss, measured on the same fixed test set every time,
    tells them apart: it already falls while the accuracy has not moved.

    At the first row at or after ``triage_epoch`` (default 1.5: the third half-epoch row),
    a network is *not learning* when its validation loss has not come below its first value
    by at least ``min_drop`` of that value (default 0.03 %), or a validation loss so far is
    not finite (it diverged). Such a network stops there (confident), and its prediction is its
    last observed accuracy. Any other network goes on under :class:`Ensemble`, unchanged.
    Without validation losses (``val_loss`` not given, or none finite), there is no test: the
    method is the ensemble.
    """

    name = "triage"

    def __init__(
        self,
        N: int = DEFAULT_N,
        threshold: float = DEFAULT_THRESHOLD,
        triage_epoch: float = TRIAGE_EPOCH,
        min_drop: float = TRIAGE_MIN_DROP,
    ):
        super().__init__(N, threshold)
        if not (isinstance(triage_epoch, (int, float)) and math.isfinite(triage_epoch) and triage_epoch > 0):
            raise InputError(f"triage_epoch {triage_epoch!r}: expected a positive number of epochs")
        if not (isinstance(min_drop, (int, float)) and math.isfinite(min_drop) and min_drop >= 0):
            raise InputError(f"min_drop {min_drop!r}: expected a non-negative fraction of the first validation loss")
        self.triage_epoch = float(triage_epoch)
        self.min_drop = float(min_drop)

    def tracker(self, target_epoch: float = DEFAULT_TARGET_EPOCH) -> Tracker:
        return _TriageTracker(
            check_target_epoch(target_epoch), list(FAMILIES.values()), self.window(), self.triage_epoch, self.min_drop
        )


class _TriageTracker(_EnsembleTracker):
    def __init__(self, target_epoch, families, window, triage_epoch: float, min_drop: float):
        super().__init__(target_epoch, families, window)
        self.triage_epoch = triage_epoch
        self.min_drop = min_drop
        self.val_losses: list[float | None] = []  # up to the test
        self.verdict: bool | None = None  # None: not tested yet; True: not learning; False: go on

    def not_learning(self) -> bool | None:
        """The test on the validation losses so far; None (no test) when some were not given
        or none is finite (a curve without losses)."""
        if len(self.val_losses) < 2 or any(v is None for v in self.val_losses):
            return None
        losses = np.asarray(self.val_losses, dtype=float)
        finite = np.isfinite(losses)
        if not finite.any():
            return None
        if not finite.all():
            return True  # diverged
        first = float(losses[0])
        return bool(first - float(losses[1:].min()) < self.min_drop * abs(first))

    def step(self, train_loss, val_loss) -> Prediction:
        if self.verdict is None:
            self.val_losses.append(None if val_loss is None else float(val_loss))
            if self.epochs[-1] >= self.triage_epoch:
                self.verdict = bool(self.not_learning())  # no losses to test (None): the ensemble alone
        if self.verdict and math.isfinite(self.fallback):
            return Prediction(self.fallback, None, True)
        return super().step(train_loss, val_loss)


# --------------------------------------------------------------------------------------
# The registry


def _family_factory(name: str) -> Callable[..., Predictor]:
    def make(N: int = DEFAULT_N, threshold: float = DEFAULT_THRESHOLD) -> Predictor:
        return FamilyMethod(name, N, threshold)

    make.__name__ = name
    return make


METHODS: dict[str, Callable[..., Predictor]] = {
    "penguin": Penguin,
    "menndl": Menndl,
    **{name: _family_factory(name) for name in FAMILIES},
    "best_fit": BestFit,
    "ensemble": Ensemble,
    "triage": Triage,
}


def make_predictor(method: str | Predictor, *, N: int = DEFAULT_N, threshold: float = DEFAULT_THRESHOLD) -> Predictor:
    """The predictor of a method name (or the predictor itself). Unknown name: InputError."""
    if isinstance(method, Predictor):
        return method
    try:
        factory = METHODS[method]
    except (KeyError, TypeError):
        raise InputError(f"unknown method {method!r}: expected one of {', '.join(METHODS)}") from None
    return factory(N=N, threshold=threshold)


# --------------------------------------------------------------------------------------
# Online use (a training loop) and offline use (a recorded curve): one code path


@dataclass(frozen=True)
class Outcome:
    """What a method decided for one network.

    ``stop_epoch``: the epoch training stops at (the row where the method became confident),
    else the target epoch, or the curve's last epoch if it ends before the target (online: the
    last epoch observed so far). ``predicted``: the method's prediction when it stopped, else
    the last observed accuracy. ``actual``: valAcc at the target epoch (``None`` online, or
    when the curve ends before it). ``saved``: the fraction of epochs saved.
    """

    method: str
    target_epoch: float
    converged: bool
    stop_epoch: float | None
    predicted: float
    uncertainty: float | None = None
    actual: float | None = None
    ID: str | None = None

    @property
    def saved(self) -> float:
        """``(target - stop epoch) / target``: training up to the target epoch is the whole
        cost, so a network that was not stopped saves 0."""
        stop = self.target_epoch if self.stop_epoch is None else self.stop_epoch
        return (self.target_epoch - stop) / self.target_epoch

    @property
    def error(self) -> float | None:
        """``predicted - actual`` in percentage points (``None`` without ``actual``)."""
        return None if self.actual is None else self.predicted - self.actual


class OnlineStopper:
    """Early termination inside a training loop.

    Call :meth:`observe` with each half-epoch row as it is measured; it returns True when the
    method is confident and training should stop now (and keeps returning True). Rows after
    the target epoch are not looked at (``observe`` returns False: a network not stopped by
    the target trains on, and its outcome is final). :meth:`result` says what was decided;
    ``converged``, ``stop_epoch``, ``predicted`` and ``method`` are also attributes.
    """

    def __init__(
        self,
        method: str | Predictor,
        target_epoch: float = DEFAULT_TARGET_EPOCH,
        N: int = DEFAULT_N,
        threshold: float = DEFAULT_THRESHOLD,
    ):
        self.predictor = make_predictor(method, N=N, threshold=threshold)
        self.method = self.predictor.name
        self.target_epoch = check_target_epoch(target_epoch)
        self._tracker = self.predictor.tracker(self.target_epoch)
        self.converged = False
        self.stop_epoch: float | None = None
        self.last: Prediction | None = None  # the latest prediction, confident or not
        self._last_epoch: float | None = None

    def observe(self, epoch: float, val_acc: float, train_loss: float | None = None, val_loss: float | None = None) -> bool:
        if self.converged:
            return True
        epoch = float(epoch)
        if epoch > self.target_epoch:
            return False
        if self._last_epoch is not None and epoch <= self._last_epoch:
            raise ValueError(f"rows must come in order of epochs: {epoch} after {self._last_epoch}")
        self._last_epoch = epoch
        self.last = self._tracker.observe(epoch, val_acc, train_loss, val_loss)
        if self.last.confident:
            self.converged = True
            self.stop_epoch = epoch
        return self.converged

    def __call__(self, row) -> bool:
        """The stopper as a training listener: ``row`` is a half-epoch row, anything with
        ``epoch``, ``valAcc``, ``trainLoss`` and ``valLoss`` attributes."""
        return self.observe(row.epoch, row.valAcc, row.trainLoss, row.valLoss)

    @property
    def predicted(self) -> float:
        """The prediction if the method stopped, else the last observed accuracy."""
        if self.converged and self.last is not None:
            return self.last.value
        return self._tracker.fallback

    def result(self) -> Outcome:
        uncertainty = self.last.uncertainty if self.converged and self.last is not None else None
        stop = self.stop_epoch if self.converged else self._last_epoch
        return Outcome(self.method, self.target_epoch, self.converged, stop, self.predicted, uncertainty)


def curve_arrays(curve: Table | Curve | Sequence[Sequence[float]]) -> tuple[str | None, Curve]:
    """(ID, curve) of a table, a curve, or arrays ``(epochs, valAcc[, trainLoss[, valLoss]])``."""
    if isinstance(curve, Table):
        return curve.spec.ID or None, curve.curve
    if isinstance(curve, Curve):
        return None, curve
    arrays = [tuple(float(v) for v in a) for a in curve]
    if not 2 <= len(arrays) <= 4:
        raise ValueError("expected arrays (epochs, valAcc[, trainLoss[, valLoss]])")
    n = len(arrays[0])
    nan = tuple([math.nan] * n)
    epochs, val_acc = arrays[0], arrays[1]
    train_loss = arrays[2] if len(arrays) > 2 else nan
    val_loss = arrays[3] if len(arrays) > 3 else nan
    return None, Curve(epochs, train_loss, val_loss, val_acc)


def simulate(
    method: str | Predictor,
    curve_or_arrays: Table | Curve | Sequence[Sequence[float]],
    target_epoch: float = DEFAULT_TARGET_EPOCH,
    *,
    N: int = DEFAULT_N,
    threshold: float = DEFAULT_THRESHOLD,
) -> Outcome:
    """Replay a recorded curve through an :class:`OnlineStopper`, row by row, and say what it
    decided, with the actual valAcc at the target epoch. A campaign stopping a network with
    the same method and parameters decides exactly the same."""
    ID, curve = curve_arrays(curve_or_arrays)
    stopper = OnlineStopper(method, target_epoch, N=N, threshold=threshold)
    for row in zip(curve.epochs, curve.valAcc, curve.trainLoss, curve.valLoss):
        if row[0] > stopper.target_epoch or stopper.observe(*row):
            break
    actual = next((float(a) for e, a in zip(curve.epochs, curve.valAcc) if e == stopper.target_epoch), None)
    return dataclasses.replace(stopper.result(), actual=actual, ID=ID)


# --------------------------------------------------------------------------------------
# Many networks: predict and evaluate


def load_curves(paths: Iterable[str | Path]) -> list[Table]:
    """Every table under the given files and directories, read (sorted, as :func:`find_tables`)."""
    tables = [read_table(p) for p in find_tables(paths)]
    if not tables:
        raise InputError(f"no tables (*.txt) under {', '.join(str(p) for p in paths)}")
    return tables


def _simulate_all(task: tuple[Table | Curve, tuple[str, ...], float, int, float]) -> list[Outcome]:
    curve, methods, target_epoch, N, threshold = task
    return [simulate(m, curve, target_epoch, N=N, threshold=threshold) for m in methods]


def run_methods(
    curves: Sequence[Table | Curve],
    methods: Sequence[str],
    target_epoch: float = DEFAULT_TARGET_EPOCH,
    *,
    N: int = DEFAULT_N,
    threshold: float = DEFAULT_THRESHOLD,
    workers: int | None = None,
) -> dict[str, list[Outcome]]:
    """Simulate every method on every curve: ``{method: [Outcome per curve, in order]}``.

    Fits are slow (tens of milliseconds each, up to one per half epoch per family), so the
    networks are spread over a process pool of ``workers`` processes (default: one per CPU;
    ``1`` runs in this process). The result does not depend on ``workers``.
    """
    methods = tuple(methods)
    for m in methods:
        make_predictor(m, N=N, threshold=threshold)  # unknown names fail before any work
    target_epoch = check_target_epoch(target_epoch)
    tasks = [(c, methods, target_epoch, N, threshold) for c in curves]
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 1:
        raise InputError(f"workers {workers!r}: expected a positive integer")
    workers = min(workers, len(tasks))
    if workers <= 1:
        per_curve = [_simulate_all(t) for t in tasks]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            per_curve = list(pool.map(_simulate_all, tasks))
    return {m: [outcomes[i] for outcomes in per_curve] for i, m in enumerate(methods)}


def predict_tables(
    paths: Iterable[str | Path],
    method: str,
    target_epoch: float = DEFAULT_TARGET_EPOCH,
    *,
    N: int = DEFAULT_N,
    threshold: float = DEFAULT_THRESHOLD,
    workers: int | None = None,
) -> list[Outcome]:
    """The outcome of ``method`` on every table under ``paths`` (sorted by path)."""
    make_predictor(method, N=N, threshold=threshold)
    tables = load_curves(paths)
    return run_methods(tables, [method], target_epoch, N=N, threshold=threshold, workers=workers)[method]


@dataclass(frozen=True)
class MethodScore:
    """How well one method did over a set of networks (those whose curve reaches the target).

    ``converged``: fraction of networks stopped early; ``epochs_saved``: mean fraction of
    epochs saved (see :attr:`Outcome.saved`); ``mae``: mean absolute error of the predicted
    valAcc, percentage points; ``spearman``: Spearman rank correlation of predicted and actual
    (``nan`` when either is constant); ``top_kept`` of ``top_size``: how many of the true top
    10 % (``ceil(networks / 10)`` networks by actual valAcc) are also among the predicted top
    10 %.
    """

    method: str
    target_epoch: float
    networks: int
    converged: float
    epochs_saved: float
    mae: float
    spearman: float
    top_kept: int
    top_size: int

    def row(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def top_fraction(values: Sequence[float], fraction: float = 0.1) -> set[int]:
    """Indices of the ``ceil(fraction * n)`` largest values (ties: the earlier index first;
    ``nan`` counts as the smallest)."""
    k = math.ceil(fraction * len(values))
    order = sorted(range(len(values)), key=lambda i: (-values[i] if math.isfinite(values[i]) else math.inf, i))
    return set(order[:k])


def ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks 1..n of ``values``, ties sharing their mean rank."""
    v = np.asarray(values, dtype=float)
    order = np.argsort(v, kind="stable")
    sorted_v = v[order]
    # Group equal values; every member of a group gets the group's mean position.
    starts = np.flatnonzero(np.r_[True, sorted_v[1:] != sorted_v[:-1]])
    ends = np.r_[starts[1:], len(v)]
    mean_rank = (starts + ends + 1) / 2.0
    out = np.empty(len(v))
    out[order] = np.repeat(mean_rank, ends - starts)
    return out


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation (Pearson correlation of the ranks, ties averaged); ``nan``
    when fewer than two values, when either side is constant, or with a non-finite value."""
    if len(a) < 2 or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return math.nan
    ra, rb = ranks(a) - (len(a) + 1) / 2.0, ranks(b) - (len(b) + 1) / 2.0
    denom = math.sqrt(float(np.sum(ra * ra)) * float(np.sum(rb * rb)))
    return float(np.sum(ra * rb)) / denom if denom > 0 else math.nan


def score(outcomes: Sequence[Outcome]) -> MethodScore:
    """Score one method's outcomes; networks without an actual value are left out."""
    if not outcomes:
        raise ValueError("no outcomes to score")
    scored = [o for o in outcomes if o.actual is not None and math.isfinite(o.actual)]
    method, target = outcomes[0].method, outcomes[0].target_epoch
    n = len(scored)
    if n == 0:
        return MethodScore(method, target, 0, math.nan, math.nan, math.nan, math.nan, 0, 0)
    predicted = [o.predicted for o in scored]
    actual = [float(o.actual) for o in scored]  # type: ignore[arg-type]
    errors = [abs(p - a) for p, a in zip(predicted, actual)]
    rho = spearman(predicted, actual)
    top_true = top_fraction(actual)
    return MethodScore(
        method=method,
        target_epoch=target,
        networks=n,
        converged=sum(o.converged for o in scored) / n,
        epochs_saved=sum(o.saved for o in scored) / n,
        mae=float(np.mean(errors)) if all(math.isfinite(e) for e in errors) else math.nan,
        spearman=rho,
        top_kept=len(top_true & top_fraction(predicted)),
        top_size=len(top_true),
    )


def evaluate(
    curves: Sequence[Table | Curve] | Iterable[str | Path],
    methods: Sequence[str] | None = None,
    target_epoch: float = DEFAULT_TARGET_EPOCH,
    *,
    N: int = DEFAULT_N,
    threshold: float = DEFAULT_THRESHOLD,
    workers: int | None = None,
) -> list[MethodScore]:
    """Every method (default: all of :data:`METHODS`) on every network: one score per method,
    in the order given. ``curves``: tables or curves, or files and directories of tables."""
    items = list(curves)
    if not all(isinstance(c, (Table, Curve)) for c in items):
        items = load_curves(items)  # type: ignore[arg-type]
    methods = list(METHODS) if methods is None else list(methods)
    results = run_methods(items, methods, target_epoch, N=N, threshold=threshold, workers=workers)
    return [score(results[m]) for m in methods]


# --------------------------------------------------------------------------------------
# Text and CSV


def _num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if math.isfinite(value) else str(value)


OUTCOME_COLUMNS = ("ID", "method", "target_epoch", "converged", "stop_epoch", "predicted", "actual", "uncertainty")


def outcome_row(o: Outcome) -> dict[str, object]:
    return {name: getattr(o, name) for name in OUTCOME_COLUMNS}


def format_outcomes(outcomes: Sequence[Outcome]) -> str:
    """One aligned line per network: ID, converged, stop epoch, predicted, actual."""
    rows = [("ID", "converged", "stop_epoch", "predicted", "actual")]
    for o in outcomes:
        rows.append((o.ID or "-", "yes" if o.converged else "no", _num(o.stop_epoch, 1), _num(o.predicted), _num(o.actual)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in rows)


def format_scores(scores: Sequence[MethodScore]) -> str:
    """The method table, in markdown."""
    lines = [
        "| method | networks | converged | epochs saved | MAE | Spearman | top-10% kept |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in scores:
        lines.append(
            f"| {s.method} | {s.networks} | {_num(s.converged)} | {_num(s.epochs_saved)} | {_num(s.mae)} "
            f"| {_num(s.spearman, 3)} | {s.top_kept}/{s.top_size} |"
        )
    return "\n".join(lines)


def write_csv(path: str | Path, rows: Sequence[dict[str, object]]) -> Path:
    """Write dictionaries (one per line, keys of the first as the header) as CSV."""
    path = Path(path)
    if path.parent and not path.parent.is_dir():
        raise InputError(f"{path}: directory {path.parent} does not exist")
    with atomic_output(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return path
