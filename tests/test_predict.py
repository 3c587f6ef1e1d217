"""Fitness prediction and early termination: PENGUIN exactly, MENNDL, the curve families, the
combinations, the online stopper, and the `predict` / `evaluate` commands."""

import csv
import dataclasses
import math
import warnings

import numpy as np
import pytest

from nnlife.cli import main
from nnlife.curves import FAMILIES, fit_family, fit_penguin, penguin_model
from nnlife.errors import InputError
from nnlife.predict import (
    METHODS,
    OUTCOME_COLUMNS,
    Ensemble,
    Menndl,
    OnlineStopper,
    Outcome,
    Penguin,
    StabilityWindow,
    Triage,
    evaluate,
    load_curves,
    make_predictor,
    run_methods,
    score,
    simulate,
    spearman,
    top_fraction,
)
from nnlife.table import read_table

from conftest import REFERENCE_IDS

X = np.arange(1, 81, dtype=float)  # x = 2 * epoch
EPOCHS = X / 2


def penguin_curve(a, b, c):
    return penguin_model(X, a, b, c)


# --------------------------------------------------------------------------------------
# PENGUIN


def test_penguin_exact_curve_converges_to_the_true_value():
    acc = penguin_curve(60.0, 1.1, 30.0)
    true = float(penguin_model(40.0, 60.0, 1.1, 30.0))  # valAcc at epoch 20
    out = simulate("penguin", (EPOCHS, acc), 20)
    assert out.converged
    assert out.stop_epoch == 3.0  # fits on 2..6 points; the last three agree
    assert out.predicted == pytest.approx(true, abs=1e-6)
    assert out.actual == acc[39]
    assert out.saved == pytest.approx(17 / 20)
    assert out.uncertainty is None
    # the predictor interface on the same prefix says the same
    p = Penguin().predict(EPOCHS[:6], acc[:6], target_epoch=20)
    assert p.confident and p.value == out.predicted and p.uncertainty is None


def test_penguin_never_learning_flat_curve_stops_at_the_earliest_point():
    acc = np.full(80, 10.0)
    out = simulate("penguin", (EPOCHS, acc), 20)
    # predictions after 2, 3 and 4 points: the first moment N = 3 of them exist
    assert out.converged and out.stop_epoch == 2.0
    assert out.predicted == pytest.approx(10.0, abs=0.01)
    assert out.actual == 10.0


def test_penguin_history_is_cleared_when_a_reaches_its_bound():
    # A curve rising from 1 % to 73 % by epoch 5 that the model can only follow with its
    # asymptote at the bound: the fits on 3 to 9 points put a at 200 (>= 199.99), so each of
    # their predictions clears the history instead of joining it.
    acc = penguin_curve(205.0, 1.05, 110.0)
    window = StabilityWindow(3, 0.5)  # the same predictions with no clearing
    kept = []
    for i in range(3, 7):
        a, b, c = fit_penguin(X[:i], acc[:i])
        assert a >= 199.99
        kept.append(window.push(float(penguin_model(10.0, a, b, c))))
    assert kept == [False, False, True, True]  # without the reset: stopped at 5 points
    out = simulate("penguin", (EPOCHS, acc), 5.0)
    assert not out.converged
    assert out.stop_epoch == 5.0 and out.saved == 0.0
    assert out.predicted == out.actual == acc[9]  # the fallback


def test_penguin_fallback_is_the_last_observed_accuracy():
    # A straight line: curve_fit runs out of evaluations from 3 points on (no prediction).
    acc = 5.0 + X
    out = simulate("penguin", (EPOCHS, acc), 3.0)
    assert not out.converged and out.stop_epoch == 3.0
    assert out.predicted == out.actual == 11.0

    # A curve that ends before the target: the last row it has.
    out = simulate("penguin", (EPOCHS[:5], acc[:5]), 20.0)
    assert not out.converged
    assert out.stop_epoch == 2.5 and out.actual is None
    assert out.predicted == acc[4]


def test_penguin_nan_in_the_curve_gives_no_prediction_and_falls_back():
    acc = np.linspace(10, 40, 80)
    acc[2] = math.nan  # one diverged validation: every later fit sees it and fails
    out = simulate("penguin", (EPOCHS, acc), 10.0)
    assert not out.converged
    assert out.predicted == out.actual == acc[19]


def test_penguin_parameters():
    acc = np.full(80, 10.0)
    assert simulate("penguin", (EPOCHS, acc), 20, N=5).stop_epoch == 3.0  # fits on 2..6 points
    acc[:6] += np.array([0.0, 0.6, -0.6, 0.6, -0.6, 0.6])
    stops = [simulate("penguin", (EPOCHS, acc), 5.0, threshold=t) for t in (0.0, 0.5, 5.0)]
    assert [o.converged for o in stops] == [False, True, True]
    assert [o.stop_epoch for o in stops] == [5.0, 3.5, 2.5]
    with pytest.raises(InputError, match="target epoch"):
        simulate("penguin", (EPOCHS, acc), 20.3)
    with pytest.raises(InputError, match="N"):
        Penguin(N=0)
    with pytest.raises(InputError, match="threshold"):
        Penguin(threshold=-1)


