"""The interface every prediction method implements (:class:`Predictor`, :class:`Tracker`),
PENGUIN's stability test, and predictive intervals from a least-squares fit."""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..errors import InputError

DEFAULT_TARGET_EPOCH = 20.0
DEFAULT_N = 3
DEFAULT_THRESHOLD = 0.5
DEFAULT_LEVEL = 0.8  # the nominal coverage of predictive intervals


@dataclass(frozen=True)
class Prediction:
    """A method's prediction of valAcc (percent) at the target epoch after some rows.

    ``uncertainty`` is in percentage points (``None`` when the method has none); ``confident``
    is True when the method's rule says training can stop now. ``lower``/``upper`` bound the
    predictive interval of the method's ``level`` (``None`` when it gives none): the range the
    accuracy measured at the target is expected to fall in, with that probability.
    """

    value: float
    uncertainty: float | None
    confident: bool
    lower: float | None = None
    upper: float | None = None

    @property
    def width(self) -> float | None:
        return None if self.lower is None or self.upper is None else self.upper - self.lower


# --------------------------------------------------------------------------------------
# Arguments


def check_target_epoch(target_epoch: float) -> float:
    """The target epoch as a float; it must be a positive multiple of 0.5 (a row of a
    table, and of every training run), else :class:`InputError`."""
    try:
        value = float(target_epoch)
    except (TypeError, ValueError):
        raise InputError(f"target epoch {target_epoch!r}: expected a positive multiple of 0.5") from None
    if not (value > 0 and math.isfinite(value) and (2 * value).is_integer()):
        raise InputError(f"target epoch {target_epoch!r}: expected a positive multiple of 0.5 (0.5, 1.0, ..., 20.0, ...)")
    return value


def check_target(target_epoch: float) -> float:
    """A target epoch in any curve's units: a finite number > 0 (whether it is an epoch of a
    given curve is checked against the curve, :func:`nnlife.curvefile.target_index`)."""
    try:
        value = float(target_epoch)
    except (TypeError, ValueError):
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise InputError(f"target epoch {target_epoch!r}: expected a positive number (an epoch of the curves)")
    return value


def check_level(level: float) -> float:
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise InputError(f"level {level!r}: expected a probability strictly between 0 and 1 (e.g. 0.8)")
    return float(level)


def _median(values) -> float:
    """``float(np.median(values))`` of a few floats, the same bits without numpy's overhead
    (a tenth of an evaluation went to it): the middle value, or the mean of the two middle
    ones (numpy's ``mean`` of two is their sum halved), ``nan`` when any is ``nan``."""
    ordered = sorted(values)
    if any(v != v for v in ordered):
        return math.nan
    n = len(ordered)
    half = n // 2
    return float(ordered[half]) if n % 2 else (ordered[half - 1] + ordered[half]) / 2


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
        median = _median(self.values)
        stable = all(abs(v - median) <= self.threshold for v in self.values) and 0 < value <= 100
        self.values.popleft()
        return stable


# --------------------------------------------------------------------------------------
# The interface


