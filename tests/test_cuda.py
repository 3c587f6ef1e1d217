"""The CUDA paths on a real GPU: deterministic reruns, TF32 and bf16, out-of-memory retries,
``--per-gpu`` packing, Ray with fractional GPUs, data and permutations on the device.

Every test is marked ``cuda`` (``pytest -m cuda tests/test_cuda.py``) and skipped where torch
sees no GPU. Real FashionMNIST is found as everywhere else (``--data-root``, ``$NNLIFE_DATA``,
the cache, Debian's copy). ``benchmarks/gpu_check.sh`` runs this file on a GPU machine; on an
H200 the whole file takes well under three minutes.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import torch
from torch import nn

from nnlife import campaign as C
from nnlife import data as D
from nnlife.campaign.task import run_one  # the worker's function, which every executor runs
from nnlife.executors import OomRetry, Placement, Started
from nnlife.record import read_record, record_path
from nnlife.run import RunOptions, derive_seeds
from nnlife.sample import sample
from nnlife.shapes import analyse
from nnlife.spec import NetworkSpec, make_id
from nnlife.table import read_table
from nnlife.train import train

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)"),
]

# cuBLAS reads this when it first sizes its workspace: this process's deterministic runs need
# it before any CUDA work. The subprocess test (a) removes it again, to test that the trainer
# sets it by itself.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

# Two conv layers with pooling and a hidden FC layer: enough cuDNN convolutions and cuBLAS
# products for TF32 and bf16 to show. b = 48.
GPU_NET = NetworkSpec(
    random_seed=4242, dataset="FashionMNIST", batch_size=48,
    learning_rate=0.05, momentum=0.9, dampening=0, weight_decay=0,
    layer_types=(3, 3), dropout_rate=0, convKernels=(3, 3), convStrides=(1, 1), convPaddings=(1, 1),
    poolKernels=(2, 2), poolStrides=(2, 2), poolPaddings=(0, 0), convFilters=(32, 64),
    FC_dropout_rate=0, FC_dropout_layers=(0,), FCFilters=(128, 10),
)


@pytest.fixture(scope="module")
def fashion_gpu():
    """The real FashionMNIST on the GPU (uploaded once per process, as a worker does)."""
    return D.load_data("FashionMNIST", download=False, device="cuda")


def nnlife(*argv, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m nnlife ARGV`` in a fresh process (inherits PYTHONPATH)."""
    return subprocess.run([sys.executable, "-m", "nnlife", *map(str, argv)], capture_output=True, text=True,
                          env=env if env is not None else dict(os.environ), timeout=timeout)


def tf32_state() -> tuple:
    """TF32 for cuBLAS products and cuDNN convolutions, read the way the trainer sets it (the
    fp32_precision API where torch has it: reading the legacy flags then raises)."""
    b = torch.backends
    if hasattr(b.cuda.matmul, "fp32_precision"):
        return b.cuda.matmul.fp32_precision, b.cudnn.conv.fp32_precision
    return b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32


def set_tf32_state(state: tuple) -> None:
    b = torch.backends
    if hasattr(b.cuda.matmul, "fp32_precision"):
        b.cuda.matmul.fp32_precision, b.cudnn.conv.fp32_precision = state
    else:
        b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32 = state


def tf32_on(on: bool) -> tuple:
    if hasattr(torch.backends.cuda.matmul, "fp32_precision"):
        return ("tf32", "tf32") if on else ("ieee", "ieee")
    return (on, on)


# ---- (a) deterministic reruns ------------------------------------------------------------------


def test_deterministic_gpu_reruns_through_the_cli_give_identical_tables(tmp_path):
    # Seed 16, 2 conv layers: b = 114, blocks ReLU+dropout and ReLU+dropout+pooling, FC
    # dropout, momentum 0.82: dropout masks drawn on the GPU, max-pool and conv backward.
    env = {k: v for k, v in os.environ.items() if k != "CUBLAS_WORKSPACE_CONFIG"}
    args = ["train", "--dataset", "FashionMNIST", "--seed", 16, "--conv-layers", 2, "--epochs", 2,
            "--train-images", 6000, "--test-images", 2000, "--deterministic", "--device", "cuda", "--no-download"]
    paths = []
    for name in ("a", "b"):
        proc = nnlife(*args, "--out", tmp_path / name, env=env)
        assert proc.returncode == 0, proc.stderr
        paths.append(Path(proc.stdout.strip()))
    a, b = (p.read_text().split("\n") for p in paths)
    assert len(a) == len(b) == 2 * 2 + 2  # header, four half epochs, final newline
    assert a[1].replace(paths[0].stem, "ID") == b[1].replace(paths[1].stem, "ID")
    assert a[0] == b[0] and a[2:] == b[2:]  # every curve value, bit for bit
    table = read_table(paths[0])
    assert (table.spec.random_seed, table.spec.batch_size, table.spec.n_conv) == (16, 114, 2)
    assert table.spec.train_GPU and table.spec.torch_set_deterministic
    assert len(set(table.curve.trainLoss)) == 4  # it trained: four different half epochs
    record = read_record(record_path(tmp_path / "a", table.spec))
    assert record.device == "cuda:0" and record.device_name == torch.cuda.get_device_name(0)
    assert (record.deterministic, record.precision, record.micro_batches) == (True, "fp32", 1)


