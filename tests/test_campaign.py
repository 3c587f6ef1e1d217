"""Campaigns on the local pool: plan and manifest, resume, kill -9, lock, failures, early stop.

The plans are chosen so that the networks are cheap on a CPU (about a second per network and
epoch on the subsets used): their master seeds were picked by the networks' measured cost.
FashionMNIST is the real one (Debian's copy); CIFAR-100 is an extracted copy in the official
format with the official sizes and exact class counts (random pixels), in a temporary root.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from datafiles import cifar_pickle_bytes
from nnlife import campaign as C
from nnlife.errors import InputError
from nnlife.predict import simulate
from nnlife.record import read_record
from nnlife.spec import is_published_id
from nnlife.table import HEADER, TEMP_PREFIX, Curve, format_table, read_table

# FashionMNIST + CIFAR100, 4 each: biggest batch size 249 (so 500 training / 250 test images).
TWO_SETS = dict(datasets=("FashionMNIST", "CIFAR100"), per_dataset=4, seed=55431, epochs=1,
                train_images=500, test_images=250)
# FashionMNIST, 6 networks (conv layers 1..6): biggest batch size 174.
SIX = dict(datasets=("FashionMNIST",), per_dataset=6, seed=53681, train_images=350, test_images=200)
# FashionMNIST, 4 networks, one of which (learning rate 0.986) diverges: biggest batch size 230.
FOUR_WITH_DIVERGING = dict(datasets=("FashionMNIST",), per_dataset=4, seed=11922, epochs=1,
                           train_images=460, test_images=230)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    target = root / "CIFAR-100" / "cifar-100-python"
    target.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 50_000), ("test", 10_000)):
        x = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
        (target / split).write_bytes(cifar_pickle_bytes(x, np.arange(n) % 100, split))
    return root


def execution(root: Path, **kw) -> C.ExecutionOptions:
    return C.ExecutionOptions(**{"workers": 2, "data_root": str(root), "download": False, "progress": False, **kw})


def cli_args(options: dict, out: Path, root: Path, *extra) -> list:
    args = ["campaign", "--datasets", ",".join(options["datasets"]), "--per-dataset", options["per_dataset"],
            "--seed", options["seed"], "--out", out, "--data-root", root, "--no-download", "--workers", 2]
    for key in ("epochs", "train_images", "test_images"):
        if key in options:
            args += ["--" + key.replace("_", "-"), options[key]]
    return args + list(extra)


def events_of(out: Path, kind: str, ID: str | None = None) -> list[dict]:
    return [e for e in C.read_journal(out) if e["event"] == kind and (ID is None or e.get("ID") == ID)]


def check_complete(out: Path, manifest: C.Manifest, epochs: int) -> None:
    """Exactly the planned tables and records, each table complete and valid, no temporary file."""
    for dataset in manifest.options.datasets:
        ids = sorted(n.ID for n in manifest.networks if n.dataset == dataset)
        models = out / f"{C.dataset_info(dataset).dir_name}_models"
        records = out / f"{C.dataset_info(dataset).dir_name}_records"
        assert sorted(p.name for p in models.iterdir()) == [f"{i}.txt" for i in ids]
        assert sorted(p.name for p in records.iterdir()) == [f"{i}.json" for i in ids]
    for net in manifest.networks:
        table = read_table(C.table_file(out, net))
        assert table.curve.epochs == tuple(0.5 * (i + 1) for i in range(2 * epochs))
        assert table.spec == net.spec(manifest.options).with_run(ID=net.ID, train_GPU=False,
                                                                 torch_set_deterministic=manifest.options.deterministic)
        assert read_record(C.record_file(out, net)).status == "complete"
    assert not [p for p in out.rglob("*") if p.name.startswith(TEMP_PREFIX)]


# ---- the plan, the manifest, the order ------------------------------------------------------


def test_manifest_plan_ids_and_order():
    options = C.CampaignOptions(**{**TWO_SETS, "datasets": ("CIFAR100", "fashionmnist")})
    assert options.datasets == ("FashionMNIST", "CIFAR100")  # canonical order
    manifest = C.make_manifest(options)
    nets = manifest.networks
    assert [(n.dataset, n.conv_layers, n.index) for n in nets] == [
        (d, k, k - 1) for d in ("FashionMNIST", "CIFAR100") for k in (1, 2, 3, 4)]
    ids = [n.ID for n in nets]
    assert all(is_published_id(i) for i in ids)
    stamps = [datetime.strptime(i, "%Y_%m_%d_%H_%M_%S_%f") for i in ids]
    assert all(b - a >= timedelta(microseconds=1) for a, b in zip(stamps, stamps[1:]))
    from nnlife.sample import plan
    from nnlife.shapes import analyse

    for net, planned in zip(nets, plan("FashionMNIST", 4, 55431) + plan("CIFAR100", 4, 55431)):
        spec = planned.spec()
        assert (net.random_seed, net.batch_size, net.flops) == (planned.random_seed, spec.batch_size, analyse(spec).flops)
        used, validated = net.images(options)
        assert used == 500 // (2 * net.batch_size) * 2 * net.batch_size and validated == 250 // net.batch_size * net.batch_size
        assert net.cost(options) == net.flops * (3 * used + 2 * validated) * 1
    assert max(n.batch_size for n in nets) == 249
    order = C.training_order(options, list(nets))
    costs = [n.cost(options) for n in order]
    assert costs == sorted(costs, reverse=True) and sorted(order, key=lambda n: n.ID) == sorted(nets, key=lambda n: n.ID)


def test_manifest_round_trip_and_refusals(tmp_path):
    options = C.CampaignOptions(**SIX, epochs=2)
    first = C.open_manifest(tmp_path, options)
    assert C.read_manifest(tmp_path) == first
    assert C.open_manifest(tmp_path, C.CampaignOptions(**SIX, epochs=2)) == first  # reused, same IDs
    for change, flag in ((dict(epochs=3), "--epochs"), (dict(per_dataset=7), "--per-dataset"),
                         (dict(seed=1), "--seed"), (dict(deterministic=True), "--deterministic"),
                         (dict(early_stop="penguin"), "--early-stop"), (dict(train_images=400), "--train-images")):
        with pytest.raises(InputError, match=f"^{tmp_path}: {flag} differs from the campaign in this directory"):
            C.open_manifest(tmp_path, C.CampaignOptions(**{**SIX, "epochs": 2, **change}))
    with pytest.raises(InputError, match=r"--train-images 300: too few for FashionMNIST network .*, whose batch size 174 needs at least 348 training images"):
        C.make_manifest(C.CampaignOptions(**{**SIX, "train_images": 300}))
    with pytest.raises(InputError, match="--test-images 20000: FashionMNIST has only 10000 test images"):
        C.make_manifest(C.CampaignOptions(**{**SIX, "test_images": 20000}))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "campaign.json").write_text("{\n  oops\n")
    with pytest.raises(InputError, match=r"campaign.json:2: not valid JSON"):
        C.read_manifest(tmp_path / "bad")
    with pytest.raises(InputError, match="no campaign here"):
        C.campaign_status(tmp_path / "nothing")
    # Two networks under one ID would overwrite each other's table: refused on write and on read.
    twin = dataclasses.replace(first, networks=first.networks[:3] + (dataclasses.replace(first.networks[3], ID=first.networks[1].ID),)
                               + first.networks[4:])
    shared = f"field 'networks': networks 1 and 3 share the ID {first.networks[1].ID}; expected one ID per network$"
    with pytest.raises(InputError, match=f"^{tmp_path / 'twin' / 'campaign.json'}: {shared}"):
        C.write_manifest(tmp_path / "twin", twin)
    text = (tmp_path / "campaign.json").read_text().replace(first.networks[3].ID, first.networks[1].ID)
    (tmp_path / "twin").mkdir()
    (tmp_path / "twin" / "campaign.json").write_text(text)
    with pytest.raises(InputError, match=shared):
        C.read_manifest(tmp_path / "twin")


@pytest.mark.parametrize("kw, message", [
    (dict(datasets=("MNIST",)), "unknown data set 'MNIST'"),
    (dict(datasets=("SVHN", "svhn")), "--datasets: SVHN is named twice"),
    (dict(per_dataset=0), "--per-dataset 0: expected an integer >= 1"),
    (dict(seed=2**32), r"--seed 4294967296: expected an integer in \[0, 2\*\*32\)"),
    (dict(target_epoch=5), "--target-epoch: only with --early-stop"),
    (dict(early_stop="oracle"), "--early-stop 'oracle': expected one of penguin, menndl"),
    (dict(early_stop="penguin", epochs=4, target_epoch=5), "--target-epoch 5: beyond --epochs 4"),
    (dict(svhn_extra=True), "--svhn-extra: only with SVHN"),
])
def test_bad_options(kw, message):
    with pytest.raises(InputError, match=message):
        C.CampaignOptions(**{**SIX, **kw})


def test_early_stop_takes_any_method_of_evaluate():
    # a plug-in class by its import path is loaded before anything is trained; a missing one is one line
    assert C.CampaignOptions(**SIX, early_stop="nnlife.predict.methods:Penguin").early_stop == "nnlife.predict.methods:Penguin"
    with pytest.raises(InputError) as err:
        C.CampaignOptions(**SIX, early_stop="nnlife.no_such_module:Rule")
    assert str(err.value).startswith("--early-stop: ") and "nnlife.no_such_module" in str(err.value)
    assert "\n" not in str(err.value)


def test_early_stop_target_defaults_to_twenty_or_the_last_epoch():
    assert C.CampaignOptions(**SIX, early_stop="penguin").target_epoch == 20.0
    assert C.CampaignOptions(**SIX, epochs=3, early_stop="penguin").target_epoch == 3.0


def test_faults_are_parsed_or_refused():
    assert C.parse_faults("crash:A:1, oom:B:*,oom-always:C:2") == (
        C.Fault("crash", "A", 1), C.Fault("oom", "B", None), C.Fault("oom-always", "C", 2))
    for bad in ("crash:A", "melt:A:1", "oom:A:0", "oom:A:first", "oom::1"):
        with pytest.raises(InputError, match="NNLIFE_INJECT_FAULTS: entry"):
            C.parse_faults(bad)


# ---- a small campaign over two data sets, then the same command again ----------------------


def test_small_campaign_gives_exactly_the_planned_tables_and_a_rerun_does_nothing(cli, tmp_path, data_root, capsys):
    out = tmp_path / "run"
    assert cli(*cli_args(TWO_SETS, out, data_root)) == 0
    printed = capsys.readouterr()
    assert printed.out.splitlines()[0] == f"campaign {out}: 8 of 8 networks done"
    assert "8 to train on local pool, 2 CPU workers x 1 thread" in printed.err
    manifest = C.read_manifest(out)
    assert manifest.options == C.CampaignOptions(**TWO_SETS)
    check_complete(out, manifest, epochs=1)
    for net in manifest.networks:
        record = read_record(C.record_file(out, net))
        assert (record.extra["attempt"], record.extra["starts"], record.extra["errors"]) == (1, 1, [])
        assert (record.extra["micro_batches"], record.micro_batches, record.extra["oom_retries"]) == (1, 1, 0)
        assert record.extra["worker"].endswith(" cpu") and record.train_images == net.images(manifest.options)[0]
        assert [e["attempt"] for e in events_of(out, "start", net.ID)] == [1]
        [done] = events_of(out, "done", net.ID)
        assert (done["status"], done["epochs_trained"], done["started"]) == ("complete", 1.0, record.started)
    # Most expensive first. A worker reports its start only once its data is loaded, so the order
    # of the start lines is not the order of hand-out; what is certain is that with two workers the
    # k-th costliest network (k from 0) is handed out only after k - 1 networks have finished.
    place = {n.ID: k for k, n in enumerate(C.training_order(manifest.options, list(manifest.networks)))}
    finished = 0
    for e in C.read_journal(out):
        if e["event"] == "done":
            finished += 1
        elif e["event"] == "start":
            assert finished >= place[e["ID"]] - 1, (e["ID"], place[e["ID"]], finished)

    journal = (out / C.JOURNAL).read_bytes()
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.txt")}
    assert cli(*cli_args(TWO_SETS, out, data_root)) == 0
    assert capsys.readouterr().out == f"campaign {out}: 8 of 8 networks done (nothing to do)\n"
    assert (out / C.JOURNAL).read_bytes() == journal
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.txt")} == stamps

    assert cli("status", out, "--json") == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["running"], status["planned"], status["done"], status["repeats"], status["failures"]) == (False, 8, 8, 1, [])
    assert [(d["dataset"], d["done"], d["remaining"]) for d in status["datasets"]] == [("FashionMNIST", 4, 0), ("CIFAR100", 4, 0)]
    assert status["rate_per_hour"] > 0 and status["last_events"][-1]["event"] == "campaign-end"


def test_status_time_left_is_paced_by_flops_not_by_network_counts(tmp_path):
    # A stopped campaign whose latest run finished its two most expensive networks in 600 s:
    # the time left is the FLOPs left at that pace (most expensive first makes a count-based
    # estimate far too long). Nothing is trained: the journal and the tables are written here.
    options = C.CampaignOptions(**SIX)
    manifest = C.open_manifest(tmp_path, options)
    order = C.training_order(options, manifest.networks)
    first, rest = order[:2], order[2:]
    t0 = datetime(2026, 1, 1, 12, 0, 0)
    events = [{"time": t0.isoformat(), "event": "campaign-start", "planned": 6}]
    for i, net in enumerate(first):
        C.table_file(tmp_path, net).parent.mkdir(parents=True, exist_ok=True)
        # a finished table of the planned network (a campaign counts only those as done)
        rows = 2 * options.epochs
        spec = net.spec(options).with_run(ID=net.ID, train_GPU=False, torch_set_deterministic=False)
        C.table_file(tmp_path, net).write_text(format_table(spec, Curve.from_halves([1.0] * rows, [1.0] * rows, [10.0] * rows)))
        events.append({"time": (t0 + timedelta(seconds=300 * (i + 1))).isoformat(), "event": "done", "ID": net.ID,
                       "dataset": net.dataset, "status": "complete", "epochs_trained": 40.0, "seconds": 300.0})
    (tmp_path / C.JOURNAL).write_text("".join(json.dumps(e) + "\n" for e in events))

    status = C.campaign_status(tmp_path)
    done_cost, left_cost = sum(n.cost(options) for n in first), sum(n.cost(options) for n in rest)
    assert left_cost < done_cost  # these plans are dominated by their costliest networks
    assert status.rate_per_hour == pytest.approx(2 / 600 * 3600)
    assert status.eta_seconds == pytest.approx(600 * left_cost / done_cost)
    assert status.eta_seconds < 4 / status.rate_per_hour * 3600  # what counting networks would say
    assert f"ETA {C._duration(status.eta_seconds)} (from the FLOPs left)" in status.text()


# ---- the lock ---------------------------------------------------------------------------------


def test_a_second_campaign_on_the_same_directory_is_refused(cli, tmp_path, data_root, capsys):
    lock = C.CampaignLock(tmp_path).acquire()
    try:
        assert C.lock_holder(tmp_path) == os.getpid()
        assert cli(*cli_args(SIX, tmp_path, data_root, "--epochs", 1)) == 2
        err = capsys.readouterr().err
        assert err == (f"nnlife campaign: error: {tmp_path}: another campaign is running in this directory "
                       f"(PID {os.getpid()}); wait for it to finish or stop it first\n")
        assert not (tmp_path / C.MANIFEST).exists()
    finally:
        lock.release()
    assert C.lock_holder(tmp_path) is None


def test_missing_ray_and_bad_execution_options_are_one_line_errors(cli, tmp_path, data_root, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    assert cli(*cli_args(SIX, tmp_path / "a", data_root, "--epochs", 1, "--ray")) == 2
    assert capsys.readouterr().err == ("nnlife campaign: error: --ray: Ray is not installed; "
                                       "install it with: pip install 'nnlife[ray]'\n")
    assert cli(*cli_args(SIX, tmp_path / "b", data_root, "--epochs", 1, "--device", "cuda:7")) == 2
    assert "--device cuda:7: CUDA is not available on this machine" in capsys.readouterr().err
    monkeypatch.setenv(C.FAULTS_ENV, "crash:x")
    assert cli(*cli_args(SIX, tmp_path / "c", data_root, "--epochs", 1)) == 2
    assert "NNLIFE_INJECT_FAULTS: entry 'crash:x'" in capsys.readouterr().err
    monkeypatch.delenv(C.FAULTS_ENV)
    assert cli(*cli_args({**TWO_SETS, "datasets": ("CIFAR100",)}, tmp_path / "d", tmp_path / "empty-root")) == 2
    assert "CIFAR100 file cifar-100-python.tar.gz not found" in capsys.readouterr().err
    assert cli("status", tmp_path / "nowhere") == 2
    assert "no campaign here" in capsys.readouterr().err


# ---- failures: a crashed worker, out of memory, a diverging network ----------------------------


def test_crash_oom_and_divergence_are_survived_and_recorded(tmp_path, data_root, monkeypatch, capsys):
    options = C.CampaignOptions(**FOUR_WITH_DIVERGING)
    manifest = C.open_manifest(tmp_path, options)  # the IDs to inject faults into
    nets = {n.ID: n for n in manifest.networks}
    specs = {i: n.spec(options) for i, n in nets.items()}
    diverging = max(specs, key=lambda i: specs[i].learning_rate)
    crash, oom, hopeless = sorted(set(nets) - {diverging})
    monkeypatch.setenv(C.FAULTS_ENV, f"crash:{crash}:1,oom:{oom}:1,oom-always:{hopeless}:*")
    summary = C.run_campaign(tmp_path, options, execution(data_root, retries=1, progress=True))
    bar = capsys.readouterr().err.split("\r")[-2]  # the bar's last state before it closed
    assert bar.startswith("networks:  75%") and "3/4" in bar and bar.rstrip().endswith("FashionMNIST 3/4 failed 1]")
    b = nets[hopeless].batch_size
    reason = f"out of memory even with {b} micro-batches (one image at a time, batch size {b})"
    assert (summary.trained, summary.failures) == (3, (C.Failure(hopeless, "FashionMNIST", reason),))
    assert f"  FashionMNIST {hopeless}: {reason}" in summary.text()

    # the crashed worker's network: one failed attempt, then done by a new worker
    record = read_record(C.record_file(tmp_path, nets[crash]))
    assert record.status == "complete"
    lost = "attempt 1: worker process died: killed by SIGKILL (out of memory?)"
    assert (record.extra["attempt"], record.extra["starts"], record.extra["errors"]) == (2, 2, [lost])
    assert [e["event"] for e in C.read_journal(tmp_path) if e.get("ID") == crash] == ["start", "crash", "retry", "start", "done"]
    pids = {e["pid"] for e in events_of(tmp_path, "start")}
    assert len(pids) == 3  # two workers, and the one that replaced the crashed one

    # out of memory once: the same attempt again with two micro-batches
    record = read_record(C.record_file(tmp_path, nets[oom]))
    assert (record.status, record.micro_batches, record.extra["oom_retries"], record.extra["attempt"]) == ("complete", 2, 1, 1)
    assert [e["micro_batches"] for e in events_of(tmp_path, "oom-retry", oom)] == [2]
    assert len(read_table(C.table_file(tmp_path, nets[oom])).curve) == 2

    # out of memory whatever the micro-batches: both attempts fail, recorded with the reason
    doublings = math.ceil(math.log2(b))
    assert [e["micro_batches"] for e in events_of(tmp_path, "oom-retry", hopeless)] == 2 * [min(2**k, b) for k in range(1, doublings + 1)]
    assert [(e["attempt"], e["final"]) for e in events_of(tmp_path, "failed", hopeless)] == [(1, False), (2, True)]
    record = read_record(C.record_file(tmp_path, nets[hopeless]))
    assert (record.status, record.error, record.micro_batches) == ("failed", reason, b)
    assert record.extra["errors"] == [f"attempt 1: {reason}"]
    assert not C.table_file(tmp_path, nets[hopeless]).exists()

    # divergence is data: recorded as measured
    table = read_table(C.table_file(tmp_path, nets[diverging]))
    assert any(math.isnan(v) or math.isinf(v) for v in table.curve.trainLoss + table.curve.valLoss)
    assert read_record(C.record_file(tmp_path, nets[diverging])).status == "complete"

    status = C.campaign_status(tmp_path)
    assert (status.running_pid, status.datasets) == (None, (C.DatasetProgress("FashionMNIST", 4, 3, 1),))
    assert status.failures == (C.Failure(hopeless, "FashionMNIST", reason),)

    # the same command again, without the fault: the failed network is retried and done
    monkeypatch.delenv(C.FAULTS_ENV)
    again = C.run_campaign(tmp_path, options, execution(data_root, retries=1))
    assert (again.trained, again.retried_failures, again.failures, again.done) == (1, 1, (), 4)
    assert "1 networks that had failed before were retried" in again.text()
    record = read_record(C.record_file(tmp_path, nets[hopeless]))
    assert (record.status, record.extra["attempt"], record.extra["starts"]) == ("complete", 1, 3)
    assert record.extra["errors"] == [f"attempt 1: {reason}", f"attempt 2: {reason}"]
    check_complete(tmp_path, manifest, epochs=1)


# ---- kill -9 at several moments, then resume ---------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _wait_for(condition, proc, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, "the campaign ended before the moment to kill it"
        assert time.monotonic() < deadline, "timed out waiting for the campaign"
        time.sleep(0.05)


def test_kill_9_at_several_moments_then_resume(tmp_path, data_root):
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "nnlife", *map(str, cli_args(SIX, out, data_root, "--epochs", 2))]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    count = lambda kind: len(events_of(out, kind)) if (out / C.JOURNAL).exists() else 0  # noqa: E731
    moments = [
        (signal.SIGKILL, lambda: time.sleep(1.5) or True),  # while it starts up
        (signal.SIGKILL, lambda: count("start") > starts_before and (time.sleep(0.3) or True)),  # mid-training
        (signal.SIGKILL, lambda: count("done") >= done_before + 2),  # part of the campaign is done
        (signal.SIGTERM, lambda: count("start") > starts_before),  # stopped politely: same outcome
    ]
    for sig, moment in moments:
        starts_before, done_before = count("start"), count("done")
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        _wait_for(moment, proc)
        if count("start") > starts_before:
            status = C.campaign_status(out)
            assert status.running_pid == proc.pid and f"running (PID {proc.pid})" in status.text()
        workers = _children(proc.pid)
        proc.send_signal(sig)
        stderr = proc.communicate()[1]
        if sig == signal.SIGTERM:
            assert (proc.returncode, stderr.splitlines()[-1]) == (130, "nnlife campaign: interrupted")
            assert C.read_journal(out)[-1]["event"] == "interrupted"
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [p for p in workers if _alive(p)], "workers outlived the killed campaign"
        if (out / C.MANIFEST).exists():
            assert C.campaign_status(out).running_pid is None
    manifest = C.read_manifest(out)
    assert len(manifest.networks) == 6 and C.campaign_status(out).done < 6

    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"campaign {out}: 6 of 6 networks done"
    check_complete(out, manifest, epochs=2)

    # none trained twice: one `done` per network, and no training started after it
    journal = C.read_journal(out)
    interrupted = 0
    for net in manifest.networks:
        mine = [e for e in journal if e.get("ID") == net.ID]
        kinds = [e["event"] for e in mine]
        assert kinds.count("done") == 1 and "start" not in kinds[kinds.index("done"):]
        record = read_record(C.record_file(out, net))
        assert record.extra["starts"] == kinds.count("start") >= 1
        [done_event] = [e for e in mine if e["event"] == "done"]
        if not done_event.get("recovered"):
            assert done_event["started"] == record.started
        interrupted += kinds.count("start") > 1
    assert interrupted >= 1  # a kill did land while a network was training
    assert len(events_of(out, "campaign-start")) == 4  # the kill at start-up came before it


# ---- early termination ------------------------------------------------------------------------


def test_early_stop_trains_fewer_half_epochs_on_the_same_plan(tmp_path, data_root):
    full_opts = C.CampaignOptions(**SIX, epochs=3, deterministic=True)
    full = C.run_campaign(tmp_path / "full", full_opts, execution(data_root))
    assert (full.trained, full.half_epochs) == (6, 36)
    full_tables = {read_table(p).spec.random_seed: read_table(p) for p in (tmp_path / "full").rglob("*.txt")}
    for method in ("penguin", "triage"):
        stop_opts = dataclasses.replace(full_opts, early_stop=method)
        assert stop_opts.target_epoch == 3.0
        out = tmp_path / method
        early = C.run_campaign(out, stop_opts, execution(data_root))
        assert early.trained == 6
        assert 0 < early.stopped_early and early.half_epochs < full.half_epochs, method
        manifest = C.read_manifest(out)
        halves = 0
        for net in manifest.networks:
            table = read_table(C.table_file(out, net))
            record = read_record(C.record_file(out, net))
            halves += len(table.curve)
            reference = full_tables[net.random_seed]
            # deterministic on the CPU: the rows trained are exactly the first rows of the full run
            assert table.curve.valAcc == reference.curve.valAcc[: len(table.curve)]
            assert table.curve.trainLoss == reference.curve.trainLoss[: len(table.curve)]
            assert table.curve.valLoss == reference.curve.valLoss[: len(table.curve)]
            # and the online decision is the one the offline replay of the full curve makes
            replay = simulate(method, reference, 3.0)
            stop = record.extra["early_stop"]
            assert (stop["method"], stop["target_epoch"], stop["converged"], stop["stop_epoch"]) == (
                method, 3.0, replay.converged, replay.stop_epoch)
            assert stop["predicted"] == pytest.approx(replay.predicted, nan_ok=True)
            if replay.converged and replay.stop_epoch < 3.0:
                assert (record.status, record.epochs_trained, len(table.curve)) == ("stopped_early", replay.stop_epoch, 2 * replay.stop_epoch)
            else:
                assert (record.status, len(table.curve)) == ("complete", 6)
        assert halves == early.half_epochs
        assert table.path.read_text().split("\n")[0] == HEADER
