"""Writing output files: atomically, with the user's permissions, and one error for any failure.

Every file nnlife writes goes through :func:`atomic_write_text` or :func:`atomic_output`: the
bytes go to a hidden temporary file (:data:`TEMP_PREFIX`) in the destination's directory, are
flushed to disk, and the file is renamed over the final name, so a reader (or a crash) never
sees half a file. The file gets mode ``0666 & ~umask``, as ``open()`` would give it (the
temporary file is created 0600 and widened once it is complete), so the tables of a campaign on
a shared file system are as readable as any other file the user makes.

Any operating-system failure while writing (read-only or full file system, denied permission,
an output path that is a dangling symbolic link, a file where a directory is needed) becomes
an :class:`~nnlife.errors.OutputError` naming the path the user asked for and the system's
reason; the command line prints that one line and exits with status 2.

:func:`check_writable` is the check to run *before* long work (loading a data set, training a
campaign) so that a mistyped or read-only output directory fails in a second, not at the end.
"""

from __future__ import annotations

import errno as errno_codes
import os
import re
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import OutputError

TEMP_PREFIX = ".nnlife-tmp-"

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux
    ``/proc/self/status``); elsewhere set and restored at once under a lock (``os.umask`` has
    no read-only form)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new file gets: ``0666 & ~umask``."""
    return 0o666 & ~current_umask()


def _reason(err: OSError) -> tuple[str, int | None]:
    """The system's words for a failed write. pyarrow's ``OSError`` carries no errno
    attribute but writes ``[errno N]`` into its message."""
    code = err.errno
    if code is None:
        found = re.search(r"errno (\d+)", str(err), re.IGNORECASE)
        code = int(found.group(1)) if found else None
    if code is not None:
        return os.strerror(code), code
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__), None


def output_error(path: str | Path, err: OSError) -> OutputError:
    """The :class:`OutputError` for a failed write of ``path`` (the name the user asked for;
    the failure may have happened on a temporary file beside it)."""
    if isinstance(err, OutputError):
        return err
    path = Path(path)
    reason, code = _reason(err)
    # A dangling link where a directory is needed fails with a bare "File exists".
    for p in (path, *path.parents):
        if p.is_symlink() and not p.exists():
            return OutputError(p, f"a symbolic link to {os.readlink(p)!s}, which does not exist", code)
        if p.exists():
            break
    if code == errno_codes.EEXIST:
        for p in (path, *path.parents):
            if p.exists() and not p.is_dir() and p != path:
                return OutputError(p, "is a file, expected a directory", code)
    return OutputError(path, reason, code)


@contextmanager
def output_errors(path: str | Path) -> Iterator[None]:
    """Turn an ``OSError`` raised inside the block into the :class:`OutputError` of ``path``."""
    try:
        yield
    except OutputError:
        raise
    except OSError as err:
        raise output_error(path, err) from None


def check_writable(directory: str | Path, *, create: bool = True) -> Path:
    """Make sure files can be written into ``directory``: create it (and its parents) if need
    be, then create and remove one empty file there. Returns the directory.

    With ``create=False`` nothing is left behind: the probe file goes into the nearest
    directory that exists on the way (creating ``directory`` there needs the same permission),
    so a command can check its output before long work and still leave no trace if that work
    fails.

    Raises :class:`OutputError` naming the directory and the reason (read-only file system,
    permission denied, a file or a dangling link in the way). Call it before long work whose
    result goes there. Free space is not checked (what a run will need is not known up front);
    a full disk is still reported the same way when the write fails.
    """
    directory = Path(directory)
    with output_errors(directory):
        probe_in = directory
        if not create:
            while not probe_in.exists() and not probe_in.is_symlink() and probe_in != probe_in.parent:
                probe_in = probe_in.parent
            if probe_in.is_symlink() and not probe_in.exists():
                raise OutputError(probe_in, f"a symbolic link to {os.readlink(probe_in)}, which does not exist")
        if probe_in.exists() and not probe_in.is_dir():
            raise OutputError(probe_in, "is a file, expected a directory")
        probe_in.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".probe", dir=probe_in)
        os.close(fd)
        os.unlink(probe)
    return directory


def check_writable_file(path: str | Path) -> Path:
    """:func:`check_writable` (``create=False``) for the directory of an output file, and
    ``path`` is not a directory. Returns ``path``."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(path, "is a directory, expected a file name")
    check_writable(path.parent, create=False)
    return path


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer that wants a file name (pandas, pyarrow,
    matplotlib). When the block ends without error the file is given the mode of a new file,
    flushed to disk and renamed over ``path``; otherwise it is removed. Any ``OSError``
    becomes :class:`OutputError` naming ``path``."""
    path = Path(path)
    with output_errors(path):
        if path.is_dir():
            raise OutputError(path, "is a directory, expected a file name")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".part", dir=path.parent)
        tmp = Path(tmp_name)
        try:
            os.close(fd)
            yield tmp
            _finish(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    _fsync_dir(path.parent)


def _finish(tmp: Path, path: Path) -> None:
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fchmod(fd, file_mode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (ASCII) to ``path`` so that no partial file is ever visible under that
    name; the file gets mode ``0666 & ~umask``. Raises :class:`OutputError`."""
    path = Path(path)
    with output_errors(path):
        if path.is_dir():
            raise OutputError(path, "is a directory, expected a file name")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".part", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="ascii", newline="\n") as handle:
                os.fchmod(handle.fileno(), file_mode())  # mkstemp makes it 0600
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