def test_stability_window_is_penguins_check():
    w = StabilityWindow(3, 0.5)
    assert [w.push(v) for v in (10.0, 10.4, 11.0)] == [False, False, False]  # 11.0 is 0.6 from 10.4
    assert w.push(10.5)  # 10.4, 10.9, 10.5: all within 0.5 of 10.5
    w = StabilityWindow(3, 0.5)
    assert [w.push(v) for v in (0.0, 0.0, 0.0)] == [False, False, False]  # newest must be in (0, 100]
    assert [w.push(v) for v in (100.0,)] == [False]
    w.clear()
    assert [w.push(v) for v in (100.0, 100.0, 100.0)] == [False, False, True]


# --------------------------------------------------------------------------------------
# MENNDL


def test_menndl_stops_when_the_minimum_training_loss_stalls_for_10_epochs():
    loss = np.concatenate([np.linspace(2.3, 1.0, 12), np.full(68, 1.0)])  # last improvement: epoch 6
    acc = np.linspace(10, 60, 80)
    curve = (EPOCHS, acc, loss)
    out = simulate("menndl", curve, 20)
    assert out.converged and out.stop_epoch == 16.0
    assert out.predicted == acc[31]  # the accuracy observed at the stop
    assert out.actual == acc[39]
    assert out.uncertainty is None
    # a loss that is nan from the start never improves: stop after 10 epochs
    out = simulate("menndl", (EPOCHS, acc, np.full(80, math.nan)), 20)
    assert out.converged and out.stop_epoch == 10.0
    # always improving: trained to the target (its cap)
    out = simulate("menndl", (EPOCHS, acc, np.linspace(3, 1, 80)), 20)
    assert not out.converged and out.stop_epoch == 20.0 and out.predicted == out.actual
    with pytest.raises(ValueError, match="training loss"):
        Menndl().predict(EPOCHS, acc)


# --------------------------------------------------------------------------------------
# Curve families

TRUE_PARAMS = {
    "pow3": (0.85, 0.6, 0.7),
    "log_power": (0.8, 2.0, -1.5),
    "exp3": (0.8, 0.08, -0.4),
    "ilog2": (0.9, 0.3),
    "vapor_pressure": (-0.3, -1.5, 0.05),
    "janoschek": (0.85, 0.1, 0.05, 1.2),
    "mmf": (0.85, 0.1, 0.08, 1.5),
    "weibull": (0.85, 0.1, 0.06, 1.1),
}


def test_every_family_has_a_case():
    assert set(TRUE_PARAMS) == set(FAMILIES)
    assert set(METHODS) == {"penguin", "menndl", *FAMILIES, "best_fit", "ensemble", "triage", "combined", "penguin_stop", "last",
                            "best_so_far", "auto"}


@pytest.mark.parametrize("name", list(TRUE_PARAMS))
def test_family_recovers_its_own_curve(name):
    family = FAMILIES[name]
    acc = 100.0 * family(X, TRUE_PARAMS[name])
    true = float(acc[39])  # epoch 20
    assert 30 < true < 95 and np.all(np.isfinite(acc))
    fit = fit_family(name, X[:20], acc[:20] / 100)  # 10 epochs
    assert 100 * float(fit(40.0)) == pytest.approx(true, abs=1e-3)
    assert fit.rmse < 1e-6
    # through the method (refitted after every row, warm-started)
    p = make_predictor(name).predict(EPOCHS[:20], acc[:20], target_epoch=20)
    assert p.value == pytest.approx(true, abs=1e-3)
    assert p.confident  # noise-free: the last predictions agree


def test_family_fit_fails_cleanly():
    assert fit_family("weibull", X[:3], [0.1, 0.2, 0.3]) is None  # fewer points than parameters
    assert fit_family("pow3", X[:10], np.full(10, math.nan)) is None
    fit = fit_family("pow3", X[:10], np.r_[np.full(5, math.nan), np.linspace(0.2, 0.4, 5)])
    assert fit is not None and math.isfinite(float(fit(40.0)))  # nan points are dropped


def test_ensemble_predicts_with_an_uncertainty():
    acc = 100.0 * FAMILIES["mmf"](X, TRUE_PARAMS["mmf"])
    p = Ensemble().predict(EPOCHS[:30], acc[:30], target_epoch=20)
    assert p.value == pytest.approx(acc[39], abs=0.5)
    assert p.uncertainty is not None and 0 <= p.uncertainty < 1.0
    best = make_predictor("best_fit").predict(EPOCHS[:30], acc[:30], target_epoch=20)
    assert best.value == pytest.approx(acc[39], abs=0.5) and best.uncertainty is not None


