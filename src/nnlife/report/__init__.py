"""A static HTML report of a loaded data set, optionally drawn against a reference data set
(the published one, an earlier campaign), with PNG figures made by matplotlib (Agg).

:func:`build_report` writes ``index.html`` and these figures into one directory:

* ``curves_<Dataset dir>.png``, one per data set present: validation accuracy, validation loss
  and training loss against epoch for a random sample of networks (seeded);
* ``curve_bands.png``: median and quartiles of valAcc and valLoss per half epoch;
* ``final_accuracy.png``: the distribution of final validation accuracy per data set, with
  chance and the "learned" threshold marked;
* ``learned.png`` and ``learned_vs_conv_layers.png``: the fraction of networks that learned
  per data set, and per number of conv layers;
* ``accuracy_vs_conv_layers.png``: box plots of final accuracy per number of conv layers;
* ``accuracy_vs_params.png``, ``accuracy_vs_learning_rate.png``, ``accuracy_vs_batch_size.png``:
  final validation accuracy against structure and hyperparameters (the data set reported on);
* ``importance.png``: which spec fields predict final accuracy (a cross-validated
  gradient-boosting model and permutation importance, per data set of at least
  :data:`stats.MIN_NETWORKS` networks);
* ``seed_spread.png`` and ``seed_spread.csv``, when a network was trained several times (the
  summary has a ``network`` column with repeated values): the spread of final accuracy
  across its repeats.

With a reference, the bands, final-accuracy, learned and conv-layer figures draw both data
sets in two colours with a legend naming each. The page says at the top what each data set
is: its inputs, its networks per data set and, when a ``campaign.json`` lies next to its
tables, the campaign's options, with what differs from the published protocol.
"""

from __future__ import annotations

import html
import multiprocessing
import sys
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .. import __version__
from ..analysis import LEARNED_CHANCE_MULTIPLE, Lifespans, default_workers, overview
from ..errors import InputError
from ..outputs import atomic_write_text, check_writable
from . import figures as figs
from . import stats
from .figures import Figure, Series

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["Report", "build_report", "Figure"]


@dataclass(frozen=True)
class Report:
    """What :func:`build_report` wrote and computed: the page, its figures (with the legend
    labels of each panel), the bands, importances and seed spreads per series label."""

    index: Path
    labels: tuple[str, ...]
    figures: tuple[Figure, ...]
    bands: dict = field(default_factory=dict)  # (label, dataset, metric) -> stats.Bands
    importance: dict = field(default_factory=dict)  # (label, dataset) -> stats.Importance | None
    spread: dict = field(default_factory=dict)  # label -> seed-spread frame

    def figure(self, file: str) -> Figure:
        return next(f for f in self.figures if f.file == file)


def default_label(data: Lifespans) -> str:
    """A short name for a data set: the last part of its first input's path."""
    if not data.sources:
        return "data set"
    first = Path(data.sources[0])
    name = first.name or str(first)
    return name + (f" (+{len(data.sources) - 1})" if len(data.sources) > 1 else "")


