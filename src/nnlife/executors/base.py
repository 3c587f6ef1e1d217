"""What every executor offers the campaign's driver, and what it hands back (typed).

An executor runs tasks somewhere (local worker processes, a Ray cluster, ...) and reports
what happened as :class:`Event` objects. Its interface (:class:`Executor`) is small:

* ``free()``: how many more tasks can start now; ``busy()``: whether any is running;
* ``submit(task)``: start one; the executor decides where it runs (:class:`Placement`);
* ``poll(timeout)``: the events since the last call;
* ``close(kill=False)``; ``describe()``: one line for logs.

The task itself is opaque here: the executor calls the function that :class:`WorkerCode`
names, ``run(task, placement, report) -> TaskResult``, in its workers. It is named by import
path, not passed as an object, so that the process that drives the executor never imports
it (the campaign's task function imports torch; its driver does not). A new backend (Slurm
through submitit, Dask, ...) is one new module that implements :class:`Executor` with these
types.
"""

from __future__ import annotations

import ctypes
import importlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Union

from ..errors import InputError

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def check_int(value: object, what: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InputError(f"{what} {value!r}: expected an integer >= {low}")
    return value


@dataclass(frozen=True)
class ExecutionOptions:
    """How a campaign runs: these may change between runs of the same campaign.

    ``workers``: worker processes on the CPU (default: one per core), or the Ray CPUs to
    start a local instance with. ``per_gpu``: concurrent trainings on each GPU. ``device``:
    ``auto`` (every visible GPU, else the CPU), ``cpu``, ``cuda`` (every visible GPU) or
    ``cuda:0,2`` (those GPUs). ``ray``: None for the local pool, ``""`` to start a local Ray
    instance, or the address of a running Ray cluster. ``retries``: how many times a failed
    network is tried again in one run. ``threads``: torch threads per training (default:
    cores // workers). ``progress``: show the overall bar (default: when stderr is a terminal).
    """

    workers: int | None = None
    per_gpu: int = 1
    device: str = "auto"
    ray: str | None = None
    retries: int = 2
    data_root: str | None = None
    download: bool = True
    threads: int | None = None
    progress: bool | None = None

    def __post_init__(self) -> None:
        if self.workers is not None:
            check_int(self.workers, "--workers", 1)
        check_int(self.per_gpu, "--per-gpu", 1)
        check_int(self.retries, "--retries", 0)
        if self.threads is not None:
            check_int(self.threads, "threads", 1)


# --------------------------------------------------------------------------------------
# What goes in and what comes out


@dataclass(frozen=True)
class Placement:
    """Where an executor runs a task: ``device`` "cpu" or "cuda" (a local GPU worker sees
    only its own GPU) and the torch threads to use (None: leave as is)."""

    device: str
    threads: int | None


@dataclass(frozen=True)
class Started:
    """Reported by a task when its training starts."""

    worker: str  # host:pid and device, for the journal
    pid: int | None
    device: str


@dataclass(frozen=True)
class OomRetry:
    """Reported by a task that ran out of GPU memory and tries again with more micro-batches."""

    micro_batches: int


@dataclass(frozen=True)
class TaskResult:
    """What one task did. ``status``: "complete", "stopped_early" or "failed";
    ``retryable``: whether another attempt may succeed (a data file missing: no)."""

    status: str
    error: str | None
    retryable: bool
    epochs_trained: float
    micro_batches: int
    oom_retries: int
    worker: str
    seconds: float
    started: str | None = None  # the record's start time
    path: str | None = None  # the table written

    @classmethod
    def failure(cls, error: str, *, retryable: bool = True, worker: str = "", micro_batches: int = 1,
                oom_retries: int = 0, seconds: float = 0.0) -> "TaskResult":
        return cls("failed", error, retryable, 0.0, micro_batches, oom_retries, worker, seconds)


@dataclass(frozen=True)
class Crashed:
    """The process (or node) running the task died; ``error`` says how."""

    error: str
    retryable: bool = True


Report = Union[Started, OomRetry]
What = Union[Started, OomRetry, TaskResult, Crashed]


@dataclass(frozen=True)
class Event:
    """Something that happened to a submitted task, in the order it happened."""

    task: Any
    placement: Placement
    what: What


@dataclass(frozen=True)
class WorkerCode:
    """The functions a worker runs, as ``"module:function"`` import paths: ``run(task,
    placement, report) -> TaskResult`` for each task, and ``warm_up(threads)`` once when a
    worker process starts (optional)."""

    run: str
    warm_up: str | None = None


class Executor(Protocol):
    def describe(self) -> str: ...

    def free(self) -> int: ...

    def busy(self) -> bool: ...

    def submit(self, task: Any) -> None: ...

    def poll(self, timeout: float) -> list[Event]: ...

    def close(self, kill: bool = False) -> None: ...


class WorkerStartError(RuntimeError):
    """Worker processes keep dying before they are given any work (a broken environment)."""


# --------------------------------------------------------------------------------------
# Helpers every backend may use


def resolve(path: str) -> Callable:
    """The function that ``"module:function"`` names."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def die_with_parent(parent_pid: int) -> None:
    """Make sure this process does not outlive the driver: the kernel sends SIGKILL when the
    parent dies (Linux), and a watchdog thread checks the parent PID as a fallback."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _call_and_send(conn, parent_pid: int, path: str, args: tuple) -> None:
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        resolve(path)(*args)
    except InputError as err:
        conn.send(("input", str(err)))
    except Exception as err:
        conn.send(("error", f"{type(err).__name__}: {err}"))
    else:
        conn.send(("ok", None))


def call_in_process(path: str, *args: Any) -> None:
    """Call the function at ``path`` with ``args`` in a fresh process and wait for it: what it
    imports and allocates stays there. An :class:`InputError` it raises is raised here with
    the same one-line message; any other error as a RuntimeError."""
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_call_and_send, args=(theirs, os.getpid(), path, args), daemon=True)
    process.start()
    theirs.close()
    try:
        kind, message = ours.recv()
    except EOFError:
        process.join()
        kind, message = "error", f"the process running {path} died (exit status {process.exitcode})"
    finally:
        process.join()
        ours.close()
    if kind == "input":
        raise InputError(message)
    if kind == "error":
        raise RuntimeError(message)
