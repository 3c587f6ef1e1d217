"""Where a campaign's networks are trained: a local pool of worker processes, or Ray.

Both run the same task function, :func:`nnlife.campaign.run_one`, and offer the same small
interface to the campaign's driver loop:

* ``free()``: how many more tasks can start now; ``busy()``: whether any is running;
* ``submit(task)``: start one (the executor fills in the task's device and threads);
* ``poll(timeout)``: the events since the last call, each ``(kind, task, info)`` with kind
  ``start``, ``oom-retry``, ``result`` (``info`` is run_one's result) or ``crash`` (the
  process running the task died; ``info["error"]`` says how);
* ``close(kill=False)``; ``describe()``: one line for logs.

The local pool (:class:`LocalPool`) is a few long-lived ``multiprocessing`` processes
(spawn context), each training network after network and keeping its data sets loaded
(``nnlife.data.load_data`` caches per process): K on the CPU, or G per visible GPU with
``CUDA_VISIBLE_DEVICES`` pinned per worker. It is its own small pool (a pipe per worker,
process sentinels watched) rather than ``ProcessPoolExecutor``, which breaks as a whole
when one worker dies: here a dead worker's network counts as one failed attempt and the
worker is replaced. Workers die with the driver, even when it is killed with SIGKILL
(``prctl(PR_SET_PDEATHSIG, SIGKILL)`` on Linux, and a watchdog thread that checks the
parent PID), so a killed campaign leaves no worker behind to finish and duplicate work
that the re-run redoes.

Ray (:class:`RayPool`) is imported only when asked for (``pip install 'nnlife[ray]'``):
the task function wrapped with ``ray.remote(num_cpus=threads, num_gpus=1/G,
max_retries=R)``, so Ray's own retries cover a worker or node lost mid-task, and fractional
GPUs pack G trainings per GPU. Tasks write their tables straight into the campaign
directory, which on a multi-node cluster must be a shared file system.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from .campaign import ExecutionOptions, Task, run_one
from .errors import InputError

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
MAX_IDLE_DEATHS = 3  # a slot whose fresh workers die this often without a task: give up

Event = tuple[str, Task, dict]


class WorkerStartError(RuntimeError):
    """Worker processes keep dying before they are given any work (a broken environment)."""


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# --------------------------------------------------------------------------------------
# Worker slots


@dataclass(frozen=True)
class Slot:
    """One worker's place: its device and, on a GPU, which physical GPU it sees."""

    index: int
    device: str  # "cpu" or "cuda"
    gpu: str | None  # the CUDA_VISIBLE_DEVICES entry this worker gets
    threads: int  # torch threads


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES entries (in its order)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g.strip() for g in visible.split(",") if g.strip()]
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


def _die_with_parent(parent_pid: int) -> None:
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


def _worker_main(conn, parent_pid: int, gpu: str | None, threads: int) -> None:
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    if gpu is not None:
        # Set by the parent before this process started; CUDA reads it when it initialises.
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    import torch

    torch.set_num_threads(threads)
    # torch imports its compiler stack when the first optimizer is made (seconds): pay that
    # now, while the driver is still getting ready, not inside the first network's run.
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return

        def report(kind: str, info: dict) -> None:
            conn.send((kind, info))

        try:
            result = run_one(task, report)
        except Exception as err:  # a bug, not the network: still one failed attempt
            result = {"status": "failed", "error": f"{type(err).__name__}: {err}", "retryable": True}
        conn.send(("result", result))


# --------------------------------------------------------------------------------------
# The local pool


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
    def __init__(self, slot: Slot, process, conn):
        self.slot = slot
        self.process = process
        self.conn = conn
        self.task: Task | None = None
        self.idle_deaths = 0


class LocalPool:
    """Long-lived worker processes on this machine (see the module docstring)."""

    def __init__(self, slots: list[Slot]):
        if not slots:
            raise InputError("--workers: expected at least one worker")
        self.ctx = multiprocessing.get_context("spawn")
        self.slots = slots
        self.workers = [self._start(slot) for slot in slots]

    def _start(self, slot: Slot, idle_deaths: int = 0) -> _Worker:
        ours, theirs = self.ctx.Pipe(duplex=True)
        process = self.ctx.Process(target=_worker_main, args=(theirs, os.getpid(), slot.gpu, slot.threads),
                                   name=f"nnlife-worker-{slot.index}", daemon=True)
        with _environment("CUDA_VISIBLE_DEVICES", slot.gpu):  # the child starts with it set
            process.start()
        theirs.close()
        worker = _Worker(slot, process, ours)
        worker.idle_deaths = idle_deaths
        return worker

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

    def submit(self, task: Task) -> None:
        worker = next(w for w in self.workers if w.task is None)
        task = dataclasses.replace(task, device=worker.slot.device, threads=worker.slot.threads)
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
                kind, info = worker.conn.recv()
            except (EOFError, OSError):
                return
            if worker.task is None:
                continue
            events.append((kind, worker.task, info))
            if kind == "result":
                worker.task = None
                worker.idle_deaths = 0

    def _replace(self, worker: _Worker, events: list[Event]) -> _Worker:
        worker.process.join()
        code = worker.process.exitcode
        worker.conn.close()
        idle_deaths = worker.idle_deaths
        if worker.task is not None:
            events.append(("crash", worker.task, {"error": describe_exit(code), "retryable": True}))
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