def build_report(
    data: Lifespans,
    out_dir: str | Path,
    *,
    reference: Lifespans | None = None,
    label: str | None = None,
    reference_label: str | None = None,
    curves_per_dataset: int = 20,
    seed: int = 0,
) -> Report:
    """Write ``out_dir/index.html`` and its PNG figures for a loaded data set, drawn against
    ``reference`` when given. ``curves_per_dataset`` networks per data set (chosen with
    ``seed``) are drawn in the learning-curve figures; ``seed`` also shuffles the folds of the
    importance model. Labels default to the last part of each data set's first input path."""
    if len(data) == 0:
        raise InputError("no networks to report on: the inputs held no loadable table")
    if reference is not None and len(reference) == 0:
        raise InputError("--reference: no networks in the reference: its inputs held no loadable table")
    if curves_per_dataset < 1:
        raise InputError(f"curves per data set {curves_per_dataset!r}: expected a positive integer")
    # Read the manifests first: a malformed one stops the report before anything is written.
    inputs = [data] if reference is None else [data, reference]
    manifests = [_manifests(d) for d in inputs]
    out = check_writable(Path(out_dir))  # before drawing: a read-only place fails at once

    labels = [label or default_label(data)]
    if reference is not None:
        ref = reference_label or default_label(reference)
        labels.append(ref if ref != labels[0] else f"{ref} (reference)")
    compare = reference is not None
    series = [Series(lab, d, i, compare) for i, (lab, d) in enumerate(zip(labels, inputs))]
    datasets = stats.present([s.summary for s in series])

    bands = {}
    for s in series:
        rows = s.summary["dataset"].to_numpy()
        for metric in ("valAcc", "valLoss"):
            curves = stats.padded_curves(s.data.networks[metric])
            for dataset in datasets:
                mask = rows == dataset
                if mask.any():
                    bands[(s.index, dataset, metric)] = stats.curve_bands(curves[mask])
    samples = {d: figs.curve_sample(series[0], d, count=curves_per_dataset, seed=seed)
               for d in stats.present([series[0].summary])}
    fits = [(s.index, d) for s in series for d in datasets
            if np.isfinite(s.part(d)["valAcc_final"].to_numpy(float)).sum() >= stats.MIN_NETWORKS]
    # The models in as few workers as leave one for the figures: importing scikit-learn is
    # a second of CPU in every process that fits one.
    groups = max(1, min(len(fits), default_workers() - 1))
    batches = [fits[k::groups] for k in range(groups)] if fits else []
    tasks = [partial(stats.importances, [series[i].part(d) for i, d in batch], seed=seed) for batch in batches]
    tasks += _figure_tasks(series, datasets, bands, samples, out)
    results = _run_tasks(tasks)
    importances = {(s.index, d): None for s in series for d in datasets if (s.summary["dataset"] == d).any()}
    for batch, fitted in zip(batches, results[:len(batches)]):
        importances.update(zip(batch, fitted))
    figures = results[len(batches):]
    spreads = [(s, stats.seed_spread(s.summary)) for s in series]
    spreads = [(s, sp) for s, sp in spreads if sp is not None and len(sp)]

    fitted = [(s, d, importances[(s.index, d)]) for s in series for d in datasets
              if importances.get((s.index, d)) is not None]
    if fitted:
        figures.append(figs.importance_figure(fitted, out))
    if spreads:
        figures.append(figs.spread_figure(spreads, datasets, out))
        frame = _spread_csv([(s.label, sp) for s, sp in spreads])
        figs.write_atomic(out / "seed_spread.csv", lambda tmp: frame.to_csv(tmp, index=False, encoding="utf-8"))

    page = _page(series, manifests, figures, importances, spreads, datasets)
    # The page is ASCII: anything else (R², ±, a label's letters) as HTML character references.
    index = atomic_write_text(out / "index.html", page.encode("ascii", "xmlcharrefreplace").decode("ascii"))
    return Report(
        index=index,
        labels=tuple(labels),
        figures=tuple(figures),
        bands={(labels[i], d, m): b for (i, d, m), b in bands.items()},
        importance={(labels[i], d): imp for (i, d), imp in importances.items()},
        spread={s.label: sp for s, sp in spreads},
    )


def _figure_tasks(series, datasets, bands, samples, out: Path) -> list:
    """The figures every report has, in page order, as functions that draw them."""
    main = series[0]
    tasks = [partial(figs.curves_figure, main, d, sample, out) for d, sample in samples.items()]
    tasks += [
        partial(figs.bands_figure, series, datasets, bands, out),
        partial(figs.final_accuracy_figure, series, datasets, out),
        partial(figs.learned_figure, series, datasets, out),
        partial(figs.learned_by_conv_figure, series, datasets, out),
        partial(figs.conv_layers_figure, series, datasets, out),
        partial(figs.scatter_figure, main, "params", "parameters (count, log scale)", True, "accuracy_vs_params.png",
                "parameter count", "Parameters are the weights and biases of the network's conv and FC layers.", out),
        partial(figs.scatter_figure, main, "learning_rate", "learning rate (log scale)", True,
                "accuracy_vs_learning_rate.png", "learning rate",
                "The SGD learning rate drawn for the network (10**p, p in [-6, 0]).", out),
        partial(figs.scatter_figure, main, "batch_size", "batch size (images)", False, "accuracy_vs_batch_size.png",
                "batch size", "The batch size drawn for the network, used for training and validation.", out),
    ]
    return tasks


