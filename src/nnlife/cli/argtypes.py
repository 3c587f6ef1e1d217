"""Argument types shared by the command groups: each turns one command-line text into a value
or raises :class:`argparse.ArgumentTypeError` with what was expected, which the parser prints
as one line naming the argument (exit status 2)."""

from __future__ import annotations

import argparse

from ..run import PRECISIONS  # the choices of `train --precision` and `campaign --precision` (no torch)
from ..spec import dataset_info


def _integer(text: str, expected: str, ok) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def positive(text: str) -> int:
    """An integer >= 1."""
    return _integer(text, "a positive integer", lambda v: v >= 1)


def count(text: str) -> int:
    """An integer >= 0."""
    return _integer(text, "a non-negative integer", lambda v: v >= 0)


def seed(text: str) -> int:
    """A master or network seed: an integer in [0, 2**32)."""
    return _integer(text, "an integer in [0, 2**32)", lambda v: 0 <= v < 2**32)


def dataset(text: str) -> str:
    """A data set's name, any case, as the published tables spell it."""
    try:
        return dataset_info(text).name
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def datasets(text: str) -> tuple[str, ...]:
    """A comma-separated list of data sets."""
    return tuple(dataset(part.strip()) for part in text.split(",") if part.strip())
