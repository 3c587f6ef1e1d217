"""The built-in prediction methods: PENGUIN, MENNDL, the curve families and their
combinations, triage, and the plain baselines."""

from __future__ import annotations

import collections
import math
from abc import abstractmethod
from typing import Sequence

import numpy as np

from .. import family_fit
from ..curves import FAMILIES, Family, Fit, fit_family, fit_family_batch, fit_penguin, penguin_model, penguin_value
from ..errors import InputError
from .core import (
    DEFAULT_LEVEL,
    DEFAULT_N,
    DEFAULT_TARGET_EPOCH,
    DEFAULT_THRESHOLD,
    Prediction,
    Predictor,
    StabilityWindow,
    Tracker,
    _Windowed,
    check_target,
    clip_interval,
    fit_predictive,
    mixture_interval,
    t_quantile,
)

# An epoch measured in the curve's units is compared with a tolerance of this fraction of the
# spacing: a curve file's decimal epochs (0.1, 0.2, ...) are not exact in binary.
EPOCH_RTOL = 1e-6


# --------------------------------------------------------------------------------------
# PENGUIN (docs/prediction.md)

PENGUIN_A_RESET = 199.99  # a fit whose asymptote reaches the bound (200) clears the history


class Penguin(_Windowed):
    """PENGUIN exactly: after each new point i >= 2 (x = the point index, 2 * epoch on a
    table; y = valAcc in percent), fit ``a - b**(c - x)`` on points [0, i) and evaluate it at
    the target's index (``2 * target_epoch`` on a table); a failed or non-finite fit adds
    nothing, ``a >= 199.99`` clears the history, anything else goes to a
    :class:`StabilityWindow` of ``N`` and ``threshold``. Each prediction comes with the fit's
    prediction interval (:func:`~nnlife.predict.core.fit_predictive`); PENGUIN's rule does not
    use it."""

    name = "penguin"

    def tracker(self, target_epoch: float = DEFAULT_TARGET_EPOCH) -> Tracker:
        return _PenguinTracker(check_target(target_epoch), self.window(), self.level)


class _PenguinTracker(Tracker):
    def __init__(self, target_epoch: float, window: StabilityWindow, level: float = DEFAULT_LEVEL):
        super().__init__(target_epoch)
        self.window = window
        self.level = level

    def step(self, train_loss, val_loss) -> Prediction:
        if len(self.acc) < 2:
            return self.no_prediction()
        x = self.xs()
        params = fit_penguin(x, self.acc)
        if params is None:
            return self.no_prediction()
        value = penguin_value(params, self.x_target)
        if not math.isfinite(value):
            return self.no_prediction()
        if params[0] >= PENGUIN_A_RESET:
            self.window.clear()
            return self.no_prediction()
        stop = self.window.push(value)
        band = None
        if stop or self.need_interval:
            band = fit_predictive(penguin_model, params, x, np.asarray(self.acc), self.x_target, self.level)
        lower, upper = (None, None) if band is None else clip_interval(value - band[1], value + band[1])
        return Prediction(value, None, stop, lower, upper)


# --------------------------------------------------------------------------------------
# MENNDL's baseline rule


class Menndl(Predictor):
    """Stop once the minimum training loss has not improved for ``patience`` epochs (counted
    from epoch 0 while no finite loss has been seen). The patience is in the curve's own epoch
    units, as the published rule is (10 epochs: 20 rows of a table, 10 rows of a curve file
    measured every epoch, 2 rows of one measured every 5). The prediction is the last observed
    accuracy; the method has no uncertainty. ``N``, ``threshold`` and ``level`` are accepted
    for a uniform interface and not used."""

    name = "menndl"

    def __init__(self, N: int = DEFAULT_N, threshold: float = DEFAULT_THRESHOLD, patience: float = 10.0,
                 level: float = DEFAULT_LEVEL):
        if not (isinstance(patience, (int, float)) and patience > 0):
            raise InputError(f"patience {patience!r}: expected a positive number of epochs")
        self.patience = float(patience)

    def tracker(self, target_epoch: float = DEFAULT_TARGET_EPOCH) -> Tracker:
        return _MenndlTracker(check_target(target_epoch), self.patience)


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
        tol = EPOCH_RTOL * (self.spacing or 1.0)
        return Prediction(self.fallback, None, epoch - self.best_epoch >= self.patience - tol)


