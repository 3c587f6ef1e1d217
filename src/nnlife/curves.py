"""Parametric learning-curve models and their least-squares fits.

Two kinds of model live here:

- PENGUIN's model (docs/prediction.md): ``f(x) = a - b**(c - x)`` on ``x = 2 * epoch`` and
  the accuracy in percent, fitted by :func:`scipy.optimize.curve_fit` with the authors' start
  and bounds (:func:`fit_penguin`).
- The curve families of Domhan, Springenberg and Hutter (IJCAI 2015) that the rest of the
  prediction methods combine (:data:`FAMILIES`, :func:`fit_family`).

The families are fitted on ``x = 2 * epoch`` (the half-epoch index 1, 2, 3, ...) and on the
accuracy as a fraction in [0, 1], so that every parameter has a scale near 1 and the bounds
below mean the same thing for every data set. Each family has bounds that keep its value
finite for every ``x`` a 40-epoch curve can ask for, and data-driven starting points.

Random networks produce curves no textbook fit expects (flat at chance level, pure noise,
diverged to ``nan``, falling after a peak), and exponentials overflow easily. A fit here never
raises and never prints a warning: it returns ``None`` when it fails. Warnings are silenced
only inside the fits themselves (:func:`quiet`), never for the whole program.
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np

# scipy.optimize is imported inside the functions that fit: it takes a second to import, and
# the command line should not pay that for `nnlife --help`.

# --------------------------------------------------------------------------------------
# Silencing numerical warnings inside a fit, and only there


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Ignore floating-point and optimizer warnings in this block only.

    Overflow in ``b**(c - x)`` and "covariance could not be estimated" are expected for
    random networks' curves; they mean a fit is bad, which the caller checks, not that the
    program is wrong.
    """
    from scipy.optimize import OptimizeWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", OptimizeWarning)
        with np.errstate(all="ignore"):
            yield


# --------------------------------------------------------------------------------------
# PENGUIN's model, exactly as the authors fit it

PENGUIN_P0 = (10.0, 1.001, 100.0)
PENGUIN_BOUNDS = ((0.5, 1.0, 0.0), (200.0, np.inf, np.inf))


