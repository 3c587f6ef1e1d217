"""Running a campaign: the driver (:func:`run_campaign`). It imports no torch.

It takes the lock (:mod:`.layout`), reads or writes the manifest (:mod:`.manifest`), and
hands the networks that have no finished table yet (:func:`.layout.table_state`) to an
executor (:mod:`nnlife.executors`: the local pool or Ray), most expensive first (forward
FLOPs x 3 for each training image plus the validated images, x epochs), so the pool does not
end waiting on one giant network. Every
executor runs the same task function in its workers (:func:`nnlife.campaign.task.run_one`,
named by :data:`.attempt.WORKER`). One network's failure never stops the campaign: a crashed
worker is replaced, and every failed attempt is retried up to ``retries`` times. What
happens goes to the journal (:mod:`.journal`).
"""

from __future__ import annotations

import dataclasses
import heapq
import os
import signal
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from ..errors import InputError
from ..executors import (Crashed, Event, ExecutionOptions, Executor, OomRetry, Started, TaskResult, make_executor)
from ..executors.base import call_in_process
from ..executors.ray import check_address
from .. import kernels
from ..outputs import check_writable, output_error
from ..record import make_record, read_record, write_record
from ..run import run_facts
from ..spec import dataset_info
from .attempt import PREFLIGHT, WORKER, Task
from .faults import FAULTS_ENV, parse_faults
from .journal import Journal, read_journal
from .layout import CampaignLock, move_aside, record_file, remove_stale_temporaries, table_file, table_state
from .manifest import Manifest, PlannedRun, open_manifest, training_order
from .options import CampaignOptions
from .status import Failure, ProgressBar, _eta, counted, units


@dataclass(frozen=True)
class Summary:
    """What one run of a campaign did."""

    out: str
    planned: int
    done_before: int  # tables that existed when the run started
    trained: int  # networks finished in this run
    stopped_early: int  # of which stopped by the early-stop method
    failures: tuple[Failure, ...]  # networks that failed every attempt of this run
    retried_failures: int  # networks failed in an earlier run and retried in this one
    half_epochs: int  # half epochs trained in this run by the networks that finished
    seconds: float
    backend: str
    repeats: int = 1  # trainings of each planned network

    @property
    def done(self) -> int:
        return self.done_before + self.trained

    def text(self) -> str:
        lines = [f"campaign {self.out}: {counted(self.done, self.planned, self.repeats)}"]
        if self.trained == 0 and not self.failures:
            lines[0] += " (nothing to do)" if self.done == self.planned else ""
        else:
            part = f"this run: {self.trained} trained"
            if self.stopped_early:
                part += f" ({self.stopped_early} stopped early)"
            part += f", {len(self.failures)} failed, {self.half_epochs} half epochs in {self.seconds:.1f} s on {self.backend}"
            if self.retried_failures:
                part += f"; {self.retried_failures} networks that had failed before were retried"
            lines.append(part)
        if self.failures:
            lines.append(f"failed ({len(self.failures)}; a re-run of the same command retries them):")
            lines += [f"  {f.dataset} {f.ID}: {f.error}" for f in self.failures]
        return "\n".join(lines)


def run_campaign(
    out: str | Path,
    options: CampaignOptions,
    execution: ExecutionOptions | None = None,
    *,
    echo: Callable[[str], None] | None = None,
) -> Summary:
    """Run (or resume) the campaign in ``out`` to the end and return what this run did.

    Checks that ``out`` can be written, takes the lock, reads or writes the manifest
    (adopting the tables of a campaign whose manifest is gone), deletes stale temporary files,
    moves aside tables that are not finished ones, and trains every network without a
    finished table, most expensive first, on the local pool or Ray. Raises
    :class:`InputError` for options that cannot work, a locked directory, or a manifest made
    with other options. ``echo`` receives a few one-line messages (e.g. the plan of the run).
    """
    execution = execution or ExecutionOptions()
    echo = echo or (lambda text: None)
    out_path = Path(out)
    faults_text = os.environ.get(FAULTS_ENV, "")
    parse_faults(faults_text)
    kernels.check_setting()  # NNLIFE_CPU_KERNELS (the workers inherit it; each checks what torch runs)
    if execution.ray:
        check_address(execution.ray)
    check_output(out_path, options)
    with CampaignLock(out_path):
        manifest = open_manifest(out_path, options, echo)
        removed = remove_stale_temporaries(out_path)
        if removed:
            echo(f"removed {len(removed)} temporary files left by an interrupted run")
        states = {n.ID: table_state(out_path, n, manifest.options) for n in manifest.networks}
        done = {ID for ID, state in states.items() if state == "done"}
        todo = [n for n in manifest.networks if n.ID not in done]
        history = read_journal(out_path)
        journal = Journal(out_path) if todo or _unjournaled(manifest, history, done) else None
        try:
            if journal is not None:
                _move_aside_unfinished(out_path, manifest, states, journal, echo)
                _recover_done_events(out_path, manifest, history, done, journal)
            if not todo:
                return Summary(str(out_path), len(manifest.networks), len(manifest.networks), 0, 0, (), 0, 0, 0.0, "none",
                               manifest.options.repeats)
            return _Run(out_path, manifest, todo, done, history, journal, execution, faults_text, echo).run()
        finally:
            if journal is not None:
                journal.close()
                if journal.error is not None:
                    echo(f"{journal.error}; {journal.lost} journal events were not written")


