"""Many least-squares curve fits at once, in numpy.

Why this module exists: an evaluation refits every curve after every half epoch, with
PENGUIN's model and with eight curve families, and through scipy each of those fits is a
Python loop of small array operations (about 0.2 ms per iteration for PENGUIN's trust-region
solver, tens of iterations per fit). Here the same iterations run for hundreds of fits at
once, one numpy operation over all of them, so the Python overhead is paid once per
iteration instead of once per fit and iteration.

- :func:`penguin_trf`: PENGUIN's fit, ``a - b**(c - x)`` by :func:`scipy.optimize.curve_fit`
  with p0 (10, 1.001, 100) and the authors' bounds, which is scipy's bounded Trust Region
  Reflective solver (``least_squares(method="trf")``, two-point finite-difference Jacobian,
  ``ftol = xtol = gtol = 1e-8``, at most 300 evaluations). The algorithm is scipy 1.17's
  ``trf_bounds`` step for step (Coleman-Li scaling, the exact trust-region subproblem by SVD,
  the reflective and Cauchy steps, the same radius updates and termination tests), written
  over a batch. Only the order of floating-point additions in dot products differs, so a
  fit agrees with scipy's to rounding unless the solver's path is knife-edge; the callers
  (:mod:`nnlife.predict`) check every decision taken on a fast fit for its margin and refit
  with scipy where it is small, so PENGUIN's decisions stay scipy's.
- :func:`lm_fit`: the curve families' fits (:func:`nnlife.curves.fit_family`), a
  Levenberg-Marquardt solver over a batch of (curve, family, start) problems.

No function here raises for bad data or prints a warning: non-finite values mark a fit as
failed or unreliable, and the caller decides.
"""

from __future__ import annotations

import numpy as np

EPS = np.finfo(float).eps
_SQRT_EPS = EPS**0.5

# --------------------------------------------------------------------------------------
# PENGUIN's fit: scipy's bounded TRF over a batch

PENGUIN_LB = np.array([0.5, 1.0, 0.0])
PENGUIN_UB = np.array([200.0, np.inf, np.inf])
PENGUIN_X0 = np.array([10.0, 1.001, 100.0])
_FTOL = _XTOL = _GTOL = 1e-8
_MAX_NFEV = 300  # least_squares' default for trf: 100 * number of parameters
# The batch runs past scipy's limit, to here: a fit that ends (or would end) far from the
# limit on either side fails or succeeds as scipy's does even if rounding changed its path
# a little; one that ends near it is marked unreliable (see penguin_trf).
_RUN_NFEV = 400
_NEAR_LIMIT = (240, 360)
_MAX_COND = 1e6

# A solver decision whose two sides differ by less than this (relative) is a near tie: the
# summation order alone could flip it, so the fit is marked unreliable.
_TIE = 1e-9


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # Over the 3 parameters, written out: numpy's reduction over a short last axis costs more
    # than the arithmetic, and each row's sum is the same whatever the batch.
    if a.shape[-1] == 3:
        p = a * b
        return (p[..., 0] + p[..., 1]) + p[..., 2]
    return np.sum(a * b, axis=-1)


def _norm(a: np.ndarray) -> np.ndarray:
    return np.sqrt(_dot(a, a))


def _matvec(M: np.ndarray, v: np.ndarray) -> np.ndarray:
    # M (k, r, c) times v (k, c): elementwise products summed, the same for any batch size
    return _dot(M, v[:, None, :])


