"""benchmarks/other_curves.py: real per-epoch curves of networks outside nnlife's taxonomy."""

import csv
import math
import subprocess
import sys
from pathlib import Path

import pytest

from nnlife.predict import load_curves

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "other_curves.py"


@pytest.fixture(scope="module")
def other(benchmark_module):
    return benchmark_module("other_curves")


def test_configurations_are_drawn_from_the_declared_space(other):
    cfgs = [other.config("digits", 1, i) for i in range(300)]
    assert cfgs[7] == other.config("digits", 1, 7) and cfgs[7] != other.config("digits", 2, 7)
    ranges = {"sgd": (1e-3, 0.5), "momentum": (1e-4, 0.1), "adam": (1e-5, 1e-2)}
    for c in cfgs:
        lo, hi = ranges[c["optimizer"]]
        assert lo <= c["lr"] <= hi and 16 <= c["batch"] <= 256 and c["dropout"] in (0.0, 0.1, 0.3, 0.5)
        assert (1 <= c["layers"] <= 2 and c["width"] in (4, 8, 16, 32)) if c["kind"] == "cnn" else \
            (1 <= c["layers"] <= 3 and c["width"] in (16, 32, 64, 128, 256, 512))
        assert c["weight_decay"] == 0.0 or 1e-6 <= c["weight_decay"] <= 1e-2
    assert {c["kind"] for c in cfgs} == {"mlp", "cnn"} and {c["optimizer"] for c in cfgs} == set(ranges)
    assert {c["activation"] for c in cfgs} == {"relu", "tanh", "sigmoid"}
    assert all(other.config("fashion", 2, i)["kind"] == "mlp" for i in range(50))


def test_networks_have_the_configured_shape(other):
    import torch

    cnn = other.build(dict(kind="cnn", layers=2, width=8, activation="tanh", dropout=0.0), 8)
    assert cnn(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    assert sum(p.numel() for p in cnn.parameters()) == (1 * 9 * 8 + 8) + (8 * 9 * 8 + 8) + (8 * 2 * 2 * 10 + 10)
    mlp = other.build(dict(kind="mlp", layers=2, width=16, activation="relu", dropout=0.3), 28)
    assert sum(p.numel() for p in mlp.parameters()) == (784 * 16 + 16) + (16 * 16 + 16) + (16 * 10 + 10)


def test_a_curve_file_made_resumed_and_remade(tmp_path):
    out = tmp_path / "digits.csv"
    args = [sys.executable, str(SCRIPT), "digits", "--networks", "3", "--epochs", "4", "--workers", "1", "--out", str(out)]
    r = subprocess.run(args, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    first = out.read_bytes()
    curves = load_curves([out])
    assert sorted(c.ID for c in curves) == ["digits-1-0", "digits-1-1", "digits-1-2"]
    for c in curves:
        assert c.curve.epochs == (1.0, 2.0, 3.0, 4.0)
        assert all(0 <= a <= 100 for a in c.curve.valAcc) and all(v > 0 or math.isnan(v) for v in c.curve.valLoss)
    # 600 validation images: every accuracy is a whole number of them
    assert all(abs(a * 6 - round(a * 6)) < 1e-3 for c in curves for a in c.curve.valAcc)
    again = subprocess.run(args, capture_output=True, text=True)
    assert again.returncode == 0 and "3 networks there, 0 to train" in again.stdout and out.read_bytes() == first
    rows = list(csv.reader(first.decode().splitlines()))
    out.write_text("\n".join(",".join(row) for row in rows if row[0] != "digits-1-1") + "\n")
    redo = subprocess.run(args, capture_output=True, text=True)
    assert redo.returncode == 0 and "2 networks there, 1 to train" in redo.stdout
    assert out.read_bytes() == first  # the same network trained again gives the same curve


def test_fashion_images_normalised(other, fashion):
    tx, ty, vx, vy, side = other.load("fashion")
    assert tx.shape == (60000, 1, 28, 28) and vx.shape == (10000, 1, 28, 28) and side == 28
    assert abs(float(tx.mean())) < 1e-3 and abs(float(tx.std()) - 1) < 1e-3
    assert ty.tolist()[:5] == fashion.train_y.tolist()[:5]


def test_auto_rules_scores_a_per_epoch_curve_file_as_it_is(benchmark_module, tmp_path):
    rules = benchmark_module("auto_rules")
    path = tmp_path / "c.csv"
    lines = ["id,epoch,valAcc"] + [f"a,{e},{50 + e}" for e in range(1, 26)] + [f"b,{e},{40 + e}" for e in range(1, 31)]
    path.write_text("\n".join(lines + [f"short,{e},{e}" for e in range(1, 11)]) + "\n")
    sets = list(rules.corpus_sets([path]))
    assert [(label, sorted(c.ID for c in curves), targets) for label, curves, targets in sets] == \
        [("c.csv (2 curves, per epoch)", ["a", "b"], (20.0, 25.0))]


def test_fit_auto_model_fits_the_sets_auto_learned_scores(benchmark_module, reference_dir, tmp_path):
    # the script that remakes auto's model, on the published tables and a small per-epoch file
    from nnlife.predict.learned import LearnedPredictor

    fit = benchmark_module("fit_auto_model")
    path = tmp_path / "c.csv"
    path.write_text("id,epoch,valAcc\n" + "".join(f"{i},{e},{90 - 60 * 0.8 ** e + i}\n" for i in range(3) for e in range(1, 26)))
    curves, sources = fit.fit_curves([reference_dir, path])
    assert sources == ["c.csv", "exp", "make_curves", "power", "reference"]
    # 200 curves per synthetic shape and seed, 300 of make_curves, the tables twice (as they are
    # and per epoch), the curve file's 3
    assert len(curves) == 4 * 200 + 300 + 2 * 3 + 3
    out = tmp_path / "m.json"
    assert fit.main([str(reference_dir), str(path), "--out", str(out)]) == 0
    model = LearnedPredictor.load(out)
    assert model.content["trained_on"]["sources"] == sources and model.content["trained_on"]["curves"] == len(curves)
    assert fit.main([str(tmp_path / "none"), "--out", str(out)]) == 2
