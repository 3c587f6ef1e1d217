"""Online use (a training loop) and offline use (a recorded curve) on one code path; many
networks: loading curves from anywhere, running methods, scoring them against baselines."""

from __future__ import annotations

import csv
import dataclasses
import math
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..analysis import load as load_data
from ..curvefile import LabeledCurve, is_curve_file, read_curve_file, target_index
from ..errors import InputError, NoTablesError
from ..outputs import atomic_output
from ..table import Curve, Table, find_tables, is_parquet, read_table
from .core import DEFAULT_LEVEL, DEFAULT_N, DEFAULT_TARGET_EPOCH, DEFAULT_THRESHOLD, Predictor, check_target, past
from .combined import Combined, KnownPenguinStop, PenguinStop
from .methods import DEFAULT_BUDGET, prefill_fits
from .registry import METHODS, Auto, make_predictor


@dataclass(frozen=True)
class Outcome:
    """What a method decided for one network.

    ``stop_epoch``: the epoch training stops at (the row where the method became confident),
    else the target epoch, or the curve's last epoch if it ends before the target (online: the
    last epoch observed so far). ``predicted``: the method's prediction when it stopped, else
    the last observed accuracy. ``actual``: valAcc at the target epoch (``None`` online, or
    when the curve ends before it). ``saved``: the fraction of epochs saved. ``lower`` and
    ``upper``: the predictive interval of the prediction it stopped with (``None`` when it
    has none, or did not stop). ``best_so_far``: the highest valAcc observed up to the stop
    epoch (the honest baseline at the same cost).
    """

    method: str
    target_epoch: float
    converged: bool
    stop_epoch: float | None
    predicted: float
    uncertainty: float | None = None
    actual: float | None = None
    ID: str | None = None
    lower: float | None = None
    upper: float | None = None
    best_so_far: float | None = None

    @property
    def saved(self) -> float:
        """``(target - stop epoch) / target``: training up to the target epoch is the whole
        cost, so a network that was not stopped saves 0."""
        stop = self.target_epoch if self.stop_epoch is None else self.stop_epoch
        return (self.target_epoch - stop) / self.target_epoch

    @property
    def error(self) -> float | None:
        """``predicted - actual`` in percentage points (``None`` without ``actual``)."""
        return None if self.actual is None else self.predicted - self.actual


class OnlineStopper:
    """Early termination inside a training loop.

    Call :meth:`observe` with each row as it is measured (evenly spaced epochs, in order); it
    returns True when the method is confident and training should stop now (and keeps
    returning True). Rows after the target epoch are not looked at (``observe`` returns
    False: a network not stopped by the target trains on, and its outcome is final).
    :meth:`result` says what was decided; ``converged``, ``stop_epoch``, ``predicted`` and
    ``method`` are also attributes.
    """

    def __init__(
        self,
        method: str | Predictor,
        target_epoch: float = DEFAULT_TARGET_EPOCH,
        N: int = DEFAULT_N,
        threshold: float = DEFAULT_THRESHOLD,
        *,
        level: float = DEFAULT_LEVEL,
        budget: float = DEFAULT_BUDGET,
        spec=None,
    ):
        self.predictor = make_predictor(method, N=N, threshold=threshold, level=level, budget=budget)
        self.method = self.predictor.name
        self.target_epoch = check_target(target_epoch)
        self._tracker = self.predictor.tracker(self.target_epoch)
        self._tracker.spec = spec  # the network's spec, for methods that use it (learned:MODEL)
        self._tracker.need_interval = False  # only the interval it stops with is reported
        self.converged = False
        self.stop_epoch: float | None = None
        self.last = None  # the latest Prediction, confident or not
        self.best = math.nan  # the highest finite accuracy observed
        self._last_epoch: float | None = None

    def observe(self, epoch: float, val_acc: float, train_loss: float | None = None, val_loss: float | None = None) -> bool:
        if self.converged:
            return True
        epoch = float(epoch)
        if past(epoch, self.target_epoch):
            return False
        if self._last_epoch is not None and epoch <= self._last_epoch:
            raise ValueError(f"rows must come in order of epochs: {epoch} after {self._last_epoch}")
        self._last_epoch = epoch
        if math.isfinite(val_acc) and not (val_acc <= self.best):
            self.best = float(val_acc)
        self.last = self._tracker.observe(epoch, val_acc, train_loss, val_loss)
        if self.last.confident:
            self.converged = True
            self.stop_epoch = epoch
        return self.converged

    def fit_requests(self, epoch: float, val_acc: float) -> list[tuple]:
        """The curve-family fits :meth:`observe` of this row will ask for
        (:meth:`~nnlife.predict.core.Tracker.fit_requests`); none once stopped or past the
        target."""
        if self.converged or past(float(epoch), self.target_epoch):
            return []
        return self._tracker.fit_requests(val_acc)

    def __call__(self, row) -> bool:
        """The stopper as a training listener: ``row`` is a half-epoch row, anything with
        ``epoch``, ``valAcc``, ``trainLoss`` and ``valLoss`` attributes."""
        return self.observe(row.epoch, row.valAcc, row.trainLoss, row.valLoss)

    @property
    def predicted(self) -> float:
        """The prediction if the method stopped, else the last observed accuracy."""
        if self.converged and self.last is not None:
            return self.last.value
        return self._tracker.fallback

    def result(self) -> Outcome:
        stopped = self.last if self.converged else None
        stop = self.stop_epoch if self.converged else self._last_epoch
        return Outcome(
            self.method, self.target_epoch, self.converged, stop, self.predicted,
            None if stopped is None else stopped.uncertainty,
            lower=None if stopped is None else stopped.lower,
            upper=None if stopped is None else stopped.upper,
            best_so_far=None if math.isnan(self.best) else self.best,
        )