# The tasks of the running report, for forked workers to find (they inherit this module's
# memory, so a task's data set is never pickled; only its index goes to the worker).
_TASKS: list = []


def _call(i: int):
    return _TASKS[i]()


def _run_tasks(tasks: list) -> list:
    """Run independent tasks (importance models, figures) and return their results in order.

    With more than one core they run in forked worker processes, the slowest (the models)
    first: drawing and fitting are single-threaded Python, so workers are what makes a report
    of thousands of networks take seconds. Each task is seeded and writes only its own file,
    so where it runs changes nothing in the report. Everything that reads the Arrow curve
    columns ran before the fork (Arrow's own threads do not survive one); workers use numpy,
    pandas, matplotlib and scikit-learn only."""
    global _TASKS
    workers = min(len(tasks), default_workers())
    if workers <= 1 or not sys.platform.startswith("linux"):
        return [task() for task in tasks]
    from concurrent.futures import ProcessPoolExecutor

    _TASKS = tasks
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
            return list(pool.map(_call, range(len(tasks))))
    finally:
        _TASKS = []


def _manifests(data: Lifespans) -> list[tuple[Path, dict]]:
    paths = data.summary["path"].unique().tolist() if data.n_tables else []
    return [(p, stats.read_options(p)) for p in stats.find_manifests(data.sources, paths)]


def _spread_csv(spreads: list[tuple[str, "pd.DataFrame"]]) -> "pd.DataFrame":
    import pandas as pd

    return pd.concat([sp.assign(source=lab)[["source"] + list(sp.columns)] for lab, sp in spreads],
                     ignore_index=True)


# --------------------------------------------------------------------------------------
# The page


def _e(text: object) -> str:
    return html.escape(str(text))


def _table(head: list[str], rows: list[list[str]], cls: str = "summary") -> str:
    """An HTML table; cells are HTML already (escape text before)."""
    return (
        f'<table class="{cls}">\n<thead><tr>' + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr></thead>\n<tbody>\n"
        + "\n".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows) + "\n</tbody>\n</table>"
    )


def _overview_html(summary: "pd.DataFrame") -> str:
    table = overview(summary)
    head = [
        "data set", "networks", "learned", "never learned", "diverged", "final valAcc median (%)",
        "final valAcc mean (%)", "best valAcc (%)", "params median", "half epochs recorded",
    ]
    rows = []
    for r in table.itertuples(index=False):
        span = f"{r.n_rows_min}" if r.n_rows_min == r.n_rows_max else f"{r.n_rows_min}&ndash;{r.n_rows_max}"
        rows.append([
            _e(figs.label(r.dataset)), f"{r.networks}", f"{r.learned}",
            f"{r.never_learned} ({r.never_learned_pct:.1f}%)", f"{r.diverged}",
            stats.fmt(r.valAcc_final_median), stats.fmt(r.valAcc_final_mean), stats.fmt(r.valAcc_max),
            f"{r.params_median:,.0f}", span,
        ])
    return _table(head, rows)


