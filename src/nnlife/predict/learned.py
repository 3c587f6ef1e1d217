"""A prediction method learned from a corpus of curves (``learned:MODEL``).

The model predicts, from a prefix of ``k`` points of a curve and the index ``K`` of the target
point, how much the accuracy at the target differs from the last accuracy observed: three
gradient-boosted regressors (LightGBM) of the quantiles ``(1 - level) / 2``, 0.5 and
``(1 + level) / 2`` of that difference. The median is the prediction, the outer two bound its
predictive interval. Training uses every prefix ``k = 2 .. K`` of every curve for several
targets ``K`` per curve, so one model serves any stop point and any target. Features
(:data:`FEATURES`) are functions of the prefix in point-index units (any spacing of epochs)
and, where the input has one, of the network's spec (``nan`` otherwise: LightGBM routes
missing values down a learned side of each split).

The model file (``docs/predictors.md``) is JSON, never a pickle::

    {"format": "nnlife-predictor", "version": 1, "kind": "lightgbm-quantiles",
     "features": [...], "quantiles": [lo, 0.5, hi], "level": 0.8, "trained_on": {...},
     "lightgbm": "4.x", "models": {"lo": "<LightGBM text model>", ...}, "sha256": "..."}

``sha256`` is the SHA-256 of the canonical JSON (sorted keys, no spaces) of every other
field, so an edited or damaged file is refused; so is another format, version or feature list.
LightGBM's text model is parsed by LightGBM itself and holds only trees of numbers.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from ..curvefile import LabeledCurve
from ..errors import InputError
from ..spec import NetworkSpec, dataset_info
from ..table import atomic_write_text
from .core import (
    DEFAULT_LEVEL,
    DEFAULT_N,
    DEFAULT_TARGET_EPOCH,
    DEFAULT_THRESHOLD,
    Prediction,
    Tracker,
    _Windowed,
    check_level,
    check_target,
    clip_interval,
)

FORMAT = "nnlife-predictor"
VERSION = 1
KIND = "lightgbm-quantiles"

PREFIX_FEATURES = (
    "k", "K", "k_over_K", "log_K_over_k",
    "last", "best", "first", "mean_last3", "mid", "std_last5",
    "slope_last5", "slope_second_half",
    "val_loss_first", "val_loss_last", "val_loss_drop", "val_loss_best_drop",
    "train_loss_last", "train_loss_drop",
)
SPEC_FEATURES = ("chance", "log10_lr", "log10_batch", "conv_layers", "fc_layers", "log10_momentum", "log10_weight_decay",
                 "dropout")
FEATURES = PREFIX_FEATURES + SPEC_FEATURES
LAST = PREFIX_FEATURES.index("last")

# LightGBM's settings: single-threaded and deterministic, so that a fit is reproducible bit
# for bit; small trees, because a corpus holds hundreds of curves, not millions.
LGB_PARAMS = {
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "seed": 0,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,
    "verbose": -1,
}
ROUNDS = 200
MIN_POINTS = 2


def _slope(y: np.ndarray) -> float:
    y = y[np.isfinite(y)]
    if len(y) < 2:
        return math.nan
    x = np.arange(len(y), dtype=float)
    return float(np.polyfit(x, y, 1)[0])


def spec_features(spec: NetworkSpec | None) -> list[float]:
    if spec is None:
        return [math.nan] * len(SPEC_FEATURES)

    def log10(v: float) -> float:
        return math.log10(v) if v > 0 else -7.0  # a rate of 0 (off) sits below every drawn 10**p, p >= -6

    return [
        100.0 / dataset_info(spec.dataset).classes,
        log10(spec.learning_rate),
        math.log10(spec.batch_size),
        float(len(spec.convFilters)),
        float(len(spec.FCFilters)),
        log10(spec.momentum),
        log10(spec.weight_decay),
        float(spec.dropout_rate),
    ]


def prefix_features(acc: Sequence[float], val_loss: Sequence[float], train_loss: Sequence[float], K: int) -> list[float] | None:
    """The prefix features of :data:`PREFIX_FEATURES` (``None`` when no accuracy of the
    prefix is finite). ``K`` is the target's 1-based point index."""
    body = _prefix_body(acc, val_loss, train_loss)
    return None if body is None else _with_target(body, len(acc), K)


def _with_target(body: list[float], k: int, K: int) -> list[float]:
    """The four features of the prefix length ``k`` and target ``K``, then the prefix's own."""
    return [float(k), float(K), k / K, math.log(K / k)] + body