# ---- (b) precisions ----------------------------------------------------------------------------


class _Observer:
    """A global forward hook: for every Conv2d and Linear call, the dtype of its output and
    the TF32 state at that moment (the trainer sets both only inside its run)."""

    def __init__(self):
        self.seen: set[tuple] = set()

    def __enter__(self):
        def hook(module, args, output):
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                self.seen.add((type(module).__name__, output.dtype, tf32_state()))

        self.handle = nn.modules.module.register_module_forward_hook(hook)
        return self

    def __exit__(self, *exc):
        self.handle.remove()


def test_tf32_and_bf16_set_their_modes_only_during_the_run_and_stay_close_to_fp32(fashion_gpu):
    options = dict(epochs=1, train_images=960, test_images=480, deterministic=True)
    original = tf32_state()
    curves, seen = {}, {}
    try:
        # Start each run from the opposite of what it sets, so that "restored" means something.
        for precision, before in (("fp32", tf32_on(True)), ("tf32", tf32_on(False)), ("bf16", tf32_on(True))):
            set_tf32_state(before)
            with _Observer() as observer:
                result = train(GPU_NET, fashion_gpu, RunOptions(precision=precision, **options))
            assert tf32_state() == before, precision  # restored afterwards
            assert result.facts.precision == precision and result.facts.device == "cuda:0"
            curves[precision], seen[precision] = result.curve, observer.seen
    finally:
        set_tf32_state(original)

    off, on = tf32_on(False), tf32_on(True)
    assert seen["fp32"] == {("Conv2d", torch.float32, off), ("Linear", torch.float32, off)}
    assert seen["tf32"] == {("Conv2d", torch.float32, on), ("Linear", torch.float32, on)}
    # bf16: autocast runs convolutions and products in bfloat16; TF32 stays off for the rest
    assert seen["bf16"] == {("Conv2d", torch.bfloat16, off), ("Linear", torch.bfloat16, off)}

    fp32 = curves["fp32"]
    for precision, rel, points in (("tf32", 0.02, 2.0), ("bf16", 0.05, 3.0)):
        curve = curves[precision]
        assert curve != fp32, f"{precision} gave the fp32 curve bit for bit"
        assert curve.trainLoss == pytest.approx(fp32.trainLoss, rel=rel), precision
        assert curve.valLoss == pytest.approx(fp32.valLoss, rel=rel), precision
        assert curve.valAcc == pytest.approx(fp32.valAcc, abs=points), precision
    assert fp32.valAcc[-1] > 30  # it learned (chance is 10)


# ---- (c) out of memory -------------------------------------------------------------------------

# Seed 6287, one conv layer: b = 220, a 1x1 convolution to 379 channels at 38x38 (about 1 GB of
# activations per batch), no dropout anywhere, so that one and two micro-batches make the
# same update.
OOM_SEED, OOM_CONV = 6287, 1


def _peak(spec, data, options) -> tuple[int, object]:
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    result = train(spec, data, options)
    peak = torch.cuda.max_memory_allocated()
    return peak, result.curve


