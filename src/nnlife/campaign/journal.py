"""The journal: ``DIR/campaign.log.jsonl``, one JSON object per line (events
``campaign-start``, ``start``, ``done``, ``failed``, ``crash``, ``retry``, ``oom-retry``,
``campaign-end``, ``interrupted``, ``corrupt``), and the same events as readable lines in
``DIR/campaign.log``. Both are opened without following a symbolic link
(:func:`.layout.open_state_file`) and created with mode ``0666 & ~umask``."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..outputs import output_error
from .layout import open_state_file

JOURNAL = "campaign.log.jsonl"
LOG = "campaign.log"


class Journal:
    """Appends events to ``DIR/campaign.log.jsonl`` (one JSON object per line, each written
    with one ``write`` on a file opened for appending) and to ``DIR/campaign.log``.

    A write that fails (a full disk) does not stop the campaign: the networks' tables and
    records are what matter, and the journal is their history. The first such failure is kept
    as :attr:`error` (an :class:`~nnlife.errors.OutputError`) and :attr:`lost` counts the
    events not written, for the driver to report once."""

    def __init__(self, out: str | Path):
        out = Path(out)
        self.paths = (out / JOURNAL, out / LOG)
        self.fd = open_state_file(out / JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT, "journal")
        try:
            self.log_fd = open_state_file(out / LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, "log")
        except BaseException:
            os.close(self.fd)
            raise
        self.error: OSError | None = None
        self.lost = 0

    def event(self, kind: str, **fields: Any) -> dict:
        entry = {"time": datetime.now().isoformat(timespec="microseconds"), "event": kind, **fields}
        lost = False
        for fd, path, text in ((self.fd, self.paths[0], json.dumps(entry, default=str)),
                               (self.log_fd, self.paths[1], log_line(entry))):
            try:
                os.write(fd, (text + "\n").encode())
            except OSError as err:
                lost = True
                self.error = self.error or output_error(path, err)
        self.lost += lost
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
        elif kind == "corrupt":
            what += f": {e.get('error')}; moved to {e.get('moved_to')}, to be trained again"
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
        fd = open_state_file(Path(out) / JOURNAL, os.O_RDONLY, "journal")
    except FileNotFoundError:
        return []
    try:
        with os.fdopen(fd, "rb") as handle:
            text = handle.read().decode("utf-8", errors="replace")
    except OSError as err:
        raise InputError(f"{Path(out) / JOURNAL}: cannot read: {err.strerror or err}") from None
    events = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and "event" in entry:
            events.append(entry)
    return events