def _what_html(s: Series, manifests: list[tuple[Path, dict]]) -> str:
    """What one data set is: inputs, counts per data set, campaign options."""
    data, summary = s.data, s.summary
    role = "the data set reported on" if s.index == 0 else "the reference"
    counts = ", ".join(
        f"{figs.label(d)} {int((summary['dataset'] == d).sum())}" for d in stats.present([summary])
    )
    epochs = 0.5 * summary["n_rows"].to_numpy()
    span = f"{epochs.max():g}" if epochs.min() == epochs.max() else f"{epochs.min():g}&ndash;{epochs.max():g}"
    lines = [
        f"<h3>{_e(s.label)} ({role})</h3>",
        f"<p>{len(data)} networks ({counts}), loaded from {data.n_tables} tables and {data.n_parquet} Parquet "
        f"files; {len(data.skipped)} malformed tables skipped. Curves recorded for {span} epochs. Inputs: {_e(', '.join(data.sources))}.</p>",
    ]
    if not manifests:
        lines.append(
            "<p>No <code>campaign.json</code> next to these tables: how they were trained (epochs, image "
            "subsets, cost cap) is not recorded here. The published data set has none; its networks were "
            "trained for 40 epochs on the full splits.</p>"
        )
    for path, options in manifests:
        rows = [[_e(k), _e(stats.show_option(k, v))] for k, v in options.items()]
        off = stats.deviations(options)
        verdict = (
            "<p class=\"warn\"><b>Not the published protocol:</b> " + _e("; ".join(off))
            + ". Its distributions are not comparable with the published data set's.</p>"
            if off else "<p>Its options match the published protocol (40 epochs, full splits).</p>"
        )
        lines.append(f"<p>Campaign options from {_e(path)}:</p>" + _table(["option", "value"], rows, "options")
                     + verdict)
    return "\n".join(lines)


def _importance_html(s: Series, dataset: str, imp: "stats.Importance | None", n: int) -> str:
    head = f"<h3>{_e(s.label)}, {_e(figs.label(dataset))}</h3>"
    if imp is None:
        return head + (f"<p>{n} networks with a finite final accuracy: fewer than {stats.MIN_NETWORKS}, "
                       "no model fitted.</p>")
    r2, base = imp.r2, imp.baseline_r2
    folds = f"{imp.folds}-fold cross-validation" + (" grouped by network (repeats together)" if imp.grouped else "")
    text = (
        f"<p>{imp.networks} networks" + (f" ({imp.left_out} left out: final accuracy not finite)" if imp.left_out else "")
        + f"; {folds}. Held-out R² {np.mean(r2):.3f} ± {np.std(r2):.3f} (mean ± std over folds; per fold "
        + ", ".join(f"{v:.3f}" for v in r2)
        + f"), against {np.mean(base):.3f} for predicting the training folds' mean accuracy.</p>"
    )
    if not imp.reliable:
        text += (f'<p class="warn"><b>The model explains little</b> (R² below {stats.LOW_R2:g}): the importances '
                 "below are not a reliable ranking of what matters.</p>")
    rows = [[str(i + 1), _e(name), f"{m:.4f}", f"{sd:.4f}"]
            for i, (name, m, sd) in enumerate(zip(imp.features, imp.mean, imp.std))]
    return head + text + _table(["rank", "spec field", "importance (drop in R²)", "std"], rows)


def _spread_html(s: Series, spread: "pd.DataFrame", top: int = 20) -> str:
    rows = []
    for dataset in stats.present([spread]):
        part = spread[spread["dataset"] == dataset]
        rows.append([
            _e(figs.label(dataset)), f"{len(part)}", f"{part['repeats'].min()}&ndash;{part['repeats'].max()}",
            stats.fmt(part["std"].median()), stats.fmt(part["std"].max()),
            stats.fmt(part["range"].median()), stats.fmt(part["range"].max()),
        ])
    per_data_set = _table(["data set", "networks repeated", "repeats", "std median", "std max", "range median",
                           "range max"], rows)
    worst = spread.sort_values(["std", "dataset", "network"], ascending=[False, True, True], kind="stable").head(top)
    rows = [[_e(r.network), _e(figs.label(r.dataset)), f"{r.repeats}", f"{r.finite}", stats.fmt(r.mean),
             stats.fmt(r.std), stats.fmt(r.min), stats.fmt(r.max)] for r in worst.itertuples(index=False)]
    per_network = _table(["network", "data set", "repeats", "finite", "mean", "std", "min", "max"], rows)
    return (f"<h3>{_e(s.label)}</h3>" + per_data_set
            + f"<p>The {len(worst)} networks with the largest spread (final valAcc, %; all {len(spread)} "
              "in seed_spread.csv):</p>" + per_network)