# --------------------------------------------------------------------------------------
# Triage: not learning at all, or the ensemble

LN10 = math.log(10)


def _stuck(n=80):
    """A network stuck on one class: its accuracy that class's share after the first row, its
    validation loss fixed to 5 digits (as in the published tables of such networks)."""
    acc = np.full(n, 9.43)
    acc[0] = 11.51
    val = np.full(n, 2.30314)
    val[1::2] += 2e-5
    return acc, val


def _ensemble_fields(out):
    return out.converged, out.stop_epoch, out.predicted, out.uncertainty, out.actual


def test_triage_stops_a_network_that_is_not_learning_at_epoch_1_5():
    acc, val = _stuck()
    curve = (EPOCHS, acc, np.full(80, LN10), val)
    out = simulate("triage", curve, 20)
    assert (out.method, out.converged, out.stop_epoch, out.predicted, out.uncertainty) == ("triage", True, 1.5, 9.43, None)
    assert out.saved == pytest.approx(37 / 40) and out.actual == 9.43
    ens = simulate("ensemble", curve, 20)  # the ensemble needs 5 rows and 3 stable predictions
    assert ens.converged and ens.stop_epoch == 3.5
    p = Triage().predict(EPOCHS[:3], acc[:3], val_loss=val[:3], target_epoch=20)
    assert p.confident and p.value == 9.43
    assert not Triage().predict(EPOCHS[:2], acc[:2], val_loss=val[:2], target_epoch=20).confident  # epoch 1 < 1.5


def test_triage_on_the_published_tables(reference_paths):
    # the CIFAR-100 network that never learned (valAcc 1.13 % at epoch 20, chance 1 %): its
    # validation loss stays at 4.5208 for the first epochs; the two that learned go on
    for path, stopped in zip(reference_paths, (False, True, False)):
        table = read_table(path)
        c = table.curve
        out = simulate("triage", table, 20)
        assert (out.converged and out.stop_epoch == 1.5) is stopped
        if stopped:
            assert out.predicted == c.valAcc[2] == 1.1361330898762427
            assert out.actual == c.valAcc[39] == 1.125989044430919  # off by 0.010 points
        else:
            assert _ensemble_fields(out) == _ensemble_fields(simulate("ensemble", table, 20))


@pytest.mark.parametrize("drop, stopped", [(0.9, True), (1.1, False)])
def test_triage_threshold_is_a_fraction_of_the_first_validation_loss(drop, stopped):
    acc, _ = _stuck()
    val = np.full(80, LN10)
    val[2:] = LN10 * (1 - drop * 3e-4)  # the drop comes at the third row, epoch 1.5
    out = simulate("triage", (EPOCHS, acc, val, val), 20)
    assert (out.converged and out.stop_epoch == 1.5) is stopped
    if not stopped:  # then it is the ensemble, decision for decision
        assert _ensemble_fields(out) == _ensemble_fields(simulate("ensemble", (EPOCHS, acc, val, val), 20))
    strict = Triage(min_drop=0.5 * drop * 3e-4)
    assert not strict.predict(EPOCHS[:3], acc[:3], val_loss=val[:3]).confident


def test_triage_leaves_a_slow_learner_to_the_ensemble():
    # accuracy flat for 4 epochs, then rising; the validation loss falls from the start
    acc = np.r_[np.full(8, 10.0), 10 + 100.0 * FAMILIES["mmf"](X[:72], TRUE_PARAMS["mmf"])]
    val = LN10 - 0.002 * X
    curve = (EPOCHS, acc, val, val)
    out = simulate("triage", curve, 20)
    assert out.stop_epoch > 1.5
    assert _ensemble_fields(out) == _ensemble_fields(simulate("ensemble", curve, 20))


def test_triage_leaves_a_noisy_learner_whose_loss_rose_to_the_ensemble():
    # a real network of a corpus measured once an epoch (large learning rate): at epoch 3 its
    # validation loss is above its first value (2.1604, 2.2296, 2.1821), so it has not fallen,
    # but it moved by 3.2 %: not a stuck network (those move by less than 0.05 %); it went on
    # to 57.6 % at epoch 20
    epochs = np.arange(1.0, 26.0)
    acc = np.r_[16.6, 23.9, 14.3, 32.8, 23.3, 100 * FAMILIES["mmf"](np.arange(6, 26.0), (0.6, 0.1, 0.05, 1.2))]
    val = np.r_[2.1604, 2.2296, 2.1821, 1.818, 1.8628, np.linspace(1.7, 1.2, 20)]
    curve = (epochs, acc, val, val)
    out = simulate("triage", curve, 20)
    assert out.stop_epoch > 3
    assert _ensemble_fields(out) == _ensemble_fields(simulate("ensemble", curve, 20))
    # the test without the bound on the move (as before 2026-12-04) stopped it at epoch 3
    old = simulate(Triage(max_move=math.inf), curve, 20)
    assert (old.converged, old.stop_epoch, old.predicted) == (True, 3.0, 14.3)
    # a loss that moved by 0.9 % without falling is still stuck; by 1.1 %, not
    for move, stopped in ((0.009, True), (0.011, False)):
        flat = np.r_[2.3, 2.3 * (1 + move), np.full(23, 2.3)]
        assert (simulate("triage", (epochs, np.full(25, 10.0), flat, flat), 20).stop_epoch == 3.0) is stopped
    with pytest.raises(InputError, match="max_move"):
        Triage(max_move=-0.01)


