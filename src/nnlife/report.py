"""A static HTML report of a loaded data set, with PNG figures made by matplotlib (Agg).

:func:`build_report` writes ``index.html`` and these figures into one directory:

* ``curves_<Dataset dir>.png``, one per data set present: validation accuracy, validation loss
  and training loss against epoch for a random sample of networks (seeded, so the same data
  set gives the same figure);
* ``final_accuracy.png``: the distribution of final validation accuracy per data set, with
  chance and the "learned" threshold marked;
* ``never_learned.png``: the fraction of networks per data set that never learned;
* ``accuracy_vs_conv_layers.png``, ``accuracy_vs_params.png``,
  ``accuracy_vs_learning_rate.png``, ``accuracy_vs_batch_size.png``: final validation accuracy
  against structure and hyperparameters;

and the page holds a summary table per data set. Every figure has a title with its counts and
labelled axes with units; the page explains the definitions, so it reads on its own. Figures
are drawn on :class:`matplotlib.figure.Figure` objects with the Agg canvas directly (no pyplot,
no global state), so a report builds on a machine without a display.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import MaxNLocator

from . import __version__
from .analysis import LEARNED_CHANCE_MULTIPLE, Lifespans, overview
from .errors import InputError
from .outputs import atomic_output, check_writable
from .spec import DATASETS

DPI = 110
COLORS = {"CIFAR100": "#1f77b4", "FashionMNIST": "#d62728", "SVHN": "#2ca02c"}


@dataclass(frozen=True)
class Figure:
    """One figure of a report: its file (relative to the report directory), title and caption."""

    file: str
    title: str
    caption: str


def _label(dataset: str) -> str:
    """A data set's usual name (CIFAR-100, FashionMNIST, SVHN)."""
    return DATASETS[dataset].dir_name


def _new_figure(width: float, height: float):
    """A figure drawn by the Agg canvas, whatever backend pyplot may be using."""
    fig = MplFigure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, out: Path, name: str) -> str:
    with atomic_output(out / name) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    return name


def _chance(dataset: str) -> float:
    return 100.0 / DATASETS[dataset].classes


def _present(summary) -> list[str]:
    return [name for name in DATASETS if (summary["dataset"] == name).any()]


# --------------------------------------------------------------------------------------
# The figures


def curves_figure(data: Lifespans, dataset: str, out: Path, *, count: int, seed: int) -> Figure:
    """Sample learning curves of one data set: accuracy, validation and training loss."""
    summary = data.summary
    rows = np.flatnonzero((summary["dataset"] == dataset).to_numpy())
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(rows, size=min(count, len(rows)), replace=False))
    columns = {name: data.networks[name].take(chosen).to_pylist() for name in ("valAcc", "valLoss", "trainLoss")}
    learned = summary["learned"].to_numpy()[chosen]

    fig = _new_figure(13, 4.2)
    axes = fig.subplots(1, 3)
    panels = (
        ("valAcc", "validation accuracy (%)", "Validation accuracy"),
        ("valLoss", "validation loss (cross-entropy, log scale)", "Validation loss"),
        ("trainLoss", "training loss (cross-entropy, log scale)", "Training loss (half-epoch mean)"),
    )
    longest = 0
    for ax, (name, ylabel, title) in zip(axes, panels):
        for values, ok in zip(columns[name], learned):
            y = np.asarray(values, dtype=float)
            x = 0.5 * np.arange(1, len(y) + 1)
            longest = max(longest, len(y))
            ax.plot(x, y, lw=1.0, alpha=0.8, color=COLORS[dataset] if ok else "0.55")
        if name == "valAcc":
            ax.axhline(_chance(dataset), color="k", ls=":", lw=1, label=f"chance ({_chance(dataset):g}%)")
            ax.legend(loc="upper left", fontsize=8)
        else:
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
    n_learned = int(learned.sum())
    title = (
        f"{_label(dataset)}: learning curves of {len(chosen)} of {len(rows)} networks "
        f"(random sample; {n_learned} learned in colour, {len(chosen) - n_learned} never learned in grey)"
    )
    fig.suptitle(title)
    name = _save(fig, out, f"curves_{_label(dataset)}.png")
    short = int((summary["n_rows"].to_numpy()[chosen] < longest).sum())
    caption = (
        f"Each line is one network of {_label(dataset)}, measured every half epoch. "
        f"{short} of the {len(chosen)} curves shown stop before the longest ({longest * 0.5:g} epochs): "
        "early-stopped networks. Breaks in a loss line are NaN or infinite values (diverged)."
    )
    return Figure(name, title, caption)


