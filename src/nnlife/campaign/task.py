"""The worker's side of a campaign: one network, one attempt (:func:`run_one`).

This is the one module of the campaign package that imports torch; the executors run it in
their workers by name (:data:`WORKER`), so the driver never imports it. :func:`run_one`
trains the network and stores it (:func:`nnlife.lifespan.run_network`: record first, then the
table). An out-of-memory error on the GPU is retried at once with twice the micro-batches
(gradient accumulation gives the same update); any other error ends the attempt, which the
driver may retry. Faults injected for testing (:mod:`.faults`) are acted on here.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import signal
import socket
import time

from typing import Any, Callable, Iterable

import torch

from ..data import clear_cache, from_arrays, load_data, resolve_device
from ..errors import InputError
from ..executors.base import OomRetry, Placement, Report, Started, TaskResult
from ..lifespan import run_network
from ..predict import OnlineStopper
from ..record import read_record, write_record
from ..run import n_train_full
from ..spec import DATASETS, dataset_info
from .attempt import Task
from .faults import FAULTS_ENV, parse_faults
from .layout import record_file
from .manifest import PlannedRun
from .options import CampaignOptions


_SYNTHETIC: dict[tuple, Any] = {}


def warm_up(threads: int | None) -> None:
    """Once per worker process: set its torch threads, and pay for what torch imports when the
    first optimizer is made (its compiler stack, seconds) while the driver is still getting
    ready, not inside the first network's run."""
    if threads:
        torch.set_num_threads(threads)
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)


def synthetic_data(dataset: str, *, device: str = "cpu", svhn_extra: bool = False, train_images: int | None = None,
                   test_images: int | None = None):
    """Seeded random images and labels in ``dataset``'s shapes, for throughput measurements:
    the first ``train_images``/``test_images`` of splits of the official sizes (the sizes the
    trainer and the records see; default: all). Cached per process like
    :func:`nnlife.data.load_data`."""
    info = dataset_info(dataset)
    full = n_train_full(info.name, svhn_extra)
    n_train = min(train_images or full, full)
    n_test = min(test_images or info.n_test, info.n_test)
    key = (info.name, str(device), svhn_extra, n_train, n_test)
    if key not in _SYNTHETIC:
        g = torch.Generator().manual_seed(list(DATASETS).index(info.name))
        shape = (info.channels, info.side, info.side)
        x = lambda n: torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8)  # noqa: E731
        y = lambda n: torch.randint(0, info.classes, (n,), generator=g)  # noqa: E731
        _SYNTHETIC[key] = from_arrays(info.name, x(n_train), y(n_train), x(n_test), y(n_test), files=("synthetic",),
                                      device=resolve_device(device), n_train_full=full,
                                      n_test_full=info.n_test, svhn_extra=svhn_extra)
    return _SYNTHETIC[key]


def task_data(task: Task, device: str):
    """The data set of a task on ``device`` (loaded once per process)."""
    options = task.options
    if options.synthetic:
        return synthetic_data(task.net.dataset, device=device, svhn_extra=options.svhn_extra,
                              train_images=options.train_images, test_images=options.test_images)
    return load_data(task.net.dataset, root=task.data_root, device=resolve_device(device),
                     download=task.download, svhn_extra=options.svhn_extra and task.net.dataset == "SVHN")


def preflight(options: CampaignOptions, datasets: Iterable[str], data_root: str | None, download: bool) -> None:
    """Find (download if allowed) and verify the data files once, before any network is
    trained: a missing or corrupt file is one clear error, not a failure per network, and K
    workers do not download the same file at once. The arrays are dropped afterwards. The
    driver runs this in a process of its own (:func:`nnlife.executors.base.call_in_process`)."""
    try:
        for dataset in datasets:
            load_data(dataset, root=data_root, device="cpu", download=download,
                      svhn_extra=options.svhn_extra and dataset == "SVHN")
    finally:
        clear_cache()


class _EarlyStop:
    """A trainer listener around :class:`nnlife.predict.OnlineStopper`; on close it puts the
    outcome into the record's ``extra``."""

    def __init__(self, method: str, target_epoch: float, extra: dict, spec=None):
        # the spec too: a learned method uses the network's structure, as in `nnlife evaluate`
        self.stopper = OnlineStopper(method, target_epoch, spec=spec)
        self.extra = extra

    def __call__(self, row) -> bool:
        return self.stopper.observe(row.epoch, row.valAcc, row.trainLoss, row.valLoss)

    def close(self) -> None:
        o = self.stopper.result()
        self.extra["early_stop"] = {"method": o.method, "target_epoch": o.target_epoch, "converged": o.converged,
                                    "stop_epoch": o.stop_epoch, "predicted": o.predicted, "uncertainty": o.uncertainty}