def test_triage_diverged_and_missing_losses():
    acc, _ = _stuck()
    diverged = np.r_[4.88, np.full(79, math.nan)]
    out = simulate("triage", (EPOCHS, acc, diverged, diverged), 20)
    assert (out.converged, out.stop_epoch, out.predicted) == (True, 1.5, 9.43)
    # no validation losses at all (arrays without them, or never given): the ensemble alone
    for curve in [(EPOCHS, acc), (EPOCHS, acc, np.full(80, LN10))]:
        assert _ensemble_fields(simulate("triage", curve, 20)) == _ensemble_fields(simulate("ensemble", curve, 20))
    assert Triage().predict(EPOCHS[:6], acc[:6]) == Ensemble().predict(EPOCHS[:6], acc[:6])
    with pytest.raises(InputError, match="triage_epoch"):
        Triage(triage_epoch=0)
    with pytest.raises(InputError, match="min_drop"):
        Triage(min_drop=-1e-4)


# --------------------------------------------------------------------------------------
# Robustness: the curves random networks make


def _hard_curves():
    rng = np.random.default_rng(7)
    nan = np.full(80, math.nan)
    rising = np.linspace(10, 70, 80)
    collapse = np.r_[np.linspace(20, 60, 10), np.full(70, 10.0)]
    partly = rising.copy()
    partly[4:7] = math.nan
    return {
        "flat at chance": (np.full(80, 1.0), np.full(80, 4.605)),
        "noisy at chance": (10 + rng.normal(0, 0.3, 80), 2.3 + rng.normal(0, 0.01, 80)),
        "pure noise": (rng.uniform(0, 100, 80), rng.uniform(0, 5, 80)),
        "all nan": (nan, nan),
        "nan inside": (partly, np.linspace(2, 1, 80)),
        "collapse then nan loss": (collapse, np.r_[np.linspace(2, 1, 10), nan[:70]]),
        "zero accuracy": (np.zeros(80), np.full(80, 50.0)),
    }


@pytest.mark.parametrize("method", list(METHODS))
def test_no_crash_no_warning_on_hard_curves(method):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name, (acc, loss) in _hard_curves().items():
            out = simulate(method, (EPOCHS, acc, loss), 3.0)
            assert 0.5 <= out.stop_epoch <= 3.0, name
            finite = acc[:6][np.isfinite(acc[:6])]
            if len(finite):
                assert math.isfinite(out.predicted), name
                if not out.converged:
                    assert out.predicted == finite[-1], name
            else:
                assert math.isnan(out.predicted) and not out.converged, name


# --------------------------------------------------------------------------------------
# Online and offline agree


@pytest.mark.parametrize("method", ["penguin", "menndl", "ensemble", "triage"])
def test_online_stopper_and_simulate_agree(method, reference_paths):
    table = read_table(reference_paths[1])
    c = table.curve
    stopper = OnlineStopper(method, target_epoch=20)
    fed = 0
    for row in zip(c.epochs, c.valAcc, c.trainLoss, c.valLoss):
        fed += 1
        if stopper.observe(*row):
            break
    offline = simulate(method, table, 20)
    online = stopper.result()
    assert online.converged == offline.converged == stopper.converged
    assert online.stop_epoch == offline.stop_epoch == (stopper.stop_epoch if stopper.converged else 20.0)
    assert online.predicted == offline.predicted == stopper.predicted
    assert online.method == stopper.method == method
    assert offline.ID == REFERENCE_IDS[1] and offline.actual == c.valAcc[39]
    if stopper.converged:
        assert fed == 2 * stopper.stop_epoch
        assert stopper.observe(c.epochs[fed], c.valAcc[fed], c.trainLoss[fed]) is True  # stays stopped


def test_online_stopper_is_a_training_listener(reference_paths):
    from collections import namedtuple

    Row = namedtuple("Row", "epoch trainLoss valLoss valAcc")
    table = read_table(reference_paths[1])
    stopper = OnlineStopper("penguin", target_epoch=20)
    c = table.curve
    votes = [stopper(Row(*r)) for r in zip(c.epochs[:8], c.trainLoss, c.valLoss, c.valAcc)]
    assert votes == [False] * 5 + [True] * 3  # stops after 3.0 epochs, then stays stopped
    assert stopper.result() == dataclasses.replace(simulate("penguin", table.curve, 20), actual=None)


