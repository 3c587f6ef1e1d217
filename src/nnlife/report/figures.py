"""The report's figures, drawn on :class:`matplotlib.figure.Figure` objects with the Agg canvas
directly (no pyplot, no global state, no display needed).

Every function draws one or more *series* (a labelled data set: the one reported on and, when
asked, a reference) and returns a :class:`Figure` that records, besides its file, title and
caption, the legend labels of each panel as drawn, so a caller (and a test) can see what each
figure holds. Speed, because a report of 6000 networks should take seconds: curves are
``LineCollection`` objects (one artist per panel, not one per network), scatter plots are
marker-only lines, quantiles come precomputed from :mod:`nnlife.report.stats`, and layouts are
fixed margins rather than matplotlib's constrained layout, which draws every figure twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure as MplFigure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from ..analysis import LEARNED_CHANCE_MULTIPLE
from ..spec import DATASETS
from ..outputs import atomic_output
from . import stats

if TYPE_CHECKING:  # pragma: no cover
    from ..analysis import Lifespans

DPI = 90
DATASET_COLORS = {"CIFAR100": "#1f77b4", "FashionMNIST": "#d62728", "SVHN": "#2ca02c"}
SERIES_COLORS = ("#1f77b4", "#ff7f0e")  # the data set reported on, the reference


@dataclass(frozen=True)
class Series:
    """One labelled data set in the figures. ``index`` 0 is the data set reported on, 1 the
    reference; ``compare`` says whether a reference is drawn (then each series has one colour,
    otherwise each data set has its own)."""

    label: str
    data: "Lifespans"
    index: int = 0
    compare: bool = False

    @property
    def summary(self):
        return self.data.summary

    def color(self, dataset: str) -> str:
        return SERIES_COLORS[self.index] if self.compare else DATASET_COLORS[dataset]

    def part(self, dataset: str):
        s = self.summary
        return s[s["dataset"] == dataset]


@dataclass(frozen=True)
class Figure:
    """One figure of a report: its file (relative to the report directory), title, caption,
    and the legend labels of each panel that has a legend, as drawn."""

    file: str
    title: str
    caption: str
    legends: tuple[tuple[str, ...], ...] = ()


def label(dataset: str) -> str:
    """A data set's usual name (CIFAR-100, FashionMNIST, SVHN)."""
    return DATASETS[dataset].dir_name


def chance(dataset: str) -> float:
    return 100.0 / DATASETS[dataset].classes


def _new(width: float, height: float, rows: int = 1, cols: int = 1, **adjust):
    fig = MplFigure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    margins = {"left": 0.07, "right": 0.98, "bottom": 0.13, "top": 0.86, "wspace": 0.25, "hspace": 0.45}
    margins.update(adjust)
    fig.subplots_adjust(**margins)
    return fig, axes


def _finish(fig, out: Path, name: str, title: str, caption: str) -> Figure:
    fig.suptitle(title, fontsize=11)
    legends = tuple(
        tuple(t.get_text() for t in ax.get_legend().get_texts()) for ax in fig.axes if ax.get_legend() is not None
    )
    write_atomic(out / name, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI))
    return Figure(name, title, caption, legends)


def write_atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """Have ``write`` fill a temporary file beside ``path``, then rename it over ``path``
    (:func:`nnlife.outputs.atomic_output`: a crash never leaves a partial file under the
    final name, and a write that fails is one :class:`nnlife.outputs.OutputError`)."""
    with atomic_output(path) as tmp:
        write(tmp)
    return path


def _segments(x: np.ndarray, y: np.ndarray, positive: bool) -> list[np.ndarray]:
    """The runs of finite (and, for a log axis, positive) points of one curve, as (k, 2)
    arrays: a LineCollection does not break a line at NaN the way ``plot`` does."""
    ok = np.isfinite(y) & ((y > 0) if positive else True)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], ok.astype(np.int8), [0]))))
    return [np.column_stack((x[a:b], y[a:b])) for a, b in zip(edges[::2], edges[1::2]) if b - a >= 1]


def _pct_label(series: Series, n: int) -> str:
    return f"{series.label} (n = {n})"


# --------------------------------------------------------------------------------------
# Sample curves of the data set reported on


