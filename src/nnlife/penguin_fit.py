"""PENGUIN's fit, computed as scipy 1.17.1's ``curve_fit`` computes it, without its overhead.

PENGUIN fits ``a - b**(c - x)`` after every new point with ``scipy.optimize.curve_fit(model,
x, y, p0=(10, 1.001, 100), bounds=((0.5, 1, 0), (200, inf, inf)))`` (docs/prediction.md), and
its stop epochs and predictions are a published rule: a faster fit must give the very same
parameters, bit for bit. ``curve_fit`` hands that problem to ``least_squares(method='trf',
jac='2-point')``, whose trust-region-reflective loop (``scipy/optimize/_lsq/trf.py``,
``trf_bounds``) spends almost all of its time in Python wrappers around small array
operations (the finite-difference machinery, bound handling, norms, the SVD wrapper), a few
hundred microseconds per iteration for a 3-parameter model on at most 80 points, and more
than a hundred iterations per fit. No library offers that algorithm without that per-call
overhead, so :func:`fit` below writes out the floating-point operations that sequence performs
for this model, in the same order, with the wrappers taken away:

- the defaults ``curve_fit`` passes: ``x_scale`` 1 (so every scaling by it is a product with
  1.0, left out), ``ftol = xtol = gtol = 1e-8``, ``max_nfev = 100 * 3``, ``loss='linear'``,
  ``tr_solver='exact'``, the relative step ``sqrt(eps) * max(1, |x|)`` of the '2-point'
  Jacobian with its sign flip or one-sided step at the bounds;
- the same SVD: what ``scipy.linalg.svd(J_augmented, full_matrices=False)`` does, its
  finiteness check and its one LAPACK call (the routine it picks, ``gesdd``, with the same
  workspace size and arguments), made directly (:func:`_svd`); the same Newton iterations for
  the Levenberg-Marquardt parameter (``solve_lsq_trust_region``), the same choice between the
  trust-region, reflected and Cauchy steps (``select_step``), the same radius update and
  termination tests;
- the failures ``curve_fit`` raises on and that :func:`nnlife.curves.fit_penguin` turns into
  ``None``: non-finite data, residuals not finite at the start, an SVD of a non-finite matrix
  (``ValueError``) or one that does not converge (``LinAlgError``), and the evaluations running
  out (status 0, ``RuntimeError``), including the SVD of the final Jacobian that ``curve_fit``
  computes for the covariance.

Only operations that give the same bits are rewritten: elementwise IEEE arithmetic, square
roots and comparisons on the three parameters (and on the finite-difference steps) are done on
Python floats (IEEE doubles, one correctly rounded operation each, as numpy's elementwise loops
do); every reduction (``dot``, the 2-norm, which numpy computes as ``sqrt(x.dot(x))``,
``np.sum``), every matrix-vector product, every other power and every evaluation of the model
(exactly :func:`nnlife.curves.penguin_model`) is the same numpy call on an array of the same
shape and memory layout as in scipy, because BLAS kernels and numpy's vectorised ``power`` need
not round as a scalar loop would (on numpy 2.4 with AVX-512, ``x**3`` of an array differs from
the C library's ``pow`` in the last bit for about one value in twenty). Scalars that are numpy
floats in scipy stay numpy floats (a division by zero gives ``inf``, as there, rather than an
exception).

The port reproduces the operations of scipy 1.17.1 (and numpy 2's ``norm``), including the
private helpers it calls; another scipy may compute differently, so :func:`available` is false
there and :func:`nnlife.curves.fit_penguin` uses ``curve_fit`` itself.
``tests/test_penguin_fit.py`` compares the two on every prefix of the published tables and on
prefixes of curves of every shape.
"""

from __future__ import annotations

import math

import numpy as np

SCIPY_VERSION = "1.17.1"  # the version whose operations are written out here