def test_online_stopper_ignores_rows_past_the_target():
    stopper = OnlineStopper("penguin", target_epoch=2.0, threshold=0.0)
    acc = 5.0 + X
    assert [stopper.observe(e, a) for e, a in zip(EPOCHS[:6], acc[:6])] == [False] * 6
    r = stopper.result()
    assert not r.converged and r.stop_epoch == 2.0 and r.predicted == acc[3]
    s = OnlineStopper("penguin")
    s.observe(1.0, 5.0)
    with pytest.raises(ValueError, match="order"):
        s.observe(0.5, 5.0)
    with pytest.raises(InputError, match="unknown method"):
        OnlineStopper("bogus")


# --------------------------------------------------------------------------------------
# Scores


def test_saved_fraction_is_relative_to_the_target():
    o = Outcome("penguin", 20.0, True, 5.0, 50.0, actual=52.0)
    assert o.saved == 0.75 and o.error == -2.0
    assert Outcome("penguin", 20.0, False, 20.0, 50.0).saved == 0.0


def test_spearman_and_top_fraction():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    for _ in range(50):
        a, b = rng.integers(0, 5, 12).astype(float), rng.integers(0, 6, 12).astype(float)
        assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12, nan_ok=True)
    assert math.isnan(spearman([1.0, 1.0], [1.0, 2.0]))
    assert top_fraction([5.0, 9.0, 1.0, 9.0, 3.0, 0.0, 2.0, 4.0, 6.0, 7.0, 8.0]) == {1, 3}  # ceil(1.1) = 2


def test_evaluate_reference_tables_every_method(reference_dir):
    tables = load_curves([reference_dir])
    results = run_methods(tables, list(METHODS), 20, workers=2)
    scores = evaluate(tables, ["menndl", "ilog2"], 20, workers=1)
    # the pool changes nothing
    assert [s.row() for s in scores] == [
        s.row() for s in evaluate(tables, ["menndl", "ilog2"], 20, workers=2)
    ]

    rows = {m: score(results[m]) for m in METHODS}
    for m, s in rows.items():
        assert s.networks == 3 and s.top_size == 1, m
        # with one network in the top set, it is kept exactly when the predicted best (the
        # earlier on a tie) is the actual best
        predicted = [o.predicted for o in results[m]]
        actual = [o.actual for o in results[m]]
        assert s.top_kept == int(predicted.index(max(predicted)) == actual.index(max(actual))), m
        for value in (s.converged, s.epochs_saved, s.mae, s.spearman):
            assert math.isfinite(value), m
        assert [o.ID for o in results[m]] == list(REFERENCE_IDS)
    assert rows["menndl"].row() == scores[0].row()
    # MENNDL predicts the observed accuracy and stops at the target at the latest: no error
    assert rows["menndl"].mae == 0.0 and rows["menndl"].epochs_saved == 0.0
    assert [o.stop_epoch for o in results["menndl"]] == [20.0, 20.0, 20.0]
    # PENGUIN on the published curves
    pen = results["penguin"]
    assert [o.converged for o in pen] == [True, True, True]
    assert [o.stop_epoch for o in pen] == [4.0, 3.0, 8.5]
    assert rows["penguin"].epochs_saved == pytest.approx((16 + 17 + 11.5) / 60)
    assert [o.actual for o in pen] == [read_table(reference_dir / f"{i}.txt").curve.valAcc[39] for i in REFERENCE_IDS]


# --------------------------------------------------------------------------------------
# The command line