def curve_sample(series: Series, dataset: str, *, count: int, seed: int) -> dict:
    """The networks of one data set drawn in its curves figure (``count`` of them, chosen with
    ``seed``): their rows and their padded valAcc, valLoss and trainLoss curves."""
    rows = np.flatnonzero((series.summary["dataset"] == dataset).to_numpy())
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(rows, size=min(count, len(rows)), replace=False))
    sample = series.data.networks.take(chosen)
    curves = {name: stats.padded_curves(sample[name]) for name in ("valAcc", "valLoss", "trainLoss")}
    return {"rows": len(rows), "chosen": chosen, "curves": curves}


def curves_figure(series: Series, dataset: str, sample: dict, out: Path) -> Figure:
    """Sample learning curves of one data set (:func:`curve_sample`): accuracy, validation
    and training loss."""
    summary = series.summary
    chosen = sample["chosen"]
    ok = stats.learned_mask(summary.iloc[chosen])
    colors = np.where(ok, series.color(dataset), "0.55")

    fig, axes = _new(13, 4.2, 1, 3, left=0.05, wspace=0.28)
    panels = (
        ("valAcc", "validation accuracy (%)", "Validation accuracy"),
        ("valLoss", "validation loss (cross-entropy, log scale)", "Validation loss"),
        ("trainLoss", "training loss (cross-entropy, log scale)", "Training loss (half-epoch mean)"),
    )
    longest = 0
    for ax, (name, ylabel, title) in zip(axes[0], panels):
        curves = sample["curves"][name]
        longest = max(longest, curves.shape[1])
        x = 0.5 * np.arange(1, curves.shape[1] + 1)
        segments, seg_colors = [], []
        for y, c in zip(curves, colors):
            parts = _segments(x, y, positive=name != "valAcc")
            segments += parts
            seg_colors += [c] * len(parts)
        ax.add_collection(LineCollection(segments, colors=seg_colors, linewidths=1.0, alpha=0.8))
        ax.autoscale_view()
        if name == "valAcc":
            ax.axhline(chance(dataset), color="k", ls=":", lw=1, label=f"chance ({chance(dataset):g}%)")
            ax.legend(loc="upper left", fontsize=8)
        else:
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    n_learned = int(ok.sum())
    n_rows = summary["n_rows"].to_numpy()[chosen]
    title = (
        f"{label(dataset)}: learning curves of {len(chosen)} of {sample['rows']} networks "
        f"(random sample; {n_learned} learned in colour, {len(chosen) - n_learned} never learned in grey)"
    )
    short = int((n_rows < longest).sum())
    caption = (
        f"Each line is one network of {label(dataset)} in {series.label}, measured every half epoch. "
        f"{short} of the {len(chosen)} curves shown stop before the longest ({longest * 0.5:g} epochs): "
        "early-stopped networks. Breaks in a loss line are NaN or infinite values (diverged)."
    )
    return _finish(fig, out, f"curves_{label(dataset)}.png", title, caption)


# --------------------------------------------------------------------------------------
# Figures that draw every series


def bands_figure(series: Sequence[Series], datasets: Sequence[str], bands: dict, out: Path) -> Figure:
    """Median and quartiles of valAcc and valLoss per half epoch, one row per data set;
    ``bands[(series index, dataset, metric)]`` is a :class:`stats.Bands`."""
    fig, axes = _new(12, 3.6 * len(datasets), len(datasets), 2, top=1 - 0.8 / (3.6 * len(datasets)),
                     bottom=0.45 / (3.6 * len(datasets)), hspace=0.35)
    for row, dataset in zip(axes, datasets):
        for ax, metric in zip(row, ("valAcc", "valLoss")):
            for s in series:
                b = bands.get((s.index, dataset, metric))
                if b is None:
                    continue
                color = s.color(dataset)
                ax.fill_between(b.epochs, b.q25, b.q75, color=color, alpha=0.25, lw=0)
                n = int(b.count[0]) if len(b.count) else 0
                ax.plot(b.epochs, b.median, color=color, lw=1.8, label=f"{s.label}: median, quartiles (n = {n})")
            if metric == "valAcc":
                ax.axhline(chance(dataset), color="k", ls=":", lw=1, label=f"chance ({chance(dataset):g}%)")
                ax.set_ylabel("validation accuracy (%)")
            else:
                ax.set_yscale("log")
                ax.set_ylabel("validation loss (log scale)")
            ax.set_xlabel("epoch")
            ax.set_title(f"{label(dataset)}: {'validation accuracy' if metric == 'valAcc' else 'validation loss'}",
                         fontsize=10)
            ax.grid(alpha=0.3)
            # A fixed corner: "best" would test every point of every band, which is slow.
            ax.legend(fontsize=8, loc="lower right" if metric == "valAcc" else "upper right")
    title = "Learning-curve bands: median and quartiles per half epoch"
    caption = (
        "The line is the median over the networks with a finite value at that half epoch, the "
        "shaded band spans the first to the third quartile. Early-stopped networks drop out "
        "after their last half epoch; NaN and infinite values (diverged) are left out; n is the "
        "number of networks at the first half epoch."
    )
    return _finish(fig, out, "curve_bands.png", title, caption)