# curve_fit's problem for PENGUIN (nnlife.curves.PENGUIN_P0 / PENGUIN_BOUNDS)
_LB = (0.5, 1.0, 0.0)
_UB = (200.0, math.inf, math.inf)
_LB_ARR = np.array(_LB)
_UB_ARR = np.array(_UB)
# least_squares moves p0 = (10, 1.001, 100) strictly inside the bounds by a relative 1e-10
# (make_strictly_feasible); it is already farther inside than that, so it stays as it is.
_X0 = (10.0, 1.001, 100.0)
_N = 3
_MAX_NFEV = 100 * _N  # least_squares' default for max_nfev=None (curve_fit's maxfev)
_FTOL = _XTOL = _GTOL = 1e-8
_EPS = np.finfo(float).eps  # scipy.optimize._lsq.common.EPS
# scipy.optimize._numdiff._eps_for_method(float64, float64, '2-point'): the same expression
# (2**-26), as a Python float so that the step arithmetic runs on Python floats
_RSTEP = float(np.finfo(np.float64).eps ** 0.5)


def available() -> bool:
    """Whether the installed scipy is the one this port reproduces (and numpy is 2.x)."""
    import scipy

    return scipy.__version__ == SCIPY_VERSION and np.__version__.split(".")[0] == "2"


class _Problem:
    """The data and the residual function of one fit: ``penguin_model(x, a, b, c) - y``."""

    __slots__ = ("model", "xs", "ys", "m")

    def __init__(self, model, xs: np.ndarray, ys: np.ndarray):
        self.model = model
        self.xs = xs
        self.ys = ys
        self.m = ys.size

    def residuals(self, a: float, b: float, c: float) -> np.ndarray:
        # curve_fit's func_wrapped: f(xdata, *params) - ydata. scipy passes the parameters as
        # numpy float64 scalars, here they are Python floats: numpy converts them to the same
        # float64 values, and the ufunc loops see the same operands.
        return self.model(self.xs, a, b, c) - self.ys

    def jacobian_t(self, x: list[float], f0: np.ndarray) -> np.ndarray:
        """J transposed (3, m), C-ordered, as scipy's ``_dense_difference`` fills it (its
        transpose, the F-ordered J, is what trf works with): '2-point' forward differences with
        the relative step, flipped or made one-sided at the bounds
        (``_compute_absolute_step``, ``_adjust_scheme_to_bounds``)."""
        x0, x1, x2 = x
        if x0 < _LB[0] or x0 > _UB[0] or x1 < _LB[1] or x1 > _UB[1] or x2 < _LB[2] or x2 > _UB[2]:
            raise ValueError("`x0` violates bound constraints.")
        jt = np.empty((_N, self.m))
        xs, ys, penguin_model = self.xs, self.ys, self.model
        for i in range(_N):
            xi = x[i]
            sign = 1.0 if xi >= 0 else -1.0
            magnitude = abs(xi)
            h = _RSTEP * sign * (magnitude if magnitude > 1.0 else 1.0)  # np.maximum(1.0, |x|)
            lower_dist = xi - _LB[i]
            upper_dist = _UB[i] - xi
            x_step = xi + h
            violated = x_step < _LB[i] or x_step > _UB[i]
            fitting = abs(h) <= _np_maximum(lower_dist, upper_dist)
            if violated and fitting:
                h = -h
            if not fitting:
                if upper_dist >= lower_dist:
                    h = upper_dist / 1
                else:
                    h = -lower_dist / 1
            xh = xi + h
            dx = xh - xi
            if i == 0:
                fh = penguin_model(xs, xh, x1, x2)
            elif i == 1:
                fh = penguin_model(xs, x0, xh, x2)
            else:
                fh = penguin_model(xs, x0, x1, xh)
            # df = (f(x + h e_i) - y) - f0; J_transposed[i] = df / dx: elementwise IEEE
            # operations, the same values computed in place
            row = jt[i]
            np.subtract(fh, ys, out=row)
            row -= f0
            row /= dx
        return jt


