"""The Levenberg-Marquardt solver of the curve families' fits, compiled.

:func:`nnlife.curves.fit_family_batch` fits one family to many (curve, start) problems; an
evaluation of every built-in method on 6000 curves makes several hundred thousand such fits of
2 to 4 parameters on at most 80 points. Each problem is tiny, so written with numpy (even over
a whole batch at once) its time goes into array overhead, and scipy's solvers
(``leastsq``/``least_squares``) take one Python callback per evaluation, which costs more than
the evaluation itself. No library solves a batch of small bounded least-squares problems, so
the solver is written here, compiled with numba, one problem after another.

The algorithm (documented in docs/prediction.md, "Fitting"): the bounds
are enforced by fitting unconstrained ``u`` with ``p = lower + width * sigmoid(u)``; the
Jacobian analytic (0 where a value is not finite); the damping's diagonal is the largest
``diag(J'J)`` seen so far (Moré's scaling, as MINPACK); the damping is divided by 3 after an
accepted step and multiplied by 10 after a rejected one; no step moves any ``u`` by more than
10; it stops after ``max_iter`` iterations, when the damping exceeds 1e10, when the sum of
squares is zero, or when an accepted step near Gauss-Newton (damping at most 1e-2) changes the
sum of squares or ``u`` by a relative 1e-10. A residual that is not finite counts as
``+-1000``, so the solver steps away from it.

Each problem is solved on its own, with the same scalar operations whatever else is in its
batch, so a fit is the same alone or among many, bit for bit. The arithmetic is IEEE double
without fast-math; ``exp``, ``log`` and ``pow`` are the C library's.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba.extending import intrinsic

_LAMBDA0, _LAMBDA_MAX, _LAMBDA_GN = 1e-3, 1e10, 1e-2
_MAX_STEP = 10.0
FTOL = 1e-10
XTOL = 1e-10

# the families' codes in the compiled model (nnlife.curves.FAMILIES' names)
CODES = {"pow3": 0, "log_power": 1, "exp3": 2, "ilog2": 3, "vapor_pressure": 4,
         "janoschek": 5, "mmf": 6, "weibull": 7}

_jit = numba.njit(cache=True, error_model="numpy", nogil=True)


@_jit
def _exp(z):
    # exp with its argument kept where float64 cannot overflow (nan stays nan), as
    # nnlife.curves._exp
    if z > 700.0:
        z = 700.0
    elif z < -700.0:
        z = -700.0
    return math.exp(z)


@_jit
def _value(code, x, p):
    # the family's formula (nnlife.curves.FAMILIES) at one x
    if code == 0:  # pow3: c - a * x**(-alpha)
        return p[0] - p[1] * x ** (-p[2])
    if code == 1:  # log_power: a / (1 + exp(c * (log(x) - b)))
        return p[0] / (1.0 + _exp(p[2] * (math.log(x) - p[1])))
    if code == 2:  # exp3: c - exp(-a * x + b)
        return p[0] - _exp(-p[1] * x + p[2])
    if code == 3:  # ilog2: c - a / log(x + 1)
        return p[0] - p[1] / math.log(x + 1.0)
    if code == 4:  # vapor_pressure: exp(a + b / x + c * log(x))
        return _exp(p[0] + p[1] / x + p[2] * math.log(x))
    if code == 5:  # janoschek: alpha - (alpha - beta) * exp(-kappa * x**delta)
        return p[0] - (p[0] - p[1]) * _exp(-p[2] * x ** p[3])
    if code == 6:  # mmf: alpha - (alpha - beta) / (1 + (kappa * x)**delta)
        return p[0] - (p[0] - p[1]) / (1.0 + (p[2] * x) ** p[3])
    # weibull: alpha - (alpha - beta) * exp(-(kappa * x)**delta)
    return p[0] - (p[0] - p[1]) * _exp(-((p[2] * x) ** p[3]))


@_jit
def _clipped(z):
    # (the clip of _exp active: its derivative is 0)
    return z > 700.0 or z < -700.0


@_jit
def _gradient(code, x, p, d):
    # d = the derivatives of the family's formula at x in its parameters (what a non-finite
    # value gives is replaced by the caller)
    if code == 0:  # pow3
        q = x ** (-p[2])
        d[0], d[1], d[2] = 1.0, -q, p[1] * q * math.log(x)
    elif code == 1:  # log_power
        z = p[2] * (math.log(x) - p[1])
        e = _exp(z)
        inv = 1.0 / (1.0 + e)
        de = 0.0 if _clipped(z) else p[0] * e * inv * inv
        d[0], d[1], d[2] = inv, de * p[2], -de * (math.log(x) - p[1])
    elif code == 2:  # exp3
        z = -p[1] * x + p[2]
        e = 0.0 if _clipped(z) else _exp(z)
        d[0], d[1], d[2] = 1.0, x * e, -e
    elif code == 3:  # ilog2
        d[0], d[1] = 1.0, -1.0 / math.log(x + 1.0)
    elif code == 4:  # vapor_pressure
        z = p[0] + p[1] / x + p[2] * math.log(x)
        e = 0.0 if _clipped(z) else _exp(z)
        d[0], d[1], d[2] = e, e / x, e * math.log(x)
    elif code == 5:  # janoschek
        q = x ** p[3]
        z = -p[2] * q
        e = _exp(z)
        de = 0.0 if _clipped(z) else (p[0] - p[1]) * e
        d[0], d[1], d[2], d[3] = 1.0 - e, e, de * q, de * p[2] * q * math.log(x)
    elif code == 6:  # mmf
        kx = p[2] * x
        q = kx ** p[3]
        inv = 1.0 / (1.0 + q)
        dq = (p[0] - p[1]) * inv * inv
        d[0], d[1] = q * inv, inv
        d[2] = dq * p[3] * kx ** (p[3] - 1.0) * x
        d[3] = dq * q * math.log(kx) if q > 0.0 else 0.0
    else:  # weibull
        kx = p[2] * x
        q = kx ** p[3]
        z = -q
        e = _exp(z)
        de = 0.0 if _clipped(z) else (p[0] - p[1]) * e
        d[0], d[1] = 1.0 - e, e
        d[2] = de * p[3] * kx ** (p[3] - 1.0) * x
        d[3] = de * q * math.log(kx) if q > 0.0 else 0.0


@_jit
def _jacobian(code, xs, w, u, lower, width, p, d, J):
    # J[j, i] = d r_i / d u_j at u, analytic; 0 at points not kept and where the value or a
    # derivative is not finite
    k = u.size
    dpdu = np.empty(k)
    for j in range(k):
        e = math.exp(-u[j])
        p[j] = lower[j] + width[j] / (1.0 + e)
        dpdu[j] = width[j] * e / ((1.0 + e) * (1.0 + e)) if math.isfinite(e) else 0.0
    for i in range(xs.size):
        ok = w[i] and math.isfinite(_value(code, xs[i], p))
        if ok:
            _gradient(code, xs[i], p, d)
        for j in range(k):
            v = d[j] * dpdu[j] if ok else 0.0
            J[j, i] = v if math.isfinite(v) else 0.0


@_jit
def _residuals(code, xs, y, w, u, lower, width, p, r):
    # r = f(x, p(u)) - y on the kept points, 0 elsewhere; non-finite residuals count as +-1000.
    # Returns the sum of squares.
    for j in range(u.size):
        p[j] = lower[j] + width[j] / (1.0 + math.exp(-u[j]))
    s = 0.0
    for i in range(xs.size):
        if not w[i]:
            r[i] = 0.0
            continue
        v = _value(code, xs[i], p) - y[i]
        if not math.isfinite(v):
            v = -1e3 if v < 0.0 else 1e3  # nan and +inf: 1000
        r[i] = v
        s += v * v
    return s


@_jit
def _solve(M, g, delta):
    # M delta = -g by Gaussian elimination with partial pivoting (M has at most 4 rows);
    # False when M is singular. M and g are overwritten.
    k = g.size
    for c in range(k):
        piv = c
        for i in range(c + 1, k):
            if abs(M[i, c]) > abs(M[piv, c]):
                piv = i
        if M[piv, c] == 0.0:
            return False
        if piv != c:
            for j in range(k):
                M[c, j], M[piv, j] = M[piv, j], M[c, j]
            g[c], g[piv] = g[piv], g[c]
        for i in range(c + 1, k):
            f = M[i, c] / M[c, c]
            for j in range(c, k):
                M[i, j] -= f * M[c, j]
            g[i] -= f * g[c]
    for c in range(k - 1, -1, -1):
        s = -g[c]
        for j in range(c + 1, k):
            s -= M[c, j] * delta[j]
        delta[c] = s / M[c, c]
    return True


@_jit
def _solve_one(code, xs, y, w, u, lower, width, max_iter):
    # one problem from u (updated in place); returns its sum of squares
    k, n = u.size, xs.size
    p = np.empty(k)
    r = np.empty(n)
    rt = np.empty(n)
    J = np.empty((k, n))
    M = np.empty((k, k))
    g = np.empty(k)
    delta = np.empty(k)
    grad = np.empty(k)
    trial = np.empty(k)
    scale = np.full(k, 1e-12)
    cost = _residuals(code, xs, y, w, u, lower, width, p, r)
    lam = _LAMBDA0
    A = np.empty((k, k))  # J'J at u
    Jr = np.empty(k)  # J'r at u
    fresh = False  # whether A and Jr are those of the current u (a rejected step keeps u)
    finite = True
    for _ in range(max_iter):
        if not fresh:
            _jacobian(code, xs, w, u, lower, width, p, grad, J)
            finite = True
            for a in range(k):
                s = 0.0
                for i in range(n):
                    s += J[a, i] * r[i]
                Jr[a] = s
                finite = finite and math.isfinite(s)
                for b in range(a, k):
                    s = 0.0
                    for i in range(n):
                        s += J[a, i] * J[b, i]
                    A[a, b] = A[b, a] = s
            for a in range(k):
                # Moré's scaling: the largest diag(J'J) so far, so a direction whose column
                # has vanished (a sigmoid flattening towards a bound) is not stepped along
                # without limit
                if A[a, a] == A[a, a]:
                    scale[a] = max(scale[a], A[a, a])
            fresh = True
        M[:, :] = A
        g[:] = Jr
        for a in range(k):
            M[a, a] += lam * scale[a]
        for a in range(k):
            for b in range(k):
                finite = finite and math.isfinite(M[a, b])
        if not finite or not _solve(M, g, delta):
            break
        # no step moves a u by more than _MAX_STEP: a longer one would push a sigmoid into
        # saturation, where its parameter sits at a bound with a zero gradient (the step
        # keeps its direction)
        big = 0.0
        for j in range(k):
            big = max(big, abs(delta[j]))
        shrink = _MAX_STEP / big if big > _MAX_STEP else 1.0
        dd = uu = 0.0
        for j in range(k):
            delta[j] *= shrink
            trial[j] = u[j] + delta[j]
            dd += delta[j] * delta[j]
            uu += u[j] * u[j]
        ct = _residuals(code, xs, y, w, trial, lower, width, p, rt)
        if math.isfinite(ct) and ct < cost:
            # converged: an accepted step that changed the sum of squares or u by a relative
            # FTOL / XTOL while the damping is that of a near Gauss-Newton step (a small step
            # under heavy damping says nothing about being near a minimum)
            near_gn = lam <= _LAMBDA_GN
            small = near_gn and (cost - ct <= FTOL * cost or math.sqrt(dd) <= XTOL * (math.sqrt(uu) + XTOL))
            u[:] = trial
            r[:] = rt
            cost = ct
            lam /= 3.0
            fresh = False
            if small or cost == 0.0:
                break
        else:
            lam *= 10.0
            if lam > _LAMBDA_MAX:
                break
    return cost


@_jit
def solve_batch(code, xs, Y, W, U, lower, width, max_iter, cost):
    """Every row of ``U`` (updated in place) fitted to the same row of ``Y`` on the points
    where ``W`` is true; ``cost`` gets each row's final sum of squares."""
    for b in range(U.shape[0]):
        cost[b] = _solve_one(code, xs, Y[b], W[b], U[b], lower, width, max_iter)


