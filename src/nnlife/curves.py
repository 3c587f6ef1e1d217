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

    The fit is computed by :mod:`nnlife.penguin_compiled` (by default, where its self-check
    passes) or :func:`nnlife.penguin_fit.fit`, which perform ``curve_fit``'s floating-point
    operations without its overhead and return the same parameters, bit for bit; with a scipy
    other than the one they reproduce, by ``curve_fit`` itself (:func:`fit_penguin_curve_fit`);
    :func:`penguin_backend` says which.

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
    backend = penguin_backend()
    if backend == "compiled":
        from . import penguin_compiled

        return penguin_compiled.fit(xs, ys)
    if backend == "exact":
        return _fit_penguin_port(xs, ys)
    return fit_penguin_curve_fit(xs, ys)


PENGUIN_FIT_VARIABLE = "NNLIFE_PENGUIN_FIT"
PENGUIN_BACKENDS = ("compiled", "exact", "scipy")


@functools.lru_cache(maxsize=1)
def penguin_backend() -> str:
    """Which computation gives PENGUIN's fits (docs/prediction.md, "How PENGUIN's fits are
    computed"): ``compiled`` (:mod:`nnlife.penguin_compiled`, the default where numba is
    installed), ``exact`` (:mod:`nnlife.penguin_fit`, curve_fit's bits, the default without
    numba) or ``scipy`` (``curve_fit`` itself); the environment variable
    ``NNLIFE_PENGUIN_FIT`` chooses. With a scipy other than the one the two ports follow,
    ``curve_fit`` itself whatever is asked."""
    import os

    from . import penguin_compiled, penguin_fit

    from .errors import InputError

    asked = os.environ.get(PENGUIN_FIT_VARIABLE, "").strip().lower()
    if asked and asked not in PENGUIN_BACKENDS:
        raise InputError(f"{PENGUIN_FIT_VARIABLE}={asked!r}: expected one of {', '.join(PENGUIN_BACKENDS)}")
    if not penguin_fit.available():
        # both ports follow one scipy version's operations (nnlife.penguin_fit says why)
        return "scipy"
    if asked:
        return "exact" if asked == "compiled" and not penguin_compiled.available() else asked
    return "compiled" if penguin_compiled.available() else "exact"


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
    with np.errstate(all="ignore"):  # (numpy's floating-point warnings are all it can raise)
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
        # numpy's floating-point warnings are all that evaluating a family can raise, so
        # np.errstate is enough here (quiet() also filters warnings, at ten times the cost)
        with np.errstate(all="ignore"):
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

    @functools.cached_property
    def array(self) -> np.ndarray:
        """The parameters as an array (what the compiled :mod:`nnlife.family_fit` takes)."""
        return np.asarray(self.params, dtype=float)

    @functools.cached_property
    def values(self) -> dict[float, float]:
        """Predictions made from this fit, by point index, as a predictor computes them (its
        memo: several methods ask for the same fit's value)."""
        return {}


MAX_ITER = 200  # Levenberg-Marquardt iterations per start (each: p + 1 evaluations of the family)


def fit_family(
    family: Family | str,
    x: Sequence[float],
    y: Sequence[float],
    *,
    starts: Sequence[Sequence[float]] = (),
    max_iter: int = MAX_ITER,
) -> Fit | None:
    """Least-squares fit of ``family`` to the points (x, y) (non-finite ``y`` are dropped).

    Tries ``starts`` (e.g. the previous fit of the same curve), then the family's own
    data-driven starts, and keeps the lowest residual. ``None`` when there are fewer points
    than parameters or no start gives a finite fit. It is :func:`fit_family_batch` of one
    problem, so a fit is the same whether it is made alone or among many.
    """
    fam = FAMILIES[family] if isinstance(family, str) else family
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    return fit_family_batch(fam, xs, ys[None, :], [list(starts)], max_iter=max_iter)[0]


def fit_family_batch(
    family: Family | str,
    x: Sequence[float],
    Y: np.ndarray,
    starts: Sequence[Sequence[Sequence[float]]] | None = None,
    *,
    max_iter: int = MAX_ITER,
) -> list[Fit | None]:
    """:func:`fit_family` of many curves on the same ``x`` at once: row ``i`` of ``Y`` (shape
    ``(B, len(x))``; non-finite values are dropped) fitted from ``starts[i]`` (extra starting
    points, tried before the family's own) and the family's data-driven starts. Returns one
    :class:`Fit` (or ``None``) per row.

    The bounds are enforced by fitting unconstrained ``u`` with ``p = lower + (upper - lower)
    * sigmoid(u)``; the solver is Levenberg-Marquardt, compiled (:mod:`nnlife.family_fit`,
    which says why it is written here), each (row, start) problem solved on its own, so a fit
    does not depend on the batch it is made in.
    """
    fam = FAMILIES[family] if isinstance(family, str) else family
    xs = np.ascontiguousarray(np.asarray(x, dtype=float))
    Y = np.asarray(Y, dtype=float)
    if Y.ndim != 2 or Y.shape[1] != len(xs):
        raise ValueError(f"Y must have shape (B, {len(xs)}), not {Y.shape}")
    B, n = Y.shape
    k = len(fam.params)
    if starts is None:
        starts = [[] for _ in range(B)]
    lower = np.asarray(fam.lower)
    width = np.asarray(fam.upper) - lower
    keep = np.isfinite(Y) & np.isfinite(xs)[None, :]
    counts = keep.sum(axis=1)
    # every (row, start) pair: one problem of the solver
    rows: list[int] = []
    p0s: list[Sequence[float]] = []
    whole = counts == n
    for i in range(B):
        if counts[i] < k:
            continue
        xi, yi = (xs, Y[i]) if whole[i] else (xs[keep[i]], Y[i][keep[i]])
        for p0 in (*starts[i], *fam.starts(xi, yi)):
            if len(p0) == k:
                rows.append(i)
                p0s.append(p0)
    out: list[Fit | None] = [None] * B
    if not rows:
        return out
    with np.errstate(all="ignore"):
        Q = np.clip((np.asarray(p0s, dtype=float) - lower) / width, 1e-6, 1.0 - 1e-6)
        good = np.isfinite(Q).all(axis=1)
        U = np.log(Q[good] / (1.0 - Q[good]))
    rows = [i for i, g in zip(rows, good) if g]
    if not rows:
        return out
    from . import family_fit

    r_idx = np.asarray(rows)
    cost = np.empty(len(rows))
    family_fit.solve_batch(family_fit.CODES[fam.name], xs, np.where(keep, Y, 0.0)[r_idx], keep[r_idx], U,
                           lower, width, max_iter, cost)
    with np.errstate(all="ignore"):
        P = lower + width / (1.0 + np.exp(-U))
    ok = np.isfinite(P).all(axis=1) & np.isfinite(cost)
    best: dict[int, int] = {}
    for j in range(len(rows)):  # the lowest cost per row; on a tie the earlier start (as tried in turn)
        if ok[j] and (rows[j] not in best or cost[j] < cost[best[rows[j]]]):
            best[rows[j]] = j
    for i, j in best.items():
        out[i] = Fit(fam, tuple(float(v) for v in P[j]), math.sqrt(float(cost[j]) / int(counts[i])))
    return out