class _InjectedOOM:
    """Fault injection: raises a CUDA out-of-memory error inside the trainer, before the
    first batch (where the first forward pass of a network too big for the GPU fails)."""

    def begin(self, facts) -> None:
        raise torch.cuda.OutOfMemoryError(
            f"CUDA out of memory (injected by {FAULTS_ENV}) with {facts.micro_batches} micro-batches")

    def __call__(self, row) -> None:
        return None


class _InjectedError:
    def begin(self, facts) -> None:
        raise RuntimeError(f"failure injected by {FAULTS_ENV}")

    def __call__(self, row) -> None:
        return None


def _free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def worker_name(device: str) -> str:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    where = f"{device} (GPU {visible})" if device.startswith("cuda") and visible is not None else device
    return f"{socket.gethostname()}:{os.getpid()} {where}"


def run_one(task: Task, placement: Placement, report: Callable[[Report], None] | None = None) -> TaskResult:
    """Train one network once, as a campaign does; the one task function of every executor.

    Writes the record and then the table (:func:`nnlife.lifespan.run_network`). An
    out-of-memory error is retried at once with twice the micro-batches (up to the batch
    size); any other error ends the attempt. Never raises for a failure of the network: the
    :class:`~nnlife.executors.TaskResult` says what happened. ``report`` receives
    :class:`~nnlife.executors.Started` and :class:`~nnlife.executors.OomRetry` as they happen.
    """
    report = report or (lambda what: None)
    if placement.threads:
        torch.set_num_threads(placement.threads)
    faults = [f for f in parse_faults(task.faults) if f.applies(task.net.ID, task.attempt)]
    worker = worker_name(placement.device)
    options, net = task.options, task.net
    extra: dict[str, Any] = {
        "campaign_seed": options.seed, "plan_index": net.index, "attempt": task.attempt, "starts": task.starts + 1,
        "errors": list(task.errors), "micro_batches": 1, "oom_retries": 0, "worker": worker, "early_stop": None,
    }
    t0 = time.perf_counter()

    def failed(error: str, retryable: bool = True) -> TaskResult:
        return TaskResult.failure(error, retryable=retryable, worker=worker, micro_batches=extra["micro_batches"],
                                  oom_retries=extra["oom_retries"], seconds=time.perf_counter() - t0)

    try:
        spec = net.spec(options)
        data = task_data(task, placement.device)
    except InputError as err:  # a data file missing or corrupt: every attempt would fail alike
        return failed(str(err), retryable=False)
    report(Started(worker, os.getpid(), str(data.device)))
    if any(f.kind == "crash" for f in faults):
        os.kill(os.getpid(), signal.SIGKILL)
    micro_batches, tries = 1, 0
    while True:
        tries += 1
        extra["micro_batches"] = micro_batches
        listeners: list[Any] = []
        if options.early_stop:
            listeners.append(_EarlyStop(options.early_stop, options.target_epoch, extra, spec))
        if any(f.kind == "oom-always" or (f.kind == "oom" and tries == 1) for f in faults):
            listeners.append(_InjectedOOM())
        if any(f.kind == "error" for f in faults):
            listeners.append(_InjectedError())
        out_of_memory = False
        try:
            path = run_network(spec, data, task.out, options.run_options(micro_batches, net.repeat), ID=net.ID,
                               listeners=listeners, record_extra=extra, network=net.network_ID)
        except torch.cuda.OutOfMemoryError:
            out_of_memory = True
        except InputError as err:  # options that cannot work for this network
            return failed(str(err), retryable=False)
        except Exception as err:
            return failed(f"{type(err).__name__}: {err}")
        if out_of_memory:
            # Out of the except block: the traceback, and the tensors its frames hold, are gone.
            _free_memory()
            if micro_batches >= spec.batch_size:
                error = (f"out of memory even with {micro_batches} micro-batches "
                         f"(one image at a time, batch size {spec.batch_size})")
                _mark_failed(task.out, net, error, extra)
                return failed(error)
            micro_batches = min(2 * micro_batches, spec.batch_size)
            extra["oom_retries"] += 1
            report(OomRetry(micro_batches))
            continue
        record = read_record(record_file(task.out, net))
        return TaskResult(record.status, None, False, record.epochs_trained, micro_batches, extra["oom_retries"],
                          worker, time.perf_counter() - t0, started=record.started, path=str(path))


def _mark_failed(out: str, net: PlannedRun, error: str, extra: dict) -> None:
    """Rewrite the record of a failed attempt with the campaign's reason and facts."""
    path = record_file(out, net)
    try:
        record = read_record(path)
    except InputError:
        return
    write_record(out, dataclasses.replace(record, status="failed", error=error, extra=dict(extra)))
