"""Repeats (docs/training.md), the first run's selection options, and the seed-noise floor."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from nnlife import campaign as C
from nnlife.analysis import load, per_network
from nnlife.errors import InputError
from nnlife.record import make_record, read_record, write_record
from nnlife.run import RunOptions, derive_seeds, run_facts
from nnlife.sample import network_seeds, plan, plan_selected, sample
from nnlife.seednoise import noise_floor, seed_noise
from nnlife.shapes import analyse
from nnlife.table import Curve, format_table, read_table, table_path

FASHION = "/usr/share/datasets/fashion-mnist"
# seed 170 draws a small FashionMNIST network (1 conv layer, b = 55)
TRAIN = ["--dataset", "FashionMNIST", "--seed", 170, "--epochs", 1, "--train-images", 1100, "--test-images", 500,
         "--deterministic", "--no-download", "--device", "cpu"]
# FashionMNIST, 2 networks of 1 and 2 conv layers, biggest batch size 174 (see test_campaign.SIX).
TWO = dict(datasets=("FashionMNIST",), per_dataset=2, seed=53681, epochs=1, train_images=350, test_images=200)


def test_repeat_zero_seeds_are_the_ordinary_ones_and_repeats_differ():
    assert derive_seeds(2476382228, 0) == derive_seeds(2476382228)
    assert derive_seeds(2476382228).weights == 9141441721228601749  # docs/training.md, published table
    seeds = [derive_seeds(7, r) for r in range(3)]
    values = [v for s in seeds for v in (s.weights, s.order, s.dropout)]
    assert len(set(values)) == 9
    with pytest.raises(InputError, match="repeat -1"):
        RunOptions(repeat=-1)


def test_train_repeats_repeat_zero_is_todays_table_and_repeat_one_differs_in_curve_only(cli, tmp_path, capsys):
    assert cli("train", *TRAIN, "--out", tmp_path / "plain") == 0
    plain = Path(capsys.readouterr().out.strip())
    assert cli("train", *TRAIN, "--repeats", 2, "--out", tmp_path / "rep") == 0
    r0, r1 = map(Path, capsys.readouterr().out.split())
    assert r0.parent == r1.parent == tmp_path / "rep" / "FashionMNIST_models" and r0.stem != r1.stem

    # repeat 0 is byte for byte the run without --repeats, but for its ID (a creation time)
    assert r0.read_bytes().replace(r0.stem.encode(), b"ID") == plain.read_bytes().replace(plain.stem.encode(), b"ID")
    a, b = r0.read_text().split("\n"), r1.read_text().split("\n")
    # the same network: line 2's 24 spec fields are identical but for the ID
    assert a[0] == b[0] and a[1].split(" ")[4:] == [r0.stem] + b[1].split(" ")[5:] and b[1].split(" ")[4] == r1.stem
    assert read_table(r0).curve.valAcc != read_table(r1).curve.valAcc  # other seeds, other curve

    records = [read_record(tmp_path / "rep" / "FashionMNIST_records" / f"{p.stem}.json") for p in (r0, r1)]
    assert [(r.network, r.repeat) for r in records] == [(r0.stem, 0), (r0.stem, 1)]
    assert records[0].seeds == read_record(tmp_path / "plain" / "FashionMNIST_records" / f"{plain.stem}.json").seeds
    assert records[1].facts.seeds == derive_seeds(170, 1)
    on_disk = json.loads((tmp_path / "rep" / "FashionMNIST_records" / f"{r1.stem}.json").read_text())
    assert (on_disk["network"], on_disk["repeat"]) == (r0.stem, 1)


def test_train_checks_its_output_before_loading_or_training(cli, tmp_path, capsys, monkeypatch):
    import nnlife.data

    loads = []
    real = nnlife.data.load_data
    monkeypatch.setattr(nnlife.data, "load_data", lambda *a, **k: loads.append(a) or real(*a, **k))
    blocker = tmp_path / "out"
    blocker.write_text("a file where the output directory should be\n")
    assert cli("train", *TRAIN, "--out", blocker) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(blocker) in err[0] and "expected a directory" in err[0], err
    assert loads == []  # nothing was loaded, so nothing was trained
    assert blocker.read_text() == "a file where the output directory should be\n"


def test_a_record_from_before_repeats_reads_as_repeat_zero_of_itself(tmp_path, reference_paths):
    path = _write_table(tmp_path, reference_paths[0], "2026_01_01_00_00_00_000001", [10.0, 20.0], None, 0)
    record_file = tmp_path / "CIFAR-100_records" / f"{path.stem}.json"
    obj = json.loads(record_file.read_text())
    del obj["network"], obj["repeat"]
    record_file.write_text(json.dumps(obj))
    record = read_record(record_file)
    assert (record.network, record.repeat) == (path.stem, 0)
    summary = load(tmp_path).summary
    assert summary[["ID", "network", "repeat"]].values.tolist() == [[path.stem, path.stem, 0]]


# ---- campaigns with repeats ----------------------------------------------------------------------


def test_manifest_lists_every_network_and_repeat(tmp_path):
    options = C.CampaignOptions(**TWO, repeats=3)
    manifest = C.open_manifest(tmp_path, options)
    nets = manifest.networks
    assert [(n.index, n.repeat) for n in nets] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert len({n.ID for n in nets}) == 6
    for n in nets:
        first = next(m for m in nets if m.index == n.index and m.repeat == 0)
        assert n.network_ID == first.ID and (n.random_seed, n.flops) == (first.random_seed, first.flops)
    assert C.read_manifest(tmp_path) == manifest
    with pytest.raises(InputError, match="--repeats differs"):
        C.open_manifest(tmp_path, C.CampaignOptions(**TWO, repeats=2))
    # a manifest without repeats is unchanged in its units: repeat 0 of themselves
    plain = C.make_manifest(C.CampaignOptions(**TWO))
    assert [(n.repeat, n.network_ID) for n in plain.networks] == [(0, n.ID) for n in plain.networks]


def _journal(out: Path) -> list[dict]:
    return C.read_journal(out) if (out / C.JOURNAL).exists() else []


def test_a_killed_campaign_with_repeats_resumes_without_redoing_a_finished_repeat(tmp_path):
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "nnlife", "campaign", "--datasets", "FashionMNIST", "--per-dataset", "2",
            "--seed", "53681", "--epochs", "1", "--train-images", "350", "--test-images", "200", "--repeats", "2",
            "--workers", "1", "--no-download", "--out", str(out)]
    proc = subprocess.Popen(argv, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not any(e["event"] == "done" for e in _journal(out)):
        assert proc.poll() is None, "the campaign ended before it could be killed"
        assert time.monotonic() < deadline, "timed out waiting for a finished repeat"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    manifest = C.read_manifest(out)
    finished = [n for n in manifest.networks if C.is_done(out, n, manifest.options)]
    assert 1 <= len(finished) < 4
    mtimes = {n.ID: C.table_file(out, n).stat().st_mtime_ns for n in finished}
    time.sleep(0.05)  # a later write would show in the mtime

    summary = C.run_campaign(out, manifest.options, C.ExecutionOptions(workers=1, download=False, progress=False))
    assert (summary.done, summary.done_before, summary.trained) == (4, len(finished), 4 - len(finished))
    # repeats are counted as trainings of so many networks, not as networks
    assert summary.text().splitlines()[0] == f"campaign {out}: 4 of 4 trainings done (2 networks x 2 repeats)"
    assert C.campaign_status(out).text().splitlines()[0] == (
        f"campaign {out}: not running, 4 of 4 trainings done (2 networks x 2 repeats)")
    journal = C.read_journal(out)
    for net in manifest.networks:
        kinds = [e["event"] for e in journal if e.get("ID") == net.ID]
        assert kinds.count("done") == 1 and "start" not in kinds[kinds.index("done"):]
        record = read_record(C.record_file(out, net))
        assert (record.network, record.repeat) == (net.network_ID, net.repeat)
        assert record.facts.seeds == derive_seeds(net.random_seed, net.repeat)
    for n in finished:
        assert C.table_file(out, n).stat().st_mtime_ns == mtimes[n.ID]
        assert [e["event"] for e in journal if e.get("ID") == n.ID].count("start") == 1

    # the repeats group by network in the summary; two repeats of one network share line 2 but the ID
    s = load(out).summary
    assert sorted(s.groupby("network")["repeat"].apply(sorted).tolist()) == [[0, 1], [0, 1]]
    for net in (n for n in manifest.networks if n.repeat == 1):
        a = C.table_file(out, net).read_text().split("\n")[1].split(" ")[4:]
        first = next(m for m in manifest.networks if m.ID == net.network_ID)
        b = C.table_file(out, first).read_text().split("\n")[1].split(" ")[4:]
        assert (a[0], b[0], a[1:]) == (net.ID, first.ID, b[1:])


def test_faults_and_retries_are_per_repeat(tmp_path, monkeypatch):
    options = C.CampaignOptions(**TWO, repeats=2)
    manifest = C.open_manifest(tmp_path, options)
    victim = manifest.networks[1]  # repeat 1 of the first network
    monkeypatch.setenv(C.FAULTS_ENV, f"error:{victim.ID}:*")
    first = C.run_campaign(tmp_path, options, C.ExecutionOptions(workers=2, download=False, progress=False,
                                                                 retries=1))
    assert [f.ID for f in first.failures] == [victim.ID] and first.trained == 3
    assert not C.is_done(tmp_path, victim, options) and read_record(C.record_file(tmp_path, victim)).status == "failed"
    monkeypatch.delenv(C.FAULTS_ENV)
    second = C.run_campaign(tmp_path, options, C.ExecutionOptions(workers=2, download=False, progress=False))
    assert (second.trained, second.done, second.failures) == (1, 4, ())
    record = read_record(C.record_file(tmp_path, victim))
    assert (record.status, record.network, record.repeat) == ("complete", manifest.networks[0].ID, 1)


# ---- the first run's selection -------------------------------------------------------------------


def test_selection_obeys_the_cap_and_the_lr_floor_and_keeps_the_plan_and_its_strata(tmp_path):
    cap, floor = 5.0, 1e-3
    options = C.CampaignOptions(datasets=("FashionMNIST",), per_dataset=5, seed=2022, epochs=1,
                                max_mflops=cap, min_lr=floor)
    manifest = C.open_manifest(tmp_path, options)
    nets = manifest.networks
    assert sorted(n.conv_layers for n in nets) == [1, 2, 3, 4, 5]  # one per count, as a plan of 5
    assert [n.index for n in nets] == sorted(n.index for n in nets)
    last = max(n.index for n in nets)
    seeds = network_seeds("FashionMNIST", last + 1, 2022)
    for n in nets:
        spec = sample("FashionMNIST", n.random_seed, n.conv_layers, n_train=60000)
        assert n.flops == analyse(spec).flops <= cap * 1e6 and spec.learning_rate >= floor
        assert (n.random_seed, n.conv_layers) == (seeds[n.index], 1 + n.index % 10)  # the published plan's
        for i in range(n.conv_layers - 1, n.index, 10):  # every earlier network of the count fails a rule
            earlier = sample("FashionMNIST", seeds[i], n.conv_layers, n_train=60000)
            assert analyse(earlier).flops > cap * 1e6 or earlier.learning_rate < floor
    obj = json.loads((tmp_path / C.MANIFEST).read_text())
    assert (obj["options"]["max_mflops"], obj["options"]["min_lr"]) == (5.0, 0.001)
    assert "NOT the published distribution" in obj["options"]["selection"]
    assert C.read_manifest(tmp_path).options == options
    with pytest.raises(InputError, match=r"--max-mflops differs .*created with 5.0, now 6.0"):
        C.open_manifest(tmp_path, dataclasses.replace(options, max_mflops=6.0))
    with pytest.raises(InputError, match="--min-lr differs"):
        C.open_manifest(tmp_path, C.CampaignOptions(datasets=("FashionMNIST",), per_dataset=5, seed=2022, epochs=1,
                                                    max_mflops=cap))
    # without the rules a selection is the plan itself
    assert plan_selected("FashionMNIST", 7, 2022) == plan("FashionMNIST", 7, 2022)
    assert "published distribution" in C.CampaignOptions(**TWO).to_dict()["selection"]


def test_selection_too_strict_for_deep_networks_is_one_error():
    with pytest.raises(InputError, match=r"only 2 of 10 networks .* first 2000 of the plan \(too few with 3 conv layers\)"):
        plan_selected("FashionMNIST", 10, 2022, max_flops=1e5, n_train=60000, scan=2000)
    with pytest.raises(InputError, match="--max-mflops 0"):
        C.CampaignOptions(**TWO, max_mflops=0)


def test_conv_layer_rule_keeps_the_strata_below_it_and_the_plan_order():
    nets = plan_selected("FashionMNIST", 10, 2022, max_conv=3, min_lr=0.01, max_flops=2e6, n_train=60000)
    assert sorted(n.n_conv for n in nets) == [1, 1, 1, 1, 2, 2, 2, 3, 3, 3]  # 1..3 in turn, as a plan of 10 would
    seeds = network_seeds("FashionMNIST", max(n.index for n in nets) + 1, 2022)
    for n in nets:
        assert (n.random_seed, n.n_conv) == (seeds[n.index], 1 + n.index % 10)
    # only the conv-layer rule: the first networks of counts 1..K of the plan itself
    alone = plan_selected("FashionMNIST", 4, 2022, max_conv=2)
    assert [(n.index, n.n_conv) for n in alone] == [(0, 1), (1, 2), (10, 1), (11, 2)]
    assert [n.random_seed for n in alone] == [seeds[0], seeds[1], seeds[10], seeds[11]]
    assert plan_selected("FashionMNIST", 7, 2022, max_conv=10) == plan("FashionMNIST", 7, 2022)
    for bad in (0, 11, 2.5, True):
        with pytest.raises(InputError, match="--max-conv-layers"):
            plan_selected("FashionMNIST", 4, 2022, max_conv=bad)
    with pytest.raises(InputError, match="--max-conv-layers 11: expected an integer from 1 to 10"):
        C.CampaignOptions(**TWO, max_conv_layers=11)


def test_the_readme_first_run_plans_a_cheap_selection_that_says_so(tmp_path):
    """The README's first command, parsed as the command line parses it: every planned network
    obeys the cap, the floor and the conv-layer rule, and the manifest says it is a demo."""
    import re
    import shlex

    from nnlife.cli import make_parser

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    line = next(l for l in readme.splitlines() if l.startswith("./install.sh && .venv/bin/nnlife campaign"))
    words = shlex.split(re.search(r"nnlife (campaign .*?) &&", line).group(1))
    words[words.index("--out") + 1] = str(tmp_path / "first")
    args = make_parser(words).parse_args(words)
    assert (args.max_mflops, args.min_lr, args.max_conv_layers) == (2.0, 0.01, 3)
    options = C.CampaignOptions(datasets=args.datasets, per_dataset=args.per_dataset, seed=args.seed,
                                epochs=args.epochs, train_images=args.train_images, test_images=args.test_images,
                                max_mflops=args.max_mflops, min_lr=args.min_lr,
                                max_conv_layers=args.max_conv_layers)
    manifest = C.open_manifest(tmp_path / "first", options)
    assert len(manifest.networks) == 10
    for n in manifest.networks:
        spec = sample("FashionMNIST", n.random_seed, n.conv_layers, n_train=60000)
        assert n.conv_layers <= 3 and n.flops <= 2e6 and spec.learning_rate >= 0.01
    selection = json.loads((tmp_path / "first" / C.MANIFEST).read_text())["options"]["selection"]
    assert "NOT the published distribution" in selection and "at most 3 conv layers" in selection


def test_campaign_cli_selection_options(cli, tmp_path, capsys):
    assert cli("campaign", "--datasets", "FashionMNIST", "--per-dataset", 1, "--seed", 1, "--out", tmp_path,
               "--max-mflops", "-1") == 2
    assert "--max-mflops" in capsys.readouterr().err
    assert cli("campaign", "--datasets", "FashionMNIST", "--per-dataset", 1, "--seed", 1, "--out", tmp_path,
               "--max-conv-layers", "11") == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("--max-conv-layers 11: expected an integer from 1 to 10") and "\n" not in err


# ---- summary grouping and the seed-noise floor ---------------------------------------------------


def _write_table(out: Path, reference: Path, ID: str, accs: list[float], network: str | None, repeat: int) -> Path:
    """A table of the reference network with the valAcc curve ``accs`` and its record."""
    spec = read_table(reference).spec.with_run(ID=ID, train_GPU=False, torch_set_deterministic=True)
    n = len(accs)
    curve = Curve.from_halves([1.0] * n, [2.0] * n, accs)
    facts = run_facts(RunOptions(epochs=n // 2 or 1, repeat=repeat), random_seed=spec.random_seed,
                      batch_size=spec.batch_size, train_subset=50000, test_subset=10000, n_train_full=50000,
                      n_test_full=10000, device="cpu", device_name="cpu", data_files=(), svhn_extra=False,
                      started="2026-01-01T00:00:00")

    class Measured:
        seconds = val_seconds = train_accuracy = (0.0,) * n

    Measured.curve = curve
    write_record(out, make_record(spec, facts, Measured, status="complete", network=network))
    path = table_path(out, spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(format_table(spec, curve))
    return path


# (final valAcc of each repeat over 4 half epochs; best = max) per network
CURVES = {
    0: [[5.0, 9.0, 12.0, 11.0], [4.0, 8.0, 10.0, 14.0]],
    1: [[2.0, 3.0, 3.5, 4.0], [1.0, 2.5, 3.0, 2.0], [2.0, 2.0, 6.0, 5.5]],
    2: [[20.0, 30.0, 35.0, 40.0], [18.0, 28.0, 36.0, 37.0]],
    3: [[7.0, 7.0, 7.0, 7.5]],  # a network trained once
}


def _corpus(out: Path, reference: Path) -> dict[tuple[int, int], str]:
    when = datetime(2026, 1, 1)
    ids: dict[tuple[int, int], str] = {}
    for net, curves in CURVES.items():
        for r, accs in enumerate(curves):
            when += timedelta(seconds=1)
            ID = when.strftime("%Y_%m_%d_%H_%M_%S_%f")
            ids[net, r] = ID
            _write_table(out, reference, ID, accs, ids[net, 0], r)
    return ids


def test_summary_groups_repeats_with_mean_and_std_by_hand(tmp_path, reference_paths):
    ids = _corpus(tmp_path, reference_paths[0])
    data = load(tmp_path)
    s = data.summary.set_index("ID")
    for (net, r), ID in ids.items():
        assert (s.loc[ID, "network"], s.loc[ID, "repeat"]) == (ids[net, 0], r)
    frame = data.per_network().set_index("network")
    assert frame.equals(per_network(data.summary).set_index("network"))
    assert list(frame.index) == [ids[k, 0] for k in CURVES]
    for net, curves in CURVES.items():
        row = frame.loc[ids[net, 0]]
        finals = [c[-1] for c in curves]
        bests = [max(c) for c in curves]
        assert row["repeats"] == len(curves)
        assert row["valAcc_final_mean"] == pytest.approx(sum(finals) / len(finals))
        assert row["valAcc_max_mean"] == pytest.approx(sum(bests) / len(bests))
        if len(curves) == 1:
            assert np.isnan(row["valAcc_final_std"]) and np.isnan(row["valAcc_max_std"])
        else:
            m = sum(finals) / len(finals)
            assert row["valAcc_final_std"] == pytest.approx((sum((f - m) ** 2 for f in finals) / (len(finals) - 1)) ** 0.5)
            mb = sum(bests) / len(bests)
            assert row["valAcc_max_std"] == pytest.approx((sum((b - mb) ** 2 for b in bests) / (len(bests) - 1)) ** 0.5)
    # by hand, network 0: finals 11 and 14 -> mean 12.5, std |11 - 14| / sqrt 2
    assert frame.loc[ids[0, 0], "valAcc_final_std"] == pytest.approx(3 / 2 ** 0.5)


def test_seed_noise_floor_by_hand(tmp_path, reference_paths):
    _corpus(tmp_path, reference_paths[0])
    floor = seed_noise([tmp_path], target_epoch=2.0)
    # pairs at epoch 2.0 (the 4th point): |11-14|; |4-2|, |4-5.5|, |2-5.5|; |40-37|
    diffs = [3.0, 2.0, 1.5, 3.5, 3.0]
    assert (floor.networks, floor.pairs, floor.ranked) == (3, 5, 3)
    assert floor.mae == pytest.approx(sum(diffs) / 5)
    # repeat 0 vs repeat 1 across the three networks: (11, 14), (4, 2), (40, 37): ranks agree
    assert floor.spearman == pytest.approx(1.0)
    at_one = seed_noise([tmp_path], target_epoch=1.0)  # 2nd point: (9, 8), (3, 2.5, 2), (30, 28)
    assert at_one.mae == pytest.approx((1 + 0.5 + 1 + 0.5 + 2) / 5)
    assert at_one.spearman == pytest.approx(spearmanr([9, 3, 30], [8, 2.5, 28]).statistic)
    assert "MAE 2.60 points" in floor.text() and "Spearman 1.000" in floor.text()


def test_noise_floor_rank_correlation_and_absent_repeats():
    import pandas as pd

    frame = pd.DataFrame({"dataset": ["F"] * 6, "network": ["a", "a", "b", "b", "c", "c"],
                          "repeat": [0, 1, 0, 1, 1, 0], "acc": [10.0, 30.0, 20.0, 10.0, 5.0, 40.0]})
    floor = noise_floor(frame, 20.0)
    assert floor.mae == pytest.approx((20 + 10 + 35) / 3)
    # repeat 0: a 10, b 20, c 40; repeat 1: a 30, b 10, c 5 -> ranks (1,2,3) vs (3,2,1)
    assert floor.spearman == pytest.approx(-1.0)
    assert noise_floor(frame[frame["repeat"] == 0], 20.0) is None


def test_evaluate_prints_the_floor_only_with_repeats(cli, tmp_path, capsys, reference_paths):
    _corpus(tmp_path / "rep", reference_paths[0])
    assert cli("evaluate", tmp_path / "rep", "--target-epoch", 2, "--methods", "penguin") == 0
    out = capsys.readouterr().out
    assert "seed-noise floor at epoch 2 (3 networks with repeats, 5 pairs of repeats): MAE 2.60 points" in out
    assert cli("evaluate", *reference_paths, "--methods", "penguin") == 0
    assert "seed-noise" not in capsys.readouterr().out


def test_a_manifest_from_before_repeats_and_a_chosen_selection_still_read(tmp_path):
    # A manifest written before repeats existed has no `repeat`/`network` per unit: every unit is
    # repeat 0 of itself. A manifest may also hold a chosen selection of planned networks (as
    # benchmarks/make_corpus.py writes): each unit is checked against its own seed.
    options = C.CampaignOptions(datasets=("FashionMNIST",), per_dataset=6, seed=53681, epochs=1)
    manifest = C.open_manifest(tmp_path, options)
    obj = json.loads((tmp_path / C.MANIFEST).read_text())
    for net in obj["networks"]:
        del net["repeat"], net["network"]
    obj["networks"] = obj["networks"][1:4]
    (tmp_path / C.MANIFEST).write_text(json.dumps(obj))
    again = C.read_manifest(tmp_path)
    assert [n.ID for n in again.networks] == [n.ID for n in manifest.networks[1:4]]
    assert all(n.repeat == 0 and n.network_ID == n.ID for n in again.networks)
    obj["networks"][0]["flops"] += 1  # but a unit that is not what its seed draws is refused
    (tmp_path / C.MANIFEST).write_text(json.dumps(obj))
    with pytest.raises(InputError, match=r"network 0: field 'flops': expected \d+ \(as its seed draws it\)"):
        C.read_manifest(tmp_path)