_add_reduce = np.add.reduce


def _np_maximum(p: float, q: float) -> float:
    # np.maximum of two floats that are never nan and never both zero here (distances to the
    # bounds of a strictly feasible point): the larger one, whichever numpy returns on a tie.
    return p if p >= q else q


def _norm(v: np.ndarray):
    # numpy.linalg.norm(v) for a 1-D float array is sqrt(v.dot(v)) (numpy 2's fast path)
    return np.sqrt(v.dot(v))


def _norm_inf_py(values) -> float:
    # norm(v, ord=inf) = abs(v).max(): the largest magnitude, nan when any is nan. Exact.
    out = 0.0
    for t in values:
        t = abs(t)
        if t != t:
            return math.nan
        if t > out:
            out = t
    return out


def _cl_scaling(x: list[float], g: list[float]) -> tuple[list[float], list[float]]:
    """common.CL_scaling_vector, elementwise: v and dv."""
    v = [1.0, 1.0, 1.0]
    dv = [0.0, 0.0, 0.0]
    for i in range(_N):
        if g[i] < 0 and _UB[i] != math.inf:
            v[i] = _UB[i] - x[i]
            dv[i] = -1.0
        # the second mask of scipy overrides the first; both cannot hold for one g
        if g[i] > 0:  # every lower bound is finite
            v[i] = x[i] - _LB[i]
            dv[i] = 1.0
    return v, dv


def _make_strictly_feasible_0(x) -> list[float]:
    """common.make_strictly_feasible(x, lb, ub, rstep=0), elementwise on three floats."""
    out = list(x)
    for i in range(_N):
        xi = out[i]
        lb, ub = _LB[i], _UB[i]
        # find_active_constraints(rtol=0): -1 where x <= lb, then 1 where x >= ub
        if xi >= ub:
            xi = math.nextafter(ub, lb)
        elif xi <= lb:
            xi = math.nextafter(lb, ub)
        if xi < lb or xi > ub:
            xi = 0.5 * (lb + ub)
        out[i] = xi
    return out


class _TrustRegion:
    """common.solve_lsq_trust_region for one SVD (``uf``, ``s``, ``V``), operation for
    operation. trf calls it with the same SVD until a step is accepted, changing only the
    radius and the starting alpha; what does not depend on them (the elementwise ``s * uf``,
    ``s**2``, ``suf**2``, the Gauss-Newton step and its norm, ``phi`` at alpha = 0) is
    computed once, when first needed, to the same values."""

    __slots__ = ("uf", "s", "V", "suf", "s2", "suf2", "full_rank", "gn", "gn_norm", "suf_norm", "phi0")

    def __init__(self, n: int, m: int, uf: np.ndarray, s: np.ndarray, V: np.ndarray):
        self.uf, self.s, self.V = uf, s, V
        self.suf = suf = s * uf
        self.s2 = s**2
        self.suf2 = suf**2
        if m >= n:
            threshold = _EPS * m * s[0]
            self.full_rank = s[-1] > threshold
        else:
            self.full_rank = False
        self.gn = None
        self.suf_norm = None
        self.phi0 = None

    def _p_norm_and_sum(self, alpha):
        # phi_and_derivative without Delta: phi = p_norm - Delta, phi_prime = -sum / p_norm
        denom = self.s2 + alpha
        q = self.suf / denom
        # np.sum(a) of an ndarray is np.add.reduce(a, axis=None), called here directly
        return np.sqrt(q.dot(q)), _add_reduce(self.suf2 / denom**3, None)

    def solve(self, Delta, initial_alpha, rtol=0.01, max_iter=10):
        full_rank = self.full_rank
        if full_rank:
            if self.gn is None:
                self.gn = -self.V.dot(self.uf / self.s)
                self.gn_norm = _norm(self.gn)
            if self.gn_norm <= Delta:
                return self.gn.copy(), 0.0, 0

        if self.suf_norm is None:
            self.suf_norm = _norm(self.suf)
        alpha_upper = self.suf_norm / Delta

        if full_rank:
            if self.phi0 is None:
                self.phi0 = self._p_norm_and_sum(0.0)
            p_norm, total = self.phi0
            phi = p_norm - Delta
            phi_prime = -total / p_norm
            alpha_lower = -phi / phi_prime
        else:
            alpha_lower = 0.0

        if initial_alpha is None or not full_rank and initial_alpha == 0:
            alpha = max(0.001 * alpha_upper, (alpha_lower * alpha_upper) ** 0.5)
        else:
            alpha = initial_alpha

        for it in range(max_iter):
            if alpha < alpha_lower or alpha > alpha_upper:
                alpha = max(0.001 * alpha_upper, (alpha_lower * alpha_upper) ** 0.5)

            p_norm, total = self._p_norm_and_sum(alpha)
            phi = p_norm - Delta
            phi_prime = -total / p_norm

            if phi < 0:
                alpha_upper = alpha

            ratio = phi / phi_prime
            alpha_lower = max(alpha_lower, alpha - ratio)
            alpha -= (phi + Delta) * ratio / Delta

            if abs(phi) < rtol * Delta:  # np.abs of a float64 scalar: the same magnitude
                break

        p = -self.V.dot(self.suf / (self.s2 + alpha))
        p *= Delta / _norm(p)
        return p, alpha, it + 1


