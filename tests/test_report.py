"""The static HTML report (nnlife.report)."""

from __future__ import annotations

import html
import json
import math
import re
import struct
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from matplotlib.image import imread

from nnlife.analysis import load
from nnlife.cli import main
from nnlife.report import build_report
from nnlife.sample import plan
from nnlife.spec import DATASETS, make_id
from nnlife.table import Curve, write_table

COMMON_FIGURES = [
    "curve_bands.png",
    "final_accuracy.png",
    "learned.png",
    "learned_vs_conv_layers.png",
    "accuracy_vs_conv_layers.png",
    "accuracy_vs_params.png",
    "accuracy_vs_learning_rate.png",
    "accuracy_vs_batch_size.png",
]


def make_tables(root: Path, datasets, per_dataset: int, short: bool = False, seed: int = 1) -> None:
    """Real sampled specs with synthetic curves; every third network stays at chance, one
    diverges; with ``short`` every curve stops early (fewer than 80 half epochs)."""
    rng = np.random.default_rng(seed)
    when = datetime(2031, 5, seed)
    for name in datasets:
        classes = DATASETS[name].classes
        chance = 100.0 / classes
        for i, planned in enumerate(plan(name, per_dataset, 11)):
            when += timedelta(seconds=1)
            spec = planned.spec().with_run(ID=make_id(when), train_GPU=False, torch_set_deterministic=True)
            n = int(rng.integers(4, 40)) if short else 80
            t = 0.5 * np.arange(1, n + 1)
            top = chance if i % 3 == 0 else rng.uniform(3 * chance, 90)
            acc = chance + (top - chance) * (1 - np.exp(-t / 2))
            loss = math.log(classes) * (np.exp(-t / 8) if i % 3 else np.ones(n)) + 0.05
            if i == 1:
                loss[n // 2 :] = np.nan
            write_table(root, spec, Curve.from_halves(loss, loss * 1.1, acc))


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def check_report(index: Path, figures: list[str]) -> str:
    assert index.name == "index.html"
    page = index.read_text()
    referenced = re.findall(r'<img src="([^"]+)" alt="([^"]+)"', page)
    assert sorted(src for src, _ in referenced) == sorted(figures)
    for src, alt in referenced:
        path = index.parent / html.unescape(src)
        width, height = png_size(path)
        assert width > 300 and height > 200
        pixels = imread(path)  # decodes the whole image
        assert pixels.shape[:2] == (height, width)
        assert pixels.std() > 0.01  # something is drawn
        assert alt.strip()  # every figure has a title
    return page


def test_report_of_three_data_sets(tmp_path):
    make_tables(tmp_path / "runs", DATASETS, per_dataset=6)
    data = load(tmp_path / "runs")
    index = build_report(data, tmp_path / "report", curves_per_dataset=4).index
    figures = [f"curves_{DATASETS[d].dir_name}.png" for d in DATASETS] + COMMON_FIGURES
    page = check_report(index, figures)
    summary = data.summary
    assert "18 networks" in page and "0 malformed tables skipped" in page
    # one summary row per data set, with its counts
    for name in DATASETS:
        part = summary[summary["dataset"] == name]
        never = int((~part["learned"]).sum())
        row = re.search(rf"<tr><td>{re.escape(DATASETS[name].dir_name)}</td><td>(\d+)</td><td>(\d+)</td><td>(\d+) ", page)
        assert row is not None, name
        assert row.groups() == (str(len(part)), str(len(part) - never), str(never))
    assert "Networks that learned (12 of 18)" in page
    # too few networks per data set for the importance model, and the page says so
    assert page.count("fewer than 30, no model fitted") == 3 and "importance.png" not in page
    assert "No <code>campaign.json</code> next to these tables" in page
    assert "learning curves of 4 of 6 networks" in page


def test_cli_report_of_one_data_set_with_early_stopped_curves(tmp_path, capsys):
    make_tables(tmp_path / "runs", ["FashionMNIST"], per_dataset=5, short=True)
    assert (load(tmp_path / "runs").summary["n_rows"] < 80).all()
    report = tmp_path / "report"
    assert main(["report", str(tmp_path / "runs"), "--out", str(report), "--curves", "3"]) == 0
    out = capsys.readouterr().out
    assert "loaded 5 networks from 5 tables" in out and f"report written to {report / 'index.html'}" in out
    page = check_report(report / "index.html", ["curves_FashionMNIST.png"] + COMMON_FIGURES)
    assert "learning curves of 3 of 5 networks" in page
    assert "stop before the longest" in page
    assert "CIFAR-100</td>" not in page and "SVHN</td>" not in page


def test_cli_report_without_networks_is_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no tables (*.txt) or Parquet files found" in err
    assert not (tmp_path / "r").exists()
    bad = tmp_path / "bad" / "SVHN_models"
    bad.mkdir(parents=True)
    (bad / "x.txt").write_text("not a table\n")
    assert main(["report", str(tmp_path / "bad"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "no networks to report on" in err and err.count("\n") == 2  # the skipped table, then the error
    assert not (tmp_path / "r").exists()


# ---- a reference drawn in the same figures -----------------------------------------------

COMPARED = ["curve_bands.png", "final_accuracy.png", "learned.png", "learned_vs_conv_layers.png",
            "accuracy_vs_conv_layers.png"]


def test_report_against_a_reference_draws_both_in_every_compared_figure(tmp_path):
    make_tables(tmp_path / "new", ["FashionMNIST", "SVHN"], per_dataset=6, seed=1)
    make_tables(tmp_path / "old", ["FashionMNIST", "SVHN"], per_dataset=9, seed=2)
    data, ref = load(tmp_path / "new"), load(tmp_path / "old")
    report = build_report(data, tmp_path / "report", reference=ref, label="new run", reference_label="published",
                          curves_per_dataset=3)
    assert report.labels == ("new run", "published")
    for name in COMPARED:
        legends = report.figure(name).legends
        if name == "learned.png":
            assert legends == (("new run", "published"),)
            continue
        assert len(legends) == (4 if name == "curve_bands.png" else 2), name  # one legend per panel
        for panel in legends:
            assert any(t.startswith("new run") for t in panel) and any(t.startswith("published") for t in panel), name
    # counts in the legends are each data set's own
    assert "new run (n = 6)" in report.figure("final_accuracy.png").legends[0]
    assert "published (n = 9)" in report.figure("final_accuracy.png").legends[0]
    assert report.figure("learned.png").title == "Networks that learned (new run: 8 of 12; published: 12 of 18)"
    page = check_report(report.index, [f"curves_{d}.png" for d in ("FashionMNIST", "SVHN")] + COMMON_FIGURES)
    assert "<h3>new run (the data set reported on)</h3>" in page and "<h3>published (the reference)</h3>" in page
    assert "12 networks (FashionMNIST 6, SVHN 6)" in page and "18 networks (FashionMNIST 9, SVHN 9)" in page
    # the bands of each data set are its own curves' quartiles
    for label, root in (("new run", data), ("published", ref)):
        acc = np.array(root.networks["valAcc"].to_pylist(), dtype=float)
        mask = (root.summary["dataset"] == "SVHN").to_numpy()
        np.testing.assert_array_equal(report.bands[(label, "SVHN", "valAcc")].median, np.median(acc[mask], axis=0))


def test_bands_are_numpys_quartiles_over_the_finite_values_at_each_half_epoch():
    import pyarrow as pa

    from nnlife.report.stats import curve_bands, padded_curves

    curves = [
        [10.0, 20.0, 30.0, 40.0],
        [12.0, float("nan"), 33.0],  # diverged at the second half epoch
        [11.0, 25.0, float("inf"), 41.0, 50.0],
        [9.0],  # early-stopped after one half epoch
        [14.0, 21.0, 35.0, 44.0],
    ]
    padded = padded_curves(pa.chunked_array([pa.array(curves[:2]), pa.array(curves[2:])]))
    assert padded.shape == (5, 5) and np.isnan(padded[3, 1:]).all() and padded[2, 2] == np.inf
    bands = curve_bands(padded)
    np.testing.assert_array_equal(bands.epochs, [0.5, 1.0, 1.5, 2.0, 2.5])
    columns = [[c[j] for c in curves if j < len(c) and np.isfinite(c[j])] for j in range(5)]
    assert bands.count.tolist() == [5, 3, 3, 3, 1] == [len(c) for c in columns]
    for j, column in enumerate(columns):
        q25, q50, q75 = np.percentile(column, [25, 50, 75])
        assert (bands.q25[j], bands.median[j], bands.q75[j]) == (q25, q50, q75)
    assert (bands.q25[1], bands.median[1], bands.q75[1]) == (20.5, 21.0, 23.0)  # 20, 21, 25 by hand


def test_cli_reference_that_does_not_exist_is_one_line(tmp_path, capsys):
    make_tables(tmp_path / "runs", ["SVHN"], per_dataset=3)
    missing = tmp_path / "nowhere"
    code = main(["report", str(tmp_path / "runs"), "--reference", str(missing), "--out", str(tmp_path / "r")])
    assert code == 2
    err = capsys.readouterr().err
    assert err == f"nnlife report: error: --reference {missing}: no such file or directory\n"
    assert not (tmp_path / "r").exists()
    (tmp_path / "empty").mkdir()
    code = main(["report", str(tmp_path / "runs"), "--reference", str(tmp_path / "empty"), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("nnlife report: error: --reference: ")


def test_cli_report_with_reference_and_campaign_options(tmp_path, capsys):
    from nnlife.campaign import CampaignOptions, make_manifest, write_manifest

    make_tables(tmp_path / "demo", ["FashionMNIST"], per_dataset=4, seed=3)
    write_manifest(tmp_path / "demo", make_manifest(CampaignOptions(
        datasets=("FashionMNIST",), per_dataset=4, seed=3, epochs=2, train_images=1000, test_images=500)))
    manifest = tmp_path / "demo" / "campaign.json"
    obj = json.loads(manifest.read_text())
    obj["options"]["max_cost_pflop"] = 5  # an option this version does not know: shown as set
    manifest.write_text(json.dumps(obj))
    make_tables(tmp_path / "published", ["FashionMNIST"], per_dataset=5, seed=4)
    report = tmp_path / "report"
    argv = ["report", str(tmp_path / "demo" / "FashionMNIST_models"), "--reference", str(tmp_path / "published"),
            "--reference-label", "published", "--out", str(report), "--curves", "2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "loaded 4 networks" in out and "reference: loaded 5 networks" in out
    page = (report / "index.html").read_text()
    assert f"Campaign options from {manifest}" in page
    assert ("<b>Not the published protocol:</b> epochs = 2 (published: 40); train_images = 1000 (published: the "
            "full split); test_images = 500 (published: the full split); max_cost_pflop = 5.") in page
    # the reference has no manifest, and the page says what that means
    assert page.count("No <code>campaign.json</code> next to these tables") == 1
    assert page.index("The data sets shown") < page.index("Summary per data set") < page.index("<figure")


# ---- structure against fitness ---------------------------------------------------------

def synthetic_summary(n: int, seed: int, depends_on_lr: bool):
    """A summary with every spec feature drawn at random and a final accuracy that is a
    function of the learning rate alone (or pure noise)."""
    import pandas as pd

    from nnlife.report.stats import FEATURES

    rng = np.random.default_rng(seed)
    frame = {column: rng.uniform(1, 100, n) for column, _, _ in FEATURES}
    frame["learning_rate"] = 10.0 ** rng.uniform(-6, 0, n)
    log_lr = np.log10(frame["learning_rate"])
    acc = 10 + 80 * np.exp(-((log_lr + 2) ** 2)) if depends_on_lr else rng.uniform(10, 90, n)
    frame.update(dataset="FashionMNIST", classes=10, valAcc_final=acc + rng.normal(0, 1, n))
    return pd.DataFrame(frame)


def test_importance_ranks_the_one_field_that_matters_first_and_is_seeded():
    from nnlife.report.stats import FEATURES, importance

    summary = synthetic_summary(300, 0, depends_on_lr=True)
    result = importance(summary, seed=7)
    assert result.features[0] == "log10 learning rate"
    assert sorted(result.features) == sorted(name for _, name, _ in FEATURES)
    assert result.mean[0] > 0.5 and np.all(result.mean[1:] < 0.05)
    assert result.reliable and result.r2.shape == (5,) and np.all(result.r2 > 0.8)
    assert np.all(result.baseline_r2 <= 0) and np.all(result.baseline_r2 > -0.1)
    again = importance(summary, seed=7)
    assert again.features == result.features and np.array_equal(again.mean, result.mean)
    assert np.array_equal(again.r2, result.r2)
    noise = importance(synthetic_summary(300, 0, depends_on_lr=False), seed=7)
    assert not noise.reliable
    assert importance(synthetic_summary(29, 0, depends_on_lr=True)) is None  # too few networks


def test_batched_permutation_drops_are_the_definition():
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.metrics import r2_score

    from nnlife.report.stats import feature_matrix, permutation_drops

    summary = synthetic_summary(120, 1, depends_on_lr=True)
    X, _ = feature_matrix(summary)
    y = summary["valAcc_final"].to_numpy()
    model = HistGradientBoostingRegressor(max_iter=20, random_state=0).fit(X[:80], y[:80])
    drops = permutation_drops(model, X[80:], y[80:], 3, np.random.default_rng(5))
    # the same shuffles, one predict per feature and repeat
    rng = np.random.default_rng(5)
    f = X.shape[1]
    order = np.argsort(rng.random((f * 3, 40)), axis=1)
    base = r2_score(y[80:], model.predict(X[80:]))
    for k in range(f * 3):
        j = k // 3
        shuffled = X[80:].copy()
        shuffled[:, j] = X[80:][order[k], j]
        assert math.isclose(drops[j, k % 3], base - r2_score(y[80:], model.predict(shuffled)), abs_tol=1e-12)


def test_report_prints_the_importance_and_warns_when_the_model_explains_little(tmp_path):
    make_tables(tmp_path / "runs", ["FashionMNIST"], per_dataset=40)
    report = build_report(load(tmp_path / "runs"), tmp_path / "report", curves_per_dataset=2)
    imp = report.importance[("runs", "FashionMNIST")]
    assert imp is not None and imp.networks == 40 and imp.folds == 5
    page = check_report(report.index, ["curves_FashionMNIST.png", "importance.png"] + COMMON_FIGURES)
    assert f"Held-out R² {np.mean(imp.r2):.3f}".replace("²", "&#178;") in page
    assert f"against {np.mean(imp.baseline_r2):.3f} for predicting the training folds' mean" in page
    if not imp.reliable:  # synthetic curves do not depend on the spec
        assert "<b>The model explains little</b>" in page
    assert f"<td>1</td><td>{html.escape(imp.features[0])}</td><td>{imp.mean[0]:.4f}</td>" in page


# ---- repeats: the seed spread ----------------------------------------------------------

def test_seed_spread_of_repeated_networks(tmp_path):
    import statistics

    make_tables(tmp_path / "runs", ["SVHN"], per_dataset=7)
    data = load(tmp_path / "runs")
    summary = data.summary.copy()
    # As the summary will be once networks are trained several times: three repeats of "a",
    # two of "b", one of "c", and one more of "b" whose final accuracy is NaN.
    summary["network"] = ["a", "a", "a", "b", "b", "c", "b"]
    summary["repeat"] = [0, 1, 2, 0, 1, 0, 2]
    summary.loc[6, "valAcc_final"] = float("nan")
    vars(data)["summary"] = summary  # Lifespans.summary is a cached property
    acc = summary["valAcc_final"].tolist()
    report = build_report(data, tmp_path / "report", curves_per_dataset=2)
    spread = report.spread["runs"].set_index("network")
    assert spread.index.tolist() == ["a", "b"]  # "c" has one repeat
    assert spread.loc["a", "repeats"] == 3 and spread.loc["b", "repeats"] == 3 and spread.loc["b", "finite"] == 2
    assert math.isclose(spread.loc["a", "std"], statistics.stdev(acc[0:3]), rel_tol=1e-12)
    assert math.isclose(spread.loc["a", "mean"], statistics.mean(acc[0:3]), rel_tol=1e-12)
    assert spread.loc["a", "min"] == min(acc[0:3]) and spread.loc["a", "max"] == max(acc[0:3])
    assert math.isclose(spread.loc["b", "std"], statistics.stdev(acc[3:5]), rel_tol=1e-12)
    assert spread.loc["b", "range"] == abs(acc[3] - acc[4])
    page = check_report(report.index, ["curves_SVHN.png", "seed_spread.png"] + COMMON_FIGURES)
    worst = max(("a", "b"), key=lambda k: spread.loc[k, "std"])
    assert (f"<tr><td>{worst}</td><td>SVHN</td><td>3</td><td>{spread.loc[worst, 'finite']}</td>"
            f"<td>{spread.loc[worst, 'mean']:.2f}</td><td>{spread.loc[worst, 'std']:.2f}</td>") in page
    csv = (tmp_path / "report" / "seed_spread.csv").read_text().splitlines()
    assert csv[0] == "source,dataset,network,repeats,finite,mean,std,min,max,range" and len(csv) == 3
    legends = report.figure("seed_spread.png").legends
    assert legends == ((f"runs: 2 networks, median std {spread['std'].median():.2f}",),)


def test_seed_spread_by_hand():
    import pandas as pd

    from nnlife.report.stats import seed_spread

    frame = pd.DataFrame({
        "dataset": ["SVHN"] * 5 + ["CIFAR100"] * 2,
        "network": ["x", "x", "x", "y", "z", "x", "x"],
        "valAcc_final": [50.0, 52.0, 57.0, 20.0, 30.0, 3.0, float("inf")],
    })
    out = seed_spread(frame)
    assert out[["dataset", "network", "repeats", "finite"]].values.tolist() == [["SVHN", "x", 3, 3], ["CIFAR100", "x", 2, 1]]
    assert out.loc[0, "mean"] == 53.0 and math.isclose(out.loc[0, "std"], math.sqrt(13.0))  # (9 + 1 + 16) / 2
    assert (out.loc[0, "min"], out.loc[0, "max"], out.loc[0, "range"]) == (50.0, 57.0, 7.0)
    assert np.isnan(out.loc[1, "std"])  # one finite value
    assert seed_spread(frame.drop(columns="network")) is None
    assert seed_spread(frame.iloc[[0, 3, 4]]) is None  # no network twice


def test_report_is_the_same_from_worker_processes_and_from_one(tmp_path, monkeypatch):
    import nnlife.report as report_module

    make_tables(tmp_path / "runs", ["FashionMNIST"], per_dataset=30)
    make_tables(tmp_path / "ref", ["FashionMNIST"], per_dataset=4, seed=5)
    data, ref = load(tmp_path / "runs"), load(tmp_path / "ref")
    outs = {}
    for workers in (1, 2):
        monkeypatch.setattr(report_module, "default_workers", lambda: workers)
        outs[workers] = build_report(data, tmp_path / f"r{workers}", reference=ref, curves_per_dataset=3)
    one, two = outs[1], outs[2]
    assert one.importance[("runs", "FashionMNIST")] is not None
    assert [f.file for f in one.figures] == [f.file for f in two.figures]
    for name in ["index.html"] + [f.file for f in one.figures]:
        assert (tmp_path / "r1" / name).read_bytes() == (tmp_path / "r2" / name).read_bytes(), name
