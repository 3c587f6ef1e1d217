"""benchmarks/auto_rules.py: the candidate rules for ``auto`` do what they say."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnlife.predict import load_curves, run_methods

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "auto_rules.py"


@pytest.fixture(scope="module")
def rules(benchmark_module):
    return benchmark_module("auto_rules")


def test_horizon_threshold(rules):
    assert [rules.horizon_threshold(x) for x in (10, 20, 40, 80)] == [0.5, 0.5, 1.0, 1.5]
    assert rules.horizon_threshold(25) == pytest.approx(0.5 * (1 + np.log2(1.25)))


def test_weighted_median(rules):
    rng = np.random.default_rng(3)
    for _ in range(200):
        n = int(rng.integers(1, 9))
        v, w = rng.normal(size=n), rng.uniform(0.01, 1, size=n)
        w = w / w.sum()
        # the smallest value whose cumulative weight (values in order) reaches half
        order = np.argsort(v)
        expected = next(v[i] for k, i in enumerate(order) if w[order[: k + 1]].sum() >= 0.5 * w.sum() - 1e-12)
        assert rules.weighted_median(v, w) == expected
    assert rules.weighted_median(np.array([3.0, 1.0, 2.0]), np.full(3, 1 / 3)) == 2.0


def test_horizon_rules_on_the_published_tables(rules, reference_dir):
    curves = load_curves([reference_dir])
    out = run_methods(curves, ["penguin", "triage", rules.TriageHorizon(), rules.CombinedHorizon()], 20, workers=1)
    penguin, triage, horizon, combined = out.values()
    # at target 20 of a table (point 40) the horizon threshold is 1.0: stops no later than triage
    assert all(h.stop_epoch <= t.stop_epoch for h, t in zip(horizon, triage))
    for p, h, c in zip(penguin, horizon, combined):  # whichever of PENGUIN and it stops first
        first = p if p.stop_epoch < h.stop_epoch else h
        assert (c.stop_epoch, c.predicted) == (first.stop_epoch, first.predicted)


def test_penguin_stop_mean_on_learning_curves(rules):
    from nnlife.table import Curve

    t = 0.5 * np.arange(1, 81)
    rng = np.random.default_rng(5)
    curves = []
    for tau, top in ((1.0, 80.0), (3.0, 70.0), (6.0, 90.0), (2.0, 40.0)):
        rise = 1 - np.exp(-t / tau)
        curves.append(Curve.from_halves(2.3 - 1.5 * rise, 2.3 - 1.4 * rise, 10 + (top - 10) * rise + rng.normal(0, 0.3, 80)))
    out = run_methods(curves, ["penguin", "penguin_stop", rules.PenguinStopMean()], 20, workers=1)
    penguin, stop, mean = out.values()
    stopped = 0
    for p, s, m in zip(penguin, stop, mean):  # penguin_stop's stops, the mean of the two predictions
        assert m.stop_epoch == s.stop_epoch == p.stop_epoch
        if p.converged:
            stopped += 1
            assert m.predicted == pytest.approx(0.5 * (p.predicted + s.predicted), abs=1e-12)
    assert stopped >= 3


def test_penguin_stop_narrow_takes_the_narrower_interval(rules):
    from nnlife.table import Curve

    t = 0.5 * np.arange(1, 81)
    rng = np.random.default_rng(5)
    curves = []
    for tau, top in ((1.0, 80.0), (3.0, 70.0), (6.0, 90.0), (2.0, 40.0)):  # exponential-shaped
        rise = 1 - np.exp(-t / tau)
        curves.append(Curve.from_halves(2.3 - 1.5 * rise, 2.3 - 1.4 * rise, 10 + (top - 10) * rise + rng.normal(0, 0.3, 80)))
    for c, top in ((1.0, 80.0), (2.0, 70.0)):  # power-shaped
        rise = 1 - (1 + t) ** -0.5 * c
        curves.append(Curve.from_halves(2.3 - 1.5 * rise, 2.3 - 1.4 * rise, 10 + (top - 10) * rise + rng.normal(0, 0.3, 80)))
    out = run_methods(curves, ["penguin", "penguin_stop", rules.PenguinStopNarrow()], 20, workers=1)
    chose = []
    for p, s, n in zip(*out.values()):
        assert n.stop_epoch == s.stop_epoch == p.stop_epoch
        if p.converged and None not in (p.lower, p.upper, s.lower, s.upper):
            penguins = (p.upper - p.lower) < (s.upper - s.lower)
            assert n.predicted == (p.predicted if penguins else s.predicted)
            chose.append(penguins)
    assert len(chose) >= 3


def test_script_on_the_published_tables(reference_dir, tmp_path):
    r = subprocess.run([sys.executable, str(SCRIPT), str(reference_dir), "--no-synthetic", "--workers", "1",
                        "--csv", str(tmp_path / "rows.csv")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "#### reference (3 tables, half epochs), target 20 (3 curves" in r.stdout
    assert "#### reference (3, per-epoch view), target 25 (3 curves" in r.stdout
    assert "| triage (auto until 12-03) | 0 of 4 | 0 of 4 |" in r.stdout and "| penguin_stop (auto until 12-04) |" in r.stdout
    rows = (tmp_path / "rows.csv").read_text().splitlines()
    assert rows[0] == "set,target,method,networks,saved,mae,spearman,bsf_mae,bsf_spearman,coverage,width,goal"
    assert len(rows) == 1 + 4 * 23  # 4 cells x 23 methods
    only = subprocess.run([sys.executable, str(SCRIPT), str(reference_dir), "--no-synthetic", "--workers", "1",
                           "--only", "penguin_stop (auto until 12-04),penguin_stop_variance", "--csv", str(tmp_path / "only.csv")],
                          capture_output=True, text=True)
    assert only.returncode == 0, only.stderr
    methods = [line.split(",")[-10] for line in (tmp_path / "only.csv").read_text().splitlines()[1:]]
    assert methods == ["penguin", "penguin_stop (auto until 12-04)", "penguin_stop_variance"] * 4
    unknown = subprocess.run([sys.executable, str(SCRIPT), str(reference_dir), "--no-synthetic", "--only", "nope"],
                             capture_output=True, text=True)
    assert unknown.returncode == 2 and "unknown candidate 'nope'" in unknown.stderr
    bad = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "none"), "--no-synthetic"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr


def _learning_tables(seed=5):
    """Half-epoch tables of networks that learn, exponential- and power-shaped."""
    from nnlife.table import Curve

    t = 0.5 * np.arange(1, 81)
    rng = np.random.default_rng(seed)
    curves = []
    for tau, top in ((1.0, 80.0), (3.0, 70.0), (6.0, 90.0), (2.0, 40.0)):
        rise = 1 - np.exp(-t / tau)
        curves.append(Curve.from_halves(2.3 - 1.5 * rise, 2.3 - 1.4 * rise, 10 + (top - 10) * rise + rng.normal(0, 0.3, 80)))
    for c, top in ((1.0, 80.0), (2.0, 70.0)):
        rise = 1 - (1 + t) ** -0.5 * c
        curves.append(Curve.from_halves(2.3 - 1.5 * rise, 2.3 - 1.4 * rise, 10 + (top - 10) * rise + rng.normal(0, 0.3, 80)))
    return curves


def _triage_at(curve, stop_epoch, target, tracker):
    """``tracker`` fed the curve's rows up to ``stop_epoch``; its last prediction."""
    for e, a, tl, vl in zip(curve.epochs, curve.valAcc, curve.trainLoss, curve.valLoss):
        pred = tracker.observe(e, a, tl, vl)
        if e >= stop_epoch:
            return pred