def _evaluate_quadratic(J, g, s, diag):
    """common.evaluate_quadratic for a 1-D s."""
    Js = J.dot(s)
    q = np.dot(Js, Js)
    q += np.dot(s * diag, s)
    l = np.dot(s, g)
    return 0.5 * q + l


def _build_quadratic_1d(J, g, s, diag, s0=None):
    """common.build_quadratic_1d."""
    v = J.dot(s)
    a = np.dot(v, v)
    a += np.dot(s * diag, s)
    a *= 0.5
    b = np.dot(g, s)
    if s0 is not None:
        u = J.dot(s0)
        b += np.dot(u, v)
        c = 0.5 * np.dot(u, u) + np.dot(g, s0)
        b += np.dot(s0 * diag, s)
        c += 0.5 * np.dot(s0 * diag, s0)
        return a, b, c
    return a, b


def _minimize_quadratic_1d(a, b, lb, ub, c=0):
    """common.minimize_quadratic_1d."""
    t = [lb, ub]
    if a != 0:
        extremum = -0.5 * b / a
        if lb < extremum < ub:
            t.append(extremum)
    t = np.asarray(t)
    y = t * (a * t + b) + c
    min_index = np.argmin(y)
    return t[min_index], y[min_index]


def _step_size_to_bound(x, s):
    """common.step_size_to_bound with the problem's bounds."""
    lb, ub = _LB_ARR, _UB_ARR
    non_zero = np.nonzero(s)
    s_non_zero = s[non_zero]
    steps = np.empty_like(x)
    steps.fill(np.inf)
    steps[non_zero] = np.maximum((lb - x)[non_zero] / s_non_zero, (ub - x)[non_zero] / s_non_zero)
    min_step = np.min(steps)
    return min_step, np.equal(steps, min_step) * np.sign(s).astype(int)


def _intersect_trust_region(x, s, Delta):
    """common.intersect_trust_region."""
    a = np.dot(s, s)
    if a == 0:
        raise ValueError("`s` is zero.")
    b = np.dot(x, s)
    c = np.dot(x, x) - Delta**2
    if c > 0:
        raise ValueError("`x` is not within the trust region.")
    d = np.sqrt(b * b - a * c)
    q = -(b + math.copysign(d, b))
    t1 = q / a
    t2 = c / q
    if t1 < t2:
        return t1, t2
    return t2, t1