# --------------------------------------------------------------------------------------
# What the predictors compute from a fit, compiled for the same reason: an evaluation asks
# for these a few hundred thousand times, on a handful of numbers each


@_jit
def value_at(code, x, p):
    """The family ``code`` with parameters ``p`` (an array) at ``x``."""
    return _value(code, x, p)


@_jit
def rmse_from(code, p, x, y, start):
    """RMSE of the fit on the points ``start:`` of (x, y) whose y is finite; ``nan`` when there
    is none, ``inf`` when it is not finite."""
    s = 0.0
    m = 0
    for i in range(start, x.size):
        if math.isfinite(y[i]):
            e = _value(code, x[i], p) - y[i]
            s += e * e
            m += 1
    if m == 0:
        return math.nan
    v = math.sqrt(s / m)
    return v if math.isfinite(v) else math.inf


@_jit
def predictive(code, p, x, y, x_target):
    """``(centre, variance, degrees of freedom)`` of the classical prediction interval of the
    fit at ``x_target`` (:func:`nnlife.predict.core.fit_predictive` says what it is), on the
    points of (x, y) whose y is finite; the variance is ``nan`` with no residual degree of
    freedom or a non-finite result."""
    k = p.size
    keep = np.empty(x.size, dtype=np.int64)
    n = 0
    for i in range(x.size):
        if math.isfinite(y[i]):
            keep[n] = i
            n += 1
    if n <= k or not math.isfinite(x_target):
        return math.nan, math.nan, 0
    centre = _value(code, x_target, p)
    ssr = 0.0
    for m in range(n):
        e = _value(code, x[keep[m]], p) - y[keep[m]]
        ssr += e * e
    if not (math.isfinite(centre) and math.isfinite(ssr)):
        return math.nan, math.nan, 0
    s2 = ssr / (n - k)
    J = np.empty((n + 1, k))
    up = np.empty(k)
    down = np.empty(k)
    for j in range(k):
        h = 1e-6 * max(abs(p[j]), 1e-3)
        up[:] = p
        down[:] = p
        up[j] += h
        down[j] -= h
        for m in range(n + 1):
            xm = x_target if m == n else x[keep[m]]
            v = (_value(code, xm, up) - _value(code, xm, down)) / (2.0 * h)
            if not math.isfinite(v):
                return math.nan, math.nan, 0
            J[m, j] = v
    Jf = J[:n]
    g = J[n].copy()
    var = s2 * (g @ (np.linalg.pinv(Jf.T @ Jf) @ g)) + s2
    if not (math.isfinite(var) and var >= 0.0):
        return math.nan, math.nan, 0
    return centre, var, n - k


