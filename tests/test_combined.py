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


@pytest.mark.parametrize("target", [10.0, 20.0, 40.0])
def test_penguin_stop_stops_with_penguin_and_predicts_with_the_ensemble(reference_dir, target):
    from nnlife.predict import Ensemble
    from nnlife.predict.core import past

    seen = {"penguin": 0, "not learning": 0, "no stop": 0, "too early": 0}
    for name, curve in _curves(reference_dir):
        p, t, s = (simulate(m, curve, target) for m in ("penguin", "triage", "penguin_stop"))
        assert s.saved >= p.saved and s.actual == p.actual, name  # never trains longer than PENGUIN
        if t.converged and t.stop_epoch == 1.5 and t.uncertainty is None:  # triage's not-learning stop
            seen["not learning"] += 1
            assert (s.stop_epoch, s.predicted) == (1.5, t.predicted), name
            continue
        assert (s.converged, _stop(s)) == (p.converged, _stop(p)), name
        if not s.converged:
            seen["no stop"] += 1
            assert s.predicted == p.predicted, name  # the accuracy observed at the target
            continue
        seen["penguin"] += 1
        # the ensemble's prediction and interval on exactly the rows PENGUIN stopped after
        if isinstance(curve, tuple):
            epochs, acc, loss = curve
        else:
            epochs, acc, loss = curve.curve.epochs, curve.curve.valAcc, curve.curve.valLoss
        k = sum(1 for e in epochs if not past(e, s.stop_epoch))
        e = Ensemble().predict(epochs[:k], acc[:k], val_loss=loss[:k], target_epoch=target)
        if e.uncertainty is None:  # fewer than five rows: the ensemble has nothing yet, PENGUIN's own
            seen["too early"] += 1
            assert k < 5 and (s.predicted, s.lower, s.upper) == (p.predicted, p.lower, p.upper), name
            continue
        assert (s.predicted, s.lower, s.upper) == (e.value, e.lower, e.upper), name
        assert s.lower is not None and s.predicted != p.predicted, name
    # the published non-learner stopped by triage's test; two fast learners stopped by PENGUIN
    # within four rows, before any family is fitted
    assert seen == {"penguin": 14, "not learning": 1, "no stop": 0, "too early": 2}


def test_penguin_stop_is_a_method_with_the_usual_parameters():
    m = METHODS["penguin_stop"](N=4, threshold=0.25, level=0.9)
    assert (m.N, m.threshold, m.level, m.name) == (4, 0.25, 0.9, "penguin_stop")
    tracker = m.tracker(20.0)
    assert (tracker.penguin.window.N, tracker.triage.window.threshold) == (4, 0.25)


@pytest.mark.parametrize("workers", [1, 2])
def test_penguin_stop_in_an_evaluation_decides_as_the_rule_itself(reference_dir, workers):
    # run_methods derives penguin_stop and auto from PENGUIN's outcomes (KnownPenguinStop)
    import dataclasses

    from nnlife.predict import labeled, run_methods

    curves = [labeled(c) for _, c in _curves(reference_dir)]
    for target in (10.0, 20.0, 40.0):
        out = run_methods(curves, ["auto", "penguin", "penguin_stop"], target, workers=workers)
        for c, a, s in zip(curves, out["auto"], out["penguin_stop"]):
            alone = dataclasses.replace(simulate("penguin_stop", c, target), ID=s.ID)
            assert s == alone and a == dataclasses.replace(simulate("auto", c, target), ID=a.ID)
            assert (a.method, a.converged, a.stop_epoch) == ("auto", s.converged, s.stop_epoch)