def _select_step(x, J_h, diag_h, g_h, p, p_h, d, Delta, theta):
    """trf.select_step with the problem's bounds; ``x`` a float array."""
    lb, ub = _LB_ARR, _UB_ARR
    xp = x + p
    if np.all((xp >= lb) & (xp <= ub)):  # in_bounds
        p_value = _evaluate_quadratic(J_h, g_h, p_h, diag_h)
        return p, p_h, -p_value

    p_stride, hits = _step_size_to_bound(x, p)

    r_h = np.copy(p_h)
    r_h[hits.astype(bool)] *= -1
    r = d * r_h

    p *= p_stride
    p_h *= p_stride
    x_on_bound = x + p

    _, to_tr = _intersect_trust_region(p_h, r_h, Delta)
    to_bound, _ = _step_size_to_bound(x_on_bound, r)

    r_stride = min(to_bound, to_tr)
    if r_stride > 0:
        r_stride_l = (1 - theta) * p_stride / r_stride
        if r_stride == to_bound:
            r_stride_u = theta * to_bound
        else:
            r_stride_u = to_tr
    else:
        r_stride_l = 0
        r_stride_u = -1

    if r_stride_l <= r_stride_u:
        a, b, c = _build_quadratic_1d(J_h, g_h, r_h, diag_h, s0=p_h)
        r_stride, r_value = _minimize_quadratic_1d(a, b, r_stride_l, r_stride_u, c=c)
        r_h *= r_stride
        r_h += p_h
        r = r_h * d
    else:
        r_value = np.inf

    p *= theta
    p_h *= theta
    p_value = _evaluate_quadratic(J_h, g_h, p_h, diag_h)

    ag_h = -g_h
    ag = d * ag_h

    to_tr = Delta / _norm(ag_h)
    to_bound, _ = _step_size_to_bound(x, ag)
    if to_bound < to_tr:
        ag_stride = theta * to_bound
    else:
        ag_stride = to_tr

    a, b = _build_quadratic_1d(J_h, g_h, ag_h, diag_h)
    ag_stride, ag_value = _minimize_quadratic_1d(a, b, 0, ag_stride)
    ag_h *= ag_stride
    ag *= ag_stride

    if p_value < r_value and p_value < ag_value:
        return p, p_h, -p_value
    elif r_value < p_value and r_value < ag_value:
        return r, r_h, -r_value
    else:
        return ag, ag_h, -ag_value


class FitFailed(Exception):
    """The optimizer stopped without success (curve_fit's RuntimeError)."""


_LWORK: dict[tuple[int, int], int] = {}


def _svd_routines(a: np.ndarray):
    """The LAPACK routines ``scipy.linalg.svd`` picks for ``a`` (memoized by scipy itself)."""
    from scipy.linalg import get_lapack_funcs

    return get_lapack_funcs(("gesdd", "gesdd_lwork"), (a,), ilp64="preferred")


def _svd(a: np.ndarray, gesdd, gesdd_lwork):
    """``scipy.linalg.svd(a, full_matrices=False)`` for a 2-D float64 array: its checks, then
    its one LAPACK call (gesdd with the same workspace size and arguments), without the
    wrapper's per-call overhead (batch dispatch, routine lookup, workspace query)."""
    if not np.isfinite(a).all():  # check_finite: np.asarray_chkfinite
        raise ValueError("array must not contain infs or NaNs")
    shape = a.shape
    lwork = _LWORK.get(shape)
    if lwork is None:
        from scipy.linalg.lapack import _compute_lwork

        lwork = _LWORK[shape] = _compute_lwork(gesdd_lwork, shape[0], shape[1], compute_uv=True,
                                               full_matrices=False)
    u, s, v, info = gesdd(a, compute_uv=True, lwork=lwork, full_matrices=False, overwrite_a=False)
    if info > 0:
        raise np.linalg.LinAlgError("SVD did not converge")  # scipy.linalg.LinAlgError is this class
    if info < 0:
        if info == -4:
            raise ValueError("A has a NaN entry")
        raise ValueError(f"illegal value in {-info}th argument of internal gesdd")
    return u, s, v