# --------------------------------------------------------------------------------------
# Plain baselines at a fixed budget


DEFAULT_BUDGET = 0.25


class _Budgeted(Predictor):
    """Stop at the first row at or after ``budget * target_epoch`` (``budget`` a fraction in
    (0, 1]), so that every network saves the same share of the epochs and methods can be
    compared at matched savings."""

    def __init__(self, N: int = DEFAULT_N, threshold: float = DEFAULT_THRESHOLD, budget: float = DEFAULT_BUDGET,
                 level: float = DEFAULT_LEVEL):
        if not (isinstance(budget, (int, float)) and 0 < budget <= 1):
            raise InputError(f"budget {budget!r}: expected a fraction of the target epoch in (0, 1]")
        self.budget = float(budget)

    def tracker(self, target_epoch: float = DEFAULT_TARGET_EPOCH) -> Tracker:
        return _BudgetTracker(check_target(target_epoch), self.budget, self.best)

    best = False


class Last(_Budgeted):
    """Predict the last observed accuracy; stop at the budget (:class:`_Budgeted`)."""

    name = "last"


class BestSoFar(_Budgeted):
    """Predict the best accuracy observed so far; stop at the budget (:class:`_Budgeted`)."""

    name = "best_so_far"
    best = True


class _BudgetTracker(Tracker):
    def __init__(self, target_epoch: float, budget: float, best: bool):
        super().__init__(target_epoch)
        self.stop_at = budget * target_epoch
        self.best = best

    def step(self, train_loss, val_loss) -> Prediction:
        finite = [a for a in self.acc if math.isfinite(a)]
        value = (max(finite) if self.best else self.fallback) if finite else math.nan
        tol = EPOCH_RTOL * (self.spacing or 1.0)
        return Prediction(value, None, self.epochs[-1] >= self.stop_at - tol and math.isfinite(value))


# --------------------------------------------------------------------------------------
# Curve families, one at a time and combined

# Fits start once every family has more points than parameters. Starting each family as soon
# as it has more points than its own parameters (3 to 5) stops flat curves earlier, but on the
# benchmark corpus it cost the ensemble all of its accuracy advantage over PENGUIN: fits on 3 or
# 4 points agree by chance on slowly rising curves and stop them too soon.
MIN_FAMILY_POINTS = 5


_FIT_CACHE: collections.OrderedDict[tuple, Fit | None] = collections.OrderedDict()
_FIT_CACHE_SIZE = 65536


def _fit_shared(name: str, x: bytes, y: bytes, start: tuple[float, ...] | None) -> Fit | None:
    """:func:`fit_family`, remembered: the single-family methods, ``best_fit`` and
    ``ensemble`` refit the same families on the same prefixes from the same starts, so when
    they run on one curve in one process each fit is computed once; :func:`prefill_fits`
    makes many at once. A fit is a pure function of these arguments (the same alone or in a
    batch, :func:`~nnlife.curves.fit_family_batch`), so the cache changes no result."""
    key = (name, x, y, start)
    if key in _FIT_CACHE:
        _FIT_CACHE.move_to_end(key)
        return _FIT_CACHE[key]
    fit = fit_family(name, np.frombuffer(x), np.frombuffer(y), starts=[start] if start else [])
    _remember(key, fit)
    return fit


def _remember(key: tuple, fit: Fit | None) -> None:
    _FIT_CACHE[key] = fit
    while len(_FIT_CACHE) > _FIT_CACHE_SIZE:
        _FIT_CACHE.popitem(last=False)


_fit_shared.cache_clear = _FIT_CACHE.clear  # type: ignore[attr-defined]


def prefill_fits(keys) -> None:
    """Make the family fits ``keys`` (``(family, x bytes, y bytes, start)``, as
    :meth:`Tracker.fit_requests` gives them) that are not remembered yet, in one batch per
    family and prefix length (:func:`~nnlife.curves.fit_family_batch`), and remember them
    for :func:`_fit_shared`."""
    groups: dict[tuple[str, bytes], list[tuple]] = {}
    for key in dict.fromkeys(keys):
        if key not in _FIT_CACHE:
            groups.setdefault((key[0], key[1]), []).append(key)
    for (name, x), group in groups.items():
        Y = np.stack([np.frombuffer(k[2]) for k in group])
        fits = fit_family_batch(name, np.frombuffer(x), Y, [[k[3]] if k[3] else [] for k in group])
        for key, fit in zip(group, fits):
            _remember(key, fit)