def test_reweighted_penguin_stops_keep_its_stops_and_weigh_as_they_say(rules):
    from nnlife.predict import Triage
    from nnlife.predict.core import DEFAULT_LEVEL

    curves = _learning_tables()
    names = ["penguin_stop", rules.PenguinStopAkaike(), rules.PenguinStopVariance(),
             rules.PenguinStopWith(rules.TriagePrequential, "penguin_stop_prequential"), rules.PenguinStopJoint(),
             rules.PenguinStopVarianceJoint()]
    out = run_methods(curves, names, 20, workers=1)
    stop, akaike, variance, prequential, joint, variance_joint = out.values()
    from scipy.special import ndtri

    z = float(ndtri(0.5 + DEFAULT_LEVEL / 2))
    checked = 0
    for c, s, a, v, q, j, vj in zip(curves, stop, akaike, variance, prequential, joint, variance_joint):
        assert s.stop_epoch == a.stop_epoch == v.stop_epoch == q.stop_epoch == j.stop_epoch == vj.stop_epoch
        if not s.converged:
            continue
        tri = Triage().tracker(20)
        _triage_at(c, s.stop_epoch, 20, tri)
        x, y = tri.xs(), np.asarray(tri.acc) / 100.0
        n = len(y)
        # Akaike weights, by hand: AICc = n log(RSS / n) + 2k + 2k(k+1)/(n-k-1), w ~ exp(-AICc/2)
        vals, aicc = [], []
        for f in tri.families:
            fit = tri.fits[f.name][-1]
            k = len(f.params)
            if fit is not None and np.isfinite(tri.value(fit)):
                vals.append(tri.value(fit))
                aicc.append(n * np.log(n * fit.rmse ** 2 / n) + 2 * k + 2 * k * (k + 1) / (n - k - 1))
        w = np.exp(-(np.asarray(aicc) - min(aicc)) / 2)
        assert a.predicted == pytest.approx(float(np.sum(w * vals) / np.sum(w)), abs=1e-9)
        # held-out error squared plus the predictive variance at the target
        scored = tri.scored(x, y)
        halves = np.asarray([tri.half_width(fit, x, y) for _, _, fit in scored])
        err = np.asarray([e for _, e, _ in scored])
        w = 1 / (err ** 2 + (halves / z) ** 2)
        assert v.predicted == pytest.approx(float(np.sum(w * [s_[0] for s_ in scored]) / np.sum(w)), abs=1e-9)
        # triage_prequential's ensemble on the same rows
        assert q.predicted == _triage_at(c, s.stop_epoch, 20, rules.TriagePrequential().tracker(20)).value
        checked += 1
    assert checked >= 3
    # the three differ from penguin_stop's own prediction somewhere
    for other in (akaike, variance, prequential, joint, variance_joint):
        assert any(o.predicted != s.predicted for o, s in zip(other, stop) if s.converged)


def test_report_pools_the_cells(rules, capsys, tmp_path):
    def row(set_, method, mae, spearman, goal):
        return dict(set=set_, target=20.0, method=method, mae=mae, spearman=spearman, goal=goal)

    rows = [row("synthetic exp, seed 7 (per epoch)", "penguin", 2.0, 0.90, False),
            row("synthetic exp, seed 7 (per epoch)", "x", 1.0, 0.95, True),
            row("corpus-a (9 tables, half epochs)", "penguin", 4.0, 0.80, False),
            row("corpus-a (9 tables, half epochs)", "x", 8.0, 0.70, False)]
    rules.report(rows, str(tmp_path / "rows.csv"))
    out = capsys.readouterr().out
    # MAE ratios 0.5 and 2: geometric mean 1; Spearman differences +0.05 and -0.10: mean -0.025
    assert "| x | 1 of 2 | 0 of 1 | 1.000 | -0.0250 |" in out
    assert (tmp_path / "rows.csv").read_text().splitlines()[0] == "set,target,method,mae,spearman,goal"
    assert rules.is_real("corpus-noise (40, per-epoch view)") and not rules.is_real("make_curves(1000, 2031) (half epochs)")
