"""The journal: ``DIR/campaign.log.jsonl``, one JSON object per line (events
``campaign-start``, ``start``, ``done``, ``failed``, ``crash``, ``retry``, ``oom-retry``,
``campaign-end``, ``interrupted``), and the same events as readable lines in ``DIR/campaign.log``."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

JOURNAL = "campaign.log.jsonl"
LOG = "campaign.log"


class Journal:
    """Appends events to ``DIR/campaign.log.jsonl`` (one JSON object per line, each written
    with one ``write`` on a file opened for appending) and to ``DIR/campaign.log``."""

    def __init__(self, out: str | Path):
        out = Path(out)
        self.fd = os.open(out / JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self.log_fd = os.open(out / LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def event(self, kind: str, **fields: Any) -> dict:
        entry = {"time": datetime.now().isoformat(timespec="microseconds"), "event": kind, **fields}
        os.write(self.fd, (json.dumps(entry, default=str) + "\n").encode())
        os.write(self.log_fd, (log_line(entry) + "\n").encode())
        return entry

    def close(self) -> None:
        for fd in (self.fd, self.log_fd):
            try:
                os.close(fd)
            except OSError:
                pass


def log_line(e: dict) -> str:
    when = e["time"][:19].replace("T", " ")
    kind = e["event"]
    if "ID" in e:
        what = f"{e.get('dataset', '')} {e['ID']}"
        if kind == "start":
            what += f" attempt {e.get('attempt')} on {e.get('worker')}"
        elif kind == "done":
            what += f" {e.get('status')} ({e.get('epochs_trained')} epochs, {_secs(e.get('seconds'))})"
            if e.get("recovered"):
                what += ", found finished at start"
        elif kind in ("failed", "crash"):
            what += f" attempt {e.get('attempt')}: {e.get('error')}"
            if e.get("final"):
                what += " (giving up in this run)"
        elif kind == "retry":
            what += f" attempt {e.get('attempt')}"
        elif kind == "oom-retry":
            what += f" attempt {e.get('attempt')}: out of memory, now {e.get('micro_batches')} micro-batches"
        return f"{when} {kind:<9} {what}"
    rest = " ".join(f"{k}={v}" for k, v in e.items() if k not in ("time", "event"))
    return f"{when} {kind} {rest}".rstrip()


def _secs(value: object) -> str:
    return f"{value:.1f} s" if isinstance(value, (int, float)) else "? s"


def read_journal(out: str | Path) -> list[dict]:
    """The journal's events in order (a line torn by a kill is skipped)."""
    try:
        text = (Path(out) / JOURNAL).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    events = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and "event" in entry:
            events.append(entry)
    return events