_X_BYTES: dict[int, bytes] = {}  # the point indices 1..n as fit keys, by n


class _FamilyTracker(Tracker):
    """Refits a set of families after every row (each warm-started from its previous fit)
    and keeps every fit, so that held-out errors on the prefix cost no extra fit."""

    def __init__(self, target_epoch: float, families: Sequence[Family], window: StabilityWindow,
                 level: float = DEFAULT_LEVEL):
        super().__init__(target_epoch)
        self.families = list(families)
        self.window = window
        self.level = level
        self.fits: dict[str, list[Fit | None]] = {f.name: [] for f in self.families}
        self.latest: dict[str, Fit] = {}  # each family's newest fit that exists (its warm start)
        self._y_bytes: tuple[int, float, bytes] = (0, math.nan, b"")  # (rows, last row, their bytes)

    def _keys(self, acc: list[float]) -> list[tuple]:
        """The fits (:func:`_fit_shared` arguments) of the families on the rows ``acc``."""
        n = len(acc)
        x = _X_BYTES.get(n)
        if x is None:
            x = _X_BYTES[n] = np.arange(1, n + 1, dtype=float).tobytes()
        # fit_requests and then step ask for the same rows (acc only grows): made once
        last = acc[-1]
        if self._y_bytes[0] == n and self._y_bytes[1] == last and math.copysign(1.0, last) == math.copysign(1.0, self._y_bytes[1]):
            y = self._y_bytes[2]
        else:
            y = (np.asarray(acc) / 100.0).tobytes()
            self._y_bytes = (n, last, y)
        latest = self.latest
        return [(f.name, x, y, latest[f.name].params if f.name in latest else None) for f in self.families]

    def fit_requests(self, val_acc: float) -> list[tuple]:
        if len(self.acc) + 1 < MIN_FAMILY_POINTS:
            return []
        return self._keys(self.acc + [float(val_acc)])

    def step(self, train_loss, val_loss) -> Prediction:
        n = len(self.acc)
        if n < MIN_FAMILY_POINTS:
            for f in self.families:
                self.fits[f.name].append(None)
            return self.no_prediction()
        for f, key in zip(self.families, self._keys(self.acc)):
            fit = _fit_shared(*key)
            self.fits[f.name].append(fit)
            if fit is not None:
                self.latest[f.name] = fit
        return self.combine(self.xs(), np.asarray(self.acc) / 100.0)

    def value(self, fit: Fit) -> float:
        """A fit's prediction at the target, in percent, clipped to [0, 100]."""
        # a fit is shared by every method that asks for it (_fit_shared), and so is its value
        x = self.x_target
        known = fit.values
        v = known.get(x)
        if v is None:
            v = 100.0 * family_fit.value_at(family_fit.CODES[fit.family.name], x, fit.array)
            v = known[x] = min(100.0, max(0.0, v)) if math.isfinite(v) else math.nan
        return v

    def half_width(self, fit: Fit, x: np.ndarray, y: np.ndarray) -> float:
        """The half-width (percent) of the fit's ``level`` prediction interval at the target
        (:func:`~nnlife.predict.core.fit_predictive`); ``nan`` when it has none."""
        # fit_predictive's interval, compiled (nnlife.family_fit)
        _, var, dof = family_fit.predictive(family_fit.CODES[fit.family.name], fit.array, x, y, self.x_target)
        return 100.0 * t_quantile(0.5 + self.level / 2, dof) * math.sqrt(var) if math.isfinite(var) else math.nan

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
        rmse = family_fit.rmse_from(family_fit.CODES[earlier.family.name], earlier.array, x, y, n - h)
        return 100.0 * earlier.rmse if math.isnan(rmse) else 100.0 * rmse

    def scored(self, x: np.ndarray, y: np.ndarray) -> list[tuple[float, float, Fit]]:
        """``(value at the target, held-out error, fit)`` of each family's newest fit, in
        family order, for the families whose fit exists and whose both numbers are finite."""
        out = []
        for f in self.families:
            fit = self.fits[f.name][-1]
            if fit is None:
                continue
            value, error = self.value(fit), self.held_out_error(f.name, x, y)
            if math.isfinite(value) and math.isfinite(error):
                out.append((value, error, fit))
        return out

    @abstractmethod
    def combine(self, x: np.ndarray, y: np.ndarray) -> Prediction:
        """The method's prediction from the families' newest fits."""


