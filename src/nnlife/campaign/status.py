"""Where a campaign stands: :func:`campaign_status` (running or stopped, from its files) and
the overall progress bar of a running one; both estimate the time left from the FLOPs left."""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..errors import InputError
from ..record import read_record
from .journal import log_line, read_journal
from .layout import lock_holder, record_file, table_state
from .manifest import PlannedRun, read_manifest


@dataclass(frozen=True)
class DatasetProgress:
    dataset: str
    planned: int
    done: int
    failed: int  # no table, and the latest attempt failed
    corrupt: int = 0  # a table that is not a finished one (a re-run moves it aside and trains again)

    @property
    def remaining(self) -> int:
        return self.planned - self.done - self.failed


@dataclass(frozen=True)
class CampaignStatus:
    out: str
    datasets: tuple[DatasetProgress, ...]
    running_pid: int | None  # the PID holding the lock (0: unknown), None: not running
    last_events: tuple[dict, ...]
    rate_per_hour: float | None  # networks finished per hour in the latest run
    eta_seconds: float | None
    failures: tuple[Failure, ...]
    corrupt: tuple[Failure, ...] = ()  # tables that are not finished ones, and why
    repeats: int = 1  # trainings of each planned network (--repeats)

    @property
    def planned(self) -> int:
        return sum(d.planned for d in self.datasets)

    @property
    def done(self) -> int:
        return sum(d.done for d in self.datasets)

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": self.out, "running": self.running_pid is not None, "pid": self.running_pid,
            "planned": self.planned, "done": self.done, "repeats": self.repeats,
            "datasets": [{**dataclasses.asdict(d), "remaining": d.remaining} for d in self.datasets],
            "rate_per_hour": self.rate_per_hour, "eta_seconds": self.eta_seconds,
            "failures": [dataclasses.asdict(f) for f in self.failures],
            "corrupt": [dataclasses.asdict(f) for f in self.corrupt], "last_events": list(self.last_events),
        }

    def text(self) -> str:
        state = "running" if self.running_pid is not None else "not running"
        if self.running_pid:
            state += f" (PID {self.running_pid})"
        lines = [f"campaign {self.out}: {state}, {counted(self.done, self.planned, self.repeats)}"]
        width = max(len(d.dataset) for d in self.datasets)
        lines.append(f"  {'data set':<{width}}  planned   done  failed  remaining")
        for d in self.datasets:
            lines.append(f"  {d.dataset:<{width}}  {d.planned:>7}  {d.done:>5}  {d.failed:>6}  {d.remaining:>9}")
        if self.rate_per_hour:
            eta = f", ETA {_duration(self.eta_seconds)} (from the FLOPs left)" if self.eta_seconds is not None else ""
            unit = "networks" if self.repeats == 1 else "trainings"
            lines.append(f"rate {self.rate_per_hour:.1f} {unit}/hour in the latest run{eta}")
        if self.failures:
            lines.append(f"failed ({len(self.failures)}; a re-run retries them):")
            lines += [f"  {f.dataset} {f.ID}: {f.error}" for f in self.failures]
        if self.corrupt:
            lines.append(f"not finished tables ({len(self.corrupt)}; a re-run moves them aside and trains them again):")
            lines += [f"  {f.dataset} {f.ID}: {f.error}" for f in self.corrupt]
        if self.last_events:
            lines.append("last events:")
            lines += ["  " + log_line(e) for e in self.last_events]
        return "\n".join(lines)


def _eta(work_left: float, work_done: float, seconds: float) -> float | None:
    """Seconds until ``work_left`` is done at the pace at which ``work_done`` took ``seconds``.
    Work is :meth:`PlannedRun.cost` (FLOPs), not a count of networks: the most expensive
    networks go first, so a count-based estimate would be many times too long early on."""
    if work_done <= 0 or seconds <= 0:
        return None
    return work_left * seconds / work_done


def _duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "unknown"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def units(planned: int, repeats: int) -> str:
    """``planned`` trainings in words: networks, or with repeats, trainings of so many networks."""
    if repeats == 1:
        return f"{planned} networks"
    return f"{planned} trainings ({planned // repeats} networks x {repeats} repeats)"


