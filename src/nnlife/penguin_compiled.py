"""PENGUIN's fit (:mod:`nnlife.penguin_fit`'s trust-region-reflective sequence) compiled.

:mod:`nnlife.penguin_fit` performs scipy 1.17.1's ``curve_fit`` operations for PENGUIN's
problem in Python, bit for bit, and still spends about a hundred microseconds of interpreter
time per iteration on a few dozen floats: a fit of 40 points takes 10 to 20 ms, and a PENGUIN
evaluation of many curves does little else. This module is the same sequence of operations,
line for line (the same steps, tests, radius updates, Newton iterations for the
Levenberg-Marquardt parameter, the same LAPACK SVD, ``gesdd``, through scipy's LAPACK), compiled
with numba, so a fit takes well under a millisecond.

The same bits need numpy's own ``power``: on CPUs with AVX-512 numpy computes ``b**(c - x)``
and ``denom**3`` with Intel's SVML (``__svml_pow8_ha``), which differs from the C library's
``pow`` (what compiled ``**`` calls) in the last bit for about one value in twenty, and an
ill-conditioned fit (a flat curve) amplifies one bit into a different end point, or into
running out of evaluations where ``curve_fit`` does not. numpy exports the SVML routine, so
the compiled code calls it where numpy does (:func:`_numpy_power_routine`) and the C library's
``pow`` elsewhere. The dot products are BLAS calls, from scipy's OpenBLAS where numpy uses its
own build; they agree on the tests here, and one prefix fit of 11,700 measured still ended
elsewhere, most likely through them (every power in that fit was numpy's; benchmarks/README.md,
"PENGUIN's fits compiled"). Whether all this holds is checked, not assumed: :func:`available`
runs the compiled pieces against numpy once per process and the exact port is used when any
bit differs. ``tests/test_penguin_compiled.py`` compares the
compiled fit with the exact port on every prefix of the published tables and on curves of
every shape.

:func:`nnlife.curves.fit_penguin` uses this module when numba is installed (a dependency of
nnlife) and the self-check passes, and the exact Python port otherwise; ``NNLIFE_PENGUIN_FIT=exact`` selects the port
(``curve_fit``'s bits everywhere, at the port's speed) and ``NNLIFE_PENGUIN_FIT=scipy``
``curve_fit`` itself.
"""

from __future__ import annotations

import math

import numpy as np

try:  # numba is a dependency; without it (a broken install) the exact port is used
    import numba
except ImportError:  # pragma: no cover - exercised only without numba
    numba = None

# the problem (nnlife.curves.PENGUIN_P0 / PENGUIN_BOUNDS) and least_squares' defaults, as in
# nnlife.penguin_fit
_LB0, _LB1, _LB2 = 0.5, 1.0, 0.0
_UB0 = 200.0
_INF = math.inf
_MAX_NFEV = 300
_TOL = 1e-8
_EPS = float(np.finfo(float).eps)
_RSTEP = float(np.finfo(np.float64).eps ** 0.5)

# what a fit returns in its status: 0 a fit; 1 curve_fit would raise ValueError (non-finite
# data or residuals, an SVD of a non-finite matrix, a zero step in the trust region); 2 it
# ran out of evaluations (RuntimeError); 3 an SVD did not converge (LinAlgError)
OK, VALUE_ERROR, FAILED, LINALG_ERROR = 0, 1, 2, 3


_VERIFIED: list[bool] = []


def available() -> bool:
    """Whether the compiled fit runs here and computes what numpy does: numba imports, and on
    fixed test data (run once per process) the compiled power gives numpy's ``power`` bits
    (the model ``a - b**(c - x)`` over the range PENGUIN's fits visit, cubes, and special
    values), the compiled dot products give numpy's, and a few whole fits give the exact
    port's parameters (:mod:`nnlife.penguin_fit`). Anything else, the exact port is used."""
    if not _VERIFIED:
        _VERIFIED.append(numba is not None and _verify())
    return _VERIFIED[0]


