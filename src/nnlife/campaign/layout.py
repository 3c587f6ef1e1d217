"""Where a campaign's files are, its lock, and what counts as a finished network.

``DIR/<Dataset dir>_models/<ID>.txt`` are the tables, exactly as published; a table is written
last and atomically (:func:`nnlife.lifespan.store`). A network is done when its table reads
(:func:`nnlife.table.read_table`) as the planned network with the planned number of rows
(:func:`table_state`); a table that does not is moved aside (:func:`move_aside`), never
deleted, and the network trained again. ``DIR/<Dataset dir>_records/<ID>.json`` are the
records (docs/records.md). ``DIR/.campaign.lock`` is held with ``flock`` for the whole run and
holds the PID of the running campaign: a second campaign on the same directory is refused,
naming that PID.

The lock and the journal are opened with :func:`open_state_file`: ``O_NOFOLLOW`` and regular
files only, so a symbolic link planted in a shared campaign directory never leads a write
(or a truncation) to a file outside it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from datetime import datetime
from pathlib import Path

from ..errors import InputError
from ..outputs import output_error, output_errors
from ..record import read_record, record_path
from ..spec import DATASETS, dataset_info
from ..table import TEMP_PREFIX, read_table
from .manifest import PlannedRun, same_network
from .options import CampaignOptions

LOCK = ".campaign.lock"
CORRUPT_SUFFIX = ".corrupt-"

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def open_state_file(path: str | Path, flags: int, what: str) -> int:
    """Open one of the campaign's own files (lock, journal) without following a symbolic link
    (``O_NOFOLLOW``, ``O_CLOEXEC``), creating it with mode ``0666 & ~umask`` where ``flags``
    has ``O_CREAT``. Anything but a regular file is refused with one :class:`InputError` line
    naming it: another user of a shared file system could plant a link there to make the
    campaign append to or truncate a file of theirs choosing. A failed open for another reason
    is an :class:`~nnlife.errors.OutputError` (or an InputError when only reading)."""
    path = Path(path)
    writing = bool(flags & (os.O_WRONLY | os.O_RDWR))
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o666)
    except FileNotFoundError:
        if writing:
            raise output_error(path, FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))) from None
        raise
    except OSError as err:
        if err.errno == errno.ELOOP and path.is_symlink():
            raise InputError(f"{path}: is a symbolic link (to {os.readlink(path)}); expected the campaign's {what}, "
                             f"a regular file (remove the link)") from None
        if os.path.lexists(path) and not stat.S_ISREG(path.lstat().st_mode):
            raise InputError(f"{path}: is {_kind(path)}, expected the campaign's {what}, a regular file") from None
        if not writing:
            raise InputError(f"{path}: cannot read: {err.strerror or err}") from None
        raise output_error(path, err) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
        raise InputError(f"{path}: is {kind}, expected the campaign's {what}, a regular file")
    os.set_blocking(fd, True)
    return fd


def _kind(path: Path) -> str:
    mode = path.lstat().st_mode
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def table_file(out: str | Path, net: PlannedRun) -> Path:
    return Path(out) / dataset_info(net.dataset).models_dir / f"{net.ID}.txt"


def record_file(out: str | Path, net: PlannedRun) -> Path:
    return record_path(out, net.dataset, net.ID)


def table_state(out: str | Path, net: PlannedRun, options: CampaignOptions) -> str | None:
    """Whether ``net`` is done: ``"done"`` when its table reads as the planned network with
    ``2 x epochs`` rows (or the rows its record says it stopped early at), None when there is
    no table, else why the table is not a finished one (one line, naming the file)."""
    path = table_file(out, net)
    if not os.path.lexists(path):
        return None
    try:
        table = read_table(path)
    except InputError as err:
        return str(err)
    if table.spec.ID != net.ID or not same_network(table.spec, net.spec(options)):
        return f"{path}:2: expected the planned network of seed {net.random_seed} ({net.conv_layers} conv layers)"
    rows = 2 * options.epochs
    if len(table.curve) != rows:
        try:
            record = read_record(record_file(out, net))
        except InputError:
            record = None
        if not (record is not None and record.status == "stopped_early"
                and len(table.curve) == int(round(2 * record.epochs_trained)) < rows):
            return f"{path}: expected {rows} half-epoch rows (--epochs {options.epochs}), got {len(table.curve)}"
    return "done"


def is_done(out: str | Path, net: PlannedRun, options: CampaignOptions) -> bool:
    """A network is done when its table is a finished one (:func:`table_state`)."""
    return table_state(out, net, options) == "done"


def move_aside(path: Path) -> Path:
    """Rename a table that is not a finished one to ``<name>.corrupt-<time>`` beside it (never
    deleted: it may be all that is left of hours of training). Returns the new name."""
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S%f")
    target = path.with_name(f"{path.name}{CORRUPT_SUFFIX}{stamp}")
    with output_errors(path):
        os.rename(path, target)
    return target


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
    never blocks a re-run. The file is never truncated: the PID is written over its first bytes
    padded to a fixed width, and is read only while the lock is held, so a stale one is never
    believed."""

    def __init__(self, out: str | Path):
        self.path = Path(out) / LOCK
        self.fd: int | None = None

    def acquire(self) -> "CampaignLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = open_state_file(self.path, os.O_RDWR | os.O_CREAT, "lock file")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pid = _read_pid(fd)
            os.close(fd)
            who = f"PID {pid}" if pid else "another process"
            raise InputError(f"{self.path.parent}: another campaign is running in this directory ({who}); "
                             f"wait for it to finish or stop it first") from None
        try:
            os.pwrite(fd, f"{os.getpid():<20}\n".encode(), 0)
        except OSError:
            pass  # a full disk: the PID is only for messages; the flock is what locks
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock
            self.fd = None

    def __enter__(self) -> "CampaignLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode().split("\n")[0].strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


def lock_holder(out: str | Path) -> int | None:
    """The PID of the campaign running in ``out`` (0 if its PID is unknown), or None when
    none is running. Never creates the lock file."""
    try:
        fd = open_state_file(Path(out) / LOCK, os.O_RDONLY, "lock file")
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