def counted(done: int, planned: int, repeats: int) -> str:
    """"D of P networks done", or with repeats "D of P trainings done (N networks x K repeats)"."""
    if repeats == 1:
        return f"{done} of {planned} networks done"
    return f"{done} of {units(planned, repeats).replace(' (', ' done (', 1)}"


def campaign_status(out: str | Path, *, last: int = 5) -> CampaignStatus:
    """Progress of the campaign in ``out``, running or not: finished tables
    (:func:`.layout.table_state`; a table that is not one is listed and counted remaining),
    networks whose latest attempt failed, the rest remaining; whether a run holds the lock; the latest run's
    rate (networks finished per hour, from the journal) and the time left at the pace of its
    FLOPs (see :func:`_eta`)."""
    out = Path(out)
    manifest = read_manifest(out)
    events = read_journal(out)
    pid = lock_holder(out)
    progress, failures, corrupt = [], [], []
    left: list[PlannedRun] = []  # what the campaign has yet to train (a running one retries failures)
    for dataset in manifest.options.datasets:
        nets = [n for n in manifest.networks if n.dataset == dataset]
        done = failed = bad = 0
        for net in nets:
            state = table_state(out, net, manifest.options)
            if state == "done":
                done += 1
                continue
            if state is not None:
                bad += 1
                corrupt.append(Failure(net.ID, dataset, state))
                left.append(net)
                continue
            path = record_file(out, net)
            record = None
            if path.exists():
                try:
                    record = read_record(path)
                except InputError:
                    pass
            if record is not None and record.status == "failed":
                failed += 1
                failures.append(Failure(net.ID, dataset, record.error or ""))
                if pid is None:
                    continue
            left.append(net)
        progress.append(DatasetProgress(dataset, len(nets), done, failed, bad))
    rate = eta = None
    latest = _latest_run(events, running=pid is not None)
    if latest is not None:
        done_ids, seconds = latest
        rate = len(done_ids) / seconds * 3600
        if left:
            cost = {n.ID: n.cost(manifest.options) for n in manifest.networks}
            eta = _eta(sum(cost[n.ID] for n in left), sum(cost.get(ID, 0.0) for ID in done_ids), seconds)
    return CampaignStatus(str(out), tuple(progress), pid, tuple(events[-last:]) if last else (), rate, eta,
                          tuple(failures), tuple(corrupt), manifest.options.repeats)


def _latest_run(events: list[dict], running: bool) -> tuple[list[str], float] | None:
    """The IDs finished since the latest ``campaign-start`` and the seconds since it: up to now
    while it runs, else up to its last event. None before any network finished."""
    starts = [i for i, e in enumerate(events) if e.get("event") == "campaign-start"]
    if not starts:
        return None
    run = events[starts[-1]:]
    done = [e["ID"] for e in run if e.get("event") == "done" and not e.get("recovered") and "ID" in e]
    if not done:
        return None
    t0 = datetime.fromisoformat(run[0]["time"])
    t1 = datetime.now() if running else datetime.fromisoformat(run[-1]["time"])
    seconds = (t1 - t0).total_seconds()
    return (done, seconds) if seconds > 0 else None


class ProgressBar:
    """One overall tqdm bar on stderr (only when it is a terminal, unless forced)."""

    def __init__(self, total: int, initial: int, enabled: bool | None):
        if enabled is None:
            enabled = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
        self.bar = None
        if enabled:
            # tqdm's own time left counts networks; the postfix has the estimate by FLOPs (_eta).
            self.bar = tqdm(total=total, initial=initial, desc="networks", unit="net", file=sys.stderr,
                            dynamic_ncols=True, smoothing=0.05,
                            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}, {rate_fmt}{postfix}]")

    def update(self, n: int, done: dict[str, int], total: dict[str, int], failed: int, eta: float | None) -> None:
        if self.bar is None:
            return
        postfix = f"ETA {_duration(eta)}, " + " ".join(f"{d} {done[d]}/{total[d]}" for d in total)
        if failed:
            postfix += f" failed {failed}"
        # update(0) (a failure, nothing finished) redraws only if tqdm's mininterval has passed
        # since the last draw, so a failure right after a success would not show: redraw.
        self.bar.set_postfix_str(postfix, refresh=n == 0)
        self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@dataclass(frozen=True)
class Failure:
    ID: str
    dataset: str
    error: str