class FamilyMethod(_Windowed):
    """One curve family refitted after every row, with its fit's prediction interval; stop
    by the :class:`StabilityWindow`."""

    def __init__(self, family: str, N: int = DEFAULT_N, threshold: float = DEFAULT_THRESHOLD,
                 level: float = DEFAULT_LEVEL):
        super().__init__(N, threshold, level)
        self.name = family
        self.family = FAMILIES[family]

    def tracker(self, target_epoch: float = DEFAULT_TARGET_EPOCH) -> Tracker:
        return _SingleTracker(check_target(target_epoch), [self.family], self.window(), self.level)


def _interval(value: float, half: float) -> tuple[float | None, float | None]:
    return (None, None) if not math.isfinite(half) else clip_interval(value - half, value + half)


class _SingleTracker(_FamilyTracker):
    def combine(self, x, y) -> Prediction:
        fit = self.fits[self.families[0].name][-1]
        value = math.nan if fit is None else self.value(fit)
        if not math.isfinite(value):
            return self.no_prediction()
        stop = self.window.push(value)
        lower, upper = _interval(value, self.half_width(fit, x, y)) if stop or self.need_interval else (None, None)
        return Prediction(value, None, stop, lower, upper)


class BestFit(_Windowed):
    """After every row, the family with the lowest held-out error on the prefix (see
    :meth:`_FamilyTracker.held_out_error`); its prediction and prediction interval, with that
    error as uncertainty; stop by the :class:`StabilityWindow`."""

    name = "best_fit"

    def tracker(self, target_epoch: float = DEFAULT_TARGET_EPOCH) -> Tracker:
        return _BestTracker(check_target(target_epoch), list(FAMILIES.values()), self.window(), self.level)


class _BestTracker(_FamilyTracker):
    def combine(self, x, y) -> Prediction:
        scored = self.scored(x, y)
        if not scored:
            return self.no_prediction()
        value, error, fit = min(scored, key=lambda s: (s[1], s[0]))
        stop = self.window.push(value)
        lower, upper = _interval(value, self.half_width(fit, x, y)) if stop or self.need_interval else (None, None)
        return Prediction(value, error, stop, lower, upper)


class Ensemble(_Windowed):
    """All families, weighted by ``1 / held-out MSE`` (see
    :meth:`_FamilyTracker.held_out_error`), so that the families that extrapolated this curve
    well dominate; the uncertainty is the weighted standard deviation of the families'
    predictions (percentage points). Stop by the :class:`StabilityWindow` on the weighted mean.

    The predictive interval is that of the mixture, with the same weights, of the families'
    predictive distributions (each normal, with its fit's prediction interval): it widens both
    when each family is unsure and when the families disagree.
    """

    name = "ensemble"

    def tracker(self, target_epoch: float = DEFAULT_TARGET_EPOCH) -> Tracker:
        return _EnsembleTracker(check_target(target_epoch), list(FAMILIES.values()), self.window(), self.level)


class _EnsembleTracker(_FamilyTracker):
    def weights(self, errors: list[float]) -> np.ndarray:
        """The families' weights (unnormalised) from their held-out errors: ``1 / error ** 2``."""
        return np.asarray([1.0 / max(error, 1e-3) ** 2 for error in errors])  # a perfect fit must not divide by 0

    def centre(self, v: np.ndarray, w: np.ndarray, mean: float) -> float:
        """The prediction from the families' values and normalised weights: their weighted mean."""
        return mean

    def combine(self, x, y) -> Prediction:
        scored = self.scored(x, y)
        if not scored:
            return self.no_prediction()
        v = np.asarray([value for value, _, _ in scored])
        weights = self.weights([error for _, error, _ in scored])
        w = weights / np.sum(weights)
        mean = float(np.sum(w * v))
        spread = float(np.sqrt(np.sum(w * (v - mean) ** 2)))
        centre = self.centre(v, w, mean)
        stop = self.window.push(centre)
        lower = upper = None
        if stop or self.need_interval:
            halves = np.asarray([self.half_width(fit, x, y) for _, _, fit in scored])
            ok = np.isfinite(halves)
            if ok.any():
                lower, upper = clip_interval(*mixture_interval(v[ok], halves[ok], w[ok], self.level))
        return Prediction(centre, spread, stop, lower, upper)