_STYLE = """
body { font-family: sans-serif; max-width: 1400px; margin: 2em auto; padding: 0 1em; color: #222; }
table.summary, table.options { border-collapse: collapse; margin: 1em 0; }
table th, table td { border: 1px solid #bbb; padding: 0.3em 0.6em; text-align: right; }
table th { background: #eee; }
table td:first-child, table.options td { text-align: left; }
p.warn { background: #fff3cd; padding: 0.4em 0.6em; }
figure { margin: 2em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #444; margin-top: 0.4em; }
"""


def _page(series, manifests, figures, importances, spreads, datasets) -> str:
    main = series[0]
    n_learned = int(stats.learned_mask(main.summary).sum())
    against = f" against {_e(series[1].label)}" if len(series) > 1 else ""
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        "<title>nnlife report: lifespans of random neural networks</title>", f"<style>{_STYLE}</style>",
        "</head>", "<body>",
        "<h1>Lifespans of random neural networks</h1>",
        f"<p>{_e(main.label)}: {len(main.data)} networks ({n_learned} learned, {len(main.data) - n_learned} never "
        f"learned){against}; {len(main.data.skipped)} malformed tables skipped. Made by nnlife "
        f"{_e(__version__)}.</p>",
        "<h2>The data sets shown</h2>",
    ]
    parts += [_what_html(s, m) for s, m in zip(series, manifests)]
    parts.append("<h2>Summary per data set</h2>")
    for s in series:
        if len(series) > 1:
            parts.append(f"<h3>{_e(s.label)}</h3>")
        parts.append(_overview_html(s.summary))
    repeats = " Repeats of one network count as separate networks in every count and figure but the seed spread." \
        if spreads else ""
    parts += [
        "<p><b>Definitions.</b> Accuracy is validation accuracy in percent on the data set's test "
        "split, measured every half epoch; losses are mean cross-entropy. <i>Final</i> is the last "
        "recorded half epoch (earlier than the last epoch for early-stopped networks). A network "
        f"<i>learned</i> when its final validation accuracy is finite and at least {LEARNED_CHANCE_MULTIPLE:g} "
        "times chance (chance = 100 / classes percent: 10% for FashionMNIST and SVHN, 1% for "
        "CIFAR-100); otherwise it <i>never learned</i>. A network <i>diverged</i> when any of its "
        "recorded values is NaN or infinite; best, mean, minimum and maximum are taken over the "
        f"finite values.{repeats}</p>",
        "<h2>Figures</h2>",
    ]
    for f in figures:
        parts.append(
            f'<figure id="{_e(Path(f.file).stem)}"><img src="{_e(f.file)}" alt="{_e(f.title)}">'
            f"<figcaption><b>{_e(f.title)}.</b> {_e(f.caption)}</figcaption></figure>"
        )
    parts += [
        "<h2>Structure against fitness</h2>",
        "<p>Per data set, a gradient-boosting regressor (scikit-learn's HistGradientBoostingRegressor, 100 "
        "trees of at most 15 leaves) predicts final validation accuracy from the spec: "
        + _e(", ".join(name for _, name, _ in stats.FEATURES))
        + f". It is scored by {stats.FOLDS}-fold cross-validation (R² on the held-out fold; 0 is no better "
        "than predicting the mean), and each field's importance is the drop in held-out R² when its values "
        f"are shuffled ({stats.PERMUTATION_REPEATS} shuffles per fold). Correlated fields (parameters and "
        "FLOPs, say) share their importance. Seeded: the same data set gives the same numbers.</p>",
    ]
    for s in series:
        for dataset in datasets:
            if (s.index, dataset) in importances:
                n = int(np.isfinite(s.part(dataset)["valAcc_final"].to_numpy(float)).sum())
                parts.append(_importance_html(s, dataset, importances[(s.index, dataset)], n))
    if spreads:
        parts.append("<h2>Seed spread</h2>")
        parts.append("<p>Networks trained more than once (rows sharing a network column value): spread of "
                     "the final validation accuracy across repeats (std: sample standard deviation; range: max "
                     "&minus; min; over finite values).</p>")
        parts += [_spread_html(s, sp) for s, sp in spreads]
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)
