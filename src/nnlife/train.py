"""Training one network exactly as docs/training.md says, and reporting each half epoch.

The loop, top to bottom (:func:`train`):

* the module is built from the spec with weights seeded from the network's seed;
* SGD with the spec's learning rate, momentum, dampening and weight decay; CrossEntropyLoss;
* each epoch draws a fresh permutation of the training images on the device and trains on
  its first ``n_used`` images in batches of ``b``, where ``n_used = floor(n / 2b) * 2b`` (for
  the full split, whose batch size was drawn so that ``floor(N / b)`` is even, this is the
  published ``floor(N / b) * b``), so that each half epoch is a whole number of batches;
* after each half epoch: validation on the test split in ``eval()`` mode without gradients,
  in batches of ``b`` with the last partial batch dropped; ``trainLoss`` and ``valLoss`` are
  the means of the batch losses, ``valAcc = 100 * correct / seen`` (Python ints, so the value
  is bit for bit the published one);
* the half epoch's row goes to every listener; a listener returning True stops training
  after that half epoch (early termination plugs in here). The loop knows nothing of storage.

Speed without cleverness: images stay uint8 on the device and are scaled to float per batch
there (one byte per pixel moved, no host copies); no DataLoader and no per-sample Python; the
batch losses and correct counts are summed on the device, so the host waits for the device
only once per half epoch (``.item()`` at the boundary), never per batch.

Storing a trained network (record, then table) is :mod:`nnlife.lifespan`'s; the options and
sizes of a run are :mod:`nnlife.run`'s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Iterable, Protocol

import torch
from torch import nn
from tqdm import tqdm

from . import kernels
from .build import build
from .data import ImageData, resolve_device, subset
from .errors import InputError
from .run import PRECISIONS, RunFacts, RunOptions, Seeds, derive_seeds, run_facts  # noqa: F401 (re-exported)
from .spec import NetworkSpec
from .table import Curve



# --------------------------------------------------------------------------------------
# What the loop reports


@dataclass(frozen=True)
class HalfEpoch:
    """One half epoch's measurements, handed to every listener as soon as it is known."""

    index: int  # 1, 2, 3, ...: half epochs trained so far
    epoch: float  # 0.5, 1.0, 1.5, ... (the table's `epochs`)
    trainLoss: float  # mean of the batch losses of this half
    valLoss: float  # mean of the validation batch losses
    valAcc: float  # 100 * correct / seen on the test split
    trainAcc: float  # 100 * correct / seen on this half's training batches (dropout on)
    seconds: float  # wall time of this half: training and validation
    val_seconds: float  # of which validation