# --------------------------------------------------------------------------------------
# Triage: stop the networks that are not learning at all, then the ensemble

TRIAGE_EPOCH = 1.5
TRIAGE_MIN_POINTS = 3
TRIAGE_MIN_DROP = 3e-4
TRIAGE_MAX_MOVE = 0.01


class Triage(Ensemble):
    """The ensemble, after a test for networks that are not learning at all.

    Most random networks never learn: their weights are stuck, their validation loss sits at
    its starting value (to 4 digits or more) and their accuracy at the share of one class in
    the test set. Their accuracy curve is flat, but a flat start is also how many slow
    learners begin; their validation loss, measured on the same fixed test set every time,
    tells them apart: it already falls while the accuracy has not moved.

    The test comes at the first row that is both at or after ``triage_epoch`` (default 1.5,
    in the curve's epoch units) and the third row or later (two changes of the loss to see):
    on a table both are epoch 1.5; measured every epoch, epoch 3; every 5 epochs, epoch 15.
    There a network is *not learning* when its validation loss sits at its first value: it
    has not come below it by at least ``min_drop`` of that value (default 0.03 %), nor moved
    from it by more than ``max_move`` of it either way (default 1 %); or when a validation
    loss so far is not finite (it diverged). Such a network stops there (confident), and its
    prediction is its last observed accuracy. Any other network goes on under
    :class:`Ensemble`, unchanged. (Stuck networks' losses move by less than 0.05 % of their
    first value; a loss that rose by more than 1 % belongs to a network training noisily, at a
    large learning rate, whose loss and accuracy jump about while it learns: two such networks
    of a corpus, measured once an epoch, went on to 58 % and 65 %.)
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
        level: float = DEFAULT_LEVEL,
        max_move: float = TRIAGE_MAX_MOVE,
    ):
        super().__init__(N, threshold, level)
        if not (isinstance(triage_epoch, (int, float)) and math.isfinite(triage_epoch) and triage_epoch > 0):
            raise InputError(f"triage_epoch {triage_epoch!r}: expected a positive number of epochs")
        if not (isinstance(min_drop, (int, float)) and math.isfinite(min_drop) and min_drop >= 0):
            raise InputError(f"min_drop {min_drop!r}: expected a non-negative fraction of the first validation loss")
        if not (isinstance(max_move, (int, float)) and max_move >= 0):  # inf: no bound (the test before 12-04)
            raise InputError(f"max_move {max_move!r}: expected a non-negative fraction of the first validation loss")
        self.triage_epoch = float(triage_epoch)
        self.min_drop = float(min_drop)
        self.max_move = float(max_move)

    def tracker(self, target_epoch: float = DEFAULT_TARGET_EPOCH) -> Tracker:
        return _TriageTracker(
            check_target(target_epoch), list(FAMILIES.values()), self.window(), self.triage_epoch, self.min_drop,
            self.level, self.max_move,
        )


class _TriageTracker(_EnsembleTracker):
    def __init__(self, target_epoch, families, window, triage_epoch: float, min_drop: float, level: float = DEFAULT_LEVEL,
                 max_move: float = TRIAGE_MAX_MOVE):
        super().__init__(target_epoch, families, window, level)
        self.triage_epoch = triage_epoch
        self.min_drop = min_drop
        self.max_move = max_move
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
        fell = first - float(losses[1:].min()) >= self.min_drop * abs(first)
        moved = float(np.abs(losses[1:] - first).max()) > self.max_move * abs(first)
        return not (fell or moved)

    def fit_requests(self, val_acc: float) -> list[tuple]:
        return [] if self.verdict else super().fit_requests(val_acc)

    def step(self, train_loss, val_loss) -> Prediction:
        if self.verdict is None:
            self.val_losses.append(None if val_loss is None else float(val_loss))
            tol = EPOCH_RTOL * (self.spacing or 1.0)
            if len(self.epochs) >= TRIAGE_MIN_POINTS and self.epochs[-1] >= self.triage_epoch - tol:
                self.verdict = bool(self.not_learning())  # no losses to test (None): the ensemble alone
        if self.verdict and math.isfinite(self.fallback):
            return Prediction(self.fallback, None, True)
        return super().step(train_loss, val_loss)