class Tracker(ABC):
    """The online state of one method on one curve.

    :meth:`observe` takes the next row (evenly spaced epochs, in order; rows after the target
    epoch must not be passed) and returns the method's prediction then. Methods fit on the
    point index ``x`` = 1, 2, 3, ... (:meth:`xs`); the target's index is :attr:`x_target`
    (a table's half epochs give ``x = 2 * epoch``, PENGUIN's x). A subclass implements
    :meth:`step`, which sees the rows so far in ``self.epochs`` and ``self.acc`` (valAcc in
    percent) and the newest row's losses as arguments. ``self.spec`` is the network's
    :class:`~nnlife.spec.NetworkSpec` when the curve's source has one (a table, a Parquet
    pack; set before the first row), else ``None``. ``self.need_interval``: whether a
    prediction that does not stop training needs its interval (computing it costs time; an
    :class:`~nnlife.predict.OnlineStopper` only reports the one it stopped with and sets this
    False).
    """

    spec = None
    need_interval = True

    def __init__(self, target_epoch: float):
        self.target_epoch = target_epoch
        self.epochs: list[float] = []
        self.acc: list[float] = []
        self.fallback = math.nan  # the last finite accuracy observed

    @property
    def spacing(self) -> float | None:
        """The step between two epochs, known from the second row on."""
        return self.epochs[1] - self.epochs[0] if len(self.epochs) >= 2 else None

    _x_target: float | None = None  # known once two rows are (rows only come after them)

    @property
    def x_target(self) -> float:
        """The point index of the target epoch (``nan`` before the spacing is known)."""
        if self._x_target is not None:
            return self._x_target
        step = self.spacing
        if step is None or not step > 0:
            return math.nan
        self._x_target = float(round((self.target_epoch - self.epochs[0]) / step) + 1)
        return self._x_target

    def xs(self) -> np.ndarray:
        """The point indices 1..n of the rows so far."""
        return np.arange(1, len(self.acc) + 1, dtype=float)

    def observe(self, epoch: float, val_acc: float, train_loss: float | None = None, val_loss: float | None = None) -> Prediction:
        self.epochs.append(float(epoch))
        self.acc.append(float(val_acc))
        if math.isfinite(val_acc):
            self.fallback = float(val_acc)
        return self.step(train_loss, val_loss)

    def fit_requests(self, val_acc: float) -> list[tuple]:
        """The curve-family fits (keys of :func:`nnlife.predict.methods.prefill_fits`) that
        :meth:`observe` of a next row with accuracy ``val_acc`` will ask for; none by default.
        An evaluation of many curves collects them over all curves and makes them in one
        batch; asking for too many or too few changes no result, only the time taken."""
        return []

    @abstractmethod
    def step(self, train_loss: float | None, val_loss: float | None) -> Prediction:
        """The prediction once the newest row is in ``self.epochs`` / ``self.acc``."""

    def no_prediction(self) -> Prediction:
        """What a method says when it has nothing of its own: the last observed accuracy."""
        return Prediction(self.fallback, None, False)


class Predictor(ABC):
    """A prediction method with its parameters. A subclass sets :attr:`name` (the name shown
    by ``evaluate``) and implements :meth:`tracker`; :meth:`predict` comes with it."""

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
        target_epoch = check_target(target_epoch)
        tracker = self.tracker(target_epoch)
        prediction = Prediction(math.nan, None, False)
        for i, (epoch, acc) in enumerate(zip(epochs, val_acc)):
            if past(epoch, target_epoch):
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


def past(epoch: float, target_epoch: float) -> bool:
    """Whether a row lies after the target epoch. Curve files' decimal epochs (0.1, 0.2, ...)
    are not exact in binary, so a row within a billionth of the target is the target's row."""
    return epoch > target_epoch + 1e-9 * max(1.0, abs(target_epoch))


class _Windowed(Predictor):
    """A method that stops by the :class:`StabilityWindow` with ``N`` and ``threshold``, and
    gives predictive intervals of ``level``."""

    def __init__(self, N: int = DEFAULT_N, threshold: float = DEFAULT_THRESHOLD, level: float = DEFAULT_LEVEL):
        StabilityWindow(N, threshold)  # check the parameters now, not at the first curve
        self.N = N
        self.threshold = threshold
        self.level = check_level(level)

    def window(self) -> StabilityWindow:
        return StabilityWindow(self.N, self.threshold)


# --------------------------------------------------------------------------------------
# Predictive intervals of a least-squares fit


@functools.lru_cache(maxsize=1024)
def t_quantile(q: float, dof: int) -> float:
    """Student's t quantile ``q`` with ``dof`` degrees of freedom (cached: few distinct calls)."""
    # scipy.special's inverse of Student's distribution function: what scipy.stats.t.ppf
    # computes, without importing scipy.stats (most of a second per process)
    from scipy.special import stdtrit

    return float(stdtrit(dof, q))


