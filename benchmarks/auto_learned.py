"""A learned model's prediction at PENGUIN's stop (`auto`'s rule), scored leave-one-source-out.

    python benchmarks/auto_learned.py [CORPUS_DIR|CURVE_FILE ...] [--no-synthetic] [--workers 2] [--csv F]

``penguin_stop`` stops where PENGUIN's rule stops and reports the ensemble's prediction there.
This script asks whether the learned method (``nnlife predictor fit``: three
LightGBM quantile regressors of the target-minus-last difference, from prefix features and the
network's spec) predicts better at those same stops, on curves of a kind it was never fitted to.
The curve sets are those of ``auto_rules.py`` (synthetic ``exp`` and ``power`` per-epoch curves,
``make_curves``, each corpus given in its half-epoch and its per-epoch view), grouped by
*source*: ``exp``, ``power``, ``make_curves`` and each corpus. For every source a model is
fitted on the curves of all the other sources (both views of a corpus, every seed of a
synthetic shape; of ``make_curves``, its first ``--make-curves-fit`` curves, to keep the fit
short) and scored on that source's sets only, so no score comes from a model that saw curves
of its kind.

Candidates: ``penguin``; ``penguin_stop (auto until 12-04)``; ``learned (cv)``, the learned
method with its own stopping rule (the stability window on its predictions);
``penguin_stop_learned (cv)``: ``penguin_stop+learned:MODEL`` (``penguin_stop``'s stops,
PENGUIN's or triage's not-learning test, with the learned model's prediction and interval at
PENGUIN's stop); ``learned_first (cv)``: the same, also stopped on an earlier row where the
learned method's own rule is confident (its prediction there). ``penguin_stop_learned`` is
`auto`'s rule since 2026-12-04, whose shipped model
(``fit_auto_model.py``) is fitted on every source, so this is how `auto` does on a source
its model has not seen. A cell meets the goal as in
``auto_rules.py``: at least PENGUIN's savings, a lower MAE, a higher Spearman, and a lower MAE
and higher Spearman than the best-so-far baseline at the method's own stops.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from auto_rules import corpus_sets, report, score_cell, synthetic_sets  # noqa: E402
from nnlife.errors import InputError  # noqa: E402
from nnlife.predict import PenguinStopLearned, Prediction, Triage  # noqa: E402
from nnlife.predict.combined import _LearnedStopTracker  # noqa: E402
from nnlife.predict.evaluation import labeled  # noqa: E402
from nnlife.predict.learned import LearnedPredictor, fit_model  # noqa: E402


class LearnedFirst(PenguinStopLearned):
    """``learned_first``: ``penguin_stop_learned``, also stopped on an earlier row where the
    learned method's own rule (the stability window on its predictions) is confident, with its
    prediction there. So it trains no longer than ``penguin_stop`` on any curve and predicts
    with the model wherever it stops (but a not-learning stop)."""

    def _tracker(self, target, penguin):
        return _LearnedFirstTracker(target, penguin, Triage(self.N, self.threshold, level=self.level).tracker(target),
                                    self.learned)


class _LearnedFirstTracker(_LearnedStopTracker):
    def __init__(self, target, penguin, triage, learned):
        super().__init__(target, penguin, triage, learned)
        self.own = learned.tracker(target)

    def step(self, train_loss, val_loss) -> Prediction:
        self.own.spec = self.spec
        own = self.own.observe(self.epochs[-1], self.acc[-1], train_loss, val_loss)
        p = super().step(train_loss, val_loss)
        return p if p.confident or not own.confident else own


def source_of(label: str) -> str:
    for prefix, source in (("synthetic exp", "exp"), ("synthetic power", "power"), ("make_curves", "make_curves")):
        if label.startswith(prefix):
            return source
    return label.split(" (")[0]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpora", nargs="*", help="directories of real tables, or curve files measured once an epoch (each its own source)")
    ap.add_argument("--no-synthetic", action="store_true", help="only the corpora given (each scored with a model "
                    "fitted on the others and on the synthetic sets, which are then fitted on but not scored)")
    ap.add_argument("--make-curves-fit", type=int, default=300, help="make_curves curves fitted on (default 300)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--csv", help="also write every row to this CSV")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            corpora = list(corpus_sets(args.corpora))
        except InputError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        synthetic = list(synthetic_sets(Path(tmp)))
    sets = [(label, source_of(label), curves, targets) for label, curves, targets in synthetic + corpora]
    scored = [s for s in sets if not (args.no_synthetic and s[1] in ("exp", "power", "make_curves"))]
    if not scored:
        ap.error("no curve sets to score: give corpora or drop --no-synthetic")
    models = {}
    rows = []
    for label, source, curves, targets in scored:
        if source not in models:
            start = time.perf_counter()
            fit_on = []
            for _, other, c, _ in sets:
                if other != source:
                    fit_on += [labeled(x) for x in (c[: args.make_curves_fit] if other == "make_curves" else c)]
            models[source] = fit_model(fit_on, sources=sorted({o for _, o, _, _ in sets if o != source}))
            print(f"\n(model without {source}: {len(fit_on)} curves, {models[source]['trained_on']['rows']} rows, "
                  f"{time.perf_counter() - start:.0f} s)", flush=True)
        content = models[source]
        cands = {
            "penguin": "penguin",
            "penguin_stop (auto until 12-04)": "penguin_stop",
            "learned (cv)": LearnedPredictor(content, "learned (cv)"),
            "penguin_stop_learned (cv)": PenguinStopLearned(LearnedPredictor(content), name="penguin_stop_learned (cv)"),
            "learned_first (cv)": LearnedFirst(LearnedPredictor(content), name="learned_first (cv)"),
        }
        for target in targets:
            rows += score_cell(label, curves, target, cands, args.workers)
    report(rows, args.csv)
    return 0


if __name__ == "__main__":
    import auto_learned  # the candidate class by this module's name, so that worker processes can unpickle it

    sys.exit(auto_learned.main())