def check_output(out: Path, options: CampaignOptions) -> None:
    """Before anything else: the campaign directory (created if need be) and the table and
    record directories already in it can be written (:func:`nnlife.outputs.check_writable`),
    so that a read-only, full-quota or mistyped ``--out`` is one line now, not a failure of
    every network."""
    check_writable(out)
    for dataset in options.datasets:
        info = dataset_info(dataset)
        for d in (out / info.models_dir, out / f"{info.dir_name}_records"):
            if d.is_dir() or d.is_symlink():
                check_writable(d)


def _move_aside_unfinished(out: Path, manifest: Manifest, states: dict[str, str | None], journal: Journal,
                           echo: Callable[[str], None]) -> None:
    """A table that is there but is not the finished table of its network (truncated,
    edited, another network's) is renamed aside, never deleted, and the network is trained
    again; each is one line and one ``corrupt`` event."""
    for net in manifest.networks:
        state = states[net.ID]
        if state in (None, "done"):
            continue
        moved = move_aside(table_file(out, net))
        echo(f"{state}; not a finished table: moved to {moved.name}, and the network is trained again")
        journal.event("corrupt", ID=net.ID, dataset=net.dataset, error=state, moved_to=moved.name)


def _unjournaled(manifest: Manifest, history: list[dict], done: set[str]) -> bool:
    journaled = {e.get("ID") for e in history if e.get("event") == "done"}
    return any(n.ID not in journaled and n.ID in done for n in manifest.networks)


def _recover_done_events(out: Path, manifest: Manifest, history: list[dict], done: set[str], journal: Journal) -> None:
    """A run killed between a table's write and its journal line left a finished network
    without a ``done`` event: add it now (marked ``recovered``), from its record."""
    journaled = {e.get("ID") for e in history if e.get("event") == "done"}
    for net in manifest.networks:
        if net.ID in journaled or net.ID not in done:
            continue
        fields: dict[str, Any] = {"ID": net.ID, "dataset": net.dataset, "recovered": True}
        try:
            record = read_record(record_file(out, net))
            fields.update(status=record.status, epochs_trained=record.epochs_trained, started=record.started,
                          seconds=sum(record.seconds), micro_batches=record.micro_batches)
        except InputError:
            pass
        journal.event("done", **fields)


