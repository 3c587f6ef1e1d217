"""Pinned results: one deterministic CPU training run and one small campaign, value for value.

The numbers below were produced by this code base and written down; any change to what a
training run computes (the loop, the seeds, the truncation of subsets) or to what a campaign
writes (tables, records) makes these tests fail. One torch thread, so the sums run in one
order whatever the machine's core count."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nnlife import campaign as C
from nnlife import kernels
from nnlife.run import RunOptions
from nnlife.spec import NetworkSpec
from nnlife.train import train

LEARNABLE = NetworkSpec(
    random_seed=12345, dataset="FashionMNIST", batch_size=48,
    learning_rate=0.05, momentum=0.9, dampening=0, weight_decay=0,
    layer_types=(7,), dropout_rate=0.3, convKernels=(3,), convStrides=(1,), convPaddings=(1,),
    poolKernels=(2,), poolStrides=(2,), poolPaddings=(0,), convFilters=(16,),
    FC_dropout_rate=0.2, FC_dropout_layers=(1,), FCFilters=(32, 10),
)

# torch's CPU kernels round differently with AVX2 than with AVX-512 (its vectorised paths
# differ), so a deterministic run gives the same bits on every machine of one kind, and the
# values are pinned per kind: recorded on an AVX-512 machine, and on an AVX2 one
# (torch.backends.cpu.get_cpu_capability() "AVX2"; the two differ from the 8th digit on).
# NNLIFE_CPU_KERNELS=avx2 (nnlife.kernels) gives the AVX2 values on an AVX-512 machine too.
AVX2 = torch.backends.cpu.get_cpu_capability() == "AVX2"
AVX2_TRAIN_LOSS = (2.2448665301005044, 1.5411590139071147, 1.2645244995752971, 1.1378869414329529)
AVX2_VAL_LOSS = (1.91824671626091, 1.1856507062911987, 1.0517539083957672, 1.0818957537412643)
if AVX2:
    GOLDEN_TRAIN_LOSS, GOLDEN_VAL_LOSS = AVX2_TRAIN_LOSS, AVX2_VAL_LOSS
else:
    GOLDEN_TRAIN_LOSS = (2.2448665698369346, 1.54115895430247, 1.2645245790481567, 1.1378870407740276)
    GOLDEN_VAL_LOSS = (1.9182466864585876, 1.1856507062911987, 1.0517540127038956, 1.081895723938942)
GOLDEN_VAL_ACC = (41.145833333333336, 51.041666666666664, 64.0625, 64.0625)


@pytest.fixture
def one_thread():
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def train_golden(fashion):
    return train(LEARNABLE, fashion, RunOptions(epochs=2, train_images=600, test_images=200, deterministic=True))


def test_golden_curve(fashion, one_thread):
    curve = train_golden(fashion).curve
    assert curve.epochs == (0.5, 1.0, 1.5, 2.0)
    assert curve.trainLoss == GOLDEN_TRAIN_LOSS
    assert curve.valLoss == GOLDEN_VAL_LOSS
    assert curve.valAcc == GOLDEN_VAL_ACC


def has_avx2() -> bool:
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        return any(line.startswith("flags") and " avx2" in line for line in open("/proc/cpuinfo"))
    except OSError:
        return False


def portable_env() -> dict[str, str]:
    """This process's environment with NNLIFE_CPU_KERNELS=avx2 and none of the libraries' own
    variables (nnlife sets them in the child)."""
    env = {k: v for k, v in os.environ.items() if k not in kernels.PORTABLE}
    return {**env, kernels.ENV: "avx2"}


PORTABLE_RUN = """
import json, sys
import nnlife  # first: it sets the libraries' variables before torch runs anything
import torch
sys.path.insert(0, sys.argv[1])
from test_golden import train_golden
from nnlife import data
torch.set_num_threads(1)
curve = train_golden(data.load_data("FashionMNIST", download=False)).curve
print(json.dumps([torch.backends.cpu.get_cpu_capability(), curve.trainLoss, curve.valLoss, curve.valAcc]))
"""


@pytest.mark.skipif(not has_avx2(), reason="AVX2 kernels need an x86-64 CPU with AVX2")
def test_portable_kernels_give_the_avx2_curve_on_any_x86_machine():
    # A fresh process: the libraries read their settings at their first operation.
    env = portable_env()
    done = subprocess.run([sys.executable, "-c", PORTABLE_RUN, str(Path(__file__).parent)], env=env,
                          capture_output=True, text=True, check=True)
    capability, train_loss, val_loss, val_acc = json.loads(done.stdout.splitlines()[-1])
    assert capability == "AVX2"
    assert (tuple(train_loss), tuple(val_loss), tuple(val_acc)) == (AVX2_TRAIN_LOSS, AVX2_VAL_LOSS, GOLDEN_VAL_ACC)


# ---- a campaign on a fixed plan ---------------------------------------------------------------

CAMPAIGN = C.CampaignOptions(datasets=("FashionMNIST",), per_dataset=6, seed=53681, epochs=1,
                             train_images=350, test_images=200, deterministic=True)
# Wall-clock and machine facts: everything else in a record is pinned.
# (json.loads keeps the key order, so the digests pin the order of the keys too.)
UNPINNED = ("seconds", "val_seconds", "started", "finished", "hostname", "device_name", "versions", "data_files")
UNPINNED_EXTRA = ("worker",)

NATIVE_TABLES = {
    "2020_01_01_00_00_00_000000.txt": "26cb2c4c4547b385a69005f239f6fd41f594957608224731dbd96b6cdc9e1040",
    "2020_01_01_00_00_00_000001.txt": "dd61e73d012bc43e9683438e8cf6301255c29542a92ca28e1b3e72d50ca4a206",
    "2020_01_01_00_00_00_000002.txt": "fe25ee493f5f77e9accdcb4c2fadd2ac2e86d93a74e2e93d774572c766161222",
    "2020_01_01_00_00_00_000003.txt": "3cef53e2a2d4028e0d4cb7257ccdd6defc8771c7d179f54ae5f4b6c8fe4ec0d5",
    "2020_01_01_00_00_00_000004.txt": "37dbe54bee9f812da6ca86437a5729e860e20405bdf1929f2c8ffc6d942054d1",
    "2020_01_01_00_00_00_000005.txt": "f54c547ef06acb6dc5ce91677eaeb5cf7a826d29c5b16fd467226b2001a8890c",
}
# On AVX2 kernels three of the six tables' losses round differently (the records are the same).
AVX2_TABLES = {**NATIVE_TABLES,
               "2020_01_01_00_00_00_000000.txt": "873fe766f3f862badc01d0546d33912b606c160d086a84aa6fc0a90c7af66550",
               "2020_01_01_00_00_00_000001.txt": "c019544ea2f19dc5a526a3309b88c3eadeb6d9923d21e7cf80bd4c8fa667d708",
               "2020_01_01_00_00_00_000003.txt": "0a5facefcde0659e84a965112f49556d86f56e2b29c64343c8768e14e8548e1d"}
GOLDEN_TABLES = AVX2_TABLES if AVX2 else NATIVE_TABLES
# Records gained `network` (their own ID) and `repeat` (0) after `random_seed`; without those two
# keys they are byte for byte what they were before repeats existed.
GOLDEN_RECORDS = {
    "2020_01_01_00_00_00_000000.json": "9b511ae303b05346073808841dedaf5dd50d81ce617976e1aca76c22d1684a09",
    "2020_01_01_00_00_00_000001.json": "c18446d98334d9057b0d280270240a4e5fe11e117954a739df4a3bc7343036bd",
    "2020_01_01_00_00_00_000002.json": "894f39ac82cbf2ad5fd846e136a9efeee90fbfe8f4ff3eb82c1b25889ec84171",
    "2020_01_01_00_00_00_000003.json": "56c51300223c91dda91675ac9abeb77aec354cdd74bb5488d0ec720c9524f5f3",
    "2020_01_01_00_00_00_000004.json": "d7b2abda068a23f42eb23b3197e085ed365e9b94b605afc78f2ae1f020257dd2",
    "2020_01_01_00_00_00_000005.json": "95f4bf604a972d43318cc026b5f80647e8b50a62d65f562a9d8300c6051d1b0d",
}


def fixed_plan() -> C.Manifest:
    manifest = C.make_manifest(CAMPAIGN)
    nets = tuple(dataclasses.replace(n, ID=f"2020_01_01_00_00_00_{i:06d}") for i, n in enumerate(manifest.networks))
    return C.Manifest(CAMPAIGN, nets, "2020-01-01T00:00:00")


def pinned_record(path: Path) -> str:
    obj = json.loads(path.read_text())
    for key in UNPINNED:
        obj.pop(key)
    for key in UNPINNED_EXTRA:
        obj["extra"].pop(key)
    return json.dumps(obj)


def campaign_digests(out: Path) -> tuple[dict[str, str], dict[str, str]]:
    tables = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
              for p in sorted((out / "FashionMNIST_models").iterdir())}
    records = {p.name: hashlib.sha256(pinned_record(p).encode()).hexdigest()
               for p in sorted((out / "FashionMNIST_records").iterdir())}
    return tables, records


def test_golden_campaign(tmp_path):
    out = tmp_path / "run"
    C.write_manifest(out, fixed_plan())
    summary = C.run_campaign(out, CAMPAIGN, C.ExecutionOptions(workers=2, threads=1, device="cpu",
                                                                download=False, progress=False))
    assert (summary.trained, summary.failures) == (6, ())
    tables, records = campaign_digests(out)
    assert tables == GOLDEN_TABLES
    assert records == GOLDEN_RECORDS


PORTABLE_CAMPAIGN = """
import json, sys
from pathlib import Path
import nnlife  # first: it sets the libraries' variables before torch runs anything
sys.path.insert(0, sys.argv[1])
from test_golden import CAMPAIGN, C, campaign_digests, fixed_plan
out = Path(sys.argv[2])
C.write_manifest(out, fixed_plan())
summary = C.run_campaign(out, CAMPAIGN, C.ExecutionOptions(workers=2, threads=1, device="cpu", download=False,
                                                           progress=False))
assert (summary.trained, summary.failures) == (6, ()), summary.text()
print(json.dumps([*campaign_digests(out), summary.backend]))
"""


@pytest.mark.skipif(not has_avx2(), reason="AVX2 kernels need an x86-64 CPU with AVX2")
def test_portable_kernels_reach_a_campaigns_workers(tmp_path):
    env = portable_env()
    done = subprocess.run([sys.executable, "-c", PORTABLE_CAMPAIGN, str(Path(__file__).parent), str(tmp_path / "run")],
                          env=env, capture_output=True, text=True, check=True)
    tables, records, backend = json.loads(done.stdout.splitlines()[-1])
    assert backend == "local pool, 2 CPU workers x 1 thread, portable AVX2 CPU kernels"
    assert tables == AVX2_TABLES
    assert records == GOLDEN_RECORDS
    device_names = {json.loads(p.read_text())["device_name"] for p in (tmp_path / "run" / "FashionMNIST_records").iterdir()}
    assert len(device_names) == 1 and device_names.pop().endswith("(AVX2 kernels)")
