"""Where a campaign's files are, and its lock.

``DIR/<Dataset dir>_models/<ID>.txt`` are the tables, exactly as published; a table is written
last and atomically (:func:`nnlife.lifespan.store`), so its presence is the completion
marker. ``DIR/<Dataset dir>_records/<ID>.json`` are the records (docs/records.md).
``DIR/.campaign.lock`` is held with ``flock`` for the whole run and holds the PID of the
running campaign: a second campaign on the same directory is refused, naming that PID."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ..errors import InputError
from ..record import record_path
from ..spec import DATASETS, dataset_info
from ..table import TEMP_PREFIX
from .manifest import PlannedRun

LOCK = ".campaign.lock"


def table_file(out: str | Path, net: PlannedRun) -> Path:
    return Path(out) / dataset_info(net.dataset).models_dir / f"{net.ID}.txt"


def record_file(out: str | Path, net: PlannedRun) -> Path:
    return record_path(out, net.dataset, net.ID)


def is_done(out: str | Path, net: PlannedRun) -> bool:
    """A network is done when its table exists (tables are written last and atomically)."""
    return table_file(out, net).is_file()


def remove_stale_temporaries(out: str | Path) -> list[Path]:
    """Delete the hidden temporary files (``.nnlife-tmp-*``) that a killed run left in the
    campaign directory and its ``_models``/``_records`` directories. Call only while holding
    the lock. Returns what was deleted."""
    out = Path(out)
    dirs = [out] + [out / f"{info.dir_name}_{kind}" for info in DATASETS.values() for kind in ("models", "records")]
    removed = []
    for d in dirs:
        if not d.is_dir():
            continue
        for path in d.glob(TEMP_PREFIX + "*"):
            try:
                path.unlink()
                removed.append(path)
            except FileNotFoundError:
                pass
    return removed


class CampaignLock:
    """``DIR/.campaign.lock``, held with ``flock`` while a campaign runs; it holds the PID.

    The kernel drops an ``flock`` when its holder dies, even on ``kill -9``: a stale lock file
    never blocks a re-run."""

    def __init__(self, out: str | Path):
        self.path = Path(out) / LOCK
        self.fd: int | None = None

    def acquire(self) -> "CampaignLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pid = _read_pid(fd)
            os.close(fd)
            who = f"PID {pid}" if pid else "another process"
            raise InputError(f"{self.path.parent}: another campaign is running in this directory ({who}); "
                             f"wait for it to finish or stop it first") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            try:
                os.ftruncate(self.fd, 0)
            except OSError:
                pass
            os.close(self.fd)  # closing drops the flock
            self.fd = None

    def __enter__(self) -> "CampaignLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


def lock_holder(out: str | Path) -> int | None:
    """The PID of the campaign running in ``out`` (0 if its PID is unknown), or None when
    none is running. Never creates the lock file."""
    try:
        fd = os.open(Path(out) / LOCK, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return _read_pid(fd) or 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
