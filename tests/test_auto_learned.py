"""benchmarks/auto_learned.py: the learned model's prediction at PENGUIN's stop, scored
leave-one-source-out."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnlife.predict import run_methods
from nnlife.predict.learned import LearnedPredictor, fit_model

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "auto_learned.py"


@pytest.fixture(scope="module")
def script(benchmark_module):
    return benchmark_module("auto_learned")


def _tables(seed, n=6):
    from nnlife.table import Curve

    t = 0.5 * np.arange(1, 81)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        tau, top = rng.uniform(1, 6), rng.uniform(40, 90)
        rise = 1 - np.exp(-t / tau)
        out.append(Curve.from_halves(2.3 - 1.5 * rise, 2.3 - 1.4 * rise, 10 + (top - 10) * rise + rng.normal(0, 0.3, 80)))
    return out


def test_sources(script):
    assert script.source_of("synthetic exp, seed 7 (per epoch)") == "exp"
    assert script.source_of("synthetic power, seed 8 (per epoch)") == "power"
    assert script.source_of("make_curves(1000, 2031) (half epochs)") == "make_curves"
    assert script.source_of("corpus-noise (40 tables, half epochs)") == "corpus-noise"
    assert script.source_of("corpus-noise (40, per-epoch view)") == "corpus-noise"


def test_learned_prediction_at_penguins_stop(script):
    from nnlife.predict.evaluation import labeled

    content = fit_model([labeled(c) for c in _tables(1, 12)], rounds=20)
    curves = _tables(2)
    out = run_methods(curves, ["penguin_stop", script.PenguinStopLearned(content)], 20, workers=1)
    stop, learned = out.values()
    checked = 0
    for c, s, l in zip(curves, stop, learned):
        assert l.stop_epoch == s.stop_epoch
        if not s.converged:
            continue
        tracker = LearnedPredictor(content).tracker(20)  # the learned method itself, fed the same rows
        for e, a, tl, vl in zip(c.epochs, c.valAcc, c.trainLoss, c.valLoss):
            pred = tracker.observe(e, a, tl, vl)
            if e >= s.stop_epoch:
                break
        assert (l.predicted, l.lower, l.upper) == (pred.value, pred.lower, pred.upper)
        assert l.predicted != s.predicted
        checked += 1
    assert checked >= 3


def test_script_on_the_published_tables(reference_dir, tmp_path):
    r = subprocess.run([sys.executable, str(SCRIPT), str(reference_dir), "--no-synthetic", "--workers", "1",
                        "--make-curves-fit", "50", "--csv", str(tmp_path / "rows.csv")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # one model, fitted without the corpus scored: on the 4 synthetic sets and 50 make_curves curves
    assert r.stdout.count("(model without ") == 1
    assert "(model without reference: 850 curves," in r.stdout
    assert "| penguin_stop_learned (cv) | " in r.stdout
    rows = (tmp_path / "rows.csv").read_text().splitlines()
    assert len(rows) == 1 + 4 * 4  # 4 cells x 4 methods
    bad = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "none"), "--no-synthetic"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
