"""The executors on their own: slot planning from CUDA_VISIBLE_DEVICES, and the local pool
running the campaign's real task function, a crashed worker replaced."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from nnlife.campaign import WORKER, CampaignOptions, Task, make_manifest, table_file
from nnlife.errors import InputError
from nnlife.executors import (Crashed, ExecutionOptions, LocalPool, Placement, Slot, Started, TaskResult, cores,
                              make_executor, plan_slots)
from nnlife.executors.base import resolve
from nnlife.record import read_record


@pytest.mark.parametrize("visible, device, per_gpu, gpus", [
    ("3,5", "cuda", 2, ["3", "5", "3", "5"]),  # interleaved across GPUs
    ("3,5", "auto", 1, ["3", "5"]),
    ("3, 5,7", "cuda:2,0", 1, ["7", "3"]),  # indices into the visible list, in the order given
])
def test_gpu_slots_follow_cuda_visible_devices(monkeypatch, visible, device, per_gpu, gpus):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    slots = plan_slots(ExecutionOptions(device=device, per_gpu=per_gpu))
    assert [s.gpu for s in slots] == gpus and [s.index for s in slots] == list(range(len(gpus)))
    assert all(s.device == "cuda" and s.threads == max(1, cores() // len(gpus)) for s in slots)
    assert slots[0].placement == Placement("cuda", slots[0].threads)


def test_cpu_slots_and_refusals(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # no GPU visible
    assert plan_slots(ExecutionOptions(workers=3, threads=2)) == [Slot(i, "cpu", None, 2) for i in range(3)]
    assert plan_slots(ExecutionOptions(device="cpu")) == [Slot(i, "cpu", None, 1) for i in range(cores())]
    with pytest.raises(InputError, match="^--device cuda: CUDA is not available on this machine$"):
        plan_slots(ExecutionOptions(device="cuda"))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    with pytest.raises(InputError, match=r"^--device cuda:2: expected cuda:N\[,M...\] with distinct N in 0..1 \(2 GPUs visible\)$"):
        plan_slots(ExecutionOptions(device="cuda:2"))
    with pytest.raises(InputError, match=r"^--device cuda:0,0: expected"):
        plan_slots(ExecutionOptions(device="cuda:0,0"))
    with pytest.raises(InputError, match="^--workers: counts CPU workers; on GPUs use --per-gpu$"):
        plan_slots(ExecutionOptions(workers=2))
    with pytest.raises(InputError, match="^--device 'tpu': expected auto, cpu, cuda or cuda:N"):
        plan_slots(ExecutionOptions(device="tpu"))


def test_the_worker_code_names_the_task_functions():
    from nnlife.campaign import task

    assert resolve(WORKER.run) is task.run_one and resolve(WORKER.warm_up) is task.warm_up


def events_until_done(pool, n_results: int, timeout: float = 240.0) -> list:
    events, deadline = [], time.monotonic() + timeout
    while sum(isinstance(e.what, (TaskResult, Crashed)) for e in events) < n_results:
        assert time.monotonic() < deadline, events
        events += pool.poll(0.5)
    return events


# FashionMNIST (real), the cheapest networks of a small plan; batch sizes up to 174.
OPTIONS = CampaignOptions(datasets=("FashionMNIST",), per_dataset=6, seed=53681, epochs=1, train_images=350,
                          test_images=200, deterministic=True)


def test_the_local_pool_runs_the_real_task_and_replaces_a_crashed_worker(tmp_path: Path):
    nets = make_manifest(OPTIONS).networks[:2]
    task = lambda net, faults="": Task(str(tmp_path), net, OPTIONS, 1, 0, (), None, False, faults)  # noqa: E731
    pool = make_executor(ExecutionOptions(workers=1, threads=1, device="cpu"), WORKER)
    assert isinstance(pool, LocalPool) and pool.describe() == "local pool, 1 CPU worker x 1 thread"
    try:
        assert (pool.free(), pool.busy()) == (1, False)
        pool.submit(task(nets[0], f"crash:{nets[0].ID}:1"))
        assert (pool.free(), pool.busy()) == (0, True)
        events = events_until_done(pool, 1)
        [started, crashed] = events
        assert isinstance(started.what, Started) and started.task.net == nets[0]
        assert crashed.what == Crashed("worker process died: killed by SIGKILL (out of memory?)", True)
        assert crashed.placement == Placement("cpu", 1) and not pool.busy()

        pool.submit(task(nets[1]))  # on the worker that replaced the dead one
        [again, done] = events_until_done(pool, 1)
        assert isinstance(again.what, Started) and again.what.pid != started.what.pid
        result = done.what
        assert isinstance(result, TaskResult) and (result.status, result.error, result.micro_batches) == ("complete", None, 1)
        assert result.path == str(table_file(tmp_path, nets[1])) and Path(result.path).is_file()
        record = read_record(tmp_path / "FashionMNIST_records" / f"{nets[1].ID}.json")
        assert (record.started, record.extra["worker"]) == (result.started, again.what.worker)
        assert result.epochs_trained == record.epochs_trained == 1.0
    finally:
        pool.close()
    assert all(not w.process.is_alive() for w in pool.workers)
