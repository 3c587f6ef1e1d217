"""The learned method: fit on curves, the verified JSON model file, bit-for-bit reloads,
refusal of tampered or foreign files, and that it learns something (held-out curves)."""

import json
import math

import numpy as np
import pytest

from nnlife.cli import main
from nnlife.curvefile import LabeledCurve
from nnlife.curves import FAMILIES
from nnlife.errors import InputError
from nnlife.predict import make_predictor, run_methods, simulate
from nnlife.predict.learned import FEATURES, VERSION, _digest, fit_model, read_model, save_model
from nnlife.table import Curve

X = np.arange(1, 81, dtype=float)
EPOCHS = tuple(X / 2)


def synthetic(n, seed):
    """Curves of random mmf laws (a plateau 20-90 %, a speed) with 0.5 points of noise, and a
    validation loss that falls as the accuracy rises."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        top = rng.uniform(0.2, 0.9)
        params = (top, 0.1, rng.uniform(0.02, 0.2), rng.uniform(0.8, 2.0))
        acc = 100 * FAMILIES["mmf"](X, params) + rng.normal(0, 0.5, 80)
        val = 2.3 - 1.5 * acc / 100 + rng.normal(0, 0.01, 80)
        out.append(LabeledCurve(f"s{seed}-{i}", Curve(EPOCHS, tuple(val + 0.1), tuple(val), tuple(acc))))
    return out


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A model fitted on 40 synthetic curves: its content in memory, and its file."""
    path = tmp_path_factory.mktemp("model") / "model.json"
    content = fit_model(synthetic(40, 0), rounds=60)
    save_model(content, path)
    return content, path


@pytest.fixture
def model_file(fitted):
    return fitted[1]


def test_model_file_is_versioned_json_and_reloads_bit_for_bit(fitted, tmp_path):
    in_memory_content, model_file = fitted
    content = json.loads(model_file.read_text())
    assert (content["format"], content["version"], content["kind"]) == ("nnlife-predictor", VERSION, "lightgbm-quantiles")
    assert content["features"] == list(FEATURES) and content["quantiles"] == [pytest.approx(0.1), 0.5, pytest.approx(0.9)]
    assert content["sha256"] == _digest(content) and len(content["sha256"]) == 64
    assert content["trained_on"]["curves"] == 40
    assert model_file.stat().st_size < 1_000_000
    # fitting again on the same curves writes the same bytes (single-threaded, seeded)
    again = tmp_path / "again.json"
    save_model(fit_model(synthetic(40, 0), rounds=60), again)
    assert again.read_bytes() == model_file.read_bytes()
    # the method from the file predicts exactly as the one fitted in memory
    held_out = synthetic(5, 1)
    from nnlife.predict.learned import LearnedPredictor

    in_memory = LearnedPredictor(in_memory_content, name=f"learned:{model_file}")
    for c in held_out:
        a, b = simulate(in_memory, c, 20), simulate(f"learned:{model_file}", c, 20)
        assert a == b and a.lower is not None and a.lower <= a.predicted <= a.upper
    # and the same through a process pool
    pooled = run_methods(held_out, [f"learned:{model_file}"], 20, workers=2)[f"learned:{model_file}"]
    assert pooled == [simulate(f"learned:{model_file}", c, 20) for c in held_out]


def test_training_rows_are_every_rows_features_computed_afresh(benchmark_module, reference_dir):
    # the fit computes a prefix's features once for all its targets; the rows must be those of
    # prefix_features called per prefix and target (the plain way of benchmarks/fit_speed.py),
    # bit for bit, on curves with losses, with diverged (NaN) points and with specs
    from nnlife.predict.evaluation import load_curves
    from nnlife.predict.learned import training_rows

    curves = synthetic(6, 3) + load_curves([reference_dir])
    nan = list(curves[0].curve.valAcc)
    nan[30:] = [math.nan] * 50
    curves.append(LabeledCurve("diverged", Curve(EPOCHS, curves[0].curve.trainLoss, curves[0].curve.valLoss, tuple(nan))))
    X, y = training_rows(curves)
    X0, y0 = benchmark_module("fit_speed").plain_rows(curves)
    # targets 10, 20, ..., 80 of 80 points: prefixes 2..K each, 352 rows a curve; the diverged
    # curve has a finite target only at 10, 20 and 30
    assert X.shape == (9 * 352 + 9 + 19 + 29, len(FEATURES)) == (len(y), len(FEATURES))
    assert np.array_equal(X, X0, equal_nan=True) and np.array_equal(y, y0)
    assert np.isnan(X[:, FEATURES.index("chance")]).sum() < len(y)  # the tables' specs are in


def test_it_learns_on_held_out_curves(model_file):
    # From 10 points (epoch 5), predict epoch 20 of curves it never saw: better than the last
    # accuracy (these curves still rise), and its 80 % interval covers most of them.
    method = make_predictor(f"learned:{model_file}")
    errors, last_errors, covered = [], [], 0
    for c in synthetic(60, 2):
        acc = c.curve.valAcc
        p = method.predict(EPOCHS[:10], acc[:10], val_loss=c.curve.valLoss[:10], train_loss=c.curve.trainLoss[:10])
        errors.append(abs(p.value - acc[39]))
        last_errors.append(abs(acc[9] - acc[39]))
        covered += p.lower <= acc[39] <= p.upper
    assert np.mean(errors) < 0.5 * np.mean(last_errors)
    assert covered / 60 >= 0.6


