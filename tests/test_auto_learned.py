"""benchmarks/auto_learned.py: the learned model's prediction at PENGUIN's stop, scored
leave-one-source-out."""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "auto_learned.py"


@pytest.fixture(scope="module")
def script(benchmark_module):
    return benchmark_module("auto_learned")


def test_sources(script):
    assert script.source_of("synthetic exp, seed 7 (per epoch)") == "exp"
    assert script.source_of("synthetic power, seed 8 (per epoch)") == "power"
    assert script.source_of("make_curves(1000, 2031) (half epochs)") == "make_curves"
    assert script.source_of("corpus-noise (40 tables, half epochs)") == "corpus-noise"
    assert script.source_of("corpus-noise (40, per-epoch view)") == "corpus-noise"


def test_script_on_the_published_tables(reference_dir, tmp_path):
    r = subprocess.run([sys.executable, str(SCRIPT), str(reference_dir), "--no-synthetic", "--workers", "1",
                        "--make-curves-fit", "50", "--csv", str(tmp_path / "rows.csv")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # one model, fitted without the corpus scored: on the 4 synthetic sets and 50 make_curves curves
    assert r.stdout.count("(model without ") == 1
    assert "(model without reference: 850 curves," in r.stdout
    assert "| penguin_stop_learned (cv) | " in r.stdout
    rows = (tmp_path / "rows.csv").read_text().splitlines()
    assert len(rows) == 1 + 4 * 5  # 4 cells x 5 methods
    bad = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "none"), "--no-synthetic"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr


def test_learned_first_stops_no_later_than_penguin_stop_learned(script):
    from test_learned import synthetic

    from nnlife.predict import run_methods
    from nnlife.predict.learned import LearnedPredictor, fit_model

    model = LearnedPredictor(fit_model(synthetic(40, 1)))
    curves = synthetic(12, 7)
    stop, first, own = run_methods(curves, [script.PenguinStopLearned(model), script.LearnedFirst(model, name="first"),
                                            model], 20, workers=1).values()
    earlier = 0
    for s, f, o in zip(stop, first, own):
        if o.converged and o.stop_epoch < s.stop_epoch:  # the learned rule confident first: its outcome
            assert (f.stop_epoch, f.predicted, f.lower, f.upper) == (o.stop_epoch, o.predicted, o.lower, o.upper)
            earlier += 1
        else:
            assert (f.stop_epoch, f.predicted, f.lower, f.upper) == (s.stop_epoch, s.predicted, s.lower, s.upper)
    assert earlier >= 1