def fit_predictive(
    model: Callable[..., np.ndarray],
    params: Sequence[float],
    x: np.ndarray,
    y: np.ndarray,
    x_target: float,
    level: float,
) -> tuple[float, float] | None:
    """``(centre, half-width)`` of the classical prediction interval of a nonlinear
    least-squares fit at ``x_target``: ``f(x_target) +- t * sqrt(g' C g + s^2)``, where ``s^2``
    is the residual variance on the fitted points (``SSR / (n - k)``), ``C = s^2 (J'J)^+`` the
    linearised covariance of the ``k`` parameters, ``J`` and ``g`` the model's derivatives in
    its parameters at the fitted points and at the target (central differences), and ``t``
    Student's quantile of ``(1 + level) / 2`` with ``n - k`` degrees of freedom. It covers the
    next measurement at the target with probability ``level`` when the model is right and the
    noise independent and Gaussian (checked on such curves in the tests); on real curves its
    coverage is measured by ``evaluate``. ``None`` with no residual degree of freedom or a
    non-finite result.

    The fits themselves (:mod:`nnlife.curves`) do not return a covariance, and this costs no
    refit: ``2 k`` evaluations of the model.
    """
    keep = np.isfinite(y)
    x, y = x[keep], y[keep]
    p = np.asarray(params, dtype=float)
    n, k = len(x), len(p)
    if n <= k or not math.isfinite(x_target):
        return None
    with np.errstate(all="ignore"):
        centre = float(model(np.float64(x_target), *p))
        r = model(x, *p) - y
        ssr = float(np.sum(r * r))
        if not (math.isfinite(centre) and math.isfinite(ssr)):
            return None
        s2 = ssr / (n - k)
        pts = np.r_[x, x_target]
        J = np.empty((n + 1, k))
        for j in range(k):
            h = 1e-6 * max(abs(p[j]), 1e-3)
            up, down = p.copy(), p.copy()
            up[j] += h
            down[j] -= h
            J[:, j] = (model(pts, *up) - model(pts, *down)) / (2 * h)
        if not np.all(np.isfinite(J)):
            return None
        g, Jf = J[-1], J[:-1]
        try:
            var = s2 * float(g @ np.linalg.pinv(Jf.T @ Jf) @ g) + s2
        except np.linalg.LinAlgError:
            return None
    if not (math.isfinite(var) and var >= 0):
        return None
    return centre, t_quantile(0.5 + level / 2, n - k) * math.sqrt(var)


def clip_interval(lower: float, upper: float) -> tuple[float, float]:
    """An interval of accuracies, in percent, cut to [0, 100]."""
    return min(100.0, max(0.0, lower)), min(100.0, max(0.0, upper))


def mixture_interval(means: Sequence[float], halves: Sequence[float], weights: Sequence[float], level: float) -> tuple[float, float]:
    """The central ``level`` interval of a mixture of normal distributions, each member given
    by its centre and the half-width of its own ``level`` interval: the predictive distribution
    of an ensemble whose members each give an interval. Found by bisection on the mixture's
    distribution function (60 halvings: far below a hundredth of a point)."""
    from scipy.special import ndtri

    from .. import family_fit  # compiled: 60 halvings of a handful of normal CDFs each

    z = float(ndtri(0.5 + level / 2))
    m = np.asarray(means, dtype=float)
    s = np.maximum(np.asarray(halves, dtype=float) / z, 1e-9)
    w = np.asarray(weights, dtype=float) / float(np.sum(weights))
    if family_fit.NDTR_BOUND:
        return family_fit.mixture_interval(m, s, w, (1 - level) / 2, (1 + level) / 2)
    return _mixture_bisection(m, s, w, level)


def _mixture_bisection(m: np.ndarray, s: np.ndarray, w: np.ndarray, level: float) -> tuple[float, float]:
    """:func:`mixture_interval`'s bisection in numpy, every member's CDF at once (where scipy's
    ``ndtr`` cannot be bound for the compiled one; and the reference it is tested against)."""
    from scipy.special import ndtr

    tails = np.array([(1 - level) / 2, (1 + level) / 2])
    lo = np.full(2, float(np.min(m - 12 * s)) - 1.0)
    hi = np.full(2, float(np.max(m + 12 * s)) + 1.0)
    for _ in range(60):
        mid = (lo + hi) / 2
        below = (ndtr((mid[:, None] - m[None, :]) / s[None, :]) @ w) < tails
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    lower, upper = (lo + hi) / 2
    return float(lower), float(upper)