def _verify() -> bool:
    from . import penguin_fit  # (not nnlife.curves, which imports this module)

    def penguin_model(x, a, b, c):  # nnlife.curves.penguin_model, the same numpy call
        return a - np.power(b, c - x)

    rng = np.random.default_rng(20210215)
    with np.errstate(all="ignore"):
        xs = np.arange(1.0, 81.0)
        for _ in range(200):
            a = float(rng.uniform(0.5, 200.0))
            b = float(1.0 + 10.0 ** rng.uniform(-12, 1))
            c = float(10.0 ** rng.uniform(-3, 3))
            mine = np.empty(xs.size)
            _model(xs, a, b, c, mine)
            if not np.array_equal(mine, penguin_model(xs, a, b, c), equal_nan=True):
                return False
        special = np.array([0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 3.0, -2.5, 1e-310, 1e308, -1e308, np.inf, -np.inf, np.nan])
        for base in special:
            for e in special:
                if not _same(_pow(base, e), np.power(np.array([base]), np.array([e]))[0]):
                    return False
        cubes = np.exp(rng.uniform(-300.0, 230.0, 2000))
        if not all(_same(_pow(v, 3.0), w) for v, w in zip(cubes, cubes**3)):
            return False
        for m in (3, 7, 40, 83):
            u, v = rng.standard_normal(m), rng.standard_normal(m)
            A = rng.standard_normal((3, m))
            if _dot(u, v) != u.dot(v) or not np.array_equal(_gemv(A, v), A.dot(v)):
                return False
        for y in ([10.0, 10.0], [10.2, 10.3, 10.9, 10.5, 9.9, 9.4], [12.0, 30.0, 41.0, 47.0, 50.5, 52.0, 53.1],
                  [9.8, 9.9, 10.4, 15.0, 24.0, 31.5, 36.0, 39.0, 40.5, 41.7, 42.0, 42.9]):
            ys = np.asarray(y)
            xs_ = np.arange(1.0, ys.size + 1.0)
            try:
                want = penguin_fit.fit(penguin_model, xs_, ys)
            except (ValueError, penguin_fit.FitFailed, np.linalg.LinAlgError):
                want = None
            if fit(xs_, ys) != want:
                return False
    return True


def _same(p: float, q: float) -> bool:
    return (p == q and math.copysign(1.0, p) == math.copysign(1.0, q)) or (p != p and q != q)



def _numpy_power_routine() -> str | None:
    """The routine numpy's float64 ``power`` runs here: ``"svml"`` where its AVX-512 dispatch
    calls Intel's SVML (``__svml_pow8_ha``, which numpy exports), else ``"libm"`` (the C
    library's ``pow``, what compiled ``**`` calls). A guess, verified by :func:`available`."""
    try:
        from numpy._core import _multiarray_umath as umath
    except ImportError:  # numpy 1.x
        return "libm"
    features = getattr(umath, "__cpu_features__", {})
    if features.get("AVX512_SKX"):
        return "svml"
    return "libm"


_ROUTINE = _numpy_power_routine() if numba is not None else None
if _ROUTINE == "svml":
    import ctypes

    import llvmlite.binding as _llvm

    from numpy._core import _multiarray_umath as _umath

    try:
        _svml = ctypes.CDLL(_umath.__file__).__svml_pow8_ha
        _llvm.add_symbol("__svml_pow8_ha", ctypes.cast(_svml, ctypes.c_void_p).value)
    except (OSError, AttributeError):  # no such symbol: numpy does not call it either
        _ROUTINE = "libm"