# --------------------------------------------------------------------------------------
# Ray


def import_ray():
    try:
        import ray
    except ImportError:
        raise InputError("--ray: Ray is not installed; install it with: pip install 'nnlife[ray]'") from None
    return ray


def ray_task(task: Task) -> dict:
    """What a Ray worker runs: the campaign's task function, its reports collected."""
    events: list[tuple[str, dict]] = []
    result = run_one(task, lambda kind, info: events.append((kind, info)))
    return {"events": events, "result": result}


class RayPool:
    """Tasks on a Ray cluster: a local instance started here (``address=""``) or a running
    cluster joined at ``address`` (see the module docstring)."""

    def __init__(self, execution: ExecutionOptions):
        ray = import_ray()
        self.ray = ray
        self.started = False
        address = execution.ray or None
        if not ray.is_initialized():
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=execution.workers or cores(), include_dashboard=False, log_to_driver=False)
                self.started = True
        resources = ray.cluster_resources()
        gpus = resources.get("GPU", 0)
        if execution.device.startswith("cuda") and not gpus:
            raise InputError(f"--device {execution.device}: the Ray cluster has no GPUs")
        self.threads = execution.threads or 1
        self.use_gpu = execution.device != "cpu" and gpus > 0
        if self.use_gpu:
            self.device, num_gpus = "cuda", 1.0 / execution.per_gpu
            self.capacity = max(1, int(gpus * execution.per_gpu))
        else:
            self.device, num_gpus = "cpu", 0
            self.capacity = max(1, int(resources.get("CPU", 1) // self.threads))
        self.where = f"Ray at {address}" if address else f"Ray (local instance, {int(resources.get('CPU', 0))} CPUs)"
        self.remote = ray.remote(num_cpus=self.threads, num_gpus=num_gpus, max_retries=execution.retries)(ray_task)
        self.pending: dict[Any, Task] = {}
        self.queued: list[Event] = []

    def describe(self) -> str:
        per = f"{self.capacity} at a time on GPUs" if self.use_gpu else f"{self.capacity} at a time, {self.threads} CPU each"
        return f"{self.where}, {per}"

    def free(self) -> int:
        return self.capacity - len(self.pending)

    def busy(self) -> bool:
        return bool(self.pending)

    def submit(self, task: Task) -> None:
        task = dataclasses.replace(task, device=self.device, threads=self.threads)
        self.pending[self.remote.remote(task)] = task
        # Ray starts a task as soon as resources allow, and at most `capacity` are submitted.
        self.queued.append(("start", task, {"worker": "ray", "device": self.device}))

    def poll(self, timeout: float) -> list[Event]:
        events, self.queued = self.queued, []
        if not self.pending:
            return events
        ready, _ = self.ray.wait(list(self.pending), num_returns=1, timeout=timeout)
        for ref in ready:
            task = self.pending.pop(ref)
            try:
                out = self.ray.get(ref)
            except self.ray.exceptions.RayTaskError as err:  # an exception escaped run_one
                events.append(("result", task, {"status": "failed", "retryable": True,
                                                "error": f"{type(err.cause).__name__}: {err.cause}"}))
                continue
            except self.ray.exceptions.RayError as err:  # lost worker or node, after Ray's retries
                first = str(err).strip().splitlines()[0] if str(err).strip() else ""
                events.append(("crash", task, {"error": f"Ray: {type(err).__name__}: {first}", "retryable": False}))
                continue
            events += [(kind, task, info) for kind, info in out["events"] if kind != "start"]
            events.append(("result", task, out["result"]))
        return events

    def close(self, kill: bool = False) -> None:
        for ref in list(self.pending):
            try:
                self.ray.cancel(ref, force=True)
            except Exception:
                pass
        self.pending.clear()
        if self.started:
            self.ray.shutdown()


def make_executor(execution: ExecutionOptions) -> LocalPool | RayPool:
    """The local pool, or Ray when ``execution.ray`` is set ("" starts a local instance)."""
    if execution.ray is not None:
        return RayPool(execution)
    return LocalPool(plan_slots(execution))