def final_accuracy_figure(data: Lifespans, out: Path) -> Figure:
    """Histogram of final validation accuracy, one panel per data set."""
    summary = data.summary
    present = _present(summary)
    fig = _new_figure(4.6 * len(present), 4.0)
    axes = np.atleast_1d(fig.subplots(1, len(present)))
    for ax, dataset in zip(axes, present):
        values = summary.loc[summary["dataset"] == dataset, "valAcc_final"].to_numpy(float)
        finite = values[np.isfinite(values)]
        ax.hist(finite, bins=np.linspace(0, 100, 51), color=COLORS[dataset], alpha=0.85)
        chance = _chance(dataset)
        ax.axvline(chance, color="k", ls=":", lw=1, label=f"chance ({chance:g}%)")
        ax.axvline(LEARNED_CHANCE_MULTIPLE * chance, color="k", ls="--", lw=1,
                   label=f"learned threshold ({LEARNED_CHANCE_MULTIPLE * chance:g}%)")
        ax.set_xlabel("final validation accuracy (%)")
        ax.set_ylabel("networks")
        ax.set_title(f"{_label(dataset)} (n = {len(finite)})")
        ax.set_xlim(0, 100)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    title = f"Final validation accuracy of {len(summary)} networks"
    fig.suptitle(title)
    name = _save(fig, out, "final_accuracy.png")
    caption = "Validation accuracy at the last recorded half epoch, in bins of 2 points."
    return Figure(name, title, caption)