def _penguin_residuals(P: np.ndarray, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    # exactly curve_fit's residual: penguin_model(x, *p) - y, elementwise
    return (P[:, 0:1] - np.power(P[:, 1:2], P[:, 2:3] - X)) - Y


def _penguin_jac(P: np.ndarray, X: np.ndarray, Y: np.ndarray, F: np.ndarray) -> np.ndarray:
    # scipy's approx_derivative, '2-point', with the bounds: h = sqrt(eps) * max(1, |p|),
    # turned backwards where the forward point would leave the bounds
    sign = (P >= 0).astype(float) * 2 - 1
    h = _SQRT_EPS * sign * np.maximum(1.0, np.abs(P))
    trial = P + h
    violated = (trial < PENGUIN_LB) | (trial > PENGUIN_UB)
    fitting = np.abs(h) <= np.maximum(P - PENGUIN_LB, PENGUIN_UB - P)
    h = np.where(violated & fitting, -h, h)
    forward = (PENGUIN_UB - P >= P - PENGUIN_LB) & ~fitting
    backward = (PENGUIN_UB - P < P - PENGUIN_LB) & ~fitting
    h = np.where(forward, PENGUIN_UB - P, h)
    h = np.where(backward, -(P - PENGUIN_LB), h)
    J = np.empty(F.shape + (3,))
    for i in range(3):
        P1 = P.copy()
        P1[:, i] = P[:, i] + h[:, i]
        dx = (P[:, i] + h[:, i]) - P[:, i]
        J[:, :, i] = (_penguin_residuals(P1, X, Y) - F) / dx[:, None]
    return J


def _cl_scaling(x, g):
    v = np.ones_like(x)
    dv = np.zeros_like(x)
    mask = (g < 0) & np.isfinite(PENGUIN_UB)
    v = np.where(mask, PENGUIN_UB - x, v)
    dv = np.where(mask, -1.0, dv)
    mask = (g > 0) & np.isfinite(PENGUIN_LB)
    v = np.where(mask, x - PENGUIN_LB, v)
    dv = np.where(mask, 1.0, dv)
    return v, dv


def _step_to_bound(x, s):
    with np.errstate(all="ignore"):
        steps = np.maximum((PENGUIN_LB - x) / s, (PENGUIN_UB - x) / s)
    steps = np.where(s != 0, steps, np.inf)
    min_step = np.min(steps, axis=1)
    hits = (steps == min_step[:, None]) * np.sign(s)
    return min_step, hits


def _quadratic(J, g, s, diag):
    Js = _matvec(J, s)
    q = _dot(Js, Js) + _dot(s * diag, s)
    return 0.5 * q + _dot(s, g)


def _min_quadratic_1d(a, b, lb, ub, c):
    with np.errstate(all="ignore"):
        ext = -0.5 * b / a
    has_ext = (a != 0) & (lb < ext) & (ext < ub)
    t = np.stack([lb + 0 * a, ub + 0 * a, np.where(has_ext, ext, 0.0)], axis=1)
    y = t * (a[:, None] * t + b[:, None]) + c[:, None]
    y[:, 2] = np.where(has_ext, y[:, 2], np.inf)
    k = np.argmin(y, axis=1)
    rows = np.arange(len(a))
    return t[rows, k], y[rows, k]


def _solve_subproblem(m, uf, s, V, Delta, alpha0):
    """scipy's solve_lsq_trust_region (the exact trust-region step by SVD) over a batch."""
    suf = s * uf
    if m >= 3:
        full_rank = s[:, -1] > EPS * m * s[:, 0]
    else:
        full_rank = np.zeros(len(Delta), dtype=bool)
    p_gn = -_matvec(V, uf / s)
    gn = full_rank & (_norm(p_gn) <= Delta)

    def phi_and_derivative(alpha):
        denom = s**2 + alpha[:, None]
        p_norm = _norm(suf / denom)
        return p_norm - Delta, -np.sum(suf**2 / denom**3, axis=1) / p_norm

    alpha_upper = _norm(suf) / Delta
    phi, phi_prime = phi_and_derivative(np.zeros_like(Delta))
    alpha_lower = np.where(full_rank, -phi / phi_prime, 0.0)
    restart = lambda: np.maximum(0.001 * alpha_upper, (alpha_lower * alpha_upper) ** 0.5)  # noqa: E731
    alpha = np.where(~full_rank & (alpha0 == 0), restart(), alpha0)
    running = ~gn
    for _ in range(10):
        if not running.any():
            break
        alpha = np.where(running & ((alpha < alpha_lower) | (alpha > alpha_upper)), restart(), alpha)
        phi, phi_prime = phi_and_derivative(alpha)
        alpha_upper = np.where(running & (phi < 0), alpha, alpha_upper)
        ratio = phi / phi_prime
        alpha_lower = np.where(running, np.maximum(alpha_lower, alpha - ratio), alpha_lower)
        alpha = np.where(running, alpha - (phi + Delta) * ratio / Delta, alpha)
        running = running & ~(np.abs(phi) < 0.01 * Delta)
    p = -_matvec(V, suf / (s**2 + alpha[:, None]))
    p = p * (Delta / _norm(p))[:, None]
    return np.where(gn[:, None], p_gn, p), np.where(gn, 0.0, alpha)


def _select_step(x, J_h, diag_h, g_h, p, p_h, d, Delta, theta):
    """scipy's trf select_step over a batch; also says where scipy would have raised."""
    trial = x + p
    inside = np.all((trial >= PENGUIN_LB) & (trial <= PENGUIN_UB), axis=1)
    value_inside = _quadratic(J_h, g_h, p_h, diag_h)

    p_stride, hits = _step_to_bound(x, p)
    r_h = np.where(hits != 0, -p_h, p_h)
    r = d * r_h
    p = p * p_stride[:, None]
    p_h = p_h * p_stride[:, None]
    on_bound = x + p
    # intersect_trust_region(p_h, r_h, Delta): the positive root
    a = _dot(r_h, r_h)
    b = _dot(p_h, r_h)
    c = _dot(p_h, p_h) - Delta**2
    raises = (a == 0) | (c > 0)
    with np.errstate(all="ignore"):
        disc = np.sqrt(b * b - a * c)
        q = -(b + np.copysign(disc, b))
        to_tr = np.maximum(q / a, c / q)
    to_bound, _ = _step_to_bound(on_bound, r)
    r_stride = np.minimum(to_bound, to_tr)
    positive = r_stride > 0
    with np.errstate(all="ignore"):
        r_lo = np.where(positive, (1 - theta) * p_stride / r_stride, 0.0)
    r_hi = np.where(positive, np.where(r_stride == to_bound, theta * to_bound, to_tr), -1.0)
    reflect = r_lo <= r_hi
    # build_quadratic_1d(J_h, g_h, r_h, s0=p_h, diag=diag_h)
    v = _matvec(J_h, r_h)
    qa = (_dot(v, v) + _dot(r_h * diag_h, r_h)) * 0.5
    u = _matvec(J_h, p_h)
    qb = _dot(g_h, r_h) + _dot(u, v) + _dot(p_h * diag_h, r_h)
    qc = 0.5 * _dot(u, u) + _dot(g_h, p_h) + 0.5 * _dot(p_h * diag_h, p_h)
    rs, r_value = _min_quadratic_1d(qa, qb, r_lo, r_hi, qc)
    r_h = r_h * rs[:, None] + p_h
    r = r_h * d
    r_value = np.where(reflect, r_value, np.inf)

    p = p * theta[:, None]
    p_h = p_h * theta[:, None]
    p_value = _quadratic(J_h, g_h, p_h, diag_h)

    ag_h = -g_h
    ag = d * ag_h
    to_tr = Delta / _norm(ag_h)
    to_bound, _ = _step_to_bound(x, ag)
    ag_stride = np.where(to_bound < to_tr, theta * to_bound, to_tr)
    v = _matvec(J_h, ag_h)
    qa = (_dot(v, v) + _dot(ag_h * diag_h, ag_h)) * 0.5
    qb = _dot(g_h, ag_h)
    ag_stride, ag_value = _min_quadratic_1d(qa, qb, np.zeros_like(qa), ag_stride, np.zeros_like(qa))
    ag_h = ag_h * ag_stride[:, None]
    ag = ag * ag_stride[:, None]

    pick_p = (p_value < r_value) & (p_value < ag_value)
    pick_r = ~pick_p & (r_value < p_value) & (r_value < ag_value)
    step = np.where(pick_p[:, None], p, np.where(pick_r[:, None], r, ag))
    step_h = np.where(pick_p[:, None], p_h, np.where(pick_r[:, None], r_h, ag_h))
    value = np.where(pick_p, p_value, np.where(pick_r, r_value, ag_value))
    return step, step_h, value, inside, value_inside, raises & ~inside


def penguin_trf(X: np.ndarray, Y: np.ndarray) -> dict[str, np.ndarray]:
    """Fit PENGUIN's model to each row of ``X``, ``Y`` (both (k, m), finite) as curve_fit does.

    Returns arrays: ``params`` (k, 3), ``ok`` (the fit succeeded: curve_fit would return and
    its covariance step would not raise), ``reliable`` (no near tie was met on the way, no
    point where scipy would have raised), ``nfev``.
    """
    X = np.asarray(X, dtype=float)
    Y = np.asarray(Y, dtype=float)
    k, m = X.shape
    with np.errstate(all="ignore"):
        x = np.tile(PENGUIN_X0, (k, 1))
        f = _penguin_residuals(x, X, Y)
        J = _penguin_jac(x, X, Y, f)
        cost = 0.5 * _dot(f, f)
        g = np.sum(J * f[:, :, None], axis=1)
        v, dv = _cl_scaling(x, g)
        Delta = _norm(x / v**0.5)
        Delta = np.where(Delta == 0, 1.0, Delta)
        alpha = np.zeros(k)
        nfev = np.ones(k, dtype=int)
        status = np.full(k, -1)  # -1: running (None in scipy)
        reliable = np.all(np.isfinite(f), axis=1)
        ties = np.zeros(k, dtype=int)
        cond = np.ones(k)  # the largest condition number of a trust-region system on the path
        failed_start = ~reliable
        status[failed_start] = 0
        active = np.flatnonzero(~failed_start)
        while active.size:
            xa, ga, Ja, fa = x[active], g[active], J[active], f[active]
            v, dv = _cl_scaling(xa, ga)
            g_norm = np.max(np.abs(ga * v), axis=1)
            st = status[active]
            near = np.abs(g_norm - _GTOL) <= _TIE * _GTOL
            reliable[active[near]] = False
            st = np.where(g_norm < _GTOL, 1, st)
            status[active] = st
            done = (st != -1) | (nfev[active] == _RUN_NFEV)
            active = active[~done]
            if not active.size:
                break
            keep = ~done
            xa, ga, Ja, fa, v, dv, g_norm = xa[keep], ga[keep], Ja[keep], fa[keep], v[keep], dv[keep], g_norm[keep]
            d = v**0.5
            diag_h = ga * dv
            g_h = d * ga
            J_h = Ja * d[:, None, :]
            n_act = active.size
            J_aug = np.concatenate([J_h, np.zeros((n_act, 3, 3))], axis=1)
            J_aug[:, m + np.arange(3), np.arange(3)] = diag_h**0.5
            finite_aug = np.all(np.isfinite(J_aug), axis=(1, 2))
            if not finite_aug.all():
                # scipy's svd would raise on these: leave them to scipy
                bad = active[~finite_aug]
                reliable[bad] = False
                status[bad] = 0
                active = active[finite_aug]
                sel = finite_aug
                xa, ga, Ja, fa, v, dv, g_norm = xa[sel], ga[sel], Ja[sel], fa[sel], v[sel], dv[sel], g_norm[sel]
                d, diag_h, g_h, J_h, J_aug = d[sel], diag_h[sel], g_h[sel], J_h[sel], J_aug[sel]
                if not active.size:
                    break
            U, s, Vt = np.linalg.svd(J_aug, full_matrices=False)
            with np.errstate(all="ignore"):
                cond[active] = np.maximum(cond[active], s[:, 0] / s[:, -1])
            V = np.swapaxes(Vt, 1, 2)
            uf = np.sum(U[:, :m, :] * fa[:, :, None], axis=1)
            theta = np.maximum(0.995, 1 - g_norm)
            cost_a = cost[active]
            Delta_a = Delta[active]
            alpha_a = alpha[active]
            nfev_a = nfev[active]
            status_a = status[active]
            rel_a = reliable[active]
            reduction = np.full(active.size, -1.0)
            x_new = xa.copy()
            f_new = fa.copy()
            cost_new = cost_a.copy()
            inner = nfev_a < _RUN_NFEV
            while inner.any():
                I = np.flatnonzero(inner)
                p_h, alpha_I = _solve_subproblem(m, uf[I], s[I], V[I], Delta_a[I], alpha_a[I])
                alpha_a[I] = alpha_I
                p = d[I] * p_h
                step, step_h, pred_value, inside, value_inside, raises = _select_step(
                    xa[I], J_h[I], diag_h[I], g_h[I], p, p_h, d[I], Delta_a[I], theta[I]
                )
                step = np.where(inside[:, None], p, step)
                step_h = np.where(inside[:, None], p_h, step_h)
                predicted = -np.where(inside, value_inside, pred_value)
                rel_a[I[raises]] = False
                trial = xa[I] + step
                # make_strictly_feasible(rstep=0)
                lower = trial <= PENGUIN_LB
                upper = trial >= PENGUIN_UB
                trial = np.where(lower, np.nextafter(PENGUIN_LB, PENGUIN_UB), trial)
                trial = np.where(upper, np.nextafter(PENGUIN_UB, PENGUIN_LB), trial)
                tight = (trial < PENGUIN_LB) | (trial > PENGUIN_UB)
                trial = np.where(tight, 0.5 * (PENGUIN_LB + PENGUIN_UB), trial)
                f_trial = _penguin_residuals(trial, X[active[I]], Y[active[I]])
                nfev_a[I] += 1
                step_h_norm = _norm(step_h)
                finite = np.all(np.isfinite(f_trial), axis=1)
                Delta_a[I[~finite]] = 0.25 * step_h_norm[~finite]
                F = np.flatnonzero(finite)
                IF = I[F]
                c_new = 0.5 * _dot(f_trial[F], f_trial[F])
                red = cost_a[IF] - c_new
                pr = predicted[F]
                with np.errstate(all="ignore"):
                    ratio = np.where(pr > 0, red / pr, np.where((pr == 0) & (red == 0), 1.0, 0.0))
                shn = step_h_norm[F]
                D = Delta_a[IF]
                Dn = np.where(ratio < 0.25, 0.25 * shn, np.where((ratio > 0.75) & (shn > 0.95 * D), 2.0 * D, D))
                step_norm = _norm(step[F])
                x_norm = _norm(xa[IF])
                ftol_ok = (red < _FTOL * cost_a[IF]) & (ratio > 0.25)
                xtol_ok = step_norm < _XTOL * (_XTOL + x_norm)
                term = np.where(ftol_ok & xtol_ok, 4, np.where(ftol_ok, 2, np.where(xtol_ok, 3, -1)))
                # Near ties in the decisions that shape the path: the rounding of a cost
                # (a few ulps of it) could flip them.
                slack = 16 * EPS * np.abs(cost_a[IF])
                with np.errstate(all="ignore"):
                    ratio_slack = 10 * slack / np.abs(red) * np.abs(ratio) + 1e-12
                tie = (
                    (np.abs(red) <= slack)
                    | (np.abs(red - _FTOL * cost_a[IF]) <= slack)
                    | ((np.abs(ratio - 0.25) <= ratio_slack) & (red > slack))
                    | ((np.abs(ratio - 0.75) <= ratio_slack) & (red > slack))
                    | (np.abs(step_norm - _XTOL * (_XTOL + x_norm)) <= _TIE * _XTOL * (_XTOL + x_norm))
                )
                ties[active[IF[tie]]] += 1
                reduction[IF] = red
                x_new[IF] = trial[F]
                f_new[IF] = f_trial[F]
                cost_new[IF] = c_new
                stop = term != -1
                status_a[IF[stop]] = term[stop]
                go = ~stop
                alpha_a[IF[go]] = alpha_a[IF[go]] * (D[go] / Dn[go])
                Delta_a[IF[go]] = Dn[go]
                inner[IF[stop]] = False
                inner = inner & (reduction <= 0) & (nfev_a < _RUN_NFEV)
            accepted = reduction > 0
            A = active[accepted]
            x[A] = x_new[accepted]
            f[A] = f_new[accepted]
            cost[A] = cost_new[accepted]
            J[A] = _penguin_jac(x[A], X[A], Y[A], f[A])
            g[A] = np.sum(J[A] * f[A][:, :, None], axis=1)
            Delta[active] = Delta_a
            alpha[active] = alpha_a
            nfev[active] = nfev_a
            status[active] = status_a
            reliable[active] = rel_a
        status[status == -1] = 0
        # Up to scipy's limit the run is scipy's run; a fit still going at the limit fails.
        ok = (status > 0) & (nfev <= _MAX_NFEV) & np.all(np.isfinite(J), axis=(1, 2))
        reliable &= (nfev <= _NEAR_LIMIT[0]) | (nfev > _NEAR_LIMIT[1])
        # An ill-conditioned step amplifies the rounding of a dot product into its leading
        # digits, and from there the path (and where it ends) is no longer scipy's.
        reliable &= cond <= _MAX_COND
        x = np.where(ok[:, None], x, np.nan)
    return {"params": x, "ok": ok, "reliable": reliable, "ties": ties, "nfev": nfev, "status": status, "cost": cost, "cond": cond}