def _errors_by_id(history: list[dict]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for e in history:
        if e.get("event") in ("failed", "crash") and "ID" in e:
            errors.setdefault(e["ID"], []).append(f"attempt {e.get('attempt')}: {e.get('error')}")
    return errors


@dataclass
class _Network:
    """What the driver knows of one network while the campaign runs."""

    net: PlannedRun
    order: int  # its place in the training order
    starts: int = 0  # trainings started over the campaign's life (from the journal, then counted)
    errors: list[str] = field(default_factory=list)  # of every failed attempt, over the campaign's life
    attempts: int = 0  # in this run
    worker: str | None = None  # the worker that last started it
    micro_batches: int = 1


class _Run:
    """One run of a campaign, from the executor's start to its close: the queue of networks
    to hand out, what is known of each, and the tallies for the summary and the bar."""

    def __init__(self, out: Path, manifest: Manifest, todo: list[PlannedRun], done: set[str], history: list[dict],
                 journal: Journal, execution: ExecutionOptions, faults_text: str, echo: Callable[[str], None]):
        self.out, self.manifest, self.journal, self.execution = out, manifest, journal, execution
        self.options = manifest.options
        self.faults_text, self.echo = faults_text, echo
        self.todo = todo
        self.nets = {n.ID: _Network(n, i) for i, n in enumerate(training_order(self.options, todo))}
        for e in history:
            if e.get("event") == "start" and e.get("ID") in self.nets:
                self.nets[e["ID"]].starts += 1
            elif e.get("event") in ("failed", "crash") and e.get("ID") in self.nets:
                self.nets[e["ID"]].errors.append(f"attempt {e.get('attempt')}: {e.get('error')}")
        self.failed_before = sum(1 for n in self.nets.values() if n.errors)
        # Most expensive first; a retried network goes back in at its place.
        self.queue = [(n.order, ID) for ID, n in self.nets.items()]
        heapq.heapify(self.queue)
        self.failures: list[Failure] = []
        self.trained = self.stopped = self.halves = 0
        networks = manifest.networks
        self.done = {d: sum(1 for n in networks if n.dataset == d and n.ID in done) for d in self.options.datasets}
        self.total = {d: sum(1 for n in networks if n.dataset == d) for d in self.options.datasets}
        self.work_left = sum(n.cost(self.options) for n in todo)  # for the time left (see status._eta)
        self.work_done = 0.0
        self.t_start = 0.0

    def run(self) -> Summary:
        options, execution, manifest = self.options, self.execution, self.manifest
        executor = make_executor(execution, WORKER)  # local workers start up (import torch) meanwhile
        try:
            if not options.synthetic and execution.ray in (None, ""):
                datasets = [d for d in options.datasets if any(n.dataset == d for n in self.todo)]
                call_in_process(PREFLIGHT, options, datasets, execution.data_root, execution.download)
        except BaseException:
            executor.close(kill=True)
            raise
        backend = executor.describe()
        if kernels.requested() == "avx2":  # checked by run_campaign
            backend += ", portable AVX2 CPU kernels"
        self.t_start = time.time()
        planned, todo = len(manifest.networks), len(self.todo)
        self.journal.event("campaign-start", pid=os.getpid(), host=socket.gethostname(), planned=planned,
                           to_train=todo, backend=backend, retries=execution.retries)
        self.echo(f"campaign {self.out}: {units(planned, options.repeats)} planned, {planned - todo} done, "
                  f"{todo} to train on {backend}")
        self.bar = ProgressBar(planned, planned - todo, execution.progress)
        self._update_bar(0)
        interrupted = False
        previous_handler = _sigterm_as_interrupt()
        try:
            self._loop(executor)
        except KeyboardInterrupt:
            interrupted = True
            self.journal.event("interrupted", pid=os.getpid(), trained=self.trained)
            raise
        finally:
            _restore_sigterm(previous_handler)
            executor.close(kill=interrupted)
            self.bar.close()
        seconds = time.time() - self.t_start
        self.journal.event("campaign-end", pid=os.getpid(), trained=self.trained, failed=len(self.failures),
                           seconds=round(seconds, 3))
        return Summary(str(self.out), planned, planned - todo, self.trained, self.stopped,
                       tuple(sorted(self.failures, key=lambda f: f.ID)), self.failed_before, self.halves, seconds,
                       backend, options.repeats)

    def _loop(self, executor: Executor) -> None:
        while self.queue or executor.busy():
            while self.queue and executor.free() > 0:
                _, ID = heapq.heappop(self.queue)
                state = self.nets[ID]
                state.attempts += 1
                executor.submit(Task(str(self.out), state.net, self.options, state.attempts, state.starts,
                                     tuple(state.errors), self.execution.data_root, self.execution.download,
                                     self.faults_text))
            for event in executor.poll(0.5):
                self._handle(event)
                if not isinstance(event.what, Started):
                    self._update_bar(0)

    def _handle(self, event: Event) -> None:
        task, what = event.task, event.what
        net = task.net
        state = self.nets[net.ID]
        if isinstance(what, Started):
            state.starts += 1
            state.worker = what.worker
            state.micro_batches = 1
            self.journal.event("start", ID=net.ID, dataset=net.dataset, attempt=task.attempt, worker=what.worker,
                               pid=what.pid, device=what.device)
        elif isinstance(what, OomRetry):
            state.micro_batches = what.micro_batches
            self.journal.event("oom-retry", ID=net.ID, dataset=net.dataset, attempt=task.attempt,
                               micro_batches=what.micro_batches)
        elif isinstance(what, Crashed):
            self._attempt_failed(event, "crash", what.error, what.retryable)
        elif isinstance(what, TaskResult) and what.status == "failed":
            self._attempt_failed(event, "failed", what.error or "", what.retryable)
        elif isinstance(what, TaskResult):
            self.trained += 1
            self.stopped += what.status == "stopped_early"
            self.halves += int(round(2 * what.epochs_trained))
            self.done[net.dataset] += 1
            self.work_done += net.cost(self.options)
            self.work_left -= net.cost(self.options)
            self.journal.event("done", ID=net.ID, dataset=net.dataset, attempt=task.attempt, status=what.status,
                               epochs_trained=what.epochs_trained, micro_batches=what.micro_batches,
                               seconds=round(what.seconds, 3), started=what.started, worker=what.worker)
            self._update_bar(1)
        else:
            raise TypeError(f"unknown executor event {what!r}")

    def _attempt_failed(self, event: Event, kind: str, error: str, retryable: bool) -> None:
        task = event.task
        net, attempt, state = task.net, task.attempt, self.nets[task.net.ID]
        final = not retryable or attempt > self.execution.retries
        record_error = None
        if kind == "crash" or not record_file(self.out, net).exists():
            # the worker could not write the record: say here what happened to the network
            extra = {"campaign_seed": self.options.seed, "plan_index": net.index, "attempt": attempt,
                     "starts": state.starts, "errors": list(state.errors), "micro_batches": state.micro_batches,
                     "oom_retries": None, "worker": state.worker or event.placement.device, "early_stop": None}
            try:
                record_failure(self.out, net, self.options, error, extra, event.placement.device)
            except OSError as err:  # a full disk: one network's record lost, not the campaign
                record_error = str(output_error(record_file(self.out, net), err))
        fields = {} if record_error is None else {"record_error": record_error}
        self.journal.event(kind, ID=net.ID, dataset=net.dataset, attempt=attempt, error=error, final=final, **fields)
        state.errors.append(f"attempt {attempt}: {error}")
        if final:
            self.failures.append(Failure(net.ID, net.dataset, error))
            self.work_left -= net.cost(self.options)
        else:
            self.journal.event("retry", ID=net.ID, dataset=net.dataset, attempt=attempt + 1)
            heapq.heappush(self.queue, (state.order, net.ID))

    def _update_bar(self, n: int) -> None:
        self.bar.update(n, self.done, self.total, len(self.failures),
                        _eta(self.work_left, self.work_done, time.time() - self.t_start))


def record_failure(out: str | Path, net: PlannedRun, options: CampaignOptions, error: str, extra: dict,
                   device: str) -> None:
    """Make the record of ``net`` say that it failed with ``error`` (for a worker that died
    and so could not say it): the existing record rewritten, or a new one with the sizes the
    trainer would have used."""
    path = record_file(out, net)
    try:
        record = read_record(path) if path.exists() else None
    except InputError:
        record = None
    if record is not None:
        record = dataclasses.replace(record, status="failed", error=error, epochs_trained=0.0, seconds=(), val_seconds=(),
                            train_accuracy=(), extra=dict(extra))
    else:
        spec = net.spec(options).with_run(ID=net.ID, train_GPU=device.startswith("cuda"),
                                          torch_set_deterministic=options.deterministic)
        train_subset, test_subset = net.subsets(options)
        facts = run_facts(options.run_options(repeat=net.repeat), random_seed=net.random_seed, batch_size=net.batch_size,
                          train_subset=train_subset, test_subset=test_subset,
                          n_train_full=options.n_train_full(net.dataset), n_test_full=dataset_info(net.dataset).n_test,
                          device=device, device_name="unknown (the worker died before training)", data_files=(),
                          svhn_extra=options.svhn_extra and net.dataset == "SVHN",
                          started=datetime.now().isoformat(timespec="microseconds"))
        record = make_record(spec, facts, None, status="failed", error=error, extra=extra, network=net.network_ID)
    write_record(out, record)


def _sigterm_as_interrupt():
    """SIGTERM stops the driver the way Ctrl-C does (journal line, workers stopped)."""
    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        return None


def _restore_sigterm(previous) -> None:
    if previous is not None:
        try:
            signal.signal(signal.SIGTERM, previous)
        except ValueError:
            pass