def never_learned_figure(data: Lifespans, out: Path) -> Figure:
    """Bar chart of the percentage of networks that never learned, per data set."""
    table = overview(data.summary)
    fig = _new_figure(1.8 + 1.6 * len(table), 4.0)
    ax = fig.subplots()
    labels = [_label(d) for d in table["dataset"]]
    pct = table["never_learned_pct"].to_numpy(float)
    bars = ax.bar(labels, pct, color=[COLORS[d] for d in table["dataset"]])
    for bar, k, n in zip(bars, table["never_learned"], table["networks"]):
        ax.annotate(f"{k} of {n}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=9, xytext=(0, 2), textcoords="offset points")
    ax.set_ylim(0, 105)
    ax.set_ylabel("networks that never learned (%)")
    ax.set_xlabel("data set")
    ax.set_title(f"Networks that never learned ({int(table['never_learned'].sum())} of {int(table['networks'].sum())})")
    ax.grid(axis="y", alpha=0.3)
    name = _save(fig, out, "never_learned.png")
    caption = (
        f"A network never learned when its final validation accuracy is below "
        f"{LEARNED_CHANCE_MULTIPLE:g} times chance (or not finite)."
    )
    return Figure(name, ax.get_title(), caption)


def conv_layers_figure(data: Lifespans, out: Path) -> Figure:
    """Box plots of final validation accuracy per number of conv layers, per data set."""
    summary = data.summary
    present = _present(summary)
    fig = _new_figure(4.6 * len(present), 4.0)
    axes = np.atleast_1d(fig.subplots(1, len(present)))
    for ax, dataset in zip(axes, present):
        part = summary[summary["dataset"] == dataset]
        groups, labels = [], []
        for n_conv in sorted(part["n_conv"].unique()):
            values = part.loc[part["n_conv"] == n_conv, "valAcc_final"].to_numpy(float)
            values = values[np.isfinite(values)]
            if len(values):
                groups.append(values)
                labels.append(f"{n_conv}\n(n={len(values)})")
        if groups:
            ax.boxplot(groups, patch_artist=True, boxprops={"facecolor": COLORS[dataset], "alpha": 0.5})
            ax.set_xticks(range(1, len(groups) + 1), labels)
        ax.axhline(_chance(dataset), color="k", ls=":", lw=1, label=f"chance ({_chance(dataset):g}%)")
        ax.set_xlabel("convolutional layers (networks)")
        ax.set_ylabel("final validation accuracy (%)")
        ax.set_title(f"{_label(dataset)} (n = {sum(len(g) for g in groups)})")
        ax.tick_params(axis="x", labelsize=7)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    title = "Final validation accuracy against the number of convolutional layers"
    fig.suptitle(title)
    name = _save(fig, out, "accuracy_vs_conv_layers.png")
    caption = "Boxes span the quartiles, whiskers 1.5 times the interquartile range; circles are outliers."
    return Figure(name, title, caption)


def scatter_figure(
    data: Lifespans, out: Path, column: str, xlabel: str, log: bool, file: str, what: str, caption: str
) -> Figure:
    """Final validation accuracy against one per-network number, all data sets in one plot."""
    summary = data.summary
    fig = _new_figure(7.0, 4.6)
    ax = fig.subplots()
    shown = 0
    for dataset in _present(summary):
        part = summary[summary["dataset"] == dataset]
        x = part[column].to_numpy(float)
        y = part["valAcc_final"].to_numpy(float)
        ok = np.isfinite(x) & np.isfinite(y) & ((x > 0) if log else True)
        shown += int(ok.sum())
        ax.scatter(x[ok], y[ok], s=9, alpha=0.6, color=COLORS[dataset], label=f"{_label(dataset)} (n = {int(ok.sum())})",
                   edgecolors="none")
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("final validation accuracy (%)")
    ax.set_title(f"Final validation accuracy against {what} ({shown} networks)")
    ax.legend(fontsize=8, markerscale=2)
    ax.grid(alpha=0.3)
    name = _save(fig, out, file)
    return Figure(name, ax.get_title(), f"Each point is one network. {caption}")


# --------------------------------------------------------------------------------------
# The page


def _overview_html(data: Lifespans) -> str:
    table = overview(data.summary)
    head = [
        "data set", "networks", "learned", "never learned", "diverged", "final valAcc median (%)",
        "final valAcc mean (%)", "best valAcc (%)", "params median", "half epochs recorded",
    ]
    rows = []
    for r in table.itertuples(index=False):
        span = f"{r.n_rows_min}" if r.n_rows_min == r.n_rows_max else f"{r.n_rows_min}&ndash;{r.n_rows_max}"
        cells = [
            html.escape(_label(r.dataset)), f"{r.networks}", f"{r.learned}",
            f"{r.never_learned} ({r.never_learned_pct:.1f}%)", f"{r.diverged}",
            _num(r.valAcc_final_median), _num(r.valAcc_final_mean), _num(r.valAcc_max),
            f"{r.params_median:,.0f}", span,
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (
        '<table class="summary">\n<thead><tr>' + "".join(f"<th>{html.escape(h)}</th>" for h in head)
        + "</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>"
    )


def _num(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.2f}"


_STYLE = """
body { font-family: sans-serif; max-width: 1400px; margin: 2em auto; padding: 0 1em; color: #222; }
table.summary { border-collapse: collapse; margin: 1em 0; }
table.summary th, table.summary td { border: 1px solid #bbb; padding: 0.3em 0.6em; text-align: right; }
table.summary th { background: #eee; }
table.summary td:first-child { text-align: left; }
figure { margin: 2em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #444; margin-top: 0.4em; }
"""


def build_report(data: Lifespans, out_dir: str | Path, *, curves_per_dataset: int = 20, seed: int = 0) -> Path:
    """Write ``out_dir/index.html`` and its PNG figures for a loaded data set; returns the
    path of ``index.html``. ``curves_per_dataset`` networks per data set (chosen with
    ``seed``) are drawn in the learning-curve figures."""
    if len(data) == 0:
        raise InputError("no networks to report on: the inputs held no loadable table")
    if curves_per_dataset < 1:
        raise InputError(f"curves per data set {curves_per_dataset!r}: expected a positive integer")
    out = check_writable(Path(out_dir))  # before drawing: a read-only place fails at once
    summary = data.summary

    figures: list[Figure] = []
    for dataset in _present(summary):
        figures.append(curves_figure(data, dataset, out, count=curves_per_dataset, seed=seed))
    figures.append(final_accuracy_figure(data, out))
    figures.append(never_learned_figure(data, out))
    figures.append(conv_layers_figure(data, out))
    figures.append(scatter_figure(
        data, out, "params", "parameters (count, log scale)", True, "accuracy_vs_params.png", "parameter count",
        "Parameters are the weights and biases of the network's conv and FC layers.",
    ))
    figures.append(scatter_figure(
        data, out, "learning_rate", "learning rate (log scale)", True, "accuracy_vs_learning_rate.png",
        "learning rate", "The SGD learning rate drawn for the network (10**p, p in [-6, 0]).",
    ))
    figures.append(scatter_figure(
        data, out, "batch_size", "batch size (images)", False, "accuracy_vs_batch_size.png", "batch size",
        "The batch size drawn for the network, used for training and validation.",
    ))

    n_learned = int(summary["learned"].sum())
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        "<title>nnlife report: lifespans of random neural networks</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        "<h1>Lifespans of random neural networks</h1>",
        f"<p>{len(data)} networks ({n_learned} learned, {len(data) - n_learned} never learned), "
        f"loaded from {data.n_tables} tables and {data.n_parquet} Parquet files; "
        f"{len(data.skipped)} malformed tables skipped. "
        f"Inputs: {html.escape(', '.join(data.sources))}. Made by nnlife {html.escape(__version__)}.</p>",
        "<h2>Summary per data set</h2>",
        _overview_html(data),
        "<p><b>Definitions.</b> Accuracy is validation accuracy in percent on the data set's test "
        "split, measured every half epoch; losses are mean cross-entropy. <i>Final</i> is the last "
        "recorded half epoch (earlier than epoch 40 for early-stopped networks). A network "
        f"<i>learned</i> when its final validation accuracy is at least {LEARNED_CHANCE_MULTIPLE:g} "
        "times chance (chance = 100 / classes percent: 10% for FashionMNIST and SVHN, 1% for "
        "CIFAR-100); otherwise it <i>never learned</i>. A network <i>diverged</i> when any of its "
        "recorded values is NaN or infinite; best, mean, minimum and maximum are taken over the "
        "finite values.</p>",
        "<h2>Figures</h2>",
    ]
    for f in figures:
        parts.append(
            f'<figure id="{html.escape(Path(f.file).stem)}">'
            f'<img src="{html.escape(f.file)}" alt="{html.escape(f.title)}">'
            f"<figcaption><b>{html.escape(f.title)}.</b> {html.escape(f.caption)}</figcaption></figure>"
        )
    parts += ["</body>", "</html>", ""]
    index = out / "index.html"
    with atomic_output(index) as tmp:
        tmp.write_text("\n".join(parts), encoding="utf-8")
    return index
