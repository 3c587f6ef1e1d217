"""The numbers a report draws and prints, computed from a loaded data set without drawing.

Everything here works on :attr:`nnlife.analysis.Lifespans.summary` (one row per network) and
on the curve columns of :attr:`~nnlife.analysis.Lifespans.networks`, with vectorised numpy and
pandas: a data set of tens of thousands of networks takes no Python loop per network.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..analysis import learned
from ..campaign import MANIFEST, MANIFEST_FORMAT
from ..errors import InputError, read_json
from ..spec import DATASETS

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import pyarrow as pa

# --------------------------------------------------------------------------------------
# Curves as one array


def padded_curves(column: "pa.ChunkedArray | pa.Array") -> np.ndarray:
    """A list<double> curve column as an (networks, longest curve) float array, one row per
    network, padded with NaN after the last recorded half epoch of a shorter curve."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False).astype(np.int64)
    values = column.flatten().to_numpy(zero_copy_only=False).astype(float, copy=False)
    n = len(lengths)
    longest = int(lengths.max()) if n else 0
    out = np.full((n, longest), np.nan)
    if n:
        rows = np.repeat(np.arange(n), lengths)
        starts = np.cumsum(lengths) - lengths
        cols = np.arange(len(values)) - np.repeat(starts, lengths)
        out[rows, cols] = values
    return out


@dataclass(frozen=True)
class Bands:
    """Per half epoch over a set of networks: the epochs (0.5, 1.0, ...), how many networks
    have a finite value there, and the quartiles of those values (NaN where none has one)."""

    epochs: np.ndarray
    count: np.ndarray
    q25: np.ndarray
    median: np.ndarray
    q75: np.ndarray


