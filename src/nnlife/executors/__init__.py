"""Where a campaign's tasks run: :mod:`.local` (a pool of worker processes on this machine)
or :mod:`.ray` (a Ray cluster), both behind the interface of :mod:`.base`."""

from __future__ import annotations

from .base import (Crashed, Event, ExecutionOptions, Executor, OomRetry, Placement, Started, TaskResult, WorkerCode,
                   WorkerStartError, cores)
from .local import LocalPool, Slot, plan_slots, visible_gpus
from .ray import RayPool  # imports Ray itself only when a RayPool is made

__all__ = ["Crashed", "Event", "ExecutionOptions", "Executor", "LocalPool", "RayPool", "OomRetry", "Placement", "Slot", "Started",
           "TaskResult", "WorkerCode", "WorkerStartError", "cores", "make_executor", "plan_slots", "visible_gpus"]


def make_executor(execution: ExecutionOptions, code: WorkerCode) -> Executor:
    """The local pool, or Ray when ``execution.ray`` is set ("" starts a local instance)."""
    if execution.ray is not None:
        return RayPool(execution, code)
    return LocalPool(plan_slots(execution), code)