def fit(model, xs: np.ndarray, ys: np.ndarray) -> tuple[float, float, float]:
    """The parameters ``curve_fit(model, xs, ys, p0=PENGUIN_P0, bounds=PENGUIN_BOUNDS)``
    returns, computed as scipy 1.17.1 computes them; raises what ``curve_fit`` raises
    (``ValueError``, ``numpy.linalg.LinAlgError``, and :class:`FitFailed` for its
    ``RuntimeError``). ``model`` is :func:`nnlife.curves.penguin_model`, the only model the
    port is written for (passed in because nnlife.curves imports this module); ``xs`` and
    ``ys`` are 1-D float64 arrays of the same length. Call it with floating-point warnings
    silenced (:func:`nnlife.curves.quiet`), as the caller of ``curve_fit`` does."""
    # curve_fit: asarray_chkfinite on ydata, then on xdata
    if not np.isfinite(ys).all() or not np.isfinite(xs).all():
        raise ValueError("array must not contain infs or NaNs")
    if ys.size == 0:
        raise ValueError("`ydata` must not be empty!")
    prob = _Problem(model, xs, ys)
    m = prob.m
    n = _N
    lb0, lb1, lb2 = _LB
    ub0 = _UB[0]

    # least_squares: f0 and J0 at x0 (VectorFunction), the finiteness check
    x = list(_X0)
    f = prob.residuals(*x)
    jt = prob.jacobian_t(x, f)
    if not np.all(np.isfinite(f)):
        raise ValueError("Residuals are not finite in the initial point.")

    # trf_bounds
    nfev = 1
    cost = 0.5 * np.dot(f, f)
    g = jt.dot(f).tolist()  # compute_grad: J.T.dot(f), J.T being jt

    v, dv = _cl_scaling(x, g)
    # Delta = norm(x0 * scale_inv / v**0.5)
    Delta = _norm(np.array([x[0] / math.sqrt(v[0]), x[1] / math.sqrt(v[1]), x[2] / math.sqrt(v[2])]))
    if Delta == 0:
        Delta = 1.0

    f_augmented = np.zeros(m + n)
    J_augmented = np.empty((m + n, n))
    J_h = J_augmented[:m]  # a view, as in trf
    bottom = J_augmented[m:]
    bottom.fill(0.0)  # np.diag(diag_h**0.5) below: only its diagonal changes
    gesdd, gesdd_lwork = _svd_routines(J_augmented)
    max_nfev = _MAX_NFEV
    alpha = 0.0
    termination_status = None

    while True:
        g0, g1, g2 = g
        x0, x1, x2 = x
        # CL_scaling_vector: v and dv; a has a finite upper bound, b and c do not, every lower
        # bound is finite (the second mask of scipy overrides the first; both cannot hold)
        if g0 > 0:
            v0, dv0 = x0 - lb0, 1.0
        elif g0 < 0:
            v0, dv0 = ub0 - x0, -1.0
        else:
            v0, dv0 = 1.0, 0.0
        if g1 > 0:
            v1, dv1 = x1 - lb1, 1.0
        else:
            v1, dv1 = 1.0, 0.0
        if g2 > 0:
            v2, dv2 = x2 - lb2, 1.0
        else:
            v2, dv2 = 1.0, 0.0
        g_norm = _norm_inf_py((g0 * v0, g1 * v1, g2 * v2))
        if g_norm < _GTOL:
            termination_status = 1
        if termination_status is not None or nfev == max_nfev:
            break

        # d = v**0.5 * scale, diag_h = g * dv * scale, g_h = d * g (scale = 1)
        d0, d1, d2 = math.sqrt(v0), math.sqrt(v1), math.sqrt(v2)
        h0, h1, h2 = g0 * dv0, g1 * dv1, g2 * dv2
        d = np.array((d0, d1, d2))
        diag_h = np.array((h0, h1, h2))
        g_h = np.array((d0 * g0, d1 * g1, d2 * g2))

        f_augmented[:m] = f
        np.multiply(jt.T, d, out=J_h)  # J * d
        bottom[0, 0] = math.sqrt(h0)
        bottom[1, 1] = math.sqrt(h1)
        bottom[2, 2] = math.sqrt(h2)
        U, s, V = _svd(J_augmented, gesdd, gesdd_lwork)
        V = V.T
        uf = U.T.dot(f_augmented)
        tr = _TrustRegion(n, m, uf, s, V)

        theta = max(0.995, 1 - g_norm)
        x_arr = np.array(x)
        x_norm = _norm(x_arr)

        actual_reduction = -1
        while actual_reduction <= 0 and nfev < max_nfev:
            p_h, alpha, _ = tr.solve(Delta, initial_alpha=alpha)
            p = d * p_h
            # select_step; its first test, in_bounds(x + p, lb, ub), elementwise
            p0, p1, p2 = p.tolist()
            xp0, xp1, xp2 = x0 + p0, x1 + p1, x2 + p2
            if lb0 <= xp0 <= ub0 and lb1 <= xp1 and lb2 <= xp2 and xp1 <= math.inf and xp2 <= math.inf:
                step, step_h = p, p_h
                predicted_reduction = -_evaluate_quadratic(J_h, g_h, p_h, diag_h)
                x_new = _make_strictly_feasible_0((xp0, xp1, xp2))
            else:
                step, step_h, predicted_reduction = _select_step(x_arr, J_h, diag_h, g_h, p, p_h, d, Delta, theta)
                x_new = _make_strictly_feasible_0((x_arr + step).tolist())
            f_new = prob.residuals(*x_new)
            nfev += 1

            step_h_norm = _norm(step_h)

            # np.all(np.isfinite(f_new)), checked only when the sum of squares is not finite:
            # a sum of squares is finite only if every term is
            ff = np.dot(f_new, f_new)
            if not math.isfinite(ff) and not np.isfinite(f_new).all():
                Delta = 0.25 * step_h_norm
                continue

            cost_new = 0.5 * ff
            actual_reduction = cost - cost_new

            # update_tr_radius
            if predicted_reduction > 0:
                ratio = actual_reduction / predicted_reduction
            elif predicted_reduction == actual_reduction == 0:
                ratio = 1
            else:
                ratio = 0
            Delta_new = Delta
            if ratio < 0.25:
                Delta_new = 0.25 * step_h_norm
            elif ratio > 0.75 and step_h_norm > 0.95 * Delta:
                Delta_new *= 2.0

            step_norm = _norm(step)
            # check_termination
            ftol_satisfied = actual_reduction < _FTOL * cost and ratio > 0.25
            xtol_satisfied = step_norm < _XTOL * (_XTOL + x_norm)
            if ftol_satisfied or xtol_satisfied:
                termination_status = 4 if ftol_satisfied and xtol_satisfied else 2 if ftol_satisfied else 3
                break

            alpha *= Delta / Delta_new
            Delta = Delta_new

        if actual_reduction > 0:
            x = x_new
            f = f_new
            cost = cost_new
            jt = prob.jacobian_t(x, f)
            g = jt.dot(f).tolist()

    if termination_status is None:
        termination_status = 0
    if termination_status <= 0:
        raise FitFailed("The maximum number of function evaluations is exceeded.")
    # curve_fit's covariance starts with the SVD of the final Jacobian: the same call, for the
    # same failures (ValueError on a non-finite J, LinAlgError when it does not converge)
    jac = jt.T
    _svd(jac, *_svd_routines(jac))
    return x[0], x[1], x[2]
