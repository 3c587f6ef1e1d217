"""The exceptions nnlife raises for a user's mistake.

Every problem with what a user handed in (a table, a data file, an argument) is an
:class:`InputError`. Its message is one line that names where the problem is and what was
expected; the command line prints exactly that line and exits with status 2.
"""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad input from the user: a malformed table, a missing data file, a bad argument."""


class NoTablesError(InputError):
    """The paths given hold no table and no Parquet file (:func:`nnlife.analysis.load`)."""


class TableFormatError(InputError):
    """A table that does not follow the published format.

    Attributes ``path``, ``line`` (1-based, ``None`` for the file as a whole), ``field``
    (a column name or ``None``), ``expected`` and ``got`` say exactly what is wrong.
    """

    def __init__(
        self,
        path: str | Path | None,
        line: int | None,
        field: str | None,
        expected: str,
        got: object = None,
    ):
        self.path = str(path) if path is not None else "<table>"
        self.line = line
        self.field = field
        self.expected = expected
        self.got = got
        where = self.path if line is None else f"{self.path}:{line}"
        what = f"field '{field}': " if field else ""
        got_text = "" if got is None else f", got {_short(got)}"
        super().__init__(f"{where}: {what}expected {expected}{got_text}")


class SpecError(InputError):
    """A network spec whose values contradict each other or the taxonomy's basic rules."""

    def __init__(self, field: str, expected: str, got: object = None):
        self.field = field
        self.expected = expected
        self.got = got
        got_text = "" if got is None else f", got {_short(got)}"
        super().__init__(f"field '{field}': expected {expected}{got_text}")


class DataError(InputError):
    """An image data file that is missing, corrupt, or in the wrong format."""


class OutputError(InputError, OSError):
    """Output that cannot be written: a read-only or full file system, a denied permission,
    an output path that is a dangling link or a file where a directory is needed.

    ``path`` is the file or directory the user asked for (never a temporary name) and
    ``reason`` the operating system's words for the failure (``strerror``); ``errno`` is kept.
    It is an :class:`OSError` too, so code that already handles failed writes as ``OSError``
    (retries, best-effort stamps) keeps doing so, and an :class:`InputError`, so the command
    line prints its one line and exits with status 2.
    """

    def __init__(self, path: str | Path, reason: str, errno: int | None = None):
        self.path = str(path)
        self.reason = reason
        self.message = f"{self.path}: cannot write: {reason}"
        super().__init__(self.message)
        self.errno = errno
        self.strerror = reason
        self.filename = self.path

    def __str__(self) -> str:  # OSError would print "[Errno N] ..." once errno is set
        return self.message

    def __reduce__(self):  # picklable across worker processes with its own arguments
        return (type(self), (self.path, self.reason, self.errno))


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_json(path: str | Path, missing: str | None = None) -> object:
    """The JSON value in ``path``, or one :class:`InputError` line naming the file (and the
    line of a syntax error). ``missing``: the message for a file that does not exist (default:
    "cannot read ..." like any other unreadable file)."""
    import json

    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        if missing is not None:
            raise InputError(missing) from None
        raise InputError(f"{path}: cannot read ({err})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read ({err})") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None


class InputWarning(UserWarning):
    """Input that is valid but probably not what the user meant (e.g. accuracies that look
    like fractions where percent is expected). The command line prints its message as one
    ``warning:`` line on stderr and goes on."""