def test_a_real_out_of_memory_is_retried_with_more_micro_batches_and_gives_the_same_update(fashion_gpu, tmp_path):
    options = C.CampaignOptions(datasets=("FashionMNIST",), per_dataset=1, seed=0, epochs=1, train_images=880,
                                test_images=440, deterministic=True)
    spec = sample("FashionMNIST", OOM_SEED, OOM_CONV)
    assert (spec.batch_size, spec.dropout_rate, spec.FC_dropout_layers) == (220, 0, (0,))
    net = C.PlannedRun("FashionMNIST", OOM_SEED, OOM_CONV, 0, make_id(datetime.now()), spec.batch_size,
                       analyse(spec).flops)
    assert net.spec(options) == spec
    peak1, curve1 = _peak(spec, fashion_gpu, options.run_options(1))
    peak2, curve2 = _peak(spec, fashion_gpu, options.run_options(2))
    assert peak1 - peak2 > 400 * 2**20, (peak1, peak2)  # two micro-batches need much less memory
    # Close above the peak of two micro-batches: room for the allocator's rounding, far less
    # than the second half batch's activations (about 0.5 GB), so one whole batch cannot fit.
    cap = peak2 + (peak1 - peak2) // 4
    total = torch.cuda.get_device_properties(0).total_memory

    events: list = []
    task = C.Task(str(tmp_path), net, options, 1, 0, (), None, False, "")
    torch.cuda.empty_cache()
    torch.cuda.set_per_process_memory_fraction(cap / total)
    try:
        result = run_one(task, Placement("cuda", None), events.append)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()

    memory = f"peaks {peak1 / 2**20:.0f} and {peak2 / 2**20:.0f} MiB with 1 and 2 micro-batches, cap {cap / 2**20:.0f} MiB"
    assert (result.status, result.micro_batches, result.oom_retries, result.error) == ("complete", 2, 1, None), memory
    assert [type(e) for e in events] == [Started, OomRetry] and events[1].micro_batches == 2
    assert events[0].device == "cuda:0"
    record = read_record(C.record_file(tmp_path, net))
    assert (record.status, record.micro_batches, record.extra["oom_retries"]) == ("complete", 2, 1)
    curve = read_table(C.table_file(tmp_path, net)).curve
    # the same run as two micro-batches from the start (up to the convolution algorithm cuDNN
    # picks under the cap) ...
    assert curve.trainLoss == pytest.approx(curve2.trainLoss, rel=1e-5)
    assert curve.valLoss == pytest.approx(curve2.valLoss, rel=1e-5)
    assert curve.valAcc == pytest.approx(curve2.valAcc, abs=2 * 100 / 440)  # two images at most
    # ... and the same update as one whole batch, up to the order of the sums
    assert curve.trainLoss == pytest.approx(curve1.trainLoss, rel=1e-4)
    assert curve.valLoss == pytest.approx(curve1.valLoss, rel=1e-4)
    assert curve.valAcc == pytest.approx(curve1.valAcc, abs=2 * 100 / 440)


# ---- (d) --per-gpu packing ---------------------------------------------------------------------


def _max_concurrent(intervals) -> int:
    """The largest number of [start, end] intervals open at one moment."""
    edges = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda x: (x[0], x[1]))
    best = now = 0
    for _, step in edges:
        now += step
        best = max(best, now)
    return best


def _campaign_args(out, *extra) -> list:
    # Seed 892: 8 FashionMNIST networks (conv layers 1..8) of 11 to 78 forward MFLOP per image,
    # batch sizes 51 to 245; two epochs of the full training split each, so that every training
    # lasts long against the spread of the workers' start-up.
    return ["campaign", "--datasets", "FashionMNIST", "--per-dataset", 8, "--seed", 892, "--epochs", 2,
            "--test-images", 5000, "--device", "cuda", "--no-download", "--out", out, *extra]


def test_per_gpu_4_trains_four_networks_at_once_on_one_gpu(tmp_path):
    from nnlife.executors.local import visible_gpus

    out = tmp_path / "c"
    proc = nnlife(*_campaign_args(out, "--per-gpu", 4))
    assert proc.returncode == 0, proc.stderr
    events = C.read_journal(out)
    begin = next(e for e in events if e["event"] == "campaign-start")
    gpus = visible_gpus()
    assert begin["backend"] == f"local pool, {4 * len(gpus)} workers on {len(gpus)} GPU{'s' if len(gpus) > 1 else ''} (4 per GPU)"
    starts = [e for e in events if e["event"] == "start"]
    assert len(starts) == 8 and len([e for e in events if e["event"] == "done"]) == 8
    if len(gpus) == 1:
        assert {e["device"] for e in starts} == {"cuda:0"}
        assert all(e["worker"].endswith(f" cuda (GPU {gpus[0]})") for e in starts)
        assert len({e["pid"] for e in starts}) == 4  # four worker processes share the GPU
    manifest = C.read_manifest(out)
    intervals = []
    for net in manifest.networks:
        record = read_record(C.record_file(out, net))
        assert record.status == "complete" and record.device == "cuda:0"
        assert read_table(C.table_file(out, net)).spec.train_GPU
        intervals.append((datetime.fromisoformat(record.started), datetime.fromisoformat(record.finished)))
    assert _max_concurrent(intervals) == 4  # at some moment four trainings ran at once


# ---- (e) Ray with fractional GPUs --------------------------------------------------------------


