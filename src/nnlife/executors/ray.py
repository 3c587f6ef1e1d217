"""Tasks on a Ray cluster: a local instance started here, or a running cluster joined.

Ray is imported only when asked for (``pip install 'nnlife[ray]'``): the worker code wrapped
with ``ray.remote(num_cpus=threads, num_gpus=1/G, max_retries=0)``; fractional GPUs pack G
trainings per GPU. A worker or node lost mid-task is reported as a retryable
:class:`~.base.Crashed`, so the campaign's driver retries it (up to ``--retries``) and
journals every retry, which Ray's own retries (``max_retries``) would hide. Tasks write their
tables straight into the campaign directory, which on a multi-node cluster must be a shared
file system. The address of a cluster to join is tried first (a TCP connection, a few
seconds): ``ray.init`` waits minutes on an address where nothing answers.
"""

from __future__ import annotations

import socket
from typing import Any

from ..errors import InputError
from ..kernels import worker_environment
from .base import Crashed, Event, ExecutionOptions, Placement, Started, TaskResult, WorkerCode, cores, resolve


def import_ray():
    try:
        import ray
    except ImportError:
        raise InputError("--ray: Ray is not installed; install it with: pip install 'nnlife[ray]'") from None
    return ray


CONNECT_TIMEOUT = 5.0  # seconds to wait for the cluster's address to answer


def check_address(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Refuse (one :class:`InputError` line naming ``--ray ADDRESS``) an address that is not
    ``HOST:PORT`` (optionally ``ray://HOST:PORT``) or where nothing accepts a connection.
    ``auto`` (Ray finds a cluster started on this machine) is left to Ray."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = hostport.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"--ray {address}: expected HOST:PORT of a running Ray cluster (as `ray start --head` "
                         f"prints it), or auto")
    try:
        socket.create_connection((host, int(port)), timeout).close()
    except OSError as err:
        reason = err.strerror or str(err) or type(err).__name__
        raise InputError(f"--ray {address}: no Ray cluster answers at this address ({reason}); expected the "
                         f"address of a running cluster (as `ray start --head` prints it)") from None


def ray_task(code: WorkerCode, task: Any, placement: Placement) -> tuple[list, TaskResult]:
    """What a Ray worker runs: the worker code's task function, its reports collected."""
    reports: list = []
    result = resolve(code.run)(task, placement, reports.append)
    return reports, result


class RayPool:
    """Tasks on a Ray cluster: a local instance started here (``execution.ray == ""``) or a
    running cluster joined at ``execution.ray`` (see the module docstring)."""

    def __init__(self, execution: ExecutionOptions, code: WorkerCode):
        ray = import_ray()
        self.ray = ray
        self.code = code
        self.started = False
        address = execution.ray or None
        if not ray.is_initialized():
            if address:
                check_address(address)
                try:
                    ray.init(address=address, log_to_driver=False)
                except (ConnectionError, TimeoutError, RuntimeError, ValueError) as err:
                    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
                    raise InputError(f"--ray {address}: cannot join a Ray cluster there ({first})") from None
            else:
                ray.init(num_cpus=execution.workers or cores(), include_dashboard=False, log_to_driver=False)
                self.started = True
        resources = ray.cluster_resources()
        gpus = resources.get("GPU", 0)
        if execution.device.startswith("cuda") and not gpus:
            raise InputError(f"--device {execution.device}: the Ray cluster has no GPUs")
        threads = execution.threads or 1
        self.use_gpu = execution.device != "cpu" and gpus > 0
        if self.use_gpu:
            self.placement, num_gpus = Placement("cuda", threads), 1.0 / execution.per_gpu
            self.capacity = max(1, int(gpus * execution.per_gpu))
        else:
            self.placement, num_gpus = Placement("cpu", threads), 0
            self.capacity = max(1, int(resources.get("CPU", 1) // threads))
        self.where = f"Ray at {address}" if address else f"Ray (local instance, {int(resources.get('CPU', 0))} CPUs)"
        # No retries by Ray: the driver retries a lost task itself and journals each retry.
        # A joined cluster's workers do not inherit this process's environment: the portable
        # kernels' variables (NNLIFE_CPU_KERNELS=avx2) travel in the tasks' runtime_env.
        environment = worker_environment()
        extra = {"runtime_env": {"env_vars": environment}} if environment else {}
        self.remote = ray.remote(num_cpus=threads, num_gpus=num_gpus, max_retries=0, **extra)(ray_task)
        self.pending: dict[Any, Any] = {}
        self.queued: list[Event] = []

    def describe(self) -> str:
        threads = self.placement.threads
        per = f"{self.capacity} at a time on GPUs" if self.use_gpu else f"{self.capacity} at a time, {threads} CPU each"
        return f"{self.where}, {per}"

    def free(self) -> int:
        return self.capacity - len(self.pending)

    def busy(self) -> bool:
        return bool(self.pending)

    def submit(self, task: Any) -> None:
        self.pending[self.remote.remote(self.code, task, self.placement)] = task
        # Ray starts a task as soon as resources allow, and at most `capacity` are submitted.
        self.queued.append(Event(task, self.placement, Started("ray", None, self.placement.device)))

    def poll(self, timeout: float) -> list[Event]:
        events, self.queued = self.queued, []
        if not self.pending:
            return events
        ready, _ = self.ray.wait(list(self.pending), num_returns=1, timeout=timeout)
        for ref in ready:
            task = self.pending.pop(ref)
            try:
                reports, result = self.ray.get(ref)
            except self.ray.exceptions.RayTaskError as err:  # an exception escaped the task function
                events.append(Event(task, self.placement, TaskResult.failure(f"{type(err.cause).__name__}: {err.cause}")))
                continue
            except self.ray.exceptions.RayError as err:  # a lost worker or node: the driver retries
                first = str(err).strip().splitlines()[0] if str(err).strip() else ""
                events.append(Event(task, self.placement, Crashed(f"Ray: {type(err).__name__}: {first}", retryable=True)))
                continue
            events += [Event(task, self.placement, r) for r in reports if not isinstance(r, Started)]
            events.append(Event(task, self.placement, result))
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