def penguin_model(x: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    """``a - b**(c - x)``: accuracy in percent at ``x = 2 * epoch``."""
    return a - np.power(b, c - x)


def fit_penguin(x: Sequence[float], y: Sequence[float]) -> tuple[float, float, float] | None:
    """Fit :func:`penguin_model` as the authors do: ``curve_fit`` with p0 = (10, 1.001, 100)
    and bounds a in [0.5, 200], b in [1, inf), c in [0, inf). ``None`` when the fit fails
    (``curve_fit`` raises, e.g. on ``nan`` data or when it runs out of evaluations).

    The model is left exactly as published; ``b**(c - x)`` overflowing to ``inf`` during the
    search is handled by the trust-region solver itself (it shrinks the step), so only its
    warnings are silenced here.

    The fit is computed by :func:`nnlife.penguin_fit.fit`, which performs ``curve_fit``'s
    floating-point operations without its overhead and returns the same parameters, bit for
    bit; with a scipy other than the one it reproduces, by ``curve_fit`` itself
    (:func:`fit_penguin_curve_fit`).

    Fits are remembered by the exact bytes of (x, y): networks stuck at the share of one class
    give identical prefixes (the same test set, the same counts), and an evaluation of many
    such networks refits each of those prefixes once. The fit is a pure function of the data,
    so remembering it changes no result.
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    return _fit_penguin_bytes(xs.tobytes(), ys.tobytes())


@functools.lru_cache(maxsize=32768)
def _fit_penguin_bytes(x: bytes, y: bytes) -> tuple[float, float, float] | None:
    xs = np.frombuffer(x).copy()
    ys = np.frombuffer(y).copy()
    if _penguin_port():
        return _fit_penguin_port(xs, ys)
    return fit_penguin_curve_fit(xs, ys)


@functools.lru_cache(maxsize=1)
def _penguin_port() -> bool:
    # nnlife.penguin_fit reproduces one scipy version's operations (its docstring says why
    # and how); with any other scipy, curve_fit itself.
    from . import penguin_fit

    return penguin_fit.available()


def _fit_penguin_port(xs: np.ndarray, ys: np.ndarray) -> tuple[float, float, float] | None:
    from . import penguin_fit

    with quiet():
        try:
            return penguin_fit.fit(penguin_model, xs, ys)
        except (ValueError, penguin_fit.FitFailed, np.linalg.LinAlgError, FloatingPointError, OverflowError):
            return None


def fit_penguin_curve_fit(xs: np.ndarray, ys: np.ndarray) -> tuple[float, float, float] | None:
    """:func:`fit_penguin` straight on ``scipy.optimize.curve_fit``, without remembering (the
    published procedure; :mod:`nnlife.penguin_fit` gives its parameters faster)."""
    from scipy.optimize import curve_fit

    with quiet():
        try:
            params, _ = curve_fit(penguin_model, xs, ys, p0=PENGUIN_P0, bounds=PENGUIN_BOUNDS)
        except (ValueError, RuntimeError, np.linalg.LinAlgError, FloatingPointError, OverflowError):
            return None
    a, b, c = (float(v) for v in params)
    return a, b, c


def penguin_value(params: tuple[float, float, float], x: float) -> float:
    """The fitted PENGUIN model at ``x`` (``inf``/``nan`` possible; the caller checks)."""
    with quiet():
        return float(penguin_model(np.float64(x), *params))


# --------------------------------------------------------------------------------------
# The curve families (Domhan et al. 2015), on x = half-epoch index, y = accuracy fraction


def _exp(z: np.ndarray) -> np.ndarray:
    # exp with its argument kept where float64 cannot overflow; the bounds below keep every
    # fitted curve far inside this range, so the clip only guards the optimizer's trial steps.
    # minimum/maximum give np.clip's values (nan stays nan) at half its call overhead, which
    # counts: a curve's fits evaluate this about a million times.
    return np.exp(np.minimum(np.maximum(z, -700.0), 700.0))


def _pow3(x, c, a, alpha):
    return c - a * np.power(x, -alpha)


def _log_power(x, a, b, c):
    return a / (1.0 + _exp(c * (np.log(x) - b)))


def _exp3(x, c, a, b):
    return c - _exp(-a * x + b)


def _ilog2(x, c, a):
    return c - a / np.log(x + 1.0)


def _vapor_pressure(x, a, b, c):
    return _exp(a + b / x + c * np.log(x))


def _janoschek(x, alpha, beta, kappa, delta):
    return alpha - (alpha - beta) * _exp(-kappa * np.power(x, delta))


def _mmf(x, alpha, beta, kappa, delta):
    return alpha - (alpha - beta) / (1.0 + np.power(kappa * x, delta))


def _weibull(x, alpha, beta, kappa, delta):
    return alpha - (alpha - beta) * _exp(-np.power(kappa * x, delta))


@dataclass(frozen=True)
class Family:
    """One parametric curve family: ``func(x, *params)``, its parameter names, bounds, and a
    function giving starting points from the data (a few, tried in turn)."""

    name: str
    formula: str
    func: Callable[..., np.ndarray]
    params: tuple[str, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    starts: Callable[[np.ndarray, np.ndarray], list[tuple[float, ...]]]

    def __call__(self, x, params: Sequence[float]) -> np.ndarray:
        with quiet():
            return self.func(np.asarray(x, dtype=float), *params)


def _levels(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(first value, recent level, rise) of a curve: what the starting points are made of."""
    first = float(y[0])
    last = float(np.mean(y[-3:]))
    return first, last, last - first


def _starts_pow3(x, y):
    first, last, rise = _levels(x, y)
    return [(last, rise, 0.5), (min(1.0, last + 0.05), rise + 0.05, 1.0)]


def _starts_log_power(x, y):
    first, last, rise = _levels(x, y)
    mid = math.log(max(float(x[len(x) // 2]), 1.0))
    return [(max(last, 0.01), mid, -1.0), (min(1.0, last + 0.1), mid + 1.0, -0.5)]


def _starts_exp3(x, y):
    first, last, rise = _levels(x, y)
    return [(last, 0.1, math.log(max(rise, 1e-3))), (min(1.0, last + 0.05), 0.02, math.log(max(rise, 0.05)))]


def _starts_ilog2(x, y):
    first, last, rise = _levels(x, y)
    return [(last, 0.1), (min(1.5, last + 0.1), 0.3)]


def _starts_vapor_pressure(x, y):
    first, last, rise = _levels(x, y)
    return [(math.log(max(last, 1e-3)), -0.5, 0.0), (math.log(max(last, 1e-3)), 0.0, 0.1)]


def _starts_sigmoidal(x, y):
    first, last, rise = _levels(x, y)
    return [(last, first, 0.1, 1.0), (min(1.0, last + 0.05), max(0.0, first - 0.05), 0.02, 0.5)]


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("pow3", "c - a * x**(-alpha)", _pow3, ("c", "a", "alpha"),
               (0.0, -1.0, 0.0), (1.0, 1.0, 3.0), _starts_pow3),
        Family("log_power", "a / (1 + (x / e**b)**c)", _log_power, ("a", "b", "c"),
               (0.0, -5.0, -5.0), (1.0, 10.0, 5.0), _starts_log_power),
        Family("exp3", "c - exp(-a * x + b)", _exp3, ("c", "a", "b"),
               (0.0, 0.0, -10.0), (1.0, 3.0, 3.0), _starts_exp3),
        Family("ilog2", "c - a / log(x + 1)", _ilog2, ("c", "a"),
               (0.0, -2.0), (1.5, 2.0), _starts_ilog2),
        Family("vapor_pressure", "exp(a + b / x + c * log(x))", _vapor_pressure, ("a", "b", "c"),
               (-10.0, -10.0, -2.0), (2.0, 10.0, 2.0), _starts_vapor_pressure),
        Family("janoschek", "alpha - (alpha - beta) * exp(-kappa * x**delta)", _janoschek,
               ("alpha", "beta", "kappa", "delta"), (0.0, 0.0, 0.0, 0.0), (1.0, 1.0, 10.0, 4.0),
               _starts_sigmoidal),
        Family("mmf", "alpha - (alpha - beta) / (1 + (kappa * x)**delta)", _mmf,
               ("alpha", "beta", "kappa", "delta"), (0.0, 0.0, 0.0, 0.0), (1.0, 1.0, 10.0, 4.0),
               _starts_sigmoidal),
        Family("weibull", "alpha - (alpha - beta) * exp(-(kappa * x)**delta)", _weibull,
               ("alpha", "beta", "kappa", "delta"), (0.0, 0.0, 0.0, 0.0), (1.0, 1.0, 10.0, 4.0),
               _starts_sigmoidal),
    )
}


@dataclass(frozen=True)
class Fit:
    """A fitted family: its parameters and the root-mean-square residual on the fitted points
    (in the units fitted, accuracy fractions)."""

    family: Family
    params: tuple[float, ...]
    rmse: float

    def __call__(self, x) -> np.ndarray:
        return self.family(x, self.params)


def fit_family(
    family: Family | str,
    x: Sequence[float],
    y: Sequence[float],
    *,
    starts: Sequence[Sequence[float]] = (),
    max_nfev: int = 400,
) -> Fit | None:
    """Least-squares fit of ``family`` to the points (x, y) (non-finite ``y`` are dropped).

    Tries ``starts`` (e.g. the previous fit of the same curve), then the family's own
    data-driven starts, and keeps the lowest residual. ``None`` when there are fewer points
    than parameters or no start gives a finite fit.

    The bounds are enforced by fitting unconstrained ``u`` with ``p = lower + (upper - lower)
    * sigmoid(u)`` and MINPACK's Levenberg-Marquardt (:func:`scipy.optimize.leastsq`): the
    same least-squares problem, about ten times faster than the bounded trust-region solver,
    which matters because a curve is refitted after every half epoch.
    """
    from scipy.optimize import leastsq

    fam = FAMILIES[family] if isinstance(family, str) else family
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    keep = np.isfinite(ys) & np.isfinite(xs)
    xs, ys = xs[keep], ys[keep]
    if len(xs) < len(fam.params):
        return None
    lower = np.asarray(fam.lower)
    width = np.asarray(fam.upper) - lower

    def params_of(u: np.ndarray) -> np.ndarray:
        return lower + width / (1.0 + np.exp(-u))

    def residuals(u: np.ndarray) -> np.ndarray:
        r = fam.func(xs, *params_of(u)) - ys
        # A non-finite residual is a very bad point, not an error: the solver steps away.
        # (nan_to_num only when needed: it is a quarter of this function's time, and the
        # residuals are nearly always finite. A finite sum of squares means every residual is
        # finite; one that overflows goes to nan_to_num, which leaves finite values as they are.)
        if math.isfinite(np.dot(r, r)):
            return r
        return np.nan_to_num(r, nan=1e3, posinf=1e3, neginf=-1e3)

    best: tuple[float, np.ndarray] | None = None
    with quiet():
        for p0 in list(starts) + fam.starts(xs, ys):
            q = np.clip((np.asarray(p0, dtype=float) - lower) / width, 1e-6, 1.0 - 1e-6)
            if not np.all(np.isfinite(q)):
                continue
            try:
                u, *_ = leastsq(residuals, np.log(q / (1.0 - q)), maxfev=max_nfev, ftol=1e-6, xtol=1e-6)
            except (ValueError, TypeError, np.linalg.LinAlgError, FloatingPointError, OverflowError):
                continue
            p = params_of(u)
            cost = float(np.sum(residuals(u) ** 2))
            if np.all(np.isfinite(p)) and np.isfinite(cost) and (best is None or cost < best[0]):
                best = (cost, p)
    if best is None:
        return None
    cost, p = best
    return Fit(fam, tuple(float(v) for v in p), math.sqrt(cost / len(xs)))
