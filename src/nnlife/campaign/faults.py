"""Fault injection, for testing a campaign's failure paths on any machine.

The environment variable ``NNLIFE_INJECT_FAULTS`` holds comma-separated ``KIND:ID:ATTEMPT``
entries (``ATTEMPT`` a number, or ``*`` for every attempt), read by the campaign when it
starts and handed to every task (:mod:`.task` acts on them):

* ``crash``: the worker process kills itself (SIGKILL) when attempt ATTEMPT of network ID
  starts, as the kernel's out-of-memory killer would;
* ``oom``: the first training try of that attempt raises ``torch.cuda.OutOfMemoryError``
  from inside the trainer, handled exactly as a real one (retry with doubled micro-batches);
* ``oom-always``: every try of that attempt raises it, so the attempt fails once the
  micro-batches reach the batch size;
* ``error``: that attempt fails with a ``RuntimeError``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError

FAULTS_ENV = "NNLIFE_INJECT_FAULTS"
FAULT_KINDS = ("crash", "oom", "oom-always", "error")


@dataclass(frozen=True)
class Fault:
    kind: str
    ID: str
    attempt: int | None  # None: every attempt

    def applies(self, ID: str, attempt: int) -> bool:
        return self.ID == ID and (self.attempt is None or self.attempt == attempt)


def parse_faults(text: str | None) -> tuple[Fault, ...]:
    """``KIND:ID:ATTEMPT[,...]`` (see the module docstring). Raises :class:`InputError`."""
    faults = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        parts = item.split(":")
        ok = len(parts) == 3 and parts[0] in FAULT_KINDS and parts[1] and (parts[2] == "*" or parts[2].isdigit())
        if not ok or parts[2] == "0":
            raise InputError(f"{FAULTS_ENV}: entry {item!r}: expected KIND:ID:ATTEMPT with KIND one of "
                             f"{', '.join(FAULT_KINDS)} and ATTEMPT a number >= 1 or *")
        faults.append(Fault(parts[0], parts[1], None if parts[2] == "*" else int(parts[2])))
    return tuple(faults)
