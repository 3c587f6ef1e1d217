"""`combined`: PENGUIN and triage on the same rows, stopped by whichever is confident first,
with the prediction of the rule that stopped."""

import math

import numpy as np
import pytest

from nnlife.predict import METHODS, load_curves, simulate

X = np.arange(1, 81, dtype=float)
EPOCHS = X / 2


def _curves(reference_dir):
    rng = np.random.default_rng(11)
    out = [(c.ID, c) for c in load_curves([reference_dir])]
    for i in range(12):  # saturating learners of several speeds and noise levels, and flat ones
        top, tau, noise = rng.uniform(30, 95), rng.uniform(1, 30), rng.uniform(0.1, 1.5)
        acc = 10 + (top - 10) * (1 - np.exp(-X / tau)) + rng.normal(0, noise, 80)
        loss = 2.3 - 1.5 * (1 - np.exp(-X / tau)) if i % 3 else np.full(80, 2.3026)
        if i % 3 == 0:
            acc = 10 + rng.normal(0, 0.3, 80)
        out.append((f"synthetic {i}", (EPOCHS, acc, loss)))
    return out


def _stop(outcome):
    return outcome.stop_epoch if outcome.converged else math.inf


@pytest.mark.parametrize("target", [10.0, 20.0, 40.0])
def test_combined_stops_at_the_first_rule_with_that_rules_prediction(reference_dir, target):
    seen = {"penguin": 0, "triage": 0}
    for name, curve in _curves(reference_dir):
        p, t, c = (simulate(m, curve, target) for m in ("penguin", "triage", "combined"))
        assert _stop(c) == min(_stop(p), _stop(t)), name
        assert c.saved >= p.saved, name  # never trains longer than PENGUIN
        assert c.actual == p.actual
        if not c.converged:
            assert c.predicted == p.predicted == t.predicted, name  # the last observed accuracy
            continue
        first = p if _stop(p) < _stop(t) else t
        seen["penguin" if first is p else "triage"] += 1
        assert (c.predicted, c.lower, c.upper) == (first.predicted, first.lower, first.upper), name
        assert c.best_so_far == first.best_so_far
    assert seen["penguin"] and seen["triage"]  # both rules stop some of these curves first


def test_combined_is_a_method_with_the_usual_parameters():
    assert "combined" in METHODS
    m = METHODS["combined"](N=4, threshold=0.25, level=0.9)
    assert (m.N, m.threshold, m.level, m.name) == (4, 0.25, 0.9, "combined")
    tracker = m.tracker(20.0)
    assert (tracker.penguin.window.N, tracker.triage.window.threshold) == (4, 0.25)