def _prefix_body(acc: Sequence[float], val_loss: Sequence[float], train_loss: Sequence[float]) -> list[float] | None:
    """The features of :data:`PREFIX_FEATURES` from ``last`` on, which depend on the prefix
    alone (so fitting computes them once per prefix, not once per prefix and target)."""
    a = np.asarray(acc, dtype=float)
    finite = a[np.isfinite(a)]
    if len(finite) == 0:
        return None
    k = len(a)
    last = float(finite[-1])
    vl = np.asarray(val_loss, dtype=float)
    tl = np.asarray(train_loss, dtype=float)
    vlf, tlf = vl[np.isfinite(vl)], tl[np.isfinite(tl)]
    half = a[k // 2:]
    return [
        last, float(finite.max()), float(finite[0]), float(np.mean(finite[-3:])),
        float(finite[len(finite) // 2]), float(np.std(finite[-5:])),
        _slope(a[-5:]), _slope(half),
        float(vlf[0]) if len(vlf) else math.nan,
        float(vlf[-1]) if len(vlf) else math.nan,
        float((vlf[0] - vlf[-1]) / abs(vlf[0])) if len(vlf) and vlf[0] != 0 else math.nan,
        float((vlf[0] - vlf.min()) / abs(vlf[0])) if len(vlf) and vlf[0] != 0 else math.nan,
        float(tlf[-1]) if len(tlf) else math.nan,
        float((tlf[0] - tlf[-1]) / abs(tlf[0])) if len(tlf) and tlf[0] != 0 else math.nan,
    ]


# --------------------------------------------------------------------------------------
# Fitting


def target_indices(n: int, targets_per_curve: int = 8) -> list[int]:
    """The 1-based target indices ``K`` a curve of ``n`` points is fitted for: ``targets_per_curve``
    spread evenly from its 10th point (or its last, if shorter) to its last; none for a curve
    of fewer than ``MIN_POINTS + 1`` points."""
    if n < MIN_POINTS + 1:
        return []
    return sorted({int(round(v)) for v in np.linspace(min(10, n), n, targets_per_curve)})


def training_rows(curves: Sequence[LabeledCurve], targets_per_curve: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Features and responses (target accuracy minus last accuracy) for every prefix
    ``k = 2 .. K`` of every curve, for ``targets_per_curve`` target indices ``K`` spread evenly
    over each curve's length (from its 10th point, or its last if shorter)."""
    X, y = [], []
    for c in curves:
        acc, vl, tl = c.curve.valAcc, c.curve.valLoss, c.curve.trainLoss
        Ks = target_indices(len(acc), targets_per_curve)
        spec = spec_features(c.spec)
        bodies: dict[int, list[float] | None] = {}
        for K in Ks:
            truth = acc[K - 1]
            if not math.isfinite(truth):
                continue
            for k in range(MIN_POINTS, K + 1):
                if k not in bodies:
                    bodies[k] = _prefix_body(acc[:k], vl[:k], tl[:k])
                if bodies[k] is None:
                    continue
                f = _with_target(bodies[k], k, K)
                X.append(f + spec)
                y.append(truth - f[LAST])
    if not X:
        raise InputError("no curve to learn from: expected curves of at least 3 points with a finite accuracy")
    return np.asarray(X, dtype=float), np.asarray(y, dtype=float)


def fit_model(curves: Sequence[LabeledCurve], *, level: float = DEFAULT_LEVEL, rounds: int = ROUNDS,
              sources: Sequence[str] = ()) -> dict:
    """Train the three quantile regressors on ``curves``; the model file's content (a dict,
    :func:`save_model` writes it)."""
    import lightgbm as lgb

    level = check_level(level)
    X, y = training_rows(curves)
    quantiles = [(1 - level) / 2, 0.5, (1 + level) / 2]
    models = {}
    for name, q in zip(("lo", "mid", "hi"), quantiles):
        params = dict(LGB_PARAMS, objective="quantile", alpha=q)
        booster = lgb.train(params, lgb.Dataset(X, y, feature_name=list(FEATURES), free_raw_data=False),
                            num_boost_round=rounds)
        models[name] = booster.model_to_string()
    content = {
        "format": FORMAT,
        "version": VERSION,
        "kind": KIND,
        "features": list(FEATURES),
        "quantiles": quantiles,
        "level": level,
        "trained_on": {"curves": len(curves), "rows": int(len(y)), "sources": list(sources)},
        "lightgbm": lgb.__version__,
        "models": models,
    }
    content["sha256"] = _digest(content)
    return content


def _digest(content: dict) -> str:
    body = {k: v for k, v in content.items() if k != "sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def save_model(content: dict, out: str | Path) -> Path:
    """Write a model file atomically."""
    out = Path(out)
    if out.is_dir():
        raise InputError(f"--out {out}: is a directory, expected a model file name")
    if not out.parent.is_dir():
        raise InputError(f"--out {out}: directory {out.parent} does not exist")
    return atomic_write_text(out, json.dumps(content, sort_keys=True, indent=1, ensure_ascii=True) + "\n")


def read_model(path: str | Path) -> dict:
    """A model file's content, verified: :class:`InputError` (one line) for anything but an
    intact file of this format, version and feature list."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such model file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read the model file ({err})") from None
    try:
        content = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"{path}:{err.lineno}: expected a JSON model file of nnlife predictor fit ({err.msg})") from None
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        got = content.get("format") if isinstance(content, dict) else type(content).__name__
        raise InputError(f"{path}: field 'format': expected {FORMAT!r}, got {got!r}")
    if content.get("version") != VERSION:
        raise InputError(f"{path}: field 'version': expected {VERSION} (this nnlife's model format), got {content.get('version')!r}")
    if content.get("kind") != KIND:
        raise InputError(f"{path}: field 'kind': expected {KIND!r}, got {content.get('kind')!r}")
    if content.get("features") != list(FEATURES):
        raise InputError(f"{path}: field 'features': expected this nnlife's {len(FEATURES)} features "
                         f"({', '.join(FEATURES[:3])}, ...), got another list")
    if content.get("sha256") != _digest(content):
        raise InputError(f"{path}: field 'sha256': the content does not match its checksum (the file was edited or damaged)")
    models = content.get("models")
    if not (isinstance(models, dict) and set(models) == {"lo", "mid", "hi"} and all(isinstance(m, str) for m in models.values())):
        raise InputError(f"{path}: field 'models': expected the text models 'lo', 'mid' and 'hi'")
    return content


# --------------------------------------------------------------------------------------
# The method


class LearnedPredictor(_Windowed):
    """``learned:MODEL``: the median of the model's quantiles is the prediction, the outer
    quantiles the interval (the model's own ``level``); stop by the :class:`StabilityWindow`."""

    def __init__(self, content: dict, name: str = "learned", N: int = DEFAULT_N, threshold: float = DEFAULT_THRESHOLD):
        super().__init__(N, threshold, float(content["level"]))
        self.name = name
        self.content = content
        self._boosters = None

    @classmethod
    def load(cls, path: str | Path, *, N: int = DEFAULT_N, threshold: float = DEFAULT_THRESHOLD) -> "LearnedPredictor":
        """The method of a model file. A process reads and verifies each file once (per
        size and modification time), not once per curve."""
        p = Path(path)
        try:
            stat = p.stat()
            key = (str(p.resolve()), stat.st_size, stat.st_mtime_ns)
        except OSError:
            key = None
        cached = _LOADED.get(key) if key else None
        if cached is None:
            cached = cls(read_model(p), f"learned:{path}")
            cached.boosters()
            if key:
                _LOADED[key] = cached
        out = cls(cached.content, f"learned:{path}", N, threshold)
        out._boosters = cached._boosters
        return out

    def boosters(self):
        if self._boosters is None:
            import lightgbm as lgb

            try:
                self._boosters = [lgb.Booster(model_str=self.content["models"][k]) for k in ("lo", "mid", "hi")]
            except lgb.basic.LightGBMError as err:
                raise InputError(f"{self.name}: a model LightGBM cannot read ({str(err).splitlines()[0]})") from None
        return self._boosters

    def predict_rows(self, X: np.ndarray) -> np.ndarray:
        """The three quantiles of the target-minus-last difference, one row per feature row."""
        return np.stack([b.predict(X, num_threads=1) for b in self.boosters()], axis=1)

    def predict_prefix(self, acc: Sequence[float], val_loss: Sequence[float], train_loss: Sequence[float], K: int,
                       spec: NetworkSpec | None = None) -> Prediction | None:
        """The prediction (not confident) from a prefix of a curve for its ``K``-th point
        (1-based), the network's ``spec`` where known; ``None`` when no accuracy of the prefix
        is finite."""
        f = prefix_features(acc, val_loss, train_loss, K)
        if f is None:
            return None
        row = np.asarray([f + spec_features(spec)], dtype=float)
        lo, mid, hi = (float(v) for v in self.predict_rows(row)[0])
        last = f[LAST]
        lower, upper = clip_interval(last + min(lo, mid), last + max(hi, mid))
        return Prediction(min(100.0, max(0.0, last + mid)), (upper - lower) / 2, False, lower, upper)

    def tracker(self, target_epoch: float = DEFAULT_TARGET_EPOCH) -> Tracker:
        return _LearnedTracker(check_target(target_epoch), self, self.window())

    def __getstate__(self):  # boosters are rebuilt from the text in a worker process
        state = dict(self.__dict__)
        state["_boosters"] = None
        return state

    def __repr__(self) -> str:
        return f"LearnedPredictor(name={self.name!r}, N={self.N}, threshold={self.threshold})"


_LOADED: dict[tuple, LearnedPredictor] = {}


class _LearnedTracker(Tracker):
    def __init__(self, target_epoch: float, predictor: LearnedPredictor, window):
        super().__init__(target_epoch)
        self.predictor = predictor
        self.window = window
        self.train_losses: list[float] = []
        self.val_losses: list[float] = []

    def step(self, train_loss, val_loss) -> Prediction:
        self.train_losses.append(math.nan if train_loss is None else float(train_loss))
        self.val_losses.append(math.nan if val_loss is None else float(val_loss))
        if len(self.acc) < MIN_POINTS or not math.isfinite(self.x_target):
            return self.no_prediction()
        pred = self.predictor.predict_prefix(self.acc, self.val_losses, self.train_losses, int(self.x_target), self.spec)
        if pred is None:
            return self.no_prediction()
        return Prediction(pred.value, pred.uncertainty, self.window.push(pred.value), pred.lower, pred.upper)
