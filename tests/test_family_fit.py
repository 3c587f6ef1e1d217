"""The compiled family solver and helpers (nnlife.family_fit) compute what their definitions say:
the analytic Jacobian is the derivative of the residuals, the values and intervals are those of
the numpy formulas and of core.fit_predictive."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnlife import family_fit
from nnlife.curves import FAMILIES, fit_family
from nnlife.predict.core import fit_predictive

X = np.arange(1.0, 41.0)


def _bounds(name):
    fam = FAMILIES[name]
    lower = np.asarray(fam.lower, dtype=float)
    return fam, lower, np.asarray(fam.upper, dtype=float) - lower


def test_every_family_has_a_code_and_the_same_formula():
    assert sorted(family_fit.CODES) == sorted(FAMILIES)
    rng = np.random.default_rng(3)
    for name, code in family_fit.CODES.items():
        fam, lower, width = _bounds(name)
        for _ in range(50):
            p = lower + width * rng.uniform(0.01, 0.99, len(lower))
            numpy_values = fam(X, p)
            compiled = np.array([family_fit.value_at(code, x, p) for x in X])
            assert np.allclose(compiled, numpy_values, rtol=1e-13, atol=1e-15, equal_nan=True), name


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_the_analytic_jacobian_is_the_derivative_of_the_residuals(name):
    # against central differences of the compiled residuals, over sigmoid-space points from
    # the middle of the bounds to near saturation
    fam, lower, width = _bounds(name)
    code, k = family_fit.CODES[name], len(lower)
    rng = np.random.default_rng(11)
    keep = np.ones(X.size, dtype=bool)
    y = np.zeros(X.size)
    p, d, J = np.empty(k), np.empty(k), np.empty((k, X.size))
    up_r, down_r = np.empty(X.size), np.empty(X.size)
    for _ in range(100):
        u = rng.normal(0.0, 2.0, k)
        family_fit._jacobian(code, X, keep, u, lower, width, p, d, J)
        for j in range(k):
            h = 1e-6
            up, down = u.copy(), u.copy()
            up[j] += h
            down[j] -= h
            family_fit._residuals(code, X, y, keep, up, lower, width, p, up_r)
            family_fit._residuals(code, X, y, keep, down, lower, width, p, down_r)
            numeric = (up_r - down_r) / (2 * h)
            assert np.allclose(J[j], numeric, rtol=1e-3, atol=1e-7), (name, u, j)


def test_points_not_kept_and_non_finite_values_count_nothing():
    fam, lower, width = _bounds("pow3")
    code = family_fit.CODES["pow3"]
    keep = np.ones(X.size, dtype=bool)
    keep[::3] = False
    p, d, J, r = np.empty(3), np.empty(3), np.empty((3, X.size)), np.empty(X.size)
    u = np.array([0.3, -0.2, 0.1])
    family_fit._jacobian(code, X, keep, u, lower, width, p, d, J)
    assert np.all(J[:, ~keep] == 0.0) and np.all(J[:, keep] != 0.0)
    y = np.where(np.arange(X.size) == 5, np.inf, 0.5)
    ssr = family_fit._residuals(code, X, y, keep, u, lower, width, p, r)
    assert r[5] == -1e3 and np.all(r[~keep] == 0.0)  # f - inf = -inf: -1000
    assert ssr == pytest.approx(float(np.sum(r * r)), rel=1e-15)


def test_the_compiled_interval_is_fit_predictives():
    rng = np.random.default_rng(7)
    for name, code in family_fit.CODES.items():
        fam = FAMILIES[name]
        y = 0.1 + 0.6 * (1 - np.exp(-X[:20] / 4.0)) + rng.normal(0, 0.01, 20)
        y[3] = math.nan
        fit = fit_family(name, X[:20], y)
        assert fit is not None
        want = fit_predictive(fam.func, fit.params, X[:20], y, 40.0, 0.8)
        centre, var, dof = family_fit.predictive(code, fit.array, X[:20], y, 40.0)
        assert dof == 19 - len(fam.params)
        if want is None:
            assert math.isnan(var)
            continue
        from nnlife.predict.core import t_quantile

        assert centre == pytest.approx(want[0], rel=1e-12)
        assert t_quantile(0.9, dof) * math.sqrt(var) == pytest.approx(want[1], rel=1e-6), name
    few = family_fit.predictive(0, np.array([0.5, 0.2, 0.5]), X[:3], np.full(3, 0.3), 40.0)
    assert math.isnan(few[1]) and few[2] == 0  # no residual degree of freedom


def test_the_held_out_rmse():
    code = family_fit.CODES["ilog2"]
    p = np.array([0.8, 0.5])
    y = FAMILIES["ilog2"](X, p) + np.where(np.arange(X.size) % 2, 0.01, -0.01)
    y[30] = math.nan
    assert family_fit.rmse_from(code, p, X, y, 20) == pytest.approx(0.01, rel=1e-9)
    assert math.isnan(family_fit.rmse_from(code, p, X, np.full(X.size, math.nan), 0))  # no point


def _mixture_interval_numpy(means, halves, weights, level):
    # the plain way (what nnlife.predict.core.mixture_interval computed before it was
    # compiled, and computes where scipy's ndtr cannot be bound)
    from scipy.special import ndtri

    from nnlife.predict.core import _mixture_bisection

    z = float(ndtri(0.5 + level / 2))
    s = np.maximum(np.asarray(halves, dtype=float) / z, 1e-9)
    w = np.asarray(weights, dtype=float) / float(np.sum(weights))
    return _mixture_bisection(np.asarray(means, dtype=float), s, w, level)


def test_the_compiled_mixture_interval_is_the_numpy_bisection():
    # the member CDFs are scipy's ndtr bit for bit; only the order of the weighted sum
    # differs from numpy's matrix product, so the endpoints agree to far below a point's
    # billionth, and most exactly
    from scipy.special import ndtr

    from nnlife.predict.core import mixture_interval

    assert family_fit.NDTR_BOUND
    for t in np.linspace(-40, 40, 801):
        assert family_fit._ndtr_value(t) == float(ndtr(t))
    rng = np.random.default_rng(11)
    exact = 0
    for _ in range(500):
        k = int(rng.integers(1, 9))
        case = (rng.normal(50, 20, k), rng.exponential(3, k) * rng.choice([1, 1e-12, 100], k),
                rng.random(k) + 1e-3, float(rng.choice([0.5, 0.8, 0.95])))
        got, want = mixture_interval(*case), _mixture_interval_numpy(*case)
        assert got == pytest.approx(want, abs=1e-9)
        exact += got == want
    assert exact > 250


def test_the_stability_windows_median_is_numpys():
    from nnlife.predict.core import _median

    rng = np.random.default_rng(5)
    for n in range(1, 8):
        for i in range(2000):
            v = list(rng.normal(50, 20, n) * rng.choice([1, 1e-300, 1e300]))
            if i % 20 == 0:
                v[int(rng.integers(n))] = float(rng.choice([np.inf, -np.inf, np.nan, 0.0, -0.0]))
            want = float(np.median(v))
            got = _median(v)
            assert got == want or (math.isnan(got) and math.isnan(want)), v
