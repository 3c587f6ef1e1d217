"""The trainer, the record and `nnlife train`, on real FashionMNIST subsets on the CPU
(docs/training.md, docs/records.md)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch

from nnlife.errors import InputError
from nnlife.lifespan import network_spec, run_network
from nnlife.record import Record, read_record, record_path
from nnlife.run import RunOptions
from nnlife.shapes import analyse
from nnlife.spec import NetworkSpec
from nnlife.table import HEADER, is_finite_curve, read_table
from nnlife.train import HalfEpoch, ProgressBar, _precision, derive_seeds, plan_run, train

# A small network that learns FashionMNIST quickly. b = 48: 60000 // 48 = 1250 batches (even),
# and 1000 test images leave a partial batch of 40 to drop (960 validated).
LEARNABLE = NetworkSpec(
    random_seed=12345, dataset="FashionMNIST", batch_size=48,
    learning_rate=0.05, momentum=0.9, dampening=0, weight_decay=0,
    layer_types=(3,), dropout_rate=0, convKernels=(3,), convStrides=(1,), convPaddings=(1,),
    poolKernels=(2,), poolStrides=(2,), poolPaddings=(0,), convFilters=(16,),
    FC_dropout_rate=0, FC_dropout_layers=(), FCFilters=(10,),
)

# The same with dropout in both sections (conv block 7 = ReLU, dropout, pooling).
WITH_DROPOUT = dataclasses.replace(LEARNABLE, layer_types=(7,), dropout_rate=0.3,
                                   FCFilters=(32, 10), FC_dropout_layers=(1,), FC_dropout_rate=0.2)


def valacc_is_count_over(value: float, n: int) -> bool:
    k = round(value * n / 100)
    return 100 * k / n == value


def test_full_semantics_run_on_a_real_subset(fashion, tmp_path):
    path = run_network(LEARNABLE, fashion, tmp_path, RunOptions(epochs=2, train_images=3000, test_images=1000, deterministic=True))
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
    assert record.device_name.endswith(f" ({torch.backends.cpu.get_cpu_capability()} kernels)")
    assert record.versions["torch"] == torch.__version__


def test_deterministic_runs_give_identical_curves(fashion):
    a = train(WITH_DROPOUT, fashion, RunOptions(epochs=1, train_images=960, test_images=480, deterministic=True))
    b = train(WITH_DROPOUT, fashion, RunOptions(epochs=1, train_images=960, test_images=480, deterministic=True))
    assert a.curve == b.curve
    for pa, pb in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(pa, pb)
    assert not torch.are_deterministic_algorithms_enabled()  # the setting is restored


def test_listener_stops_after_half_epoch_three(fashion):
    rows: list[HalfEpoch] = []

    def stop_at_three(row: HalfEpoch) -> bool:
        rows.append(row)
        return row.index == 3

    result = train(LEARNABLE, fashion, RunOptions(epochs=5, train_images=600, test_images=200), listeners=[stop_at_three])
    assert len(result.curve) == 3 and result.curve.epochs == (0.5, 1.0, 1.5)
    assert result.stopped_early and result.epochs_trained == 1.5
    assert [r.epoch for r in rows] == [0.5, 1.0, 1.5]
    assert [r.valAcc for r in rows] == list(result.curve.valAcc)


# ---- sizes of a run -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "b, train_images, test_images, used, per_half, validated",
    [
        (48, 3000, 1000, 2976, 31, 960),  # 3000 // 96 = 31 pairs of batches; 1000 // 48 = 20 batches
        (48, 96, 48, 96, 1, 48),  # the smallest possible run
        (48, None, None, 60000, 625, 9984),  # the full split: floor(60000 / 48) * 48, 1250 batches
        (25, None, 999, 60000, 1200, 975),
        (250, 1999, 10000, 1500, 3, 10000),  # 1999 // 500 = 3 pairs
        (159, None, None, 59784, 188, 9858),  # a table whose b breaks the parity rule: 377 -> 376 batches
    ],
)
def test_subset_truncation_arithmetic(fashion, b, train_images, test_images, used, per_half, validated):
    spec = dataclasses.replace(LEARNABLE, batch_size=b)
    facts = plan_run(spec, fashion, RunOptions(train_images=train_images, test_images=test_images))
    assert (facts.train_images, facts.batches_per_half, facts.test_images) == (used, per_half, validated)
    assert facts.val_batches * b == validated and facts.batch_size == b  # the rule is never re-evaluated
    assert facts.train_subset == (train_images or 60000) and facts.test_subset == (test_images or 10000)


def test_subsets_too_small_and_bad_options_are_input_errors(fashion):
    with pytest.raises(InputError, match=r"^train_images 95: too few for two batches of 48 \(the network's batch size\)$"):
        plan_run(LEARNABLE, fashion, RunOptions(train_images=95))
    with pytest.raises(InputError, match=r"^test_images 47: too few for one batch of 48"):
        plan_run(LEARNABLE, fashion, RunOptions(test_images=47))
    with pytest.raises(InputError, match=r"^precision 'fp16': expected one of fp32, tf32, bf16$"):
        plan_run(LEARNABLE, fashion, RunOptions(precision="fp16"))
    with pytest.raises(InputError, match=r"^micro_batches 49: expected an integer in \[1, 48\]"):
        plan_run(LEARNABLE, fashion, RunOptions(micro_batches=49))
    with pytest.raises(InputError, match=r"^epochs 0: expected a positive integer$"):
        plan_run(LEARNABLE, fashion, RunOptions(epochs=0))
    svhn_spec = dataclasses.replace(LEARNABLE, dataset="SVHN", convFilters=(16,))
    with pytest.raises(InputError, match="the network is for SVHN, the data is FashionMNIST"):
        plan_run(svhn_spec, fashion)


def test_derived_seeds_are_fixed_and_distinct():
    seeds = derive_seeds(12345)
    assert (seeds.weights, seeds.order, seeds.dropout) == (3782559788307965790, 6755958568936909127, 681422032287589679)
    assert len({seeds.weights, seeds.order, seeds.dropout}) == 3
    assert derive_seeds(0) != derive_seeds(1)


def test_network_spec_from_a_seed_or_a_table(reference_paths):
    from nnlife.sample import sample

    assert network_spec(dataset="FashionMNIST", seed=170) == sample("FashionMNIST", 170, 1)
    assert network_spec(dataset="CIFAR-100", seed=7, conv_layers=4) == sample("CIFAR100", 7, 4)
    # with SVHN's extra split the batch-size rule counts 73,257 + 531,131 training images
    extra = network_spec(dataset="SVHN", seed=11, svhn_extra=True)
    assert extra == sample("SVHN", 11, 2, n_train=604388) and (604388 // extra.batch_size) % 2 == 0
    assert network_spec(table=reference_paths[0]) == read_table(reference_paths[0]).spec
    with pytest.raises(InputError, match="give exactly one of a seed and a table"):
        network_spec(dataset="SVHN")


# ---- what training computes ------------------------------------------------------------------


def test_micro_batches_give_the_same_update(fashion):
    runs = {k: train(LEARNABLE, fashion, RunOptions(epochs=1, train_images=480, test_images=96, deterministic=True, micro_batches=k))
            for k in (1, 3, 5)}  # 48 = 3 x 16 = 10 + 10 + 10 + 9 + 9
    for k in (3, 5):
        for p1, pk in zip(runs[1].model.parameters(), runs[k].model.parameters()):
            torch.testing.assert_close(pk, p1, rtol=1e-4, atol=1e-6)
        for name in ("trainLoss", "valLoss"):
            assert getattr(runs[k].curve, name) == pytest.approx(getattr(runs[1].curve, name), rel=1e-5)
        assert runs[k].curve.valAcc == runs[1].curve.valAcc


def test_dropout_runs_are_reproducible_and_leave_global_state_alone(fashion):
    torch.manual_seed(99)
    rng_before = torch.get_rng_state()
    a = train(WITH_DROPOUT, fashion, RunOptions(epochs=1, train_images=480, test_images=96))
    assert torch.equal(torch.get_rng_state(), rng_before)  # the caller's RNG is restored
    b = train(WITH_DROPOUT, fashion, RunOptions(epochs=1, train_images=480, test_images=96))
    assert a.curve == b.curve  # dropout masks come from the network's seed
    other = train(dataclasses.replace(WITH_DROPOUT, random_seed=1), fashion, RunOptions(epochs=1, train_images=480, test_images=96))
    assert other.curve != a.curve
    assert a.model.training  # left in training mode, as after every half epoch


def tf32_flags() -> tuple:
    """What TF32 switches torch has, as _precision sets them (the new API where it exists:
    torch refuses a mix of the two). Readable on a CPU build."""
    b = torch.backends
    if hasattr(b.cuda.matmul, "fp32_precision"):
        return b.cuda.matmul.fp32_precision, b.cudnn.conv.fp32_precision
    return b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32


def test_the_precision_switch_sets_and_restores_torchs_flags():
    new_api = hasattr(torch.backends.cuda.matmul, "fp32_precision")
    on, off = (("tf32", "tf32"), ("ieee", "ieee")) if new_api else ((True, True), (False, False))
    before = tf32_flags()
    with _precision("tf32"):
        assert tf32_flags() == on
    assert tf32_flags() == before
    for precision in ("fp32", "bf16"):  # bf16 autocasts; its fp32 parts are IEEE too
        with _precision(precision):
            assert tf32_flags() == off
        assert tf32_flags() == before
    with pytest.raises(RuntimeError, match="inside"):
        with _precision("tf32"):
            raise RuntimeError("inside")
    assert tf32_flags() == before  # restored on error too


def test_bf16_on_the_cpu(fashion):
    kwargs = dict(epochs=1, train_images=480, test_images=96, deterministic=True)
    fp32 = train(LEARNABLE, fashion, RunOptions(**kwargs))
    bf16 = train(LEARNABLE, fashion, RunOptions(precision="bf16", **kwargs))
    assert bf16.curve != fp32.curve  # autocast ran
    assert all(math.isfinite(v) for v in bf16.curve.trainLoss + bf16.curve.valLoss)
    assert bf16.curve.trainLoss == pytest.approx(fp32.curve.trainLoss, rel=0.05)
    assert all(valacc_is_count_over(v, 96) for v in bf16.curve.valAcc)


DIVERGING = NetworkSpec(
    random_seed=3, dataset="FashionMNIST", batch_size=50,
    learning_rate=1.0, momentum=0, dampening=0, weight_decay=0,
    layer_types=(1,), dropout_rate=0, convKernels=(3,), convStrides=(2,), convPaddings=(0,),
    poolKernels=(), poolStrides=(), poolPaddings=(), convFilters=(16,),
    FC_dropout_rate=0, FC_dropout_layers=(0, 0), FCFilters=(400, 400, 10),
)


def test_a_diverging_network_is_recorded_as_measured(fashion, tmp_path):
    path = run_network(DIVERGING, fashion, tmp_path, RunOptions(epochs=1, train_images=1000, test_images=500, deterministic=True))
    table = read_table(path)
    assert len(table.curve) == 2
    losses = table.curve.trainLoss + table.curve.valLoss
    assert any(math.isnan(v) or math.isinf(v) for v in losses)
    assert "nan" in path.read_text().split("\n")[2].split(" ")[1:3]
    assert all(valacc_is_count_over(v, 500) for v in table.curve.valAcc)
    assert not is_finite_curve(table.curve)
    assert read_record(record_path(tmp_path, table.spec)).status == "complete"


# ---- run_network, records, listeners ----------------------------------------------------------


def test_stopped_early_and_failed_runs_are_recorded(fashion, tmp_path):
    path = run_network(LEARNABLE, fashion, tmp_path, RunOptions(epochs=3, train_images=192, test_images=96), ID="stopped", listeners=[lambda row: row.index == 3], record_extra={"method": "test"})
    assert path.name == "stopped.txt" and len(path.read_text().split("\n")) == 5  # header + 3 rows + ""
    record = read_record(record_path(tmp_path, "FashionMNIST", "stopped"))
    assert (record.status, record.epochs_trained, record.extra) == ("stopped_early", 1.5, {"method": "test"})

    def explode(row):
        raise RuntimeError("out of memory (simulated)")

    with pytest.raises(RuntimeError, match="simulated"):
        run_network(LEARNABLE, fashion, tmp_path, RunOptions(epochs=1, train_images=192, test_images=96), ID="failed", listeners=[explode])
    assert not (tmp_path / "FashionMNIST_models" / "failed.txt").exists()
    record = read_record(tmp_path / "FashionMNIST_records" / "failed.json")
    assert (record.status, record.error, record.epochs_trained) == ("failed", "RuntimeError: out of memory (simulated)", 0.0)
    # a mistake in the options writes nothing at all
    with pytest.raises(InputError):
        run_network(LEARNABLE, fashion, tmp_path, RunOptions(epochs=1, train_images=10), ID="bad")
    assert not (tmp_path / "FashionMNIST_records" / "bad.json").exists()


def test_record_round_trip_and_errors(fashion, tmp_path):
    run_network(LEARNABLE, fashion, tmp_path, RunOptions(epochs=1, train_images=192, test_images=96), ID="r1")
    path = tmp_path / "FashionMNIST_records" / "r1.json"
    obj = json.loads(path.read_text())
    assert obj["format"] == "nnlife-record" and obj["version"] == 1
    record = Record.from_dict(obj)
    assert Record.from_dict(record.to_dict()) == record
    assert path.read_text().count("\n") == len(obj) + 2  # one key per line between the braces
    bad = tmp_path / "bad.json"
    bad.write_text("{\n  oops\n")
    with pytest.raises(InputError, match=rf"^{bad}:2: not valid JSON"):
        read_record(bad)
    bad.write_text(json.dumps({**obj, "version": 7}))
    with pytest.raises(InputError, match=rf"^{bad}: field 'version': expected 1, got 7$"):
        read_record(bad)
    del obj["params"]
    bad.write_text(json.dumps(obj))
    with pytest.raises(InputError, match=rf"^{bad}: field 'params': missing$"):
        read_record(bad)


def test_progress_bar_only_on_a_terminal(fashion):
    import io

    quiet, shown = io.StringIO(), io.StringIO()
    train(LEARNABLE, fashion, RunOptions(epochs=1, train_images=96, test_images=48), listeners=[ProgressBar(file=quiet), ProgressBar("net", file=shown, force=True)])
    assert quiet.getvalue() == ""
    assert "net" in shown.getvalue() and "0/2 " in shown.getvalue()  # total: two half epochs


# ---- nnlife train ----------------------------------------------------------------------------


def test_cli_seed_then_table_retrain_is_byte_identical_but_for_the_id(cli, tmp_path, capsys):
    # seed 170 draws a small FashionMNIST network (1 conv layer, b = 55, 121k parameters)
    common = ["--epochs", 1, "--train-images", 1100, "--test-images", 500, "--deterministic", "--no-download"]
    assert cli("train", "--dataset", "FashionMNIST", "--seed", 170, "--out", tmp_path / "a", *common) == 0
    first = Path(capsys.readouterr().out.strip())
    assert first.parent == tmp_path / "a" / "FashionMNIST_models" and first.is_file()
    assert cli("train", "--table", first, "--out", tmp_path / "b", *common) == 0
    second = Path(capsys.readouterr().out.strip())
    a, b = first.read_text().split("\n"), second.read_text().split("\n")
    assert len(a) == len(b) == 4
    assert a[1].replace(first.stem, "ID") == b[1].replace(second.stem, "ID")
    assert a[0] == b[0] and a[2:] == b[2:]
    spec = read_table(first).spec
    assert (spec.random_seed, spec.batch_size, spec.n_conv, spec.torch_set_deterministic) == (170, 55, 1, True)
    assert (tmp_path / "b" / "FashionMNIST_records" / f"{second.stem}.json").is_file()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seed", 1], "nnlife train: error: a network drawn from a seed needs a data set (--dataset)"),
        (["--dataset", "MNIST", "--seed", 1], "nnlife train: error: argument --dataset: unknown data set 'MNIST'"),
        (["--dataset", "SVHN", "--table", "{ref}"], "nnlife train: error: {ref}: the network is for CIFAR100, not SVHN"),
        (["--table", "{ref}", "--conv-layers", 2], "nnlife train: error: conv_layers: only with a seed"),
        (["--dataset", "FashionMNIST", "--seed", 170, "--train-images", 100],
         "nnlife train: error: train_images 100: too few for two batches of 55 (the network's batch size)"),
        (["--dataset", "FashionMNIST", "--seed", 170, "--precision", "fp16"], "nnlife train: error: argument --precision: invalid choice"),
        (["--dataset", "FashionMNIST", "--seed", 170, "--svhn-extra"], "nnlife train: error: svhn_extra: only SVHN has an extra split"),
        (["--dataset", "FashionMNIST", "--seed", 170, "--device", "tpu"], "nnlife train: error: device 'tpu': expected"),
        (["--dataset", "CIFAR100", "--seed", 1, "--data-root", "{tmp}"],
         "nnlife train: error: CIFAR100 file cifar-100-python.tar.gz not found (looked in {tmp}/CIFAR-100, {tmp}); download "
         "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz into {tmp}/CIFAR-100, or run without --no-download"),
    ],
)
def test_cli_errors_are_one_line_with_status_2(cli, tmp_path, capsys, reference_paths, argv, message):
    fill = lambda s: str(s).replace("{ref}", str(reference_paths[0])).replace("{tmp}", str(tmp_path))  # noqa: E731
    status = cli("train", *map(fill, argv), "--epochs", 1, "--no-download", "--out", tmp_path / "out")
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith(fill(message)) and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "env, message",
    [
        ({"NNLIFE_CPU_KERNELS": "avx9"}, "nnlife train: error: NNLIFE_CPU_KERNELS='avx9': expected one of native, avx2\n"),
        ({"NNLIFE_CPU_KERNELS": "avx2", "ATEN_CPU_CAPABILITY": "avx512"},
         "nnlife train: error: NNLIFE_CPU_KERNELS=avx2: ATEN_CPU_CAPABILITY is set to 'avx512', expected 'avx2' (or unset)\n"),
        # This process's torch chose its kernels long ago (say AVX-512): the setting cannot take effect.
        ({"NNLIFE_CPU_KERNELS": "avx2", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"},
         "nnlife train: error: NNLIFE_CPU_KERNELS=avx2: torch runs its AVX512 kernels (this CPU lacks AVX2, or torch ran "
         "before nnlife was imported: set NNLIFE_CPU_KERNELS before the process starts, or import nnlife before using torch)\n"),
    ],
)
def test_cli_cpu_kernels_errors(cli, tmp_path, capsys, monkeypatch, env, message):
    from nnlife import kernels

    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    monkeypatch.setattr(kernels, "capability", lambda: "AVX512")
    for name in kernels.PORTABLE:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    status = cli("train", "--dataset", "FashionMNIST", "--seed", 170, "--epochs", 1, "--no-download", "--out", tmp_path / "out")
    assert (status, capsys.readouterr().err) == (2, message)
    assert not (tmp_path / "out").exists()


def test_train_checks_the_cpu_kernels_for_the_python_api(fashion, monkeypatch):
    from nnlife import kernels

    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    monkeypatch.setattr(kernels, "capability", lambda: "AVX512")
    for name in kernels.PORTABLE:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NNLIFE_CPU_KERNELS", "avx2")
    with pytest.raises(InputError, match="NNLIFE_CPU_KERNELS=avx2: torch runs its AVX512 kernels"):
        train(LEARNABLE, fashion, RunOptions(epochs=1, train_images=96, test_images=48))
    monkeypatch.setenv("NNLIFE_CPU_KERNELS", "native")  # the default: nothing is checked
    assert len(train(LEARNABLE, fashion, RunOptions(epochs=1, train_images=96, test_images=48)).curve) == 2


def test_cli_corrupt_data_file(cli, tmp_path, capsys):
    directory = tmp_path / "FashionMNIST"
    directory.mkdir()
    (directory / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b truncated")
    status = cli("train", "--dataset", "FashionMNIST", "--seed", 170, "--data-root", tmp_path, "--out", tmp_path / "out")
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1
    assert err.startswith(f"nnlife train: error: {directory}/train-images-idx3-ubyte.gz: corrupt or wrong file (expected md5 ")
    assert "train-images-idx3-ubyte.gz into" in err


# ---- RunOptions ----------------------------------------------------------------------------------


def test_run_options_are_validated_once_with_the_one_precisions():
    from nnlife import run
    from nnlife.campaign import CampaignOptions
    from nnlife.cli import argtypes

    assert run.PRECISIONS == ("fp32", "tf32", "bf16")
    assert argtypes.PRECISIONS is run.PRECISIONS  # the --precision choices of `train` and `campaign`
    for precision in run.PRECISIONS:
        assert RunOptions(precision=precision).precision == precision
    with pytest.raises(InputError, match=r"^precision 'fp16': expected one of fp32, tf32, bf16$"):
        RunOptions(precision="fp16")
    with pytest.raises(InputError, match=r"^--precision 'fp16': expected one of fp32, tf32, bf16$"):
        CampaignOptions(datasets=("FashionMNIST",), per_dataset=1, seed=1, precision="fp16")
    options = CampaignOptions(datasets=("FashionMNIST",), per_dataset=1, seed=1, epochs=3, precision="bf16",
                              train_images=500, deterministic=True)
    assert options.run_options(4) == RunOptions(epochs=3, precision="bf16", deterministic=True, micro_batches=4,
                                                train_images=500)
    with pytest.raises(dataclasses.FrozenInstanceError):
        RunOptions().epochs = 2  # type: ignore[misc]


@pytest.mark.parametrize("n, b, used, validated", [(60000, 48, 60000, 60000), (3000, 48, 2976, 2976), (95, 48, 0, 48),
                                                   (1999, 250, 1500, 1750), (59999, 159, 59784, 59943)])
def test_the_one_truncation_rule(n, b, used, validated):
    from nnlife.run import used_images

    # training: floor(n / 2b) * 2b (halves of whole batches); test: floor(n / b) * b
    assert used_images(n, n, b) == (used, validated)


def test_the_one_svhn_extra_rule():
    from nnlife.run import n_train_full

    assert n_train_full("SVHN", True) == 73257 + 531131 == 604388
    assert n_train_full("svhn") == 73257 and n_train_full("FashionMNIST", True) == 60000
    assert n_train_full("CIFAR-100", True) == 50000