def curve_bands(curves: np.ndarray) -> Bands:
    """Quartiles of each column of a padded curve array (:func:`padded_curves`) over its
    finite values: NaN padding, diverged (NaN) and infinite values are left out, so each half
    epoch is summarised over the networks that were still running and finite there. The
    quantiles are numpy's default (linear interpolation), as ``np.percentile`` gives them."""
    values = np.where(np.isfinite(curves), curves, np.nan)
    count = np.isfinite(values).sum(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN, as wanted
        q25, median, q75 = np.nanquantile(values, [0.25, 0.5, 0.75], axis=0) if values.size else np.zeros((3, 0))
    epochs = 0.5 * np.arange(1, values.shape[1] + 1)
    return Bands(epochs, count, q25, median, q75)


# --------------------------------------------------------------------------------------
# Learned fractions


def learned_mask(summary: "pd.DataFrame") -> np.ndarray:
    """The ``learned`` flag of :func:`nnlife.analysis.learned`, from final valAcc and classes."""
    return learned(summary["valAcc_final"].to_numpy(float), summary["classes"].to_numpy())


def learned_by(summary: "pd.DataFrame", by: Sequence[str]) -> "pd.DataFrame":
    """Networks and networks that learned per group of ``by`` columns, with the percentage."""
    frame = summary[list(by)].copy()
    frame["learned"] = learned_mask(summary)
    out = frame.groupby(list(by), sort=True)["learned"].agg(networks="size", learned="sum").reset_index()
    out["learned_pct"] = 100.0 * out["learned"] / out["networks"]
    return out


# --------------------------------------------------------------------------------------
# Repeats of one network: the seed spread


def seed_spread(summary: "pd.DataFrame") -> "pd.DataFrame | None":
    """Per network trained more than once (rows sharing a ``network`` value within a data
    set): repeats, finite final valAcc values, their mean, sample standard deviation
    (ddof = 1), min, max and range (max - min). None when the summary has no ``network``
    column or no network appears twice."""
    if "network" not in summary.columns or not summary.duplicated(["dataset", "network"]).any():
        return None
    acc = summary["valAcc_final"].to_numpy(float)
    frame = summary[["dataset", "network"]].copy()
    frame["acc"] = np.where(np.isfinite(acc), acc, np.nan)
    groups = frame.groupby(["dataset", "network"], sort=False)["acc"]
    out = groups.agg(repeats="size", finite="count", mean="mean", std="std", min="min", max="max").reset_index()
    out = out[out["repeats"] >= 2].reset_index(drop=True)
    out["range"] = out["max"] - out["min"]
    return out


# --------------------------------------------------------------------------------------
# What each data set is: the campaign manifest next to its tables


def find_manifests(sources: Sequence[str], table_paths: Sequence[str]) -> list[Path]:
    """The ``campaign.json`` files next to a data set's inputs: in each input directory (or a
    file's directory), and in the directory above each ``<Dataset dir>_models`` directory that
    holds a table that was read (a campaign's own layout)."""
    candidates: list[Path] = []
    for source in sources:
        p = Path(source)
        candidates.append(p if p.is_dir() else p.parent)
    for models_dir in {os.path.dirname(p) for p in table_paths}:
        candidates.append(Path(models_dir).parent)
    seen: set[str] = set()
    found = []
    for directory in candidates:
        path = directory / MANIFEST
        key = os.path.abspath(path)
        if key not in seen and path.is_file():
            seen.add(key)
            found.append(path)
    return found


def read_options(path: Path) -> dict:
    """The ``options`` object of a campaign manifest, as written (no validation beyond its
    format: a report only shows them). Raises :class:`InputError` naming the file."""
    obj = read_json(path)
    if not isinstance(obj, dict) or obj.get("format") != MANIFEST_FORMAT:
        raise InputError(f"{path}: expected a JSON object with format {MANIFEST_FORMAT!r}")
    options = obj.get("options")
    if not isinstance(options, dict):
        raise InputError(f"{path}: field 'options': expected a JSON object")
    return options


# The published protocol (docs/training.md): option -> value. A campaign that differs in
# any of these is not comparable to the published distribution, and the page says so.
PUBLISHED = {
    "epochs": 40,
    "train_images": None,
    "test_images": None,
    "synthetic": False,
    "early_stop": None,
    "svhn_extra": False,
    "max_mflops": None,
    "min_lr": None,
    "max_conv_layers": None,
}
# Options that say how a campaign was made but not what it trained (``selection`` restates
# max_mflops/min_lr/max_conv_layers in words; repeats add tables of the same networks, shown as the seed spread).
NEUTRAL = {"datasets", "per_dataset", "seed", "precision", "deterministic", "target_epoch", "repeats", "selection"}


def deviations(options: dict) -> list[str]:
    """What in a campaign's options differs from the published protocol, as short phrases;
    an option this version does not know (a cost cap, say) is named when it is set."""
    out = []
    for name, published in PUBLISHED.items():
        value = options.get(name, published)
        if value != published:
            out.append(f"{name} = {show_option(name, value)} (published: {show_option(name, published)})")
    for name, value in options.items():
        if name not in PUBLISHED and name not in NEUTRAL and value not in (None, False, 0, "", [], {}):
            out.append(f"{name} = {show_option(name, value)}")
    return out


def show_option(name: str, value: object) -> str:
    """An option's value as the page prints it."""
    if value is None:
        return "the full split" if name.endswith("_images") else "not set"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


# --------------------------------------------------------------------------------------
# Structure against fitness


# Spec-derived features the model sees: (summary column, name on the page, transform).
FEATURES = (
    ("n_conv", "conv layers", None),
    ("n_fc", "FC layers", None),
    ("params", "log10 parameters", "log10"),
    ("flops", "log10 FLOPs", "log10"),
    ("activation_bytes", "log10 activation bytes", "log10"),
    ("flatten_features", "log10 flatten features", "log10"),
    ("conv_filters_max", "conv filters (max)", None),
    ("conv_filters_total", "conv filters (total)", None),
    ("n_relu", "ReLU blocks", None),
    ("n_pool", "pooling blocks", None),
    ("n_conv_dropout", "conv dropout blocks", None),
    ("n_fc_dropout", "FC dropout layers", None),
    ("dropout_rate", "conv dropout rate", None),
    ("FC_dropout_rate", "FC dropout rate", None),
    ("learning_rate", "log10 learning rate", "log10"),
    ("batch_size", "batch size", None),
    ("momentum", "log10 momentum (0: off)", "log10"),
    ("dampening", "log10 dampening (0: off)", "log10"),
    ("weight_decay", "log10 weight decay (0: off)", "log10"),
)
MIN_NETWORKS = 30  # fewer than this per data set: no model (5 folds of 6 say nothing)
LOW_R2 = 0.1  # below this cross-validated R^2 the importances say little
FOLDS = 5
PERMUTATION_REPEATS = 3
# Small, shallow trees: 50 of them at a learning rate of 0.2 fit and predict in half the time
# of 100 at 0.1, with the same held-out R^2 and the same ranking on data sets whose accuracy
# follows the spec (within 0.002 on 2000 networks; benchmarks/README.md, "Report speed").
MODEL = {"max_iter": 50, "learning_rate": 0.2, "max_leaf_nodes": 15, "min_samples_leaf": 10}


def feature_matrix(summary: "pd.DataFrame") -> tuple[np.ndarray, list[str]]:
    """The model's inputs: one row per network, the :data:`FEATURES` present in the summary.
    Rates that are 0 (switched off) are -7 on the log10 scale, below every drawn 10**p
    (p >= -6); the trees only see the order, which the log keeps."""
    columns, names = [], []
    for column, name, transform in FEATURES:
        if column not in summary.columns:
            continue
        x = summary[column].to_numpy(float)
        if transform == "log10":
            with np.errstate(divide="ignore", invalid="ignore"):
                x = np.where(x > 0, np.log10(np.where(x > 0, x, 1.0)), -7.0)
        columns.append(x)
        names.append(name)
    return np.column_stack(columns) if columns else np.zeros((len(summary), 0)), names


@dataclass(frozen=True)
class Importance:
    """Which spec fields predict final valAcc in one data set, and how well."""

    networks: int  # networks with a finite final valAcc, the rows the model saw
    left_out: int  # networks left out for a non-finite final valAcc
    folds: int
    grouped: bool  # folds keep every repeat of a network together
    r2: np.ndarray  # held-out R^2 per fold
    baseline_r2: np.ndarray  # held-out R^2 per fold of predicting the training folds' mean
    features: tuple[str, ...]  # in decreasing order of importance
    mean: np.ndarray  # mean drop in held-out R^2 when the feature is permuted
    std: np.ndarray  # its standard deviation over folds and repeats

    @property
    def reliable(self) -> bool:
        return float(np.mean(self.r2)) >= LOW_R2


def importance(summary: "pd.DataFrame", *, seed: int = 0) -> Importance | None:
    """Fit a gradient-boosting regressor (scikit-learn's ``HistGradientBoostingRegressor``)
    from the spec features to final valAcc, in :data:`FOLDS`-fold cross-validation, and rank
    the features by permutation importance on each held-out fold
    (:func:`permutation_drops`, :data:`PERMUTATION_REPEATS` repeats).
    Folds are shuffled with ``seed``; with a ``network`` column (repeats) they are grouped by
    network, so no network is in a training and a held-out fold at once. Deterministic for a
    given seed. None when fewer than :data:`MIN_NETWORKS` networks have a finite final valAcc."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.metrics import r2_score
    from sklearn.model_selection import GroupKFold, KFold
    from threadpoolctl import threadpool_limits

    y_all = summary["valAcc_final"].to_numpy(float)
    keep = np.isfinite(y_all)
    if int(keep.sum()) < MIN_NETWORKS:
        return None
    X, names = feature_matrix(summary[keep])
    y = y_all[keep]
    grouped = "network" in summary.columns and summary.loc[keep, "network"].duplicated().any()
    if grouped:
        groups = summary.loc[keep, "network"].to_numpy()
        folds = min(FOLDS, len(np.unique(groups)))
        splits = GroupKFold(n_splits=folds, shuffle=True, random_state=seed).split(X, y, groups)
    else:
        folds = FOLDS
        splits = KFold(n_splits=folds, shuffle=True, random_state=seed).split(X, y)
    r2, baseline, drops = [], [], []
    rng = np.random.default_rng(seed)
    # One thread: on a few thousand rows the OpenMP threads of the trees cost more than they
    # save (tens of times more on a busy machine), and one thread is bit-for-bit repeatable.
    with threadpool_limits(limits=1):
        for train, test in splits:
            # (MODEL) a model that is quick to fit five times per data set; early stopping
            # off so the fit does not depend on a split.
            model = HistGradientBoostingRegressor(**MODEL, early_stopping=False, random_state=seed)
            model.fit(X[train], y[train])
            r2.append(r2_score(y[test], model.predict(X[test])))
            baseline.append(r2_score(y[test], np.full(len(test), y[train].mean())))
            drops.append(permutation_drops(model, X[test], y[test], PERMUTATION_REPEATS, rng))
    drops_all = np.concatenate(drops, axis=1)
    mean = drops_all.mean(axis=1)
    std = drops_all.std(axis=1)
    order = np.argsort(-mean, kind="stable")
    return Importance(
        networks=int(keep.sum()), left_out=int((~keep).sum()), folds=folds, grouped=bool(grouped),
        r2=np.asarray(r2), baseline_r2=np.asarray(baseline),
        features=tuple(names[i] for i in order), mean=mean[order], std=std[order],
    )


def importances(summaries: Sequence["pd.DataFrame"], *, seed: int = 0) -> list[Importance | None]:
    """:func:`importance` of each summary, in one process (one import of scikit-learn)."""
    return [importance(summary, seed=seed) for summary in summaries]


def permutation_drops(model, X: np.ndarray, y: np.ndarray, repeats: int, rng: np.random.Generator) -> np.ndarray:
    """Permutation importance: for each feature (column of ``X``) and each of ``repeats``
    shuffles of it (drawn from ``rng``), the held-out R^2 of ``model`` on ``X, y`` minus its R^2
    with that column shuffled; an array (features, repeats).

    This is what ``sklearn.inspection.permutation_importance(model, X, y, scoring="r2")``
    computes, but with every shuffled copy of ``X`` stacked into one ``predict`` call: the
    library predicts once per feature and repeat, and on a few hundred rows the fixed cost of
    a call (input checks, scorer) is most of the time; batched it takes a third of the CPU
    time for 19 features and 5 repeats (0.075 s against 0.23 s on 400 networks), which the
    report's time budget needs.
    """
    n, f = X.shape
    base = r2_from(y, model.predict(X)[None])[0]
    stacked = np.broadcast_to(X, (f * repeats, n, f)).copy()
    order = np.argsort(rng.random((f * repeats, n)), axis=1)  # one shuffle per (feature, repeat)
    feature = np.repeat(np.arange(f), repeats)
    stacked[np.arange(f * repeats), :, feature] = X[order, feature[:, None]]
    predicted = model.predict(stacked.reshape(-1, f)).reshape(f * repeats, n)
    return (base - r2_from(y, predicted)).reshape(f, repeats)


def r2_from(y: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """R^2 of each row of ``predicted`` (k, n) against ``y`` (n), as ``sklearn.metrics.r2_score``
    defines it (1 - residual sum of squares / total sum of squares)."""
    total = np.sum((y - y.mean()) ** 2)
    return 1.0 - np.sum((predicted - y) ** 2, axis=1) / total


def present(summaries: Sequence["pd.DataFrame"]) -> list[str]:
    """The data sets present in any of the summaries, in the order of :data:`DATASETS`."""
    seen = set()
    for s in summaries:
        seen.update(s["dataset"].unique().tolist())
    return [name for name in DATASETS if name in seen]


def finite(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)]


def fmt(value: float, digits: int = 2) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"