def labeled(curve: LabeledCurve | Table | Curve | Sequence[Sequence[float]]) -> LabeledCurve:
    """A :class:`~nnlife.curvefile.LabeledCurve` of a table, a curve, or arrays
    ``(epochs, valAcc[, trainLoss[, valLoss]])``."""
    if isinstance(curve, LabeledCurve):
        return curve
    if isinstance(curve, Table):
        return LabeledCurve.of_table(curve)
    if isinstance(curve, Curve):
        return LabeledCurve("", curve)
    arrays = [tuple(float(v) for v in a) for a in curve]
    if not 2 <= len(arrays) <= 4:
        raise ValueError("expected arrays (epochs, valAcc[, trainLoss[, valLoss]])")
    n = len(arrays[0])
    nan = tuple([math.nan] * n)
    epochs, val_acc = arrays[0], arrays[1]
    train_loss = arrays[2] if len(arrays) > 2 else nan
    val_loss = arrays[3] if len(arrays) > 3 else nan
    return LabeledCurve("", Curve(epochs, train_loss, val_loss, val_acc))


def curve_arrays(curve) -> tuple[str | None, Curve]:
    """(ID, curve) of a table, a labelled curve, a curve, or arrays."""
    c = labeled(curve)
    return c.ID or None, c.curve


def simulate(
    method: str | Predictor,
    curve_or_arrays: LabeledCurve | Table | Curve | Sequence[Sequence[float]],
    target_epoch: float = DEFAULT_TARGET_EPOCH,
    *,
    N: int = DEFAULT_N,
    threshold: float = DEFAULT_THRESHOLD,
    level: float = DEFAULT_LEVEL,
    budget: float = DEFAULT_BUDGET,
) -> Outcome:
    """Replay a recorded curve through an :class:`OnlineStopper`, row by row, and say what it
    decided, with the actual valAcc at the target epoch (which must be an epoch of the
    curve's grid: :class:`InputError` otherwise). A campaign stopping a network with the same
    method and parameters decides exactly the same."""
    c = labeled(curve_or_arrays)
    target_epoch = check_target(target_epoch)
    k = target_index(c, target_epoch)
    stopper = OnlineStopper(method, target_epoch, N=N, threshold=threshold, level=level, budget=budget, spec=c.spec)
    curve = c.curve
    for row in list(zip(curve.epochs, curve.valAcc, curve.trainLoss, curve.valLoss))[: k + 1]:
        if stopper.observe(*row):
            break
    actual = float(curve.valAcc[k]) if k < len(curve) else None
    return dataclasses.replace(stopper.result(), actual=actual, ID=c.ID or None)


# --------------------------------------------------------------------------------------
# Many networks: predict and evaluate