def final_accuracy_figure(series: Sequence[Series], datasets: Sequence[str], out: Path) -> Figure:
    """Histograms of final validation accuracy, one panel per data set, one series each."""
    compare = len(series) > 1
    fig, axes = _new(4.6 * len(datasets), 4.0, 1, len(datasets), left=0.25 / len(datasets) + 0.03)
    bins = np.linspace(0, 100, 51)
    for ax, dataset in zip(axes[0], datasets):
        for s in series:
            values = stats.finite(s.part(dataset)["valAcc_final"].to_numpy(float))
            if not len(values):
                continue
            weights = np.full(len(values), 100.0 / len(values)) if compare else None
            ax.hist(values, bins=bins, weights=weights, color=s.color(dataset), alpha=0.45 if compare else 0.85,
                    label=_pct_label(s, len(values)))
            if compare:
                ax.hist(values, bins=bins, weights=weights, color=s.color(dataset), histtype="step", lw=1.2)
        c = chance(dataset)
        ax.axvline(c, color="k", ls=":", lw=1, label=f"chance ({c:g}%)")
        ax.axvline(LEARNED_CHANCE_MULTIPLE * c, color="k", ls="--", lw=1,
                   label=f"learned threshold ({LEARNED_CHANCE_MULTIPLE * c:g}%)")
        ax.set_xlabel("final validation accuracy (%)")
        ax.set_ylabel("networks (% of the data set)" if compare else "networks")
        ax.set_title(label(dataset), fontsize=10)
        ax.set_xlim(0, 100)
        if not compare:
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8, loc="upper right")
        ax.grid(alpha=0.3)
    total = " and ".join(f"{len(s.summary)} networks of {s.label}" for s in series)
    title = f"Final validation accuracy of {total}"
    caption = "Validation accuracy at the last recorded half epoch, in bins of 2 points" + (
        "; each data set's bars are percentages of its own networks, so data sets of different sizes compare."
        if compare else "."
    )
    return _finish(fig, out, "final_accuracy.png", title, caption)


