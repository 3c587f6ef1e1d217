"""Which rule should `auto` be: candidate rules against PENGUIN on several kinds of curves at once.

    python benchmarks/auto_rules.py [CORPUS_DIR|CURVE_FILE ...] [--no-synthetic] [--workers 2] [--csv F] [--only A,B]

`auto`'s goal is to save at least as many epochs as `penguin`, with a lower MAE and a higher
Spearman, and to beat the best-so-far baseline (MAE and Spearman) at its own stop epochs, on
every corpus of networks that learn. A rule that wins on one corpus can lose on another (the
shape of the curves decides which family extrapolates best), so this script scores every
candidate on every curve set side by side and says, per set and target, which candidates meet
the goal there:

- the synthetic per-epoch curves of ``saturating_curves.py`` (25 epochs to 90-100 %, shapes
  ``exp`` and ``power``, seeds 7 and 8; targets 20 and 25);
- ``evaluate_speed.make_curves(1000, 2031)``: half-epoch tables, mostly networks that never
  learn, with the published tables among them (targets 20 and 40);
- every ``CORPUS_DIR`` given (real tables), in its own half-epoch shape (targets 20 and 40)
  and in the per-epoch view of ``per_epoch_view.py`` (whole epochs 1-25; targets 20 and 25);
- every curve file given whose curves are measured once an epoch (``other_curves.py``'s, or
  one's own), as it is (its curves of at least 25 epochs; targets 20 and 25).

Candidates: ``penguin``; ``triage`` (`auto` until 2026-12-03); ``penguin_stop`` (PENGUIN's
stop, or triage's not-learning test, with triage's prediction there: `auto` until 2026-12-04,
when `auto` became these stops with a shipped model's prediction, scored leave-one-source-out
by ``auto_learned.py``: `auto` itself is not a candidate here, its model was fitted on these
sets); ``best_fit``; ``exp3`` and ``pow3``; and rules defined here, not shipped:

- ``triage_horizon``: triage whose stability threshold grows with the distance to the target,
  ``0.5 * (1 + log2(x_target / 20))`` points beyond point 20 (1.0 at point 40, 1.5 at 80:
  the thresholds at which triage saves what PENGUIN saves on ``corpus-learn2``, read off that
  corpus);
- ``triage_sharp``: triage whose ensemble weights are ``1 / held-out error ** 4`` instead of
  ``** 2`` (closer to the best family, still averaged);
- ``triage_median``: triage whose ensemble is the weighted median of the families' predictions
  instead of their weighted mean (one family far off moves it less);
- ``triage_prequential``: triage whose held-out error of a family averages the errors of its
  fits at every split point of the prefix's second half, not one (weights that move less);
- ``combined_horizon``: PENGUIN and ``triage_horizon`` side by side, stopped by whichever is
  confident first, with that one's prediction (``combined`` with the horizon threshold);
- ``penguin_stop_mean``: ``penguin_stop``'s stops, predicting there the plain mean of PENGUIN's
  and triage's predictions (PENGUIN's model is the better one on exponential-shaped curves,
  the ensemble on the others; the mean has nothing to tune);
- ``penguin_stop_narrow``: ``penguin_stop``'s stops, predicting there whichever of PENGUIN's
  and triage's predictions has the narrower interval (each model's own word on how tightly
  its fit pins the target; nothing to tune).

and, predicting at ``penguin_stop``'s stops with the families weighted otherwise (2026-12-04):

- ``penguin_stop_joint``: PENGUIN's own fit as a ninth member, weighted by its held-out error
  as the families are;
- ``penguin_stop_akaike``: Akaike weights (``exp(-AICc / 2)``, from each fit's in-sample
  residuals and parameter count) instead of held-out errors;
- ``penguin_stop_penalised``: the held-out weights times AICc's parameter penalty;
- ``penguin_stop_variance``: weights ``1 / (held-out error ** 2 + predictive variance at the
  target)``, the variance from each fit's own interval (a family of more parameters that fits
  the prefix as well extrapolates more loosely);
- ``penguin_stop_variance_joint``: the same with PENGUIN's own fit as a ninth member;
- ``penguin_stop_sharp``, ``penguin_stop_median``, ``penguin_stop_prequential``: the ensembles of
  ``triage_sharp``, ``triage_median`` and ``triage_prequential`` at PENGUIN's stop.
- ``triage_pow3``: triage's not-learning test, then the single family ``pow3`` (its fit, interval
  and stability window); ``penguin_stop_pow3``: ``pow3``'s fit at ``penguin_stop``'s stops.

Prints one markdown table per curve set and target (saved / MAE / Spearman, best-so-far MAE /
Spearman at the method's stops, interval coverage and width, and ``goal`` when the row meets
all five), then, per candidate, how many of the set-target cells it meets the goal in (and how
many of those are of real corpora), its MAE over PENGUIN's (geometric mean over the cells) and
its Spearman minus PENGUIN's (mean over the cells).
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import tempfile
import time
from abc import abstractmethod
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from nnlife import family_fit  # noqa: E402
from nnlife.curves import FAMILIES, fit_penguin, penguin_model  # noqa: E402
from nnlife.errors import InputError  # noqa: E402
from nnlife.predict import Penguin, Triage, load_curves, run_methods, score  # noqa: E402
from nnlife.predict.core import (  # noqa: E402
    DEFAULT_TARGET_EPOCH, Prediction, Tracker, _Windowed, check_target, clip_interval, mixture_interval,
)
from nnlife.predict.combined import PenguinStop, _PenguinStopTracker  # noqa: E402
from nnlife.predict.methods import _TriageTracker  # noqa: E402

HORIZON_BASE = 20.0  # the point index up to which the horizon threshold is PENGUIN's 0.5


def horizon_threshold(x_target: float, base: float = 0.5) -> float:
    """``base * (1 + log2(x_target / 20))``, and ``base`` up to point 20."""
    return base * (1.0 + math.log2(max(x_target, HORIZON_BASE) / HORIZON_BASE))


class _HorizonTracker(_TriageTracker):
    def step(self, train_loss, val_loss) -> Prediction:
        if len(self.epochs) == 2:  # the spacing, so the target's point index, is known from here
            self.window.threshold = horizon_threshold(self.x_target, self.window.threshold)
        return super().step(train_loss, val_loss)


class TriageHorizon(Triage):
    name = "triage_horizon"

    def tracker(self, target_epoch: float = DEFAULT_TARGET_EPOCH) -> Tracker:
        return _HorizonTracker(check_target(target_epoch), list(FAMILIES.values()), self.window(), self.triage_epoch,
                               self.min_drop, self.level)


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value at which the sorted values' cumulative weight first reaches half (the lower
    weighted median; numpy has no weighted median)."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])])


class _WeightedTracker(_TriageTracker):
    """triage whose ensemble weights are ``1 / held-out error ** power``, combined by their
    weighted mean or weighted median (the ensemble's hooks, nnlife.predict.methods)."""

    power = 2.0
    median = False

    def weights(self, errors):
        return np.asarray([1.0 / max(error, 1e-3) ** self.power for error in errors])

    def centre(self, v, w, mean):
        return weighted_median(v, w) if self.median else mean


class _SharpTracker(_WeightedTracker):
    power = 4.0


class _MedianTracker(_WeightedTracker):
    median = True


class TriageSharp(Triage):
    name = "triage_sharp"
    kind = _SharpTracker

    def tracker(self, target_epoch: float = DEFAULT_TARGET_EPOCH) -> Tracker:
        return self.kind(check_target(target_epoch), list(FAMILIES.values()), self.window(), self.triage_epoch,
                         self.min_drop, self.level)


class TriageMedian(TriageSharp):
    name = "triage_median"
    kind = _MedianTracker


class _PrequentialTracker(_TriageTracker):
    """triage whose held-out error of a family is the root mean of the squared held-out RMSEs
    of its fits on the first ``n - h`` to ``n - 2`` rows, each on the rows after it
    (prequential: every earlier split point, not one), so the weights move less from row to row."""

    def held_out_error(self, name, x, y):
        n = len(y)
        h = max(2, n // 2)
        history = self.fits[name]
        squares = []
        for m in range(n - h, n - 1):
            earlier = history[m - 1] if m - 1 >= 0 else None
            if earlier is None:
                continue
            rmse = family_fit.rmse_from(family_fit.CODES[earlier.family.name], earlier.array, x, y, m)
            squares.append((100.0 * (earlier.rmse if math.isnan(rmse) else rmse)) ** 2)
        if not squares:
            return super().held_out_error(name, x, y)
        return math.sqrt(sum(squares) / len(squares))


class TriagePrequential(TriageSharp):
    name = "triage_prequential"
    kind = _PrequentialTracker


class TriagePow3(Triage):
    """triage's not-learning test, then the one family ``pow3`` (its fit, its interval, its
    stability window) instead of the ensemble of eight."""

    name = "triage_pow3"

    def tracker(self, target_epoch: float = DEFAULT_TARGET_EPOCH) -> Tracker:
        return _TriageTracker(check_target(target_epoch), [FAMILIES["pow3"]], self.window(), self.triage_epoch,
                              self.min_drop, self.level)


class _PairTracker(Tracker):
    """PENGUIN and a triage tracker on the same rows, stopped by whichever is confident first
    (``nnlife.predict.combined``'s rule with another triage)."""

    def __init__(self, target_epoch: float, penguin: Tracker, inner: _TriageTracker):
        super().__init__(target_epoch)
        self.penguin, self.inner = penguin, inner

    def fit_requests(self, val_acc: float) -> list[tuple]:
        return self.inner.fit_requests(val_acc)

    def step(self, train_loss, val_loss) -> Prediction:
        epoch, acc = self.epochs[-1], self.acc[-1]
        self.penguin.need_interval = self.inner.need_interval = self.need_interval
        p = self.penguin.observe(epoch, acc, train_loss, val_loss)
        t = self.inner.observe(epoch, acc, train_loss, val_loss)
        if self.inner.verdict:  # not learning: triage's stop
            return t
        return p if p.confident and not t.confident else t


class CombinedHorizon(_Windowed):
    name = "combined_horizon"

    def tracker(self, target_epoch: float = DEFAULT_TARGET_EPOCH) -> Tracker:
        t = check_target(target_epoch)
        return _PairTracker(t, Penguin(self.N, self.threshold, self.level).tracker(t),
                            TriageHorizon(self.N, self.threshold, level=self.level).tracker(t))


class _Variant(PenguinStop):
    """A variant of ``penguin_stop``: its state on a curve is ``outer`` (a
    :class:`_PenguinStopTracker`, whose ``at_stop`` gives the prediction where PENGUIN stops)
    around an ``inner`` triage's tracker."""

    outer = _PenguinStopTracker
    inner = Triage

    def _tracker(self, target: float, penguin: Tracker) -> Tracker:
        return self.outer(target, penguin, self.inner(self.N, self.threshold, level=self.level).tracker(target))


class _MeanStopTracker(_PenguinStopTracker):
    """penguin_stop's rows and stops, predicting the mean of PENGUIN's and triage's predictions
    (and of their interval bounds) where PENGUIN stops."""

    def at_stop(self, p: Prediction, t: Prediction) -> Prediction:
        stop = super().at_stop(p, t)
        if stop is p or not math.isfinite(p.value):  # one of the two has no prediction
            return stop

        def mean(a, b):
            return None if a is None or b is None else 0.5 * (a + b)

        return Prediction(0.5 * (p.value + t.value), mean(p.uncertainty, t.uncertainty), True,
                          mean(p.lower, t.lower), mean(p.upper, t.upper))


class PenguinStopMean(_Variant):
    name = "penguin_stop_mean"
    outer = _MeanStopTracker


class _NarrowStopTracker(_PenguinStopTracker):
    """penguin_stop's rows and stops, predicting there whichever of PENGUIN's and triage's
    predictions has the narrower interval (each model's own statement of how well its fit pins
    the target down: PENGUIN's form fits an exponential-shaped prefix tightly, the ensemble
    the others)."""

    def at_stop(self, p: Prediction, t: Prediction) -> Prediction:
        stop = super().at_stop(p, t)
        if stop is p or not math.isfinite(p.value) or None in (p.lower, p.upper, t.lower, t.upper):
            return stop
        return p if (p.upper - p.lower) < (t.upper - t.lower) else stop


class PenguinStopNarrow(_Variant):
    name = "penguin_stop_narrow"
    outer = _NarrowStopTracker


class _ReweightedStopTracker(_PenguinStopTracker):
    """penguin_stop's rows and stops, predicting where PENGUIN stops with a mixture of its own:
    :meth:`members` gives the members' values, weights and interval half-widths (percent), and
    the prediction is their weighted mean, the interval the weighted mixture's
    (:func:`~nnlife.predict.core.mixture_interval`, as the ensemble's)."""

    @abstractmethod
    def members(self, p: Prediction, x: np.ndarray, y: np.ndarray):
        """``(values, weights, halves)``, or ``None`` for triage's own prediction."""

    def at_stop(self, p: Prediction, t: Prediction) -> Prediction:
        stop = super().at_stop(p, t)
        if stop is p:
            return stop
        tri = self.triage
        m = self.members(p, tri.xs(), np.asarray(tri.acc) / 100.0)
        if m is None:
            return stop
        values, weights, halves = (np.asarray(a, dtype=float) for a in m)
        w = weights / np.sum(weights)
        value = float(np.sum(w * values))
        ok = np.isfinite(halves)
        lower = upper = None
        if ok.any():
            lower, upper = clip_interval(*mixture_interval(values[ok], halves[ok], w[ok], tri.level))
        return Prediction(value, float(np.sqrt(np.sum(w * (values - value) ** 2))), True, lower, upper)


class _JointStopTracker(_ReweightedStopTracker):
    """The eight families *and PENGUIN's own fit*, each weighted by ``1 / held-out MSE`` as the
    ensemble weights its families (PENGUIN's held-out error: its model fitted on the rows up to
    ``h`` rows ago, on the ``h`` rows since, ``h = max(2, n // 2)``, the ensemble's split)."""

    def penguin_member(self, p: Prediction, x: np.ndarray) -> tuple[float, float, float] | None:
        """PENGUIN's ``(value, held-out error, half-width)`` at this row, or ``None``."""
        tri = self.triage
        n = len(x)
        h = max(2, n // 2)
        if n - h < 2 or not math.isfinite(p.value):
            return None
        early = fit_penguin(x[: n - h], np.asarray(tri.acc[: n - h]))
        if early is None:
            return None
        with np.errstate(all="ignore"):
            held = penguin_model(x[n - h:], *early) - np.asarray(tri.acc[n - h:])
        error = float(np.sqrt(np.mean(held ** 2)))
        if not math.isfinite(error):
            return None
        return p.value, error, (math.nan if p.lower is None else 0.5 * (p.upper - p.lower))

    def members(self, p, x, y):
        tri = self.triage
        scored = tri.scored(x, y)
        own = self.penguin_member(p, x)
        if not scored or own is None:
            return None
        return ([v for v, _, _ in scored] + [own[0]], tri.weights([e for _, e, _ in scored] + [own[1]]),
                [tri.half_width(fit, x, y) for _, _, fit in scored] + [own[2]])


class PenguinStopJoint(_Variant):
    name = "penguin_stop_joint"
    outer = _JointStopTracker


class _AkaikeStopTracker(_ReweightedStopTracker):
    """The families averaged by their Akaike weights (``exp(-AICc / 2)``, AICc from each fit's
    in-sample residuals, its parameter count and the rows so far; Burnham and Anderson's model
    averaging) instead of by held-out error: among families that fit the prefix about equally,
    the one with fewer parameters extrapolates with less variance, and the held-out error alone
    does not see it."""

    def members(self, p, x, y):
        tri = self.triage
        n = len(y)
        members = []
        for f in tri.families:
            fit = tri.fits[f.name][-1]
            k = len(f.params)
            if fit is None or n <= k + 1 or not fit.rmse > 0:
                continue
            value = tri.value(fit)
            aicc = n * math.log(fit.rmse ** 2) + 2 * k + 2 * k * (k + 1) / (n - k - 1)
            if math.isfinite(value) and math.isfinite(aicc):
                members.append((value, aicc, fit))
        if not members:
            return None
        a = np.asarray([c for _, c, _ in members])
        return [v for v, _, _ in members], np.exp(-(a - a.min()) / 2), [tri.half_width(fit, x, y) for _, _, fit in members]


class PenguinStopAkaike(_Variant):
    name = "penguin_stop_akaike"
    outer = _AkaikeStopTracker


class _PenalisedStopTracker(_ReweightedStopTracker):
    """The ensemble's held-out weights (``1 / held-out MSE``) times the parameter count's share
    of the Akaike weight, ``exp(-(k + k (k + 1) / (n - k - 1)))`` (AICc's penalty, halved): the
    held-out error judges the fit, the penalty breaks the near-ties between nested families of
    3 and 4 parameters in favour of the smaller."""

    def members(self, p, x, y):
        tri = self.triage
        n = len(y)
        scored = [(v, e, fit) for v, e, fit in tri.scored(x, y) if n > len(fit.family.params) + 1]
        if not scored:
            return None
        k = np.asarray([len(fit.family.params) for _, _, fit in scored], dtype=float)
        penalty = k + k * (k + 1) / (n - k - 1)
        return ([v for v, _, _ in scored], tri.weights([e for _, e, _ in scored]) * np.exp(-(penalty - penalty.min())),
                [tri.half_width(fit, x, y) for _, _, fit in scored])


class PenguinStopPenalised(_Variant):
    name = "penguin_stop_penalised"
    outer = _PenalisedStopTracker


class _VarianceStopTracker(_JointStopTracker):
    """The families weighted by the inverse of an estimate of each one's squared error at the
    target: its held-out error squared (how far off its form was on this curve) plus its
    predictive variance there (its own interval's half-width over the normal quantile: how
    loosely the prefix pins its extrapolation down). Families with more parameters that fit as
    well extrapolate more loosely, and the held-out error alone does not see that. With
    ``with_penguin``, PENGUIN's own fit is one more member, weighed the same way."""

    with_penguin = False

    def members(self, p, x, y):
        from scipy.special import ndtri

        tri = self.triage
        scored = tri.scored(x, y)
        values = [v for v, _, _ in scored]
        errors = [e for _, e, _ in scored]
        halves = [tri.half_width(fit, x, y) for _, _, fit in scored]
        own = self.penguin_member(p, x) if self.with_penguin else None
        if own is not None:
            values.append(own[0]), errors.append(own[1]), halves.append(own[2])
        values, errors, halves = np.asarray(values), np.asarray(errors), np.asarray(halves)
        ok = np.isfinite(halves)
        if not ok.any():
            return None
        z = float(ndtri(0.5 + tri.level / 2))
        return values[ok], 1.0 / np.maximum(errors[ok] ** 2 + (halves[ok] / z) ** 2, 1e-6), halves[ok]


class _VarianceJointStopTracker(_VarianceStopTracker):
    with_penguin = True


class PenguinStopVarianceJoint(_Variant):
    name = "penguin_stop_variance_joint"
    outer = _VarianceJointStopTracker


class PenguinStopVariance(_Variant):
    name = "penguin_stop_variance"
    outer = _VarianceStopTracker


class PenguinStopWith(_Variant):
    """penguin_stop with another triage's ensemble (its weights or centre) predicting at
    PENGUIN's stop: ``PenguinStopWith(TriageSharp, "penguin_stop_sharp")``."""

    def __init__(self, inner: type, name: str):
        super().__init__()
        self.inner, self.name = inner, name


def candidates():
    return {
        "penguin": "penguin",
        "triage (auto until 12-03)": "triage",
        "best_fit": "best_fit",
        "exp3": "exp3",
        "pow3": "pow3",
        "triage_horizon": TriageHorizon(),
        "triage_sharp": TriageSharp(),
        "triage_median": TriageMedian(),
        "triage_prequential": TriagePrequential(),
        "penguin_stop (auto until 12-04)": "penguin_stop",
        "combined_horizon": CombinedHorizon(),
        "penguin_stop_mean": PenguinStopMean(),
        "penguin_stop_narrow": PenguinStopNarrow(),
        "penguin_stop_joint": PenguinStopJoint(),
        "penguin_stop_akaike": PenguinStopAkaike(),
        "penguin_stop_penalised": PenguinStopPenalised(),
        "penguin_stop_sharp": PenguinStopWith(TriageSharp, "penguin_stop_sharp"),
        "penguin_stop_median": PenguinStopWith(TriageMedian, "penguin_stop_median"),
        "penguin_stop_prequential": PenguinStopWith(TriagePrequential, "penguin_stop_prequential"),
        "penguin_stop_variance": PenguinStopVariance(),
        "penguin_stop_variance_joint": PenguinStopVarianceJoint(),
        "triage_pow3": TriagePow3(),
        "penguin_stop_pow3": PenguinStopWith(TriagePow3, "penguin_stop_pow3"),
    }


def synthetic_sets(where: Path):
    import saturating_curves
    from evaluate_speed import make_curves

    for shape in ("exp", "power"):
        for seed in (7, 8):
            path = where / f"{shape}{seed}.csv"
            with open(path, "w", newline="") as handle:
                w = csv.writer(handle)
                w.writerow(["id", "epoch", "valAcc", "valLoss", "trainLoss"])
                w.writerows(saturating_curves.curves(shape, 200, 25, seed))
            yield f"synthetic {shape}, seed {seed} (per epoch)", load_curves([path]), (20.0, 25.0)
    yield "make_curves(1000, 2031) (half epochs)", [c for _, c, _ in make_curves(1000, 2031)], (20.0, 40.0)


def corpus_sets(paths):
    from per_epoch_view import per_epoch

    for p in paths:
        curves = load_curves([p])
        if curves and all(len(c.curve.epochs) > 1 and c.curve.epochs[1] - c.curve.epochs[0] == 1.0 for c in curves):
            # a curve file measured once an epoch (curves from elsewhere): scored as it is
            kept = [c for c in curves if len(c.curve.epochs) >= 25]
            yield f"{Path(p).name} ({len(kept)} curves, per epoch)", kept, (20.0, 25.0)
            continue
        yield f"{Path(p).name} ({len(curves)} tables, half epochs)", curves, (20.0, 40.0)
        view = [c for c in (per_epoch(c, 25) for c in curves) if len(c.curve.epochs) >= 25]
        yield f"{Path(p).name} ({len(view)}, per-epoch view)", view, (20.0, 25.0)


def meets(row, penguin) -> bool:
    return (row["saved"] >= penguin["saved"] and row["mae"] < penguin["mae"] and row["spearman"] > penguin["spearman"]
            and row["mae"] < row["bsf_mae"] and row["spearman"] > row["bsf_spearman"])


def score_cell(label: str, curves, target: float, cands: dict, workers: int) -> list[dict]:
    """Every candidate on one set at one target: its rows (``goal``: the cell's goal met), and
    the cell's table printed."""
    start = time.perf_counter()
    outcomes = run_methods(curves, list(cands.values()), target, workers=workers)
    here = []
    for name, outs in zip(cands, outcomes.values()):
        s = score(outs)
        here.append(dict(set=label, target=target, method=name, networks=s.networks, saved=s.epochs_saved,
                         mae=s.mae, spearman=s.spearman, bsf_mae=s.bsf_mae, bsf_spearman=s.bsf_spearman,
                         coverage=s.coverage, width=s.width))
    penguin = here[0]
    print(f"\n#### {label}, target {target:g} ({penguin['networks']} curves, {time.perf_counter() - start:.0f} s)\n")
    print("| method | saved | MAE | Spearman | best-so-far at its stops: MAE / Spearman | 80 % coverage / width | goal |")
    print("|---|---:|---:|---:|---|---|---|")
    for r in here:
        r["goal"] = r["method"] != "penguin" and meets(r, penguin)
        cov = f"{r['coverage']:.2f} / {r['width']:.1f}" if math.isfinite(r["coverage"]) else ""
        print(f"| {r['method']} | {r['saved']:.3f} | {r['mae']:.2f} | {r['spearman']:.3f} | "
              f"{r['bsf_mae']:.2f} / {r['bsf_spearman']:.3f} | {cov} | {'met' if r['goal'] else ''} |", flush=True)
    return here


def is_real(label: str) -> bool:
    """Whether a set's label names a corpus of real tables (not a synthetic set)."""
    return not label.startswith(("synthetic ", "make_curves"))


def report(rows: list[dict], csv_path: str | None) -> None:
    """How many cells each candidate meets the goal in (of them, on real corpora), with its MAE
    over PENGUIN's (geometric mean over the cells) and its Spearman minus PENGUIN's (mean);
    every row to ``csv_path`` if given."""
    penguin = {(r["set"], r["target"]): r for r in rows if r["method"] == "penguin"}
    cells: dict[str, list[tuple[bool, bool, float, float]]] = {}
    for r in rows:
        if r["method"] != "penguin":
            p = penguin[(r["set"], r["target"])]
            ratio = r["mae"] / p["mae"] if p["mae"] > 0 else math.nan
            cells.setdefault(r["method"], []).append((r["goal"], is_real(r["set"]), ratio, r["spearman"] - p["spearman"]))
    print("\n#### The goal met, cells of (curve set, target)\n")
    print("| method | cells met | of them, real corpora | MAE / PENGUIN's (geometric mean) | Spearman - PENGUIN's (mean) |")
    print("|---|---|---|---:|---:|")
    for name, cs in cells.items():
        real = [c for c in cs if c[1]]
        ratios = [c[2] for c in cs if math.isfinite(c[2]) and c[2] > 0]
        dspear = [c[3] for c in cs if math.isfinite(c[3])]
        gm = math.exp(sum(math.log(v) for v in ratios) / len(ratios)) if ratios else math.nan
        ds = sum(dspear) / len(dspear) if dspear else math.nan
        print(f"| {name} | {sum(c[0] for c in cs)} of {len(cs)} | {sum(c[0] for c in real)} of {len(real)} | "
              f"{gm:.3f} | {ds:+.4f} |")
    if csv_path:
        with open(csv_path, "w", newline="") as handle:
            w = csv.DictWriter(handle, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpora", nargs="*", help="directories of real tables, or curve files measured once an epoch (each its own set)")
    ap.add_argument("--no-synthetic", action="store_true", help="only the corpora given")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--csv", help="also write every row to this CSV")
    ap.add_argument("--only", help="comma-separated candidates to score besides penguin (default: all)")
    args = ap.parse_args(argv)
    cands = candidates()
    if args.only:
        wanted = ["penguin"] + [c.strip() for c in args.only.split(",") if c.strip()]
        unknown = [c for c in wanted if c not in cands]
        if unknown:
            ap.error(f"--only: unknown candidate {unknown[0]!r}; expected some of: {', '.join(cands)}")
        cands = {name: cands[name] for name in dict.fromkeys(wanted)}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        try:  # the corpora first: a bad path fails before any work
            corpora = list(corpus_sets(args.corpora))
        except InputError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        sets = ([] if args.no_synthetic else list(synthetic_sets(Path(tmp)))) + corpora
        if not sets:
            ap.error("no curve sets: give corpora or drop --no-synthetic")
        for label, curves, targets in sets:
            for target in targets:
                rows += score_cell(label, curves, target, cands, args.workers)
    report(rows, args.csv)
    return 0


if __name__ == "__main__":
    # the candidate classes by this module's name, so that worker processes can unpickle them
    import auto_rules

    sys.exit(auto_rules.main())