def test_ray_with_half_a_gpu_per_task_gives_the_same_tables_as_the_local_pool(tmp_path):
    pytest.importorskip("ray")  # an optional extra: pip install 'nnlife[ray]'
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    common = ["campaign", "--datasets", "FashionMNIST", "--per-dataset", 6, "--seed", 53681, "--epochs", 1,
              "--train-images", 3000, "--test-images", 1000, "--deterministic", "--device", "cuda", "--per-gpu", 2,
              "--no-download"]
    local = nnlife(*common, "--out", tmp_path / "local", env=env)
    assert local.returncode == 0, local.stderr
    on_ray = nnlife(*common, "--ray", "--out", tmp_path / "ray", env=env)
    assert on_ray.returncode == 0, on_ray.stderr
    backend = next(e["backend"] for e in C.read_journal(tmp_path / "ray") if e["event"] == "campaign-start")
    assert backend.startswith("Ray (local instance") and backend.endswith("at a time on GPUs"), backend
    manifests = {name: C.read_manifest(tmp_path / name) for name in ("local", "ray")}
    assert len(manifests["ray"].networks) == 6
    for a, b in zip(manifests["local"].networks, manifests["ray"].networks):
        assert (a.random_seed, a.conv_layers) == (b.random_seed, b.conv_layers)
        ta, tb = read_table(C.table_file(tmp_path / "local", a)), read_table(C.table_file(tmp_path / "ray", b))
        assert tb.spec == ta.spec.with_run(ID=b.ID, train_GPU=True, torch_set_deterministic=True)
        assert tb.curve == ta.curve and len(tb.curve) == 2  # deterministic on the same GPU: bit for bit
        record = read_record(C.record_file(tmp_path / "ray", b))
        assert record.device == "cuda:0" and " cuda (GPU " in record.extra["worker"]


# ---- (f) data and permutations on the device ---------------------------------------------------


class _Trace:
    """Every aten operation of a run, reduced to what this test asks: the permutations drawn,
    the devices of the image gathers, and every copy from the host to the device."""

    def __init__(self, images: torch.Tensor):
        from torch.utils._python_dispatch import TorchDispatchMode

        trace = self
        self.images = images.data_ptr()
        self.perms: list[tuple[torch.Tensor, torch.device | None]] = []
        self.gathers: list[torch.device] = []
        self.to_device: list[tuple[torch.dtype, tuple]] = []

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                out = func(*args, **kwargs)
                trace.record(func, args, kwargs, out)
                return out

        self.mode = Mode()

    def record(self, func, args, kwargs, out) -> None:
        aten = torch.ops.aten
        packet = func.overloadpacket
        if packet is aten.randperm:
            generator = kwargs.get("generator")
            self.perms.append((out.clone(), generator.device if generator is not None else None))
        elif packet is aten.index and args[0].data_ptr() == self.images:
            self.gathers.append(args[1][0].device)
        elif packet in (aten._to_copy, aten.copy_):
            src = args[1] if packet is aten.copy_ else args[0]
            dst = args[0] if packet is aten.copy_ else out
            if src.device.type == "cpu" and dst.device.type != "cpu":
                self.to_device.append((src.dtype, tuple(src.shape)))


def check_device_side_training(data: D.ImageData, spec: NetworkSpec, epochs: int = 2) -> None:
    """Train ``spec`` on ``data`` under a trace and check that the images never leave the
    device: both permutations drawn there from the order seed, every batch gathered there,
    nothing but the freshly built parameters copied from the host."""
    options = RunOptions(epochs=epochs, train_images=960, test_images=480, deterministic=True)
    trace = _Trace(data.train_x)
    with trace.mode:
        result = train(spec, data, options)
    dev = data.device
    facts = result.facts
    assert len(trace.perms) == epochs
    generator = torch.Generator(device=dev)
    generator.manual_seed(derive_seeds(spec.random_seed).order)
    for perm, where in trace.perms:
        assert perm.device == dev and where == dev
        assert torch.equal(perm, torch.randperm(facts.train_subset, generator=generator, device=dev))
    assert not torch.equal(trace.perms[0][0], trace.perms[1][0])  # a fresh order each epoch
    assert trace.gathers == [dev] * (epochs * 2 * facts.batches_per_half * facts.micro_batches)
    params = sorted(tuple(p.shape) for p in result.model.parameters())
    if dev.type == "cpu":
        assert trace.to_device == []
    else:
        assert sorted(shape for _, shape in trace.to_device) == params
        assert {dtype for dtype, _ in trace.to_device} == {torch.float32}  # no images, no labels


def test_the_data_lives_on_the_gpu_and_the_permutation_is_drawn_there(fashion_gpu):
    data = fashion_gpu
    assert data.device == torch.device("cuda", 0)
    tensors = (data.train_x, data.train_y, data.test_x, data.test_y)
    assert [t.device for t in tensors] == [data.device] * 4
    assert [t.dtype for t in tensors] == [torch.uint8, torch.int64, torch.uint8, torch.int64]
    assert (tuple(data.train_x.shape), tuple(data.test_x.shape)) == ((60000, 1, 28, 28), (10000, 1, 28, 28))
    assert D.load_data("FashionMNIST", download=False, device="cuda") is data  # uploaded once per process
    part = D.subset(data, 960, 480)
    assert part.train_x.device == data.device and part.train_x.data_ptr() == data.train_x.data_ptr()  # a view
    check_device_side_training(data, dataclasses.replace(GPU_NET, random_seed=777))