def test_cli_predict(reference_dir, tmp_path, capsys):
    out_csv = tmp_path / "p.csv"
    assert main(["predict", str(reference_dir), "--method", "menndl", "--target-epoch", "20", "--csv", str(out_csv)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "converged", "stop_epoch", "predicted", "interval", "actual"]
    assert [l.split()[0] for l in lines[1:]] == list(REFERENCE_IDS)
    assert [l.split()[1:3] for l in lines[1:]] == [["no", "20.0"], ["yes", "20.0"], ["no", "20.0"]]
    for line, ident in zip(lines[1:], REFERENCE_IDS):
        acc = read_table(reference_dir / f"{ident}.txt").curve.valAcc[39]
        assert line.split()[3] == line.split()[5] == f"{acc:.2f}"
        assert line.split()[4] == "-"  # menndl gives no interval
    with open(out_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(OUTCOME_COLUMNS)
    assert [r["ID"] for r in rows] == list(REFERENCE_IDS)
    assert rows[1]["converged"] == "True" and rows[1]["stop_epoch"] == "20.0" and rows[1]["uncertainty"] == ""


def test_cli_evaluate(reference_dir, tmp_path, capsys):
    out_csv = tmp_path / "e.csv"
    args = ["evaluate", str(reference_dir), "--methods", "menndl,ilog2", "--target-epoch", "40", "--csv", str(out_csv)]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("| method | networks | converged | epochs saved | MAE | Spearman | top-10% kept "
                        "| best-so-far MAE | best-so-far Spearman | coverage | width |")
    assert [l.split("|")[1].strip() for l in lines[2:]] == ["menndl", "ilog2"]
    assert lines[2].split("|")[2].strip() == "3"
    with open(out_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["method"] for r in rows] == ["menndl", "ilog2"]
    assert all(r["target_epoch"] == "40.0" for r in rows)


@pytest.mark.parametrize(
    "args,words",
    [
        (["predict", "{ref}", "--method", "bogus"], ["--method", "unknown method 'bogus'", "penguin"]),
        (["evaluate", "{ref}", "--methods", "penguin,nope"], ["--methods", "unknown method 'nope'"]),
        (["predict", "{ref}", "--method", "penguin", "--target-epoch", "0"], ["--target-epoch", "positive number"]),
        (["predict", "{ref}", "--method", "penguin", "--target-epoch", "20.3"],
         ["target epoch 20.3: not an epoch of curve", "every 0.5", "2021_02_15_13_55_26_539263.txt"]),
        (["evaluate", "{ref}", "--N", "0"], ["--N", "positive integer"]),
        (["predict", "{missing}", "--method", "penguin"], ["no such file or directory"]),
        (["predict", "{bad}", "--method", "penguin"], ["bad.txt:1", "header"]),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(args, words, reference_dir, tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("epochs valAcc\n0.5 1.0\n")
    subst = {"{ref}": str(reference_dir), "{missing}": str(tmp_path / "none"), "{bad}": str(bad)}
    args = [subst.get(a, a) for a in args]
    try:
        status = main(args)
    except SystemExit as exit:
        status = exit.code
    assert status == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    for w in words:
        assert w in err


# --------------------------------------------------------------------------------------
# Baselines: the best valAcc so far at each method's own stops, and the fixed-budget ones


def _hand_curves():
    """Three curves of 80 half-epoch rows and what is known of them by hand: valAcc at
    epoch 20 (row 40) is 49, 30 and 10."""
    rising = [10.0 + i for i in range(80)]  # 10, 11, ...
    peaked = [20.0, 25.0, 30.0, 35.0, 40.0, 38.0, 36.0, 34.0, 32.0, 30.0] + [30.0] * 70
    flat = [10.0] * 80
    loss = [1.0] * 80  # never improves after its first value: menndl stops 10 epochs later
    return [(EPOCHS, acc, loss) for acc in (rising, peaked, flat)]


def test_baselines_by_hand():
    curves = _hand_curves()
    results = run_methods(curves, ["last", "best_so_far", "menndl"], 20, workers=1)
    # last and best_so_far stop at 0.25 * 20 = epoch 5 (row 10): last 19, 30, 10; best 19, 40, 10
    assert [o.stop_epoch for o in results["last"]] == [5.0, 5.0, 5.0]
    assert [o.predicted for o in results["last"]] == [19.0, 30.0, 10.0]
    assert [o.predicted for o in results["best_so_far"]] == [19.0, 40.0, 10.0]
    assert [o.best_so_far for o in results["last"]] == [19.0, 40.0, 10.0]
    last, best, menndl = (score(results[m]) for m in ("last", "best_so_far", "menndl"))
    assert (last.converged, last.epochs_saved) == (1.0, 0.75)
    assert last.mae == pytest.approx((30 + 0 + 0) / 3)
    assert best.mae == pytest.approx((30 + 10 + 0) / 3)
    # predicted ranks (2, 3, 1) against actual ranks (3, 2, 1): 1 - 6 * 2 / (3 * 8) = 0.5
    assert last.spearman == pytest.approx(0.5) and best.spearman == pytest.approx(0.5)
    # the best-so-far columns of a method are best_so_far's numbers at that method's stops
    assert (last.bsf_mae, last.bsf_spearman) == (best.mae, best.spearman)
    # menndl: first loss at epoch 0.5, no improvement since: stops at 10.5 (row 21), where
    # the last accuracy is 30, 30, 10 and the best 30, 40, 10
    assert [o.stop_epoch for o in results["menndl"]] == [10.5, 10.5, 10.5]
    assert menndl.mae == pytest.approx(19 / 3) and menndl.bsf_mae == pytest.approx((19 + 10 + 0) / 3)
    assert menndl.intervals == 0 and math.isnan(menndl.coverage) and math.isnan(menndl.width)
    # another budget
    out = simulate("best_so_far", curves[1], 20, budget=0.1)
    assert out.stop_epoch == 2.0 and out.predicted == 35.0 and out.saved == pytest.approx(0.9)
    with pytest.raises(InputError, match="budget"):
        make_predictor("last", budget=0)


def test_spearman_is_scipys_with_nan_for_constant_or_non_finite():
    from scipy.stats import spearmanr

    a, b = [3.0, 1.0, 2.0, 2.0], [1.0, 5.0, 2.0, 3.0]
    assert spearman(a, b) == spearmanr(a, b).statistic
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConstantInputWarning
        assert math.isnan(spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert math.isnan(spearman([1.0, math.nan], [1.0, 2.0])) and math.isnan(spearman([1.0], [2.0]))


# --------------------------------------------------------------------------------------
# Predictive intervals


def test_fit_interval_coverage_is_nominal_on_curves_with_known_noise():
    # 300 curves of a pow3 law with Gaussian noise of 1 point: fit the first 20 points,
    # predict point 40 (epoch 20). The measured value there must fall in the 80 % interval
    # about 80 % of the time: with 300 curves the binomial standard error is 0.023, so 0.80 +-
    # 0.07 is three of them (the linearisation is exact only asymptotically). Seeded.
    from nnlife.predict import fit_predictive

    rng = np.random.default_rng(2024)
    family = FAMILIES["pow3"]
    hits, widths = 0, []
    for _ in range(300):
        truth = family(X, TRUE_PARAMS["pow3"])
        y = truth + rng.normal(0, 0.01, 80)
        fit = fit_family("pow3", X[:20], y[:20])
        centre, half = fit_predictive(family.func, fit.params, X[:20], y[:20], 40.0, 0.8)
        hits += centre - half <= y[39] <= centre + half
        widths.append(200 * half)  # percent
    assert 0.73 <= hits / 300 <= 0.87
    assert 2.5 < np.mean(widths) < 4.5  # about 2 * 1.28 * 1 point, widened by the extrapolation


def test_method_intervals_are_the_fits_and_the_mixture():
    from nnlife.predict import fit_predictive, mixture_interval

    rng = np.random.default_rng(1)
    acc = 100 * FAMILIES["pow3"](X, TRUE_PARAMS["pow3"]) + rng.normal(0, 1.0, 80)
    p = make_predictor("pow3").predict(EPOCHS[:20], acc[:20], target_epoch=20)
    fit = fit_family("pow3", X[:20], acc[:20] / 100, starts=[])
    assert p.lower is not None and p.lower < p.value < p.upper
    centre, half = fit_predictive(FAMILIES["pow3"].func, fit.params, X[:20], acc[:20] / 100, 40.0, 0.8)
    assert p.width == pytest.approx(200 * half, rel=0.05)  # warm-started fit: nearly the same optimum
    e = Ensemble().predict(EPOCHS[:20], acc[:20], target_epoch=20)
    assert e.lower <= e.value <= e.upper
    # one member: its own interval; equal members: the same; the mixture widens with disagreement
    assert mixture_interval([50.0], [2.0], [1.0], 0.8) == pytest.approx((48.0, 52.0), abs=1e-6)
    assert mixture_interval([50.0, 50.0], [2.0, 2.0], [0.3, 0.7], 0.8) == pytest.approx((48.0, 52.0), abs=1e-6)
    lo, hi = mixture_interval([48.0, 52.0], [2.0, 2.0], [0.5, 0.5], 0.8)
    assert lo < 47.5 and hi > 52.5  # wider than the members apart (2 points either side)
    assert Penguin().predict(EPOCHS[:20], acc[:20], target_epoch=20).lower is not None


def test_interval_stopping_rule():
    acc = 100.0 * FAMILIES["pow3"](X, TRUE_PARAMS["pow3"])
    # noise-free: the first fit (5 points) already has an interval of width ~0
    narrow = simulate("pow3@0.5", (EPOCHS, acc), 20)
    assert narrow.method == "pow3@0.5" and narrow.converged and narrow.stop_epoch == 2.5
    assert narrow.upper - narrow.lower <= 0.5
    assert simulate("pow3", (EPOCHS, acc), 20).stop_epoch == 3.5  # the stability rule: 3 predictions
    rng = np.random.default_rng(3)
    noisy = acc + rng.normal(0, 2.0, 80)
    wide = simulate("pow3@0.5", (EPOCHS, noisy), 20)
    assert not wide.converged and wide.stop_epoch == 20.0  # 2 points of noise: never that narrow
    # triage's not-learning stop has no interval and still stops
    a, v = _stuck()
    assert simulate("triage@1", (EPOCHS, a, np.full(80, LN10), v), 20).stop_epoch == 1.5
    with pytest.raises(InputError, match="METHOD@W"):
        make_predictor("pow3@wide")


# --------------------------------------------------------------------------------------
# auto and plug-ins


def test_auto_is_penguin_stop_with_the_shipped_model(reference_paths):
    from nnlife.predict import PenguinStopLearned
    from nnlife.predict.learned import LearnedPredictor
    from nnlife.predict.registry import AUTO_MODEL

    auto_rule = make_predictor("auto")
    assert isinstance(auto_rule, PenguinStopLearned) and auto_rule.name == "auto" and auto_rule.level == 0.8
    shipped = LearnedPredictor.load(AUTO_MODEL)  # verified: format, version, features, checksum
    assert "digits.csv" in shipped.content["trained_on"]["sources"]
    modelled = 0
    for path in reference_paths:
        table = read_table(path)
        auto, rule = simulate("auto", table, 20), simulate("penguin_stop", table, 20)
        assert auto.method == "auto" and (auto.converged, auto.stop_epoch) == (rule.converged, rule.stop_epoch)
        c = table.curve
        if rule.lower is None:  # triage's not-learning stop: the last accuracy, as penguin_stop's
            assert dataclasses.replace(auto, method="penguin_stop") == rule
        else:
            k = c.epochs.index(auto.stop_epoch) + 1
            model = shipped.predict_prefix(c.valAcc[:k], c.valLoss[:k], c.trainLoss[:k], 40, table.spec)
            assert (auto.predicted, auto.lower, auto.upper) == (model.value, model.lower, model.upper)
            assert auto.lower <= auto.predicted <= auto.upper and auto.predicted != rule.predicted
            modelled += 1
        stopper = OnlineStopper("auto", 20, spec=table.spec)  # the path a campaign's --early-stop auto takes
        for row in zip(c.epochs, c.valAcc, c.trainLoss, c.valLoss):
            if stopper.observe(*row):
                break
        assert dataclasses.replace(stopper.result(), actual=auto.actual, ID=auto.ID) == auto
    assert modelled >= 1
    assert "auto" in METHODS  # campaign --early-stop checks its name against METHODS
    [s] = evaluate([table], ["auto"], 20, workers=1)
    assert s.method == "auto"


PLUGIN = '''
from nnlife.predict import Prediction, Predictor, Tracker


class Mean3(Predictor):
    """The mean of the last three accuracies; stop at the sixth row."""

    name = "mean3"

    def __init__(self, N=3):
        self.N = N

    def tracker(self, target_epoch=20.0):
        return _Mean3Tracker(target_epoch)


class _Mean3Tracker(Tracker):
    def step(self, train_loss, val_loss):
        if len(self.acc) < 3:
            return self.no_prediction()
        return Prediction(sum(self.acc[-3:]) / 3, None, len(self.acc) >= 6)


class NotOne:
    pass


class Unfinished(Predictor):
    name = "unfinished"
'''


def test_plugin_class_runs_in_evaluate(reference_dir, tmp_path, monkeypatch, capsys):
    (tmp_path / "myplug.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    tables = load_curves([reference_dir])
    scores = evaluate(tables, ["myplug:Mean3", "last"], 20, workers=1)
    assert [s.method for s in scores] == ["mean3", "last"]
    errors = []
    for t in tables:
        acc = t.curve.valAcc
        errors.append(abs(sum(acc[3:6]) / 3 - acc[39]))  # stopped at row 6, epoch 3.0
    assert scores[0].mae == pytest.approx(float(np.mean(errors)), abs=1e-12)
    assert scores[0].epochs_saved == pytest.approx(17 / 20)
    # from the command line, in another process that finds the module on PYTHONPATH
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-m", "nnlife", "evaluate", str(reference_dir), "--methods",
                           "myplug:Mean3,penguin", "--workers", "2"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    rows = done.stdout.splitlines()[2:]
    assert [r.split("|")[1].strip() for r in rows] == ["mean3", "penguin"]
    assert rows[0].split("|")[5].strip() == f"{scores[0].mae:.2f}"


@pytest.mark.parametrize(
    "name,message",
    [
        ("nosuchmodule:Thing", "method 'nosuchmodule:Thing': cannot import module 'nosuchmodule' (No module named 'nosuchmodule')"),
        ("myplug:Missing", "method 'myplug:Missing': module 'myplug' has no attribute 'Missing'"),
        ("myplug:NotOne", "method 'myplug:NotOne': NotOne is not a subclass of nnlife.predict.Predictor"),
        ("myplug:Unfinished", "method 'myplug:Unfinished': Unfinished does not implement tracker (the Predictor interface)"),
    ],
)
def test_bad_plugin_is_one_line(name, message, tmp_path, monkeypatch, reference_dir, capsys):
    (tmp_path / "myplug.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(InputError) as err:
        make_predictor(name)
    assert str(err.value) == message
    try:
        status = main(["evaluate", str(reference_dir), "--methods", name])
    except SystemExit as exit:
        status = exit.code
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and message in err
