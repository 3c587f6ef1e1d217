"""Remake `auto`'s model (``src/nnlife/predict/auto-model.json``) from the curves it was fitted on.

    python benchmarks/fit_auto_model.py corpus-noise corpus-fresh corpus-mid corpus-learn2 \\
        digits.csv fashion-mlp.csv [--out src/nnlife/predict/auto-model.json]

`auto` stops where ``penguin_stop`` stops (PENGUIN's rule, or triage's not-learning test) and
predicts there with a learned model (``penguin_stop+learned:MODEL``) shipped with nnlife. The
model is fitted here, with ``nnlife predictor fit``'s learner and settings, on exactly the curve
sets ``auto_learned.py`` scores leave-one-source-out (which is how it was chosen): the
synthetic per-epoch curves of ``saturating_curves.py`` (both shapes, seeds 7 and 8), the first
300 of ``evaluate_speed.make_curves(1000, 2031)``, and every corpus given, each directory of
tables in its half-epoch shape and its per-epoch view, each per-epoch curve file as it is. The
corpora's commands are in benchmarks/README.md ("Four real corpora" and "Curves from outside
nnlife's taxonomy"); the same corpora give the same model, bit for bit.
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

from auto_learned import source_of  # noqa: E402
from auto_rules import corpus_sets, synthetic_sets  # noqa: E402

from nnlife.errors import InputError  # noqa: E402
from nnlife.predict.evaluation import labeled  # noqa: E402
from nnlife.predict.learned import fit_model, save_model  # noqa: E402

MAKE_CURVES_FIT = 300  # as auto_learned.py's --make-curves-fit default


def fit_curves(corpora) -> tuple[list, list[str]]:
    """The curves the model is fitted on, and their sources' names."""
    with tempfile.TemporaryDirectory() as tmp:
        sets = list(synthetic_sets(Path(tmp))) + list(corpus_sets(corpora))
    curves, sources = [], set()
    for label, c, _ in sets:
        source = source_of(label)
        sources.add(source)
        curves += [labeled(x) for x in (c[:MAKE_CURVES_FIT] if source == "make_curves" else c)]
    return curves, sorted(sources)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpora", nargs="+", help="directories of real tables, or curve files measured once an epoch")
    ap.add_argument("--out", default=str(HERE.parent / "src" / "nnlife" / "predict" / "auto-model.json"))
    args = ap.parse_args(argv)
    start = time.perf_counter()
    try:
        curves, sources = fit_curves(args.corpora)
        content = fit_model(curves, sources=sources)
        out = save_model(content, args.out)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{out}: {content['trained_on']['curves']} curves, {content['trained_on']['rows']} rows, "
          f"sources {', '.join(sources)} ({time.perf_counter() - start:.0f} s); sha256 {content['sha256']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