def load_curves(paths: Iterable[str | Path]) -> list[LabeledCurve]:
    """Every curve under the given paths, in order: a directory's tables (``*.txt``,
    recursively, sorted), a table, a Parquet pack of tables (``nnlife pack``), or a curve file
    (CSV, or Parquet with ``id`` and ``epoch`` columns; :mod:`nnlife.curvefile`)."""
    paths = [Path(p) for p in paths]
    out: list[LabeledCurve] = []
    for p in paths:
        if p.is_file() and is_curve_file(p):
            out.extend(read_curve_file(p))
        elif p.is_file() and is_parquet(p):
            out.extend(LabeledCurve.of_table(t, str(p)) for t in load_data([p], strict=True).tables())
        elif not p.is_dir():
            out.extend(LabeledCurve.of_table(read_table(f), str(f)) for f in find_tables([p]))
        else:
            # the data set loader (nnlife.analysis.load: parallel, a fifth of read_table's
            # time) reads the same tables, in the same order, to the same Table objects; a
            # directory without tables adds nothing (the message below names every path)
            try:
                lifespans = load_data([p], strict=True)
            except NoTablesError:
                continue
            sources = lifespans.networks.column("path").to_pylist()
            out.extend(LabeledCurve.of_table(t, f) for t, f in zip(lifespans.tables(), sources))
    if not out:
        raise InputError(f"no curves (tables *.txt, Parquet packs or curve files) under {', '.join(map(str, paths))}")
    return out




CHUNK = 1000  # curves replayed together in one process (their fits batched row by row)


def _simulate_chunk(task) -> list[list[Outcome]]:
    """:func:`simulate` of every method on every curve of the chunk, the same outcomes, with
    the curves replayed side by side: before each row, the curve-family fits that row needs
    on every curve (:meth:`OnlineStopper.fit_requests`) are made in one batch per family
    (:func:`~nnlife.predict.methods.prefill_fits`), so the fits cost numpy's time per point
    rather than Python's per call."""
    curves, methods, target_epoch, params = task
    # PENGUIN's fits are exact, one prefix at a time (_penguin_outcomes); ``combined`` is
    # PENGUIN's and triage's outcomes put together (combine_outcomes), so it fits nothing again;
    # ``penguin_stop`` and ``auto`` (the same stops) are replayed on PENGUIN's outcomes
    # (KnownPenguinStop), so PENGUIN is not fitted again either
    wanted = list(dict.fromkeys(methods))
    stop_rules = [m for m in wanted if isinstance(m, str) and METHODS.get(m) in (PenguinStop, Auto)]
    replayed = [m for m in wanted if m not in ("penguin", "combined") and m not in stop_rules]
    if "combined" in wanted and "triage" not in replayed:
        replayed.append("triage")
    done: dict = {}
    if "penguin" in wanted or "combined" in wanted or stop_rules:
        done["penguin"] = _penguin_outcomes(curves, target_epoch, params)
    done.update(zip(replayed, zip(*_replay(curves, replayed, target_epoch, params)) if curves else ()))
    if "combined" in wanted:
        done["combined"] = [combine_outcomes(p, t) for p, t in zip(done["penguin"], done["triage"])]
    for m in stop_rules:
        rule = make_predictor(m, **params)
        known = [[KnownPenguinStop(rule, p)] for p in done["penguin"]]
        done[m] = [o for [o] in _replay(curves, known, target_epoch, params)]
    return [[done[m][i] for m in methods] for i in range(len(curves))]


def combine_outcomes(penguin: Outcome, triage: Outcome) -> Outcome:
    """``combined``'s outcome on a curve from PENGUIN's and triage's there (same ``N``,
    ``threshold``, ``level`` and target): the rule that stopped first, triage's when both
    stopped on the same row or neither stopped. The same as replaying ``combined`` itself
    (its two rules see the same rows as they do alone), without fitting anything again."""
    first = penguin if penguin.converged and (not triage.converged or penguin.stop_epoch < triage.stop_epoch) else triage
    return dataclasses.replace(first, method=Combined.name)


def _penguin_outcomes(curves, target_epoch, params) -> list[Outcome]:
    return [simulate("penguin", c, target_epoch, **params) for c in curves]


