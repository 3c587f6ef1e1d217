"""The static HTML report (nnlife.report)."""

from __future__ import annotations

import html
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
    "final_accuracy.png",
    "never_learned.png",
    "accuracy_vs_conv_layers.png",
    "accuracy_vs_params.png",
    "accuracy_vs_learning_rate.png",
    "accuracy_vs_batch_size.png",
]


def make_tables(root: Path, datasets, per_dataset: int, short: bool = False) -> None:
    """Real sampled specs with synthetic curves; every third network stays at chance, one
    diverges; with ``short`` every curve stops early (fewer than 80 half epochs)."""
    rng = np.random.default_rng(1)
    when = datetime(2031, 5, 1)
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
    index = build_report(data, tmp_path / "report", curves_per_dataset=4)
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
    assert "Networks that never learned (6 of 18)" in page
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
