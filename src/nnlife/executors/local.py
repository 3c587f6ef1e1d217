"""The local pool: a few long-lived worker processes on this machine.

Each worker (``multiprocessing``, spawn context) runs task after task and keeps what it
loaded (``nnlife.data.load_data`` caches per process): K on the CPU, or G per visible GPU
with ``CUDA_VISIBLE_DEVICES`` pinned per worker. It is its own small pool (a pipe per worker,
process sentinels watched) rather than ``ProcessPoolExecutor``, which breaks as a whole when
one worker dies: here a dead worker's task is reported as :class:`~.base.Crashed` and the
worker is replaced. Workers die with the driver, even when it is killed with SIGKILL
(:func:`~.base.die_with_parent`), so a killed campaign leaves no worker behind to finish and
duplicate work that the re-run redoes.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import signal
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from .base import (Crashed, Event, ExecutionOptions, Placement, TaskResult, WorkerCode, WorkerStartError, cores,
                   die_with_parent, resolve)

MAX_IDLE_DEATHS = 3  # a slot whose fresh workers die this often without a task: give up


@dataclass(frozen=True)
class Slot:
    """One worker's place: its device and, on a GPU, which physical GPU it sees."""

    index: int
    device: str  # "cpu" or "cuda"
    gpu: str | None  # the CUDA_VISIBLE_DEVICES entry this worker gets
    threads: int  # torch threads

    @property
    def placement(self) -> Placement:
        return Placement(self.device, self.threads)


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES entries (in its order)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g.strip() for g in visible.split(",") if g.strip()]
    # Only CUDA knows how many GPUs it sees when the variable is unset: ask it through torch,
    # here only (the pool's own module stays importable without torch).
    import torch

    return [str(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


def plan_slots(execution: ExecutionOptions) -> list[Slot]:
    """The local pool's workers: K on the CPU (default one per core, each with cores // K
    torch threads), or ``per_gpu`` on each chosen GPU, interleaved across GPUs."""
    device = execution.device
    gpus = [] if device == "cpu" else visible_gpus()
    if device == "cpu" or (device == "auto" and not gpus):
        k = execution.workers or cores()
        threads = execution.threads or max(1, cores() // k)
        return [Slot(i, "cpu", None, threads) for i in range(k)]
    chosen = _chosen_gpus(device, gpus)
    if execution.workers is not None:
        raise InputError("--workers: counts CPU workers; on GPUs use --per-gpu")
    n = execution.per_gpu * len(chosen)
    threads = execution.threads or max(1, cores() // n)
    return [Slot(i, "cuda", chosen[i % len(chosen)], threads) for i in range(n)]


def _chosen_gpus(device: str, gpus: list[str]) -> list[str]:
    if not gpus:
        raise InputError(f"--device {device}: CUDA is not available on this machine")
    if device in ("auto", "cuda"):
        return gpus
    if device.startswith("cuda:"):
        try:
            indices = [int(i) for i in device[5:].split(",")]
        except ValueError:
            indices = []
        if indices and all(0 <= i < len(gpus) for i in indices) and len(set(indices)) == len(indices):
            return [gpus[i] for i in indices]
        raise InputError(f"--device {device}: expected cuda:N[,M...] with distinct N in 0..{len(gpus) - 1} "
                         f"({len(gpus)} GPUs visible)")
    raise InputError(f"--device {device!r}: expected auto, cpu, cuda or cuda:N[,M...]")


# --------------------------------------------------------------------------------------
# The worker process


def _worker_main(conn, parent_pid: int, gpu: str | None, placement: Placement, code: WorkerCode) -> None:
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    if gpu is not None:
        # Set by the parent before this process started; CUDA reads it when it initialises.
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    run = resolve(code.run)
    if code.warm_up is not None:
        resolve(code.warm_up)(placement.threads)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        try:
            result = run(task, placement, conn.send)
        except Exception as err:  # a bug, not the task: still one failed attempt
            result = TaskResult.failure(f"{type(err).__name__}: {err}")
        conn.send(result)


# --------------------------------------------------------------------------------------
# The pool


@contextlib.contextmanager
def _environment(name: str, value: str | None):
    """``os.environ[name] = value`` for the duration (nothing when value is None)."""
    if value is None:
        yield
        return
    saved = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            del os.environ[name]
        else:
            os.environ[name] = saved


class _Worker:
    def __init__(self, slot: Slot, process, conn, idle_deaths: int = 0):
        self.slot = slot
        self.process = process
        self.conn = conn
        self.task: Any = None
        self.idle_deaths = idle_deaths


class LocalPool:
    """Long-lived worker processes on this machine (see the module docstring)."""

    def __init__(self, slots: list[Slot], code: WorkerCode):
        if not slots:
            raise InputError("--workers: expected at least one worker")
        self.ctx = multiprocessing.get_context("spawn")
        self.slots = slots
        self.code = code
        self.workers = [self._start(slot) for slot in slots]

    def _start(self, slot: Slot, idle_deaths: int = 0) -> _Worker:
        ours, theirs = self.ctx.Pipe(duplex=True)
        process = self.ctx.Process(target=_worker_main, args=(theirs, os.getpid(), slot.gpu, slot.placement, self.code),
                                   name=f"nnlife-worker-{slot.index}", daemon=True)
        with _environment("CUDA_VISIBLE_DEVICES", slot.gpu):  # the child starts with it set
            process.start()
        theirs.close()
        return _Worker(slot, process, ours, idle_deaths)

    def describe(self) -> str:
        n, threads = len(self.slots), self.slots[0].threads
        if self.slots[0].device == "cpu":
            return f"local pool, {n} CPU worker{'s' if n > 1 else ''} x {threads} thread{'s' if threads > 1 else ''}"
        gpus = sorted({s.gpu for s in self.slots})
        return f"local pool, {n} workers on {len(gpus)} GPU{'s' if len(gpus) > 1 else ''} ({n // len(gpus)} per GPU)"

    def free(self) -> int:
        return sum(1 for w in self.workers if w.task is None)

    def busy(self) -> bool:
        return any(w.task is not None for w in self.workers)

    def submit(self, task: Any) -> None:
        worker = next(w for w in self.workers if w.task is None)
        worker.task = task
        try:
            worker.conn.send(task)
        except (BrokenPipeError, OSError):
            pass  # the worker is dead: poll() reports the crash and replaces it

    def poll(self, timeout: float) -> list[Event]:
        events: list[Event] = []
        waitables: list[Any] = [w.conn for w in self.workers] + [w.process.sentinel for w in self.workers]
        multiprocessing.connection.wait(waitables, timeout)
        for i, worker in enumerate(self.workers):
            self._drain(worker, events)
            if not worker.process.is_alive():
                self._drain(worker, events)  # what it sent just before dying
                self.workers[i] = self._replace(worker, events)
        return events

    def _drain(self, worker: _Worker, events: list[Event]) -> None:
        while True:
            try:
                if not worker.conn.poll():
                    return
                what = worker.conn.recv()
            except (EOFError, OSError):
                return
            if worker.task is None:
                continue
            events.append(Event(worker.task, worker.slot.placement, what))
            if isinstance(what, TaskResult):
                worker.task = None
                worker.idle_deaths = 0

    def _replace(self, worker: _Worker, events: list[Event]) -> _Worker:
        worker.process.join()
        code = worker.process.exitcode
        worker.conn.close()
        idle_deaths = worker.idle_deaths
        if worker.task is not None:
            events.append(Event(worker.task, worker.slot.placement, Crashed(describe_exit(code), retryable=True)))
            idle_deaths = 0
        else:
            idle_deaths += 1
            if idle_deaths >= MAX_IDLE_DEATHS:
                raise WorkerStartError(f"worker processes keep dying before any work ({describe_exit(code)}); "
                                       f"see the messages above")
        return self._start(worker.slot, idle_deaths)

    def close(self, kill: bool = False) -> None:
        """Stop every worker. An idle worker holds nothing (it waits for its next task, with
        no file open for writing) and is killed at once rather than left to tear torch
        down; a busy one (only when interrupted) leaves at most a temporary file, which the
        next run removes."""
        for worker in self.workers:
            if worker.process.is_alive():
                worker.process.kill()
        for worker in self.workers:
            worker.process.join()
            worker.conn.close()


def describe_exit(code: int | None) -> str:
    """How a worker process ended, in words."""
    if code is None:
        return "worker process vanished"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"worker process died: killed by {name}{hint}"
    return f"worker process exited with status {code}"