def _replay(curves, methods, target_epoch, params) -> list[list[Outcome]]:
    """Every method on every curve, the curves side by side (their fits batched row by row).
    ``methods``: the same for every curve, or one list of predictors per curve."""
    if not methods:
        return [[] for _ in curves]
    per_curve = len(methods) == len(curves) and all(isinstance(m, list) for m in methods)
    predictors = None if per_curve else [make_predictor(m, **params) for m in methods]  # made once (a model file is read once)
    runs = []  # per curve: (rows up to the target, stoppers, actual)
    for i, c in enumerate(curves):
        k = target_index(c, target_epoch)
        curve = c.curve
        rows = list(zip(curve.epochs, curve.valAcc, curve.trainLoss, curve.valLoss))[: k + 1]
        stoppers = [OnlineStopper(m, target_epoch, spec=c.spec, **params) for m in (methods[i] if per_curve else predictors)]
        actual = float(curve.valAcc[k]) if k < len(curve) else None
        runs.append((rows, stoppers, actual))
    active = [(rows, s) for rows, stoppers, _ in runs for s in stoppers]  # in order; shrinks as they stop
    for r in range(max((len(rows) for rows, _, _ in runs), default=0)):
        active = [(rows, s) for rows, s in active if r < len(rows) and not s.converged]
        if not active:
            break
        live = [(rows[r], s) for rows, s in active]
        prefill_fits([key for row, s in live for key in s.fit_requests(row[0], row[1])])
        for row, s in live:
            s.observe(*row)
    return [
        [dataclasses.replace(s.result(), actual=actual, ID=c.ID or None) for s in stoppers]
        for c, (_, stoppers, actual) in zip(curves, runs)
    ]