class Listener(Protocol):
    """Receives each half epoch; returning True asks training to stop after it.

    Optional methods: ``begin(facts: RunFacts)`` before the first half epoch and ``close()``
    when training ends (also on error)."""

    def __call__(self, row: HalfEpoch) -> bool | None: ...


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` measured: the curve of the half epochs actually trained, and per
    half epoch its wall seconds (and of those, validation), training accuracy; plus the run
    facts and the trained module itself."""

    curve: Curve
    seconds: tuple[float, ...]
    val_seconds: tuple[float, ...]
    train_accuracy: tuple[float, ...]
    stopped_early: bool
    facts: RunFacts
    model: nn.Module | None = dataclasses.field(default=None, repr=False, compare=False)  # as trained

    @property
    def halves_trained(self) -> int:
        return len(self.curve)

    @property
    def epochs_trained(self) -> float:
        return len(self.curve) / 2


# --------------------------------------------------------------------------------------
# Settings that torch keeps globally, set for one run and restored afterwards


@contextlib.contextmanager
def _precision(precision: str):
    """fp32 means IEEE fp32 everywhere: TF32 off for cuBLAS matmuls and cuDNN convolutions
    (the new flags where this torch has them; never both APIs, torch refuses mixes)."""
    tf32 = precision == "tf32"
    b = torch.backends
    if hasattr(b.cuda.matmul, "fp32_precision"):
        saved = (b.cuda.matmul.fp32_precision, b.cudnn.conv.fp32_precision)
        mode = "tf32" if tf32 else "ieee"
        b.cuda.matmul.fp32_precision, b.cudnn.conv.fp32_precision = mode, mode
        try:
            yield
        finally:
            b.cuda.matmul.fp32_precision, b.cudnn.conv.fp32_precision = saved
    else:  # torch < 2.9
        saved = (b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32)
        b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32 = tf32, tf32
        try:
            yield
        finally:
            b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32 = saved


@contextlib.contextmanager
def _deterministic(enabled: bool, device: torch.device):
    if not enabled:
        yield
        return
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    if device.type == "cuda":
        # cuBLAS is deterministic only with a fixed workspace size, read when torch first sizes
        # it: a process that wants exact GPU reruns should set this before it uses CUDA at all.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    # The CPU's model and the kernels torch runs on it (AVX512, AVX2, ...: nnlife.kernels);
    # deterministic runs give the same bits where both the kernels and the libraries agree.
    return f"{_cpu_model()} ({kernels.capability()} kernels)"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


# --------------------------------------------------------------------------------------
# The loop


def plan_run(spec: NetworkSpec, data: ImageData, options: RunOptions = RunOptions()) -> RunFacts:
    """Check the options and work out the sizes of a run on ``data``, before anything is
    trained (:func:`nnlife.run.run_facts`). Raises :class:`InputError` for options that cannot
    work."""
    if spec.dataset != data.dataset:
        raise InputError(f"the network is for {spec.dataset}, the data is {data.dataset}")
    part = subset(data, options.train_images, options.test_images)
    return run_facts(
        options, random_seed=spec.random_seed, batch_size=spec.batch_size, train_subset=part.n_train,
        test_subset=part.n_test, n_train_full=data.n_train_full, n_test_full=data.n_test_full,
        device=str(data.device), device_name=device_name(data.device), data_files=data.files,
        svhn_extra=data.svhn_extra, started=datetime.now().isoformat(timespec="microseconds"),
    )


def _scale(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels -> float32 in [0, 1], on the device (ToTensor's x / 255)."""
    return images.float().div_(255)


def train(
    spec: NetworkSpec,
    data: ImageData,
    options: RunOptions = RunOptions(),
    *,
    device: str | torch.device | None = None,
    listeners: Iterable[Listener | Callable] = (),
) -> TrainResult:
    """Train the network of ``spec`` on ``data`` and return its curve (docs/training.md).

    ``options`` (:class:`nnlife.run.RunOptions`): epochs, precision ("fp32" with TF32 off,
    "tf32", or "bf16" autocast), deterministic algorithms (restored afterwards; on CPU two runs
    then give bit-identical curves), micro-batches whose gradients accumulate to the same SGD
    update (for memory; the taxonomy has no batch norm), and prefixes of the splits.
    ``device`` defaults to the data's device (other devices get a copy of the data). A
    diverging network (nan/inf) is trained to the end and recorded as measured.
    """
    if device is not None:
        data = data.to(resolve_device(device))
    if data.device.type == "cpu":
        kernels.check()
    facts = plan_run(spec, data, options)
    data = subset(data, facts.train_subset, facts.test_subset)
    listeners = tuple(listeners)
    dev = data.device
    # Dropout draws from torch's global RNG, which _loop seeds: fork_rng gives the caller's
    # state back afterwards.
    rng_devices = [dev.index] if dev.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=rng_devices), _precision(options.precision), _deterministic(options.deterministic, dev):
            for listener in listeners:
                if hasattr(listener, "begin"):
                    listener.begin(facts)
            result = _loop(spec, data, facts, listeners)
    finally:
        for listener in listeners:
            if hasattr(listener, "close"):
                listener.close()
    return result


def _loop(spec: NetworkSpec, data: ImageData, facts: RunFacts, listeners: tuple) -> TrainResult:
    dev = data.device
    b, k = facts.batch_size, facts.micro_batches
    model = build(spec, seed=facts.seeds.weights).to(dev)
    # Dropout draws from torch's global RNG: the one global this run cannot avoid. Seeded after
    # building (which seeds its own generator) so that the masks follow the dropout seed alone.
    torch.manual_seed(facts.seeds.dropout)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=float(spec.learning_rate),
        momentum=float(spec.momentum),
        dampening=float(spec.dampening),
        weight_decay=float(spec.weight_decay),
    )
    loss_fn = nn.CrossEntropyLoss()
    autocast = torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=facts.precision == "bf16")
    order = torch.Generator(device=dev)
    order.manual_seed(facts.seeds.order)

    def step(idx: torch.Tensor, loss_sum: torch.Tensor, correct: torch.Tensor) -> None:
        """One SGD step on the images at ``idx``; adds the batch loss and the number of correct
        predictions to the device-side sums. With k micro-batches, chunk losses are weighted by
        chunk/b, so their gradients add up to the full batch's gradient and the weighted losses
        to its mean loss."""
        optimizer.zero_grad(set_to_none=True)
        batch_loss = None
        for chunk in idx.tensor_split(k) if k > 1 else (idx,):
            x, y = _scale(data.train_x[chunk]), data.train_y[chunk]
            with autocast:
                logits = model(x)
                loss = loss_fn(logits.float(), y)
            if k > 1:
                loss = loss * (len(chunk) / b)
            loss.backward()
            batch_loss = loss.detach() if batch_loss is None else batch_loss + loss.detach()
            correct += (logits.argmax(1) == y).sum()
        optimizer.step()
        loss_sum += batch_loss.double()

    @torch.no_grad()
    def validate() -> tuple[float, int]:
        """(mean batch loss, correct) over the test split in whole batches of b."""
        model.eval()
        loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
        correct = torch.zeros((), dtype=torch.int64, device=dev)
        for i in range(facts.val_batches):
            batch_loss = torch.zeros((), device=dev)
            lo = i * b
            for lo_c, hi_c in _chunks(lo, lo + b, k):
                x, y = _scale(data.test_x[lo_c:hi_c]), data.test_y[lo_c:hi_c]
                with autocast:
                    logits = model(x)
                    loss = loss_fn(logits.float(), y)
                batch_loss += loss * ((hi_c - lo_c) / b) if k > 1 else loss
                correct += (logits.argmax(1) == y).sum()
            loss_sum += batch_loss.double()
        model.train()
        return loss_sum.item() / facts.val_batches, int(correct.item())

    rows: list[HalfEpoch] = []
    stop = False
    half_size = facts.batches_per_half * b
    model.train()
    for epoch in range(facts.epochs_requested):
        perm = torch.randperm(facts.train_subset, generator=order, device=dev)[: facts.train_images]
        for half in range(2):
            t0 = time.perf_counter()
            # Summed on the device in float64 (as Python would sum the float32 batch losses):
            # no host synchronisation until the half epoch ends.
            loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
            correct = torch.zeros((), dtype=torch.int64, device=dev)
            for i in range(facts.batches_per_half):
                lo = half * half_size + i * b
                step(perm[lo: lo + b], loss_sum, correct)
            train_loss = loss_sum.item() / facts.batches_per_half
            train_acc = 100 * int(correct.item()) / half_size
            t_val = time.perf_counter()
            val_loss, val_correct = validate()
            t1 = time.perf_counter()
            row = HalfEpoch(
                index=len(rows) + 1,
                epoch=0.5 * (len(rows) + 1),
                trainLoss=train_loss,
                valLoss=val_loss,
                valAcc=100 * val_correct / facts.test_images,
                trainAcc=train_acc,
                seconds=t1 - t0,
                val_seconds=t1 - t_val,
            )
            rows.append(row)
            # Every listener sees the row, even when an earlier one already asked to stop.
            votes = [bool(listener(row)) for listener in listeners]
            if any(votes):
                stop = True
                break
        if stop:
            break

    curve = Curve.from_halves([r.trainLoss for r in rows], [r.valLoss for r in rows], [r.valAcc for r in rows])
    return TrainResult(
        curve=curve,
        seconds=tuple(r.seconds for r in rows),
        val_seconds=tuple(r.val_seconds for r in rows),
        train_accuracy=tuple(r.trainAcc for r in rows),
        stopped_early=stop and len(rows) < 2 * facts.epochs_requested,
        facts=dataclasses.replace(facts, finished=datetime.now().isoformat(timespec="microseconds")),
        model=model,
    )


def _chunks(lo: int, hi: int, k: int) -> list[tuple[int, int]]:
    """[lo, hi) cut into k nearly equal consecutive pieces (as tensor_split does)."""
    n = hi - lo
    bounds = [lo + j * (n // k) + min(j, n % k) for j in range(k + 1)]
    return [(bounds[j], bounds[j + 1]) for j in range(k)]


# --------------------------------------------------------------------------------------
# Listeners


class ProgressBar:
    """A tqdm bar on stderr over the half epochs, shown only when stderr is a terminal."""

    def __init__(self, description: str | None = None, *, file=None, force: bool = False):
        self.description = description
        self.file = file if file is not None else sys.stderr
        self.enabled = force or (hasattr(self.file, "isatty") and self.file.isatty())
        self.bar = None

    def begin(self, facts: RunFacts) -> None:
        if not self.enabled:
            return
        self.bar = tqdm(total=2 * facts.epochs_requested, desc=self.description, unit="half-epoch",
                        file=self.file, dynamic_ncols=True, leave=False)

    def __call__(self, row: HalfEpoch) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"epoch {row.epoch:g} trainLoss {row.trainLoss:.4g} valAcc {row.valAcc:.2f}")
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