if numba is not None:
    _jit = numba.njit(cache=True, error_model="numpy", nogil=True)

    if _ROUTINE == "svml":
        from llvmlite import ir
        from numba.core import cgutils
        from numba.extending import intrinsic

        @intrinsic
        def _svml_pow(typingctx, x, y):
            """``__svml_pow8_ha`` on lane 0 of two 8-double vectors (the other lanes copies):
            numpy's own routine for ``power`` on AVX-512, bit for bit."""
            sig = numba.types.float64(numba.types.float64, numba.types.float64)

            def codegen(context, builder, signature, args):
                vt = ir.VectorType(ir.DoubleType(), 8)
                fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vt, [vt, vt]), "__svml_pow8_ha")
                vx = vy = ir.Constant(vt, ir.Undefined)
                for lane in range(8):
                    index = ir.Constant(ir.IntType(32), lane)
                    vx = builder.insert_element(vx, args[0], index)
                    vy = builder.insert_element(vy, args[1], index)
                return builder.extract_element(builder.call(fn, [vx, vy]), ir.Constant(ir.IntType(32), 0))

            return sig, codegen

        @_jit
        def _pow(b, e):
            return _svml_pow(b, e)
    else:

        @_jit
        def _pow(b, e):
            return b**e

    @_jit
    def _model(xs, a, b, c, out):
        # penguin_model: a - np.power(b, c - x), elementwise
        for k in range(xs.size):
            out[k] = a - _pow(b, c - xs[k])

    @_jit
    def _all_finite(v):
        for k in range(v.size):
            if not math.isfinite(v[k]):
                return False
        return True

    @_jit
    def _dot(u, v):
        return np.dot(u, v)

    @_jit
    def _gemv(A, v):
        return np.dot(A, v)

    @_jit
    def _norm(v):
        return math.sqrt(np.dot(v, v))

    @_jit
    def _maximum(p, q):
        return p if p >= q else q

    @_jit
    def _jacobian_t(xs, ys, x, f0, jt):
        """'2-point' forward differences with the relative step, flipped or one-sided at the
        bounds (nnlife.penguin_fit._Problem.jacobian_t). False where x violates the bounds."""
        lb = (_LB0, _LB1, _LB2)
        ub = (_UB0, _INF, _INF)
        for i in range(3):
            if x[i] < lb[i] or x[i] > ub[i]:
                return False
        fh = np.empty(xs.size)
        for i in range(3):
            xi = x[i]
            sign = 1.0 if xi >= 0 else -1.0
            magnitude = abs(xi)
            h = _RSTEP * sign * (magnitude if magnitude > 1.0 else 1.0)
            lower_dist = xi - lb[i]
            upper_dist = ub[i] - xi
            x_step = xi + h
            violated = x_step < lb[i] or x_step > ub[i]
            fitting = abs(h) <= _maximum(lower_dist, upper_dist)
            if violated and fitting:
                h = -h
            if not fitting:
                if upper_dist >= lower_dist:
                    h = upper_dist
                else:
                    h = -lower_dist
            xh = xi + h
            dx = xh - xi
            if i == 0:
                _model(xs, xh, x[1], x[2], fh)
            elif i == 1:
                _model(xs, x[0], xh, x[2], fh)
            else:
                _model(xs, x[0], x[1], xh, fh)
            for k in range(xs.size):
                jt[i, k] = ((fh[k] - ys[k]) - f0[k]) / dx
        return True

    @_jit
    def _p_norm_and_sum(suf, s2, suf2, alpha):
        q = np.empty(3)
        for i in range(3):
            q[i] = suf[i] / (s2[i] + alpha)
        total = 0.0
        for i in range(3):
            denom = s2[i] + alpha
            total += suf2[i] / _pow(denom, 3.0)  # numpy: denom**3
        return math.sqrt(np.dot(q, q)), total

    @_jit
    def _solve_tr(V, uf, s, suf, s2, suf2, full_rank, gn, gn_norm, suf_norm, phi0, Delta, initial_alpha):
        """common.solve_lsq_trust_region for one SVD (nnlife.penguin_fit._TrustRegion.solve);
        ``gn``/``gn_norm``/``suf_norm``/``phi0`` are the per-SVD constants, computed by the
        caller (trf never passes None: its alpha starts at 0.0). Returns (p, alpha)."""
        if full_rank and gn_norm <= Delta:
            return gn.copy(), 0.0
        alpha_upper = suf_norm / Delta
        if full_rank:
            p_norm, total = phi0
            phi = p_norm - Delta
            phi_prime = -total / p_norm
            alpha_lower = -phi / phi_prime
        else:
            alpha_lower = 0.0
        if not full_rank and initial_alpha == 0:
            alpha = max(0.001 * alpha_upper, (alpha_lower * alpha_upper) ** 0.5)
        else:
            alpha = initial_alpha
        for _ in range(10):
            if alpha < alpha_lower or alpha > alpha_upper:
                alpha = max(0.001 * alpha_upper, (alpha_lower * alpha_upper) ** 0.5)
            p_norm, total = _p_norm_and_sum(suf, s2, suf2, alpha)
            phi = p_norm - Delta
            phi_prime = -total / p_norm
            if phi < 0:
                alpha_upper = alpha
            ratio = phi / phi_prime
            alpha_lower = max(alpha_lower, alpha - ratio)
            alpha -= (phi + Delta) * ratio / Delta
            if abs(phi) < 0.01 * Delta:
                break
        w = np.empty(3)
        for i in range(3):
            w[i] = suf[i] / (s2[i] + alpha)
        p = -np.dot(V, w)
        p *= Delta / _norm(p)
        return p, alpha

    @_jit
    def _evaluate_quadratic(J, g, s, diag):
        Js = np.dot(J, s)
        q = np.dot(Js, Js)
        q += np.dot(s * diag, s)
        l = np.dot(s, g)
        return 0.5 * q + l

    @_jit
    def _step_size_to_bound(x, s, lb, ub):
        steps = np.full(3, np.inf)
        for i in range(3):
            if s[i] != 0:
                steps[i] = max((lb[i] - x[i]) / s[i], (ub[i] - x[i]) / s[i])
        min_step = steps.min()
        hits = np.zeros(3, dtype=np.int64)
        for i in range(3):
            if steps[i] == min_step:
                hits[i] = 1 if s[i] > 0 else (-1 if s[i] < 0 else 0)
        return min_step, hits

    @_jit
    def _minimize_quadratic_1d(a, b, lb, ub, c):
        t = [lb, ub]
        if a != 0:
            extremum = -0.5 * b / a
            if lb < extremum < ub:
                t.append(extremum)
        best = 0
        best_y = t[0] * (a * t[0] + b) + c
        for i in range(1, len(t)):
            y = t[i] * (a * t[i] + b) + c
            if y < best_y:  # np.argmin: the first minimum
                best, best_y = i, y
        return t[best], best_y

    @_jit
    def _select_step(x, J_h, diag_h, g_h, p, p_h, d, Delta, theta, lb, ub):
        """trf.select_step (nnlife.penguin_fit._select_step) for a step leaving the bounds.
        Returns (step, step_h, predicted reduction, ok); ok False where scipy raises."""
        p_stride, hits = _step_size_to_bound(x, p, lb, ub)
        r_h = p_h.copy()
        for i in range(3):
            if hits[i] != 0:
                r_h[i] *= -1
        r = d * r_h
        p = p * p_stride
        p_h = p_h * p_stride
        x_on_bound = x + p
        # intersect_trust_region(p_h, r_h, Delta)
        a = np.dot(r_h, r_h)
        if a == 0:
            return p, p_h, 0.0, False
        b = np.dot(p_h, r_h)
        c = np.dot(p_h, p_h) - Delta ** 2.0
        if c > 0:
            return p, p_h, 0.0, False
        dd = math.sqrt(b * b - a * c)
        q = -(b + math.copysign(dd, b))
        t1 = q / a
        t2 = c / q
        to_tr = t2 if t1 < t2 else t1  # the larger root
        to_bound, _ = _step_size_to_bound(x_on_bound, r, lb, ub)
        r_stride = min(to_bound, to_tr)
        if r_stride > 0:
            r_stride_l = (1 - theta) * p_stride / r_stride
            if r_stride == to_bound:
                r_stride_u = theta * to_bound
            else:
                r_stride_u = to_tr
        else:
            r_stride_l = 0.0
            r_stride_u = -1.0
        if r_stride_l <= r_stride_u:
            # build_quadratic_1d(J_h, g_h, r_h, diag_h, s0=p_h)
            v = np.dot(J_h, r_h)
            qa = np.dot(v, v)
            qa += np.dot(r_h * diag_h, r_h)
            qa *= 0.5
            qb = np.dot(g_h, r_h)
            u = np.dot(J_h, p_h)
            qb += np.dot(u, v)
            qc = 0.5 * np.dot(u, u) + np.dot(g_h, p_h)
            qb += np.dot(p_h * diag_h, r_h)
            qc += 0.5 * np.dot(p_h * diag_h, p_h)
            r_stride, r_value = _minimize_quadratic_1d(qa, qb, r_stride_l, r_stride_u, qc)
            r_h = r_h * r_stride
            r_h += p_h
            r = r_h * d
        else:
            r_value = np.inf
        p = p * theta
        p_h = p_h * theta
        p_value = _evaluate_quadratic(J_h, g_h, p_h, diag_h)
        ag_h = -g_h
        ag = d * ag_h
        to_tr = Delta / _norm(ag_h)
        to_bound, _ = _step_size_to_bound(x, ag, lb, ub)
        if to_bound < to_tr:
            ag_stride = theta * to_bound
        else:
            ag_stride = to_tr
        # build_quadratic_1d(J_h, g_h, ag_h, diag_h)
        v = np.dot(J_h, ag_h)
        qa = np.dot(v, v)
        qa += np.dot(ag_h * diag_h, ag_h)
        qa *= 0.5
        qb = np.dot(g_h, ag_h)
        ag_stride, ag_value = _minimize_quadratic_1d(qa, qb, 0.0, ag_stride, 0.0)
        ag_h = ag_h * ag_stride
        ag = ag * ag_stride
        if p_value < r_value and p_value < ag_value:
            return p, p_h, -p_value, True
        elif r_value < p_value and r_value < ag_value:
            return r, r_h, -r_value, True
        return ag, ag_h, -ag_value, True

    @_jit
    def _strictly_feasible(x, lb, ub):
        out = x.copy()
        for i in range(3):
            xi = out[i]
            if xi >= ub[i]:
                xi = np.nextafter(ub[i], lb[i])
            elif xi <= lb[i]:
                xi = np.nextafter(lb[i], ub[i])
            if xi < lb[i] or xi > ub[i]:
                xi = 0.5 * (lb[i] + ub[i])
            out[i] = xi
        return out

    @_jit
    def _svd(a):
        """(U, s, Vt, status) of scipy.linalg.svd(a, full_matrices=False): its finiteness
        check, then gesdd."""
        if not _all_finite(a.ravel()):
            return np.empty((0, 0)), np.empty(0), np.empty((0, 0)), VALUE_ERROR
        try:
            u, s, vt = np.linalg.svd(a, full_matrices=False)
        except Exception:  # numba raises LinAlgError when gesdd does not converge
            return np.empty((0, 0)), np.empty(0), np.empty((0, 0)), LINALG_ERROR
        return u, s, vt, OK

    @_jit
    def fit_arrays(xs, ys):
        """(status, a, b, c): PENGUIN's fit of ``ys`` on ``xs`` (1-D float64, same length),
        nnlife.penguin_fit.fit's sequence compiled; status as the module's constants."""
        m = ys.size
        if not _all_finite(ys) or not _all_finite(xs) or m == 0:
            return VALUE_ERROR, np.nan, np.nan, np.nan
        lb = np.array((_LB0, _LB1, _LB2))
        ub = np.array((_UB0, _INF, _INF))
        x = np.array((10.0, 1.001, 100.0))
        f = np.empty(m)
        _model(xs, x[0], x[1], x[2], f)
        f -= ys
        jt = np.empty((3, m))
        if not _jacobian_t(xs, ys, x, f, jt):
            return VALUE_ERROR, np.nan, np.nan, np.nan
        if not _all_finite(f):
            return VALUE_ERROR, np.nan, np.nan, np.nan

        nfev = 1
        cost = 0.5 * np.dot(f, f)
        g = np.dot(jt, f)
        # Delta = norm(x0 / v**0.5)
        v = np.ones(3)
        for i in range(3):
            if g[i] < 0 and ub[i] != _INF:
                v[i] = ub[i] - x[i]
            if g[i] > 0:
                v[i] = x[i] - lb[i]
        w = np.empty(3)
        for i in range(3):
            w[i] = x[i] / math.sqrt(v[i])
        Delta = _norm(w)
        if Delta == 0:
            Delta = 1.0

        f_augmented = np.zeros(m + 3)
        J_augmented = np.zeros((m + 3, 3))
        J_h = np.empty((m, 3))
        alpha = 0.0  # trf_bounds starts with alpha = 0.0 (not None)
        status = -1
        x_new = x
        f_new = f
        cost_new = cost
        while True:
            vv = np.ones(3)
            dv = np.zeros(3)
            for i in range(3):
                if g[i] < 0 and ub[i] != _INF:
                    vv[i] = ub[i] - x[i]
                    dv[i] = -1.0
                if g[i] > 0:
                    vv[i] = x[i] - lb[i]
                    dv[i] = 1.0
            g_norm = 0.0
            for i in range(3):
                t = abs(g[i] * vv[i])
                if t != t:
                    g_norm = np.nan
                    break
                if t > g_norm:
                    g_norm = t
            if g_norm < _TOL:
                status = 1
            if status != -1 or nfev == _MAX_NFEV:
                break
            d = np.empty(3)
            diag_h = np.empty(3)
            g_h = np.empty(3)
            for i in range(3):
                d[i] = math.sqrt(vv[i])
                diag_h[i] = g[i] * dv[i]
                g_h[i] = d[i] * g[i]
            f_augmented[:m] = f
            for k in range(m):
                for i in range(3):
                    J_h[k, i] = jt[i, k] * d[i]
                    J_augmented[k, i] = J_h[k, i]
            for i in range(3):
                J_augmented[m + i, i] = math.sqrt(diag_h[i])
            U, s, Vt, svd_status = _svd(J_augmented)
            if svd_status != OK:
                return svd_status, np.nan, np.nan, np.nan
            V = np.ascontiguousarray(Vt.T)
            uf = np.dot(np.ascontiguousarray(U.T), f_augmented)
            # the trust-region solver's per-SVD constants
            suf = s * uf
            s2 = s * s
            suf2 = suf * suf
            # solve_lsq_trust_region(n, m, ...) with m the number of residuals, not m + n
            full_rank = m >= 3 and s[-1] > _EPS * m * s[0]
            gn = np.empty(3)
            gn_norm = 0.0
            phi0 = (0.0, 0.0)
            if full_rank:
                gn = -np.dot(V, uf / s)
                gn_norm = _norm(gn)
                phi0 = _p_norm_and_sum(suf, s2, suf2, 0.0)
            suf_norm = _norm(suf)

            theta = max(0.995, 1 - g_norm)
            x_norm = _norm(x)
            actual_reduction = -1.0
            while actual_reduction <= 0 and nfev < _MAX_NFEV:
                p_h, alpha = _solve_tr(V, uf, s, suf, s2, suf2, full_rank, gn, gn_norm, suf_norm, phi0,
                                       Delta, alpha)
                p = d * p_h
                xp = x + p
                if (lb[0] <= xp[0] <= ub[0] and lb[1] <= xp[1] and lb[2] <= xp[2]
                        and xp[1] <= _INF and xp[2] <= _INF):
                    step, step_h = p, p_h
                    predicted_reduction = -_evaluate_quadratic(J_h, g_h, p_h, diag_h)
                    x_new = _strictly_feasible(xp, lb, ub)
                else:
                    step, step_h, predicted_reduction, ok = _select_step(x, J_h, diag_h, g_h, p, p_h, d, Delta,
                                                                         theta, lb, ub)
                    if not ok:
                        return VALUE_ERROR, np.nan, np.nan, np.nan
                    x_new = _strictly_feasible(x + step, lb, ub)
                f_new = np.empty(m)
                _model(xs, x_new[0], x_new[1], x_new[2], f_new)
                f_new -= ys
                nfev += 1
                step_h_norm = _norm(step_h)
                ff = np.dot(f_new, f_new)
                if not math.isfinite(ff) and not _all_finite(f_new):
                    Delta = 0.25 * step_h_norm
                    continue
                cost_new = 0.5 * ff
                actual_reduction = cost - cost_new
                if predicted_reduction > 0:
                    ratio = actual_reduction / predicted_reduction
                elif predicted_reduction == actual_reduction == 0:
                    ratio = 1.0
                else:
                    ratio = 0.0
                Delta_new = Delta
                if ratio < 0.25:
                    Delta_new = 0.25 * step_h_norm
                elif ratio > 0.75 and step_h_norm > 0.95 * Delta:
                    Delta_new *= 2.0
                step_norm = _norm(step)
                ftol_satisfied = actual_reduction < _TOL * cost and ratio > 0.25
                xtol_satisfied = step_norm < _TOL * (_TOL + x_norm)
                if ftol_satisfied or xtol_satisfied:
                    status = 4 if ftol_satisfied and xtol_satisfied else (2 if ftol_satisfied else 3)
                    break
                alpha *= Delta / Delta_new
                Delta = Delta_new
            if actual_reduction > 0:
                x = x_new
                f = f_new
                cost = cost_new
                if not _jacobian_t(xs, ys, x, f, jt):
                    return VALUE_ERROR, np.nan, np.nan, np.nan
                g = np.dot(jt, f)
        if status <= 0:
            return FAILED, np.nan, np.nan, np.nan
        # curve_fit's covariance: the SVD of the final Jacobian, for its failures
        _, _, _, svd_status = _svd(np.ascontiguousarray(jt.T))
        if svd_status != OK:
            return svd_status, np.nan, np.nan, np.nan
        return OK, x[0], x[1], x[2]


def fit(xs: np.ndarray, ys: np.ndarray) -> tuple[float, float, float] | None:
    """PENGUIN's fit of ``ys`` on ``xs``, compiled; ``None`` where ``curve_fit`` raises."""
    status, a, b, c = fit_arrays(np.ascontiguousarray(xs, dtype=np.float64), np.ascontiguousarray(ys, dtype=np.float64))
    if status != OK:
        return None
    return float(a), float(b), float(c)