def run_methods(
    curves: Sequence[LabeledCurve | Table | Curve],
    methods: Sequence[str | Predictor],
    target_epoch: float = DEFAULT_TARGET_EPOCH,
    *,
    N: int = DEFAULT_N,
    threshold: float = DEFAULT_THRESHOLD,
    workers: int | None = None,
    level: float = DEFAULT_LEVEL,
    budget: float = DEFAULT_BUDGET,
) -> dict[str, list[Outcome]]:
    """Simulate every method on every curve: ``{method: [Outcome per curve, in order]}``
    (keyed by the name given, or a predictor's ``name``).

    Fits are slow (tens of milliseconds each, up to one per row per family), so the
    networks are spread over a process pool of ``workers`` processes (default: one per CPU;
    ``1`` runs in this process). The result does not depend on ``workers``. The target
    epoch must be an epoch of every curve's grid (:class:`InputError` naming the first that
    it is not).
    """
    methods = tuple(methods)
    params = {"N": N, "threshold": threshold, "level": level, "budget": budget}
    keys = [m if isinstance(m, str) else make_predictor(m).name for m in methods]
    for m in methods:
        make_predictor(m, **params)  # bad names fail before any work
    target_epoch = check_target(target_epoch)
    items = [labeled(c) for c in curves]
    for c in items:
        target_index(c, target_epoch)
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 1:
        raise InputError(f"workers {workers!r}: expected a positive integer")
    workers = min(workers, len(items))
    # chunks as large as CHUNK allows while every worker gets at least two (load balance)
    size = max(1, min(CHUNK, -(-len(items) // (2 * workers)) if workers > 1 else CHUNK))
    tasks = [(items[i : i + size], methods, target_epoch, params) for i in range(0, len(items), size)]
    if workers <= 1:
        chunks = [_simulate_chunk(t) for t in tasks]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            chunks = list(pool.map(_simulate_chunk, tasks))
    per_curve = [outcomes for chunk in chunks for outcomes in chunk]
    return {key: [outcomes[i] for outcomes in per_curve] for i, key in enumerate(keys)}


def warm_up() -> float:
    """Compile nnlife's numba solvers (:mod:`nnlife.family_fit`, :mod:`nnlife.penguin_compiled`)
    into their on-disk cache now, by replaying every built-in method on two made-up curves (one
    learning, one flat) in this process; returns the seconds it took. numba compiles a function
    on its first call and caches it next to its source, so without this the first evaluation
    after an install (or an upgrade) spends some 30 s of every worker compiling the same code;
    ``install.sh`` calls it once. Harmless to call again (it then loads the cache, well under a
    second)."""
    import time

    start = time.perf_counter()
    t = 0.5 * np.arange(1, 81)
    rise = 1.0 - np.exp(-t / 3.0)
    learning = Curve.from_halves(2.3 - 1.5 * rise, 2.3 - 1.4 * rise, 10.0 + 70.0 * rise + 0.3 * np.sin(7 * t))
    flat = Curve.from_halves(np.full(80, 2.3026), np.full(80, 2.3026), np.full(80, 10.0))
    run_methods([learning, flat], list(METHODS), 20.0, workers=1)
    return time.perf_counter() - start


def predict_tables(
    paths: Iterable[str | Path],
    method: str,
    target_epoch: float = DEFAULT_TARGET_EPOCH,
    *,
    N: int = DEFAULT_N,
    threshold: float = DEFAULT_THRESHOLD,
    workers: int | None = None,
    level: float = DEFAULT_LEVEL,
    budget: float = DEFAULT_BUDGET,
) -> list[Outcome]:
    """The outcome of ``method`` on every curve under ``paths`` (:func:`load_curves`)."""
    make_predictor(method, N=N, threshold=threshold, level=level, budget=budget)
    curves = load_curves(paths)
    return run_methods(curves, [method], target_epoch, N=N, threshold=threshold, workers=workers,
                       level=level, budget=budget)[method]


predict_curves = predict_tables


@dataclass(frozen=True)
class MethodScore:
    """How well one method did over a set of networks (those whose curve reaches the target).

    ``converged``: fraction of networks stopped early; ``epochs_saved``: mean fraction of
    epochs saved (see :attr:`Outcome.saved`); ``mae``: mean absolute error of the predicted
    valAcc, percentage points; ``spearman``: Spearman rank correlation of predicted and actual
    (``nan`` when either is constant); ``top_kept`` of ``top_size``: how many of the true top
    10 % (``ceil(networks / 10)`` networks by actual valAcc) are also among the predicted top
    10 %. ``bsf_mae`` and ``bsf_spearman``: the same for the best valAcc observed up to the
    method's own stop epochs (the baseline at the same cost). ``intervals``: networks stopped
    with a predictive interval; ``coverage``: the share of those whose actual valAcc lies in
    it; ``width``: their mean width, points (``nan`` when there are none).
    """

    method: str
    target_epoch: float
    networks: int
    converged: float
    epochs_saved: float
    mae: float
    spearman: float
    top_kept: int
    top_size: int
    bsf_mae: float = math.nan
    bsf_spearman: float = math.nan
    intervals: int = 0
    coverage: float = math.nan
    width: float = math.nan

    def row(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def top_fraction(values: Sequence[float], fraction: float = 0.1) -> set[int]:
    """Indices of the ``ceil(fraction * n)`` largest values (ties: the earlier index first;
    ``nan`` counts as the smallest)."""
    k = math.ceil(fraction * len(values))
    order = sorted(range(len(values)), key=lambda i: (-values[i] if math.isfinite(values[i]) else math.inf, i))
    return set(order[:k])


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation (:func:`scipy.stats.spearmanr`: Pearson correlation of the
    ranks, ties averaged); ``nan`` when fewer than two values, when either side is constant,
    or with a non-finite value (scipy would rank ``nan``; a non-finite prediction is no
    ranking)."""
    from scipy.stats import spearmanr

    if len(a) < 2 or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return math.nan
    if np.ptp(np.asarray(a, dtype=float)) == 0 or np.ptp(np.asarray(b, dtype=float)) == 0:
        return math.nan  # scipy returns nan too, with a warning
    return float(spearmanr(a, b).statistic)


def _mae(predicted: Sequence[float], actual: Sequence[float]) -> float:
    errors = [abs(p - a) for p, a in zip(predicted, actual)]
    return float(np.mean(errors)) if errors and all(math.isfinite(e) for e in errors) else math.nan


def score(outcomes: Sequence[Outcome]) -> MethodScore:
    """Score one method's outcomes; networks without an actual value are left out."""
    if not outcomes:
        raise ValueError("no outcomes to score")
    scored = [o for o in outcomes if o.actual is not None and math.isfinite(o.actual)]
    method, target = outcomes[0].method, outcomes[0].target_epoch
    n = len(scored)
    if n == 0:
        return MethodScore(method, target, 0, math.nan, math.nan, math.nan, math.nan, 0, 0)
    predicted = [o.predicted for o in scored]
    actual = [float(o.actual) for o in scored]  # type: ignore[arg-type]
    baseline = [math.nan if o.best_so_far is None else o.best_so_far for o in scored]
    top_true = top_fraction(actual)
    banded = [o for o in scored if o.converged and o.lower is not None and o.upper is not None]
    return MethodScore(
        method=method,
        target_epoch=target,
        networks=n,
        converged=sum(o.converged for o in scored) / n,
        epochs_saved=sum(o.saved for o in scored) / n,
        mae=_mae(predicted, actual),
        spearman=spearman(predicted, actual),
        top_kept=len(top_true & top_fraction(predicted)),
        top_size=len(top_true),
        bsf_mae=_mae(baseline, actual),
        bsf_spearman=spearman(baseline, actual),
        intervals=len(banded),
        coverage=(sum(o.lower <= o.actual <= o.upper for o in banded) / len(banded)) if banded else math.nan,  # type: ignore[operator]
        width=float(np.mean([o.upper - o.lower for o in banded])) if banded else math.nan,  # type: ignore[operator]
    )


def evaluate(
    curves: Sequence[LabeledCurve | Table | Curve] | Iterable[str | Path],
    methods: Sequence[str | Predictor] | None = None,
    target_epoch: float = DEFAULT_TARGET_EPOCH,
    *,
    N: int = DEFAULT_N,
    threshold: float = DEFAULT_THRESHOLD,
    workers: int | None = None,
    level: float = DEFAULT_LEVEL,
    budget: float = DEFAULT_BUDGET,
) -> list[MethodScore]:
    """Every method (default: all of :data:`METHODS`) on every network: one score per method,
    in the order given. ``curves``: curves or tables, or paths (:func:`load_curves`)."""
    items = list(curves)
    if not all(isinstance(c, (LabeledCurve, Table, Curve)) for c in items):
        items = load_curves(items)  # type: ignore[arg-type]
    methods = list(METHODS) if methods is None else list(methods)
    results = run_methods(items, methods, target_epoch, N=N, threshold=threshold, workers=workers,
                          level=level, budget=budget)
    return [score(outcomes) for outcomes in results.values()]


# --------------------------------------------------------------------------------------
# Text and CSV


def _num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if math.isfinite(value) else str(value)


OUTCOME_COLUMNS = ("ID", "method", "target_epoch", "converged", "stop_epoch", "predicted", "actual", "uncertainty",
                   "lower", "upper", "best_so_far")


def outcome_row(o: Outcome) -> dict[str, object]:
    return {name: getattr(o, name) for name in OUTCOME_COLUMNS}


def format_outcomes(outcomes: Sequence[Outcome]) -> str:
    """One aligned line per network: ID, converged, stop epoch, predicted, its interval,
    actual."""
    rows = [("ID", "converged", "stop_epoch", "predicted", "interval", "actual")]
    for o in outcomes:
        band = "-" if o.lower is None or o.upper is None else f"{o.lower:.2f}..{o.upper:.2f}"
        rows.append((o.ID or "-", "yes" if o.converged else "no", _num(o.stop_epoch, 1), _num(o.predicted), band,
                     _num(o.actual)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in rows)


SCORE_HEADER = ("| method | networks | converged | epochs saved | MAE | Spearman | top-10% kept "
                "| best-so-far MAE | best-so-far Spearman | coverage | width |")


def format_scores(scores: Sequence[MethodScore]) -> str:
    """The method table, in markdown: each method's own numbers, then the best valAcc
    observed up to the same stop epochs, then its intervals' coverage and mean width."""
    lines = [SCORE_HEADER, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in scores:
        cov = "-" if not s.intervals else f"{s.coverage:.2f} ({s.intervals})"
        width = "-" if not s.intervals else _num(s.width)
        lines.append(
            f"| {s.method} | {s.networks} | {_num(s.converged)} | {_num(s.epochs_saved)} | {_num(s.mae)} "
            f"| {_num(s.spearman, 3)} | {s.top_kept}/{s.top_size} | {_num(s.bsf_mae)} | {_num(s.bsf_spearman, 3)} "
            f"| {cov} | {width} |"
        )
    return "\n".join(lines)


def write_csv(path: str | Path, rows: Sequence[dict[str, object]]) -> Path:
    """Write dictionaries (one per line, keys of the first as the header) as CSV."""
    path = Path(path)
    if path.parent and not path.parent.is_dir():
        raise InputError(f"{path}: directory {path.parent} does not exist")
    with atomic_output(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return path