# --------------------------------------------------------------------------------------
# The ensemble's interval: the central interval of a mixture of normal distributions, by
# bisection on its distribution function (nnlife.predict.core.mixture_interval). Each of its
# 60 halvings is a handful of normal CDFs, so in numpy it was mostly overhead. The CDF is
# scipy's own ``ndtr`` (Cephes), called through its Cython C interface, so each member's
# value is scipy's bit for bit; the weighted sum is taken member after member.

def _bind_ndtr() -> bool:
    """Bind scipy's float64 ``ndtr`` for the compiled code; False where this scipy does not
    export it under the name looked for (then :func:`nnlife.predict.core.mixture_interval`
    computes the interval with numpy, as it did before it was compiled)."""
    import llvmlite.binding as llvm
    from numba.extending import get_cython_function_address

    # cython_special's double-precision ndtr (its fused specialisation for float64, in the
    # scipy versions nnlife supports; checked against scipy.special.ndtr in the tests)
    try:
        address = get_cython_function_address("scipy.special.cython_special", "__pyx_fuse_1ndtr")
    except (ImportError, ValueError, AttributeError, KeyError):
        return False
    llvm.add_symbol("nnlife_scipy_ndtr", address)
    return True


NDTR_BOUND = _bind_ndtr()


@intrinsic
def _ndtr(typingctx, x):
    """scipy.special.ndtr(x) for one float64 (declared by name; bound by :func:`_bind_ndtr`)."""
    from llvmlite import ir
    from numba.core import cgutils

    sig = numba.types.float64(numba.types.float64)

    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.DoubleType(), [ir.DoubleType()]),
                                            "nnlife_scipy_ndtr")
        return builder.call(fn, [args[0]])

    return sig, codegen


@_jit
def _mixture_cdf(t, m, s, w):
    c = 0.0
    for j in range(m.size):
        c += _ndtr((t - m[j]) / s[j]) * w[j]
    return c


@_jit
def mixture_interval(m, s, w, lo_tail, hi_tail):
    """``(lower, upper)``: where the mixture of normals (centres ``m``, deviations ``s``,
    weights ``w`` summing to 1) has distribution ``lo_tail`` and ``hi_tail``, each by 60
    halvings of ``[min(m - 12 s) - 1, max(m + 12 s) + 1]``."""
    start = math.inf
    stop = -math.inf
    for j in range(m.size):
        start = min(start, m[j] - 12.0 * s[j])
        stop = max(stop, m[j] + 12.0 * s[j])
    out = np.empty(2)
    for side in range(2):
        tail = lo_tail if side == 0 else hi_tail
        lo = start - 1.0
        hi = stop + 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            if _mixture_cdf(mid, m, s, w) < tail:
                lo = mid
            else:
                hi = mid
        out[side] = (lo + hi) / 2
    return out[0], out[1]


@_jit
def _ndtr_value(x):
    # the bound CDF alone, for the test that it is scipy's
    return _ndtr(x)
