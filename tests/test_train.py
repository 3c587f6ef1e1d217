"""The trainer, the record and `nnlife train`, on real FashionMNIST subsets on the CPU."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

from nnlife import data as D
from nnlife.errors import InputError
from nnlife.record import Record, read_record, record_path
from nnlife.shapes import analyse
from nnlife.spec import NetworkSpec
from nnlife.table import HEADER, read_table
from nnlife.train import HalfEpoch, ProgressBar, derive_seeds, plan_run, run_network, train

# A small network that learns FashionMNIST quickly. b = 48: 60000 // 48 = 1250 batches (even),
# and 1000 test images leave a partial batch of 40 to drop (960 validated).
LEARNABLE = NetworkSpec(
    random_seed=12345, dataset="FashionMNIST", batch_size=48,
    learning_rate=0.05, momentum=0.9, dampening=0, weight_decay=0,
    layer_types=(3,), dropout_rate=0, convKernels=(3,), convStrides=(1,), convPaddings=(1,),
    poolKernels=(2,), poolStrides=(2,), poolPaddings=(0,), convFilters=(16,),
    FC_dropout_rate=0, FC_dropout_layers=(), FCFilters=(10,),
)


@pytest.fixture(scope="module")
def fashion():
    return D.load_data("FashionMNIST", download=False)


def valacc_is_count_over(value: float, n: int) -> bool:
    k = round(value * n / 100)
    return 100 * k / n == value


def test_full_semantics_run_on_a_real_subset(fashion, tmp_path):
    path = run_network(LEARNABLE, fashion, tmp_path, epochs=2, train_images=3000, test_images=1000, deterministic=True)
    assert path.parent == tmp_path / "FashionMNIST_models" and path.suffix == ".txt"
    text = path.read_text()
    lines = text.split("\n")
    assert len(lines) == 2 * 2 + 2 and lines[-1] == ""  # header + 4 rows, each ending in \n
    assert lines[0] == HEADER
    assert all(len(line.split(" ")) == 28 for line in lines[1:-1])
    assert lines[2].endswith(" " * 24)
    table = read_table(path)
    assert table.curve.epochs == (0.5, 1.0, 1.5, 2.0)
    assert table.spec == LEARNABLE.with_run(ID=path.stem, train_GPU=False, torch_set_deterministic=True)
    # valAcc = 100 * correct / 960: 1000 test images, the partial batch of 40 dropped
    assert all(valacc_is_count_over(v, 960) for v in table.curve.valAcc)
    assert not all(valacc_is_count_over(v, 1000) for v in table.curve.valAcc)
    assert all(math.isfinite(v) and v > 0 for v in table.curve.trainLoss + table.curve.valLoss)
    assert table.curve.valAcc[-1] > 60  # chance is 10
    assert table.curve.trainLoss[-1] < table.curve.trainLoss[0]

    record = read_record(record_path(tmp_path, table.spec))
    assert record.status == "complete" and record.error is None
    assert (record.epochs_requested, record.epochs_trained) == (2, 2.0)
    assert len(record.seconds) == len(record.val_seconds) == len(record.train_accuracy) == 4
    assert all(s > v > 0 for s, v in zip(record.seconds, record.val_seconds))
    # 3000 images -> 31 batches of 48 per half epoch (2976 images); 1000 -> 20 batches (960)
    assert (record.train_images, record.test_images, record.train_subset, record.test_subset) == (2976, 960, 3000, 1000)
    assert (record.n_train_full, record.n_test_full) == (60000, 10000)
    assert all(valacc_is_count_over(a, 1488) for a in record.train_accuracy)
    assert (record.params, record.flops) == (analyse(LEARNABLE).params, analyse(LEARNABLE).flops)
    assert (record.device, record.precision, record.deterministic, record.micro_batches) == ("cpu", "fp32", True, 1)
    assert record.seeds == dataclasses.asdict(derive_seeds(12345))
    assert record.spec_object() == table.spec
    assert set(record.versions) == {"nnlife", "torch", "numpy", "python"}
    assert record.versions["torch"] == torch.__version__


def test_deterministic_runs_give_identical_curves(fashion):
    a = train(LEARNABLE, fashion, epochs=1, train_images=1000, test_images=500, deterministic=True)
    b = train(LEARNABLE, fashion, epochs=1, train_images=1000, test_images=500, deterministic=True)
    assert a.curve == b.curve
    for pa, pb in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(pa, pb)
    assert not torch.are_deterministic_algorithms_enabled()  # the setting is restored


def test_listener_stops_after_half_epoch_three(fashion):
    rows: list[HalfEpoch] = []

    def stop_at_three(row: HalfEpoch) -> bool:
        rows.append(row)
        return row.index == 3

    result = train(LEARNABLE, fashion, epochs=5, train_images=600, test_images=200, listeners=[stop_at_three])
    assert len(result.curve) == 3 and result.curve.epochs == (0.5, 1.0, 1.5)
    assert result.stopped_early and result.epochs_trained == 1.5
    assert [r.epoch for r in rows] == [0.5, 1.0, 1.5]
    assert [r.valAcc for r in rows] == list(result.curve.valAcc)