def learned_figure(series: Sequence[Series], datasets: Sequence[str], out: Path) -> Figure:
    """Bars: the percentage of networks that learned, per data set, one bar per series."""
    fig, axes = _new(2.0 + 1.8 * len(datasets) * len(series), 4.2, top=0.84, left=0.16, right=0.97)
    ax = axes[0, 0]
    width = 0.8 / len(series)
    x = np.arange(len(datasets))
    totals = []
    for s in series:
        table = stats.learned_by(s.summary, ["dataset"]).set_index("dataset").reindex(datasets)
        pct = table["learned_pct"].to_numpy(float)
        k = table["learned"].fillna(0).to_numpy(int)
        n = table["networks"].fillna(0).to_numpy(int)
        totals.append((s.label, int(k.sum()), int(n.sum())))
        bars = ax.bar(x + (s.index - (len(series) - 1) / 2) * width, np.nan_to_num(pct), width * 0.95,
                      color=[s.color(d) for d in datasets], label=s.label if len(series) > 1 else None)
        for bar, ki, ni in zip(bars, k, n):
            if ni:
                ax.annotate(f"{ki} of {ni}", (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center",
                            va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(x, [label(d) for d in datasets])
    ax.set_ylim(0, 105)
    ax.set_ylabel("networks that learned (%)")
    ax.set_xlabel("data set")
    ax.grid(axis="y", alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8)
    title = "Networks that learned (" + "; ".join(
        (f"{lab}: " if len(series) > 1 else "") + f"{k} of {n}" for lab, k, n in totals) + ")"
    caption = (
        f"A network learned when its final validation accuracy is finite and at least "
        f"{LEARNED_CHANCE_MULTIPLE:g} times chance; otherwise it never learned."
    )
    return _finish(fig, out, "learned.png", title, caption)


def learned_by_conv_figure(series: Sequence[Series], datasets: Sequence[str], out: Path) -> Figure:
    """The percentage that learned against the number of conv layers, per data set."""
    fig, axes = _new(4.6 * len(datasets), 4.0, 1, len(datasets), left=0.25 / len(datasets) + 0.03)
    for ax, dataset in zip(axes[0], datasets):
        for s in series:
            table = stats.learned_by(s.part(dataset), ["n_conv"])
            if table.empty:
                continue
            ax.plot(table["n_conv"], table["learned_pct"], "o-", color=s.color(dataset), ms=4,
                    label=f"{s.label} (n = {int(table['networks'].sum())})")
        ax.set_xlabel("convolutional layers")
        ax.set_ylabel("networks that learned (%)")
        ax.set_ylim(-3, 103)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(label(dataset), fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    title = "Networks that learned against the number of convolutional layers"
    caption = "Each point is the percentage of the networks with that many conv layers that learned."
    return _finish(fig, out, "learned_vs_conv_layers.png", title, caption)


def conv_layers_figure(series: Sequence[Series], datasets: Sequence[str], out: Path) -> Figure:
    """Box plots of final validation accuracy per number of conv layers, side by side per series."""
    fig, axes = _new(4.6 * len(datasets), 4.2, 1, len(datasets), left=0.25 / len(datasets) + 0.03, bottom=0.17)
    width = 0.8 / len(series)
    for ax, dataset in zip(axes[0], datasets):
        ticks: set[int] = set()
        handles = []
        for s in series:
            part = s.part(dataset)
            acc = part["valAcc_final"].to_numpy(float)
            conv = part["n_conv"].to_numpy()
            ok = np.isfinite(acc)
            layers = np.unique(conv[ok])
            if not len(layers):
                continue
            order = np.argsort(conv[ok], kind="stable")
            groups = np.split(acc[ok][order], np.searchsorted(conv[ok][order], layers[1:]))
            ticks.update(layers.tolist())
            ax.boxplot(groups, positions=layers + (s.index - (len(series) - 1) / 2) * width, widths=width * 0.9,
                       patch_artist=True, manage_ticks=False, flierprops={"markersize": 2},
                       boxprops={"facecolor": s.color(dataset), "alpha": 0.5})
            handles.append(Patch(facecolor=s.color(dataset), alpha=0.5, label=f"{s.label} (n = {int(ok.sum())})"))
        ax.set_xticks(sorted(ticks))
        ax.axhline(chance(dataset), color="k", ls=":", lw=1)
        ax.set_xlabel("convolutional layers")
        ax.set_ylabel("final validation accuracy (%)")
        ax.set_title(label(dataset), fontsize=10)
        ax.legend(handles=handles, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    title = "Final validation accuracy against the number of convolutional layers"
    caption = ("Boxes span the quartiles, whiskers 1.5 times the interquartile range; circles are outliers; "
               "the dotted line is chance.")
    return _finish(fig, out, "accuracy_vs_conv_layers.png", title, caption)


def scatter_figure(series: Series, column: str, xlabel: str, log: bool, file: str, what: str, caption: str,
                   out: Path) -> Figure:
    """Final validation accuracy against one per-network number, all data sets in one plot."""
    summary = series.summary
    fig, axes = _new(7.0, 4.6, top=0.9, left=0.1)
    ax = axes[0, 0]
    shown = 0
    for dataset in stats.present([summary]):
        part = summary[summary["dataset"] == dataset]
        x = part[column].to_numpy(float)
        y = part["valAcc_final"].to_numpy(float)
        ok = np.isfinite(x) & np.isfinite(y) & ((x > 0) if log else True)
        shown += int(ok.sum())
        ax.plot(x[ok], y[ok], "o", ms=2.5, alpha=0.6, mew=0, color=DATASET_COLORS[dataset],
                label=f"{label(dataset)} (n = {int(ok.sum())})")
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("final validation accuracy (%)")
    ax.legend(fontsize=8, markerscale=2, loc="upper left")
    ax.grid(alpha=0.3)
    title = f"Final validation accuracy against {what} ({shown} networks of {series.label})"
    return _finish(fig, out, file, title, f"Each point is one network. {caption}")


def spread_figure(spreads: Sequence[tuple[Series, object]], datasets: Sequence[str], out: Path) -> Figure:
    """Per network trained several times: the min-max range and the mean of final valAcc
    across its repeats, networks sorted by mean, one panel per data set."""
    fig, axes = _new(4.6 * len(datasets), 4.0, 1, len(datasets), left=0.25 / len(datasets) + 0.03)
    for ax, dataset in zip(axes[0], datasets):
        for s, spread in spreads:
            part = spread[spread["dataset"] == dataset].sort_values("mean", kind="stable")
            if part.empty:
                continue
            rank = np.arange(len(part)) / max(len(part) - 1, 1) * 100.0
            color = s.color(dataset)
            ax.vlines(rank, part["min"], part["max"], color=color, alpha=0.5, lw=1.2)
            ax.plot(rank, part["mean"], "o", ms=2.5, color=color,
                    label=f"{s.label}: {len(part)} networks, median std {part['std'].median():.2f}")
        ax.axhline(chance(dataset), color="k", ls=":", lw=1)
        ax.set_xlabel("networks, sorted by mean final accuracy (percentile)")
        ax.set_ylabel("final validation accuracy (%)")
        ax.set_title(label(dataset), fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    title = "Seed spread: final validation accuracy across repeats of one network"
    caption = ("Each vertical line is one network trained several times: it spans the lowest to the highest "
               "final validation accuracy of its repeats; the dot is their mean.")
    return _finish(fig, out, "seed_spread.png", title, caption)


def importance_figure(results: Sequence[tuple[Series, str, "stats.Importance"]], out: Path, top: int = 10) -> Figure:
    """Permutation importance of the spec fields for final valAcc, one panel per fitted
    (series, data set): the ``top`` most important, with their standard deviation."""
    cols = min(3, len(results))
    rows = -(-len(results) // cols)
    fig, axes = _new(5.2 * cols, 3.6 * rows, rows, cols, left=0.2 / cols + 0.12, wspace=0.75, hspace=0.5,
                     top=1 - 0.55 / (3.6 * rows), bottom=0.45 / (3.6 * rows))
    flat = axes.ravel()
    for ax, (s, dataset, imp) in zip(flat, results):
        k = min(top, len(imp.features))
        y = np.arange(k)[::-1]
        ax.barh(y, imp.mean[:k], xerr=imp.std[:k], color=s.color(dataset), alpha=0.8 if imp.reliable else 0.35,
                error_kw={"lw": 0.8})
        ax.set_yticks(y, imp.features[:k], fontsize=8)
        ax.set_xlabel("drop in held-out R² when permuted")
        r2 = float(np.mean(imp.r2))
        ax.set_title(f"{s.label}, {label(dataset)}: CV R² {r2:.2f}" + ("" if imp.reliable else " (too low)"),
                     fontsize=9)
        ax.axvline(0, color="k", lw=0.6)
        ax.grid(axis="x", alpha=0.3)
    for ax in flat[len(results):]:
        ax.set_axis_off()
    title = "Which spec fields predict final validation accuracy"
    caption = (
        "Permutation importance of a gradient-boosting model from spec fields to final validation "
        f"accuracy, on held-out folds of {stats.FOLDS}-fold cross-validation ({stats.PERMUTATION_REPEATS} "
        "permutations per fold); bars are the mean drop in R², lines one standard deviation. Pale bars: "
        f"cross-validated R² below {stats.LOW_R2:g}, so the ranking says little."
    )
    return _finish(fig, out, "importance.png", title, caption)