def _rewrite(path, out, change):
    content = json.loads(path.read_text())
    change(content)
    out.write_text(json.dumps(content))
    return out


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda c: c["models"].__setitem__("mid", c["models"]["mid"].replace("leaf_value=", "leaf_value=1", 1)),
         "field 'sha256': the content does not match its checksum (the file was edited or damaged)"),
        (lambda c: c.update(version=2, sha256=_digest(dict(c, version=2))),
         "field 'version': expected 1 (this nnlife's model format), got 2"),
        (lambda c: c.update(format="other"), "field 'format': expected 'nnlife-predictor', got 'other'"),
        (lambda c: c.update(features=c["features"][:-1]),
         f"field 'features': expected this nnlife's {len(FEATURES)} features (k, K, k_over_K, ...), got another list"),
    ],
)
def test_tampered_or_foreign_model_is_refused_in_one_line(change, message, model_file, tmp_path, reference_dir, capsys):
    bad = _rewrite(model_file, tmp_path / "bad.json", change)
    with pytest.raises(InputError) as err:
        read_model(bad)
    assert str(err.value) == f"{bad}: {message}"
    try:
        status = main(["predict", str(reference_dir), "--method", f"learned:{bad}"])
    except SystemExit as exit:
        status = exit.code
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and f"{bad}: {message}" in err


def test_not_a_model_file(tmp_path):
    f = tmp_path / "m.json"
    f.write_text("{not json")
    with pytest.raises(InputError, match=r"m.json:1: expected a JSON model file"):
        read_model(f)
    with pytest.raises(InputError, match="no such model file"):
        make_predictor(f"learned:{tmp_path / 'none.json'}")


def test_cli_predictor_fit_and_use(tmp_path, reference_dir, capsys):
    out = tmp_path / "ref.json"
    assert main(["predictor", "fit", str(reference_dir), "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"fitted on 3 curves (1056 prefixes) -> {out}\n"
    assert read_model(out)["trained_on"]["sources"] == [str(reference_dir)]
    assert main(["evaluate", str(reference_dir), "--methods", f"learned:{out},last", "--workers", "1"]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    assert [r.split("|")[1].strip() for r in rows] == [f"learned:{out}", "last"]
    assert not math.isnan(float(rows[0].split("|")[5]))


def test_model_path_with_an_at_sign_and_the_interval_rule(model_file, tmp_path):
    folder = tmp_path / "runs@2"
    folder.mkdir()
    (folder / "m.json").write_bytes(model_file.read_bytes())
    assert make_predictor(f"learned:{folder / 'm.json'}").name == f"learned:{folder / 'm.json'}"
    wide = make_predictor(f"learned:{folder / 'm.json'}@3")
    assert wide.name == f"learned:{folder / 'm.json'}@3" and wide.width == 3.0


def test_penguin_stop_learned_stops_as_penguin_stop_and_predicts_as_the_model(model_file, capsys, tmp_path):
    from nnlife.predict import PenguinStopLearned
    from nnlife.predict.learned import LearnedPredictor

    curves = synthetic(12, 7)
    method = make_predictor(f"penguin_stop+learned:{model_file}")
    assert isinstance(method, PenguinStopLearned) and method.name == f"penguin_stop+learned:{model_file}"
    out = run_methods(curves, ["penguin_stop", method], 20, workers=1)
    stop, learned = out.values()
    model = LearnedPredictor.load(model_file)
    checked = 0
    for c, s, m in zip(curves, stop, learned):
        assert m.stop_epoch == s.stop_epoch  # penguin_stop's stops, exactly
        if not s.converged or s.lower is None:  # triage's not-learning stop: its last accuracy, as penguin_stop's
            assert m.predicted == s.predicted
            continue
        tracker = model.tracker(20)  # the learned method itself, fed the same rows up to the stop
        for e, a, tl, vl in zip(c.curve.epochs, c.curve.valAcc, c.curve.trainLoss, c.curve.valLoss):
            pred = tracker.observe(e, a, tl, vl)
            if e >= s.stop_epoch:
                break
        assert (m.predicted, m.lower, m.upper) == (pred.value, pred.lower, pred.upper)
        assert m.predicted != s.predicted
        checked += 1
    assert checked >= 4
    # by name in evaluate, with @W, and a bad model file in one line
    csv_path = tmp_path / "c.csv"
    csv_path.write_text("id,epoch,valAcc,valLoss\n" + "".join(
        f"{c.ID},{e},{a},{v}\n" for c in curves for e, a, v in zip(c.curve.epochs, c.curve.valAcc, c.curve.valLoss)))
    assert main(["evaluate", str(csv_path), "--methods", f"penguin_stop,penguin_stop+learned:{model_file}",
                 "--workers", "1"]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    assert [r.split("|")[1].strip() for r in rows] == ["penguin_stop", f"penguin_stop+learned:{model_file}"]
    assert rows[0].split("|")[4] == rows[1].split("|")[4]  # the same epochs saved
    assert make_predictor(f"penguin_stop+learned:{model_file}@3").width == 3.0
    with pytest.raises(InputError, match="no such model file"):
        make_predictor(f"penguin_stop+learned:{tmp_path / 'none.json'}")
    try:
        status = main(["campaign", "--datasets", "FashionMNIST", "--per-dataset", "2", "--seed", "1", "--out",
                       str(tmp_path / "c"), "--early-stop", f"penguin_stop+learned:{tmp_path / 'x.json'}"])
    except SystemExit as exit:
        status = exit.code
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "no such model file" in err
