"""Which CPU kernels torch runs: the fastest for this CPU, or portable ones (docs/training.md).

torch, oneDNN and MKL pick their CPU code paths by what the processor supports, and the
AVX-512 paths round differently from the AVX2 ones (sums are split across wider registers).
A deterministic CPU run therefore gives the same bits on every machine of one kind, but an
AVX-512 machine and an AVX2 one differ from about the eighth digit of the first loss on, and
over 40 epochs a network at the edge of learning can end up learning on one and not on the
other. ``NNLIFE_CPU_KERNELS=avx2`` asks all three libraries for their AVX2 paths, so a
deterministic run gives the same curve on any x86-64 machine with AVX2 (most made since
2013), at the price of the wider kernels' speed on AVX-512 machines.

The libraries read their settings once, at their first operation, so :func:`apply` runs
when nnlife is imported and only fills in variables the environment does not set already;
local workers inherit them, Ray tasks carry them (:func:`worker_environment`). :func:`check`
says, as one line, when the setting could not take effect.
"""

from __future__ import annotations

import os

from .errors import InputError

ENV = "NNLIFE_CPU_KERNELS"
CHOICES = ("native", "avx2")
# What each library reads (torch's dispatcher, oneDNN's convolutions, MKL's BLAS). For the
# pinned network of tests/test_golden.py the first two together give the AVX2 machine's bits
# and neither does alone; MKL's is not needed there and is set for the matrix products of
# other shapes (MKL's own switch for results that do not depend on the processor).
PORTABLE = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}


def requested() -> str:
    """The value of ``NNLIFE_CPU_KERNELS`` (default ``native``), lower-cased."""
    return os.environ.get(ENV, "").strip().lower() or "native"


def apply() -> None:
    """Set the libraries' variables for ``NNLIFE_CPU_KERNELS=avx2`` (those not set already).
    Does nothing for any other value; :func:`check` reports a bad one."""
    if requested() == "avx2":
        for name, value in PORTABLE.items():
            os.environ.setdefault(name, value)


def capability() -> str:
    """The CPU capability torch's kernels run with: ``AVX512``, ``AVX2``, ``DEFAULT`` (or an
    ARM one)."""
    import torch

    return torch.backends.cpu.get_cpu_capability()


def check_setting() -> str:
    """Return ``NNLIFE_CPU_KERNELS``'s value, or raise :class:`InputError` (one line) if it is
    not a known one, or asks for AVX2 kernels on a machine that is not x86-64 or with one of
    the libraries' variables set to something else. Imports no torch (a campaign's driver
    calls it; its workers call :func:`check`)."""
    value = requested()
    if value not in CHOICES:
        raise InputError(f"{ENV}={os.environ.get(ENV)!r}: expected one of {', '.join(CHOICES)}")
    if value != "avx2":
        return value
    import platform

    machine = platform.machine().lower()
    if machine not in ("x86_64", "amd64"):
        raise InputError(f"{ENV}=avx2: AVX2 kernels exist on x86-64 only, this machine is {machine}")
    for name, wanted in PORTABLE.items():
        if os.environ.get(name, wanted).lower() != wanted.lower():
            raise InputError(f"{ENV}=avx2: {name} is set to {os.environ[name]!r}, expected {wanted!r} (or unset)")
    return value


def check() -> None:
    """:func:`check_setting`, and for ``avx2`` that torch does run its AVX2 kernels: not where
    the CPU lacks AVX2, or where torch operations ran before nnlife was imported (the
    libraries had already chosen). Raises :class:`InputError` (one line)."""
    if check_setting() != "avx2":
        return
    running = capability()
    if running != "AVX2":
        raise InputError(
            f"{ENV}=avx2: torch runs its {running} kernels (this CPU lacks AVX2, or torch ran before nnlife "
            f"was imported: set {ENV} before the process starts, or import nnlife before using torch)"
        )


def worker_environment() -> dict[str, str]:
    """The variables a worker on another machine needs for this process's setting (Ray's
    ``runtime_env``): empty for ``native``; for ``avx2``, ``NNLIFE_CPU_KERNELS`` and the three
    libraries' variables as they are here."""
    if requested() != "avx2":
        return {}
    return {ENV: "avx2", **{name: os.environ.get(name, value) for name, value in PORTABLE.items()}}
