"""The extended record of one network: what the published table format has no room for.

One JSON file per network, ``<out>/<Dataset dir>_records/<ID>.json``, beside (not inside) the
``<Dataset dir>_models`` directory, so that a ``_models`` directory stays exactly like the
published one. It is written atomically, before the table (a table's presence means the
network is done; a record without a table is a network that failed or is being retried).

Keys (format ``nnlife-record``, version 1; every key is always present)::

    format, version      "nnlife-record", 1
    ID, dataset, random_seed
    status               "complete" | "stopped_early" | "failed"
    error                "<ExceptionType>: <message>" when failed, else null
    epochs_requested     int
    epochs_trained       float (half epochs trained / 2; 0 when failed)
    seconds              wall seconds of each half epoch, training + validation
    val_seconds          of which validation, per half epoch
    train_accuracy       percent correct on each half epoch's training batches (dropout on)
    params, flops, activation_bytes
                         parameters; forward FLOPs per image (multiply-add = 2); activation
                         bytes per image in fp32 (nnlife.shapes)
    device, device_name  "cpu" / "cuda:0" and the CPU model or GPU name
    precision            "fp32" | "tf32" | "bf16"
    deterministic        bool (the table's torch_set_deterministic)
    micro_batches        int: chunks per batch whose gradients were accumulated
    batch_size           int
    train_images         training images used per epoch (an even number of whole batches)
    test_images          test images validated each time (whole batches)
    train_subset, test_subset
                         prefix of each split made available (the full split if no subset)
    n_train_full, n_test_full
                         sizes of the full splits
    svhn_extra           bool: SVHN's extra split was appended to its training split
    data_files           paths of the data files read
    seeds                {"weights", "order", "dropout"}: derived from random_seed
    versions             {"nnlife", "torch", "numpy", "python"}
    hostname
    started, finished    ISO 8601 local times of the training run
    spec                 the table's line-2 fields as text (rebuilds the network on its own)
    extra                dict that other components fill (campaign attempts and errors,
                         early-stop method and prediction, ...)
"""

from __future__ import annotations

import dataclasses
import json
import platform
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InputError
from .spec import NetworkSpec, dataset_info
from .table import atomic_write_text

if TYPE_CHECKING:
    from .train import RunFacts, TrainResult

RECORD_FORMAT = "nnlife-record"
RECORD_VERSION = 1
STATUSES = ("complete", "stopped_early", "failed")


@dataclass(frozen=True)
class Record:
    """The extended record of one network (see the module docstring for every field)."""

    ID: str
    dataset: str
    random_seed: int
    status: str
    error: str | None
    epochs_requested: int
    epochs_trained: float
    seconds: tuple[float, ...]
    val_seconds: tuple[float, ...]
    train_accuracy: tuple[float, ...]
    params: int
    flops: int
    activation_bytes: int
    device: str
    device_name: str
    precision: str
    deterministic: bool
    micro_batches: int
    batch_size: int
    train_images: int
    test_images: int
    train_subset: int
    test_subset: int
    n_train_full: int
    n_test_full: int
    svhn_extra: bool
    data_files: tuple[str, ...]
    seeds: dict[str, int]
    versions: dict[str, str]
    hostname: str
    started: str
    finished: str
    spec: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r}: expected one of {', '.join(STATUSES)}")
        for name in ("seconds", "val_seconds", "train_accuracy", "data_files"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": RECORD_FORMAT, "version": RECORD_VERSION}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, obj: dict[str, Any], path: str | Path | None = None) -> "Record":
        where = str(path) if path is not None else "<record>"
        if not isinstance(obj, dict) or obj.get("format") != RECORD_FORMAT:
            raise InputError(f"{where}: expected a JSON object with format {RECORD_FORMAT!r}")
        if obj.get("version") != RECORD_VERSION:
            raise InputError(f"{where}: field 'version': expected {RECORD_VERSION}, got {obj.get('version')!r}")
        names = [f.name for f in dataclasses.fields(cls)]
        missing = [n for n in names if n not in obj and n != "extra"]
        if missing:
            raise InputError(f"{where}: field '{missing[0]}': missing")
        try:
            return cls(**{n: obj[n] for n in names if n in obj})
        except (TypeError, ValueError) as err:
            raise InputError(f"{where}: {err}") from None

    def spec_object(self) -> NetworkSpec:
        """The network of this record, rebuilt from its ``spec`` texts."""
        return NetworkSpec.from_row([self.spec[n] for n in NetworkSpec.field_names()])


def versions() -> dict[str, str]:
    import numpy
    import torch

    from . import __version__

    return {"nnlife": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "python": platform.python_version()}


def make_record(
    spec: NetworkSpec,
    facts: "RunFacts",
    result: "TrainResult | None",
    *,
    status: str,
    error: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Record:
    """The record of one run of ``spec`` (with its run facts filled in, see
    :meth:`NetworkSpec.with_run`). ``result`` is None for a failed run."""
    from .shapes import analyse

    arith = analyse(spec)
    halves = result.halves_trained if result is not None else 0
    return Record(
        ID=spec.ID,
        dataset=spec.dataset,
        random_seed=spec.random_seed,
        status=status,
        error=error,
        epochs_requested=facts.epochs_requested,
        epochs_trained=halves / 2,
        seconds=result.seconds if result is not None else (),
        val_seconds=result.val_seconds if result is not None else (),
        train_accuracy=result.train_accuracy if result is not None else (),
        params=arith.params,
        flops=arith.flops,
        activation_bytes=arith.activation_bytes,
        device=facts.device,
        device_name=facts.device_name,
        precision=facts.precision,
        deterministic=facts.deterministic,
        micro_batches=facts.micro_batches,
        batch_size=facts.batch_size,
        train_images=facts.train_images,
        test_images=facts.test_images,
        train_subset=facts.train_subset,
        test_subset=facts.test_subset,
        n_train_full=facts.n_train_full,
        n_test_full=facts.n_test_full,
        svhn_extra=facts.svhn_extra,
        data_files=facts.data_files,
        seeds=dataclasses.asdict(facts.seeds),
        versions=versions(),
        hostname=socket.gethostname(),
        started=facts.started,
        finished=facts.finished,
        spec=spec.to_text_dict(),
        extra=dict(extra or {}),
    )


def records_dir(out: str | Path, dataset: str) -> Path:
    """``<out>/<Dataset dir>_records``."""
    return Path(out) / f"{dataset_info(dataset).dir_name}_records"


def record_path(out: str | Path, spec_or_dataset: NetworkSpec | str, ID: str | None = None) -> Path:
    """``<out>/<Dataset dir>_records/<ID>.json``; ``ID`` defaults to the spec's."""
    if isinstance(spec_or_dataset, NetworkSpec):
        dataset, ID = spec_or_dataset.dataset, ID or spec_or_dataset.ID
    else:
        dataset = spec_or_dataset
    if not ID:
        raise ValueError("a record path needs an ID")
    return records_dir(out, dataset) / f"{ID}.json"


def write_record(out: str | Path, record: Record) -> Path:
    """Write ``record`` atomically under the output root ``out``; returns its path."""
    path = record_path(out, record.dataset, record.ID)
    # One key per line, each value compact: readable, and short for 80-entry lists.
    items = record.to_dict().items()
    text = "{\n" + ",\n".join(f" {json.dumps(k)}: {json.dumps(v, default=str)}" for k, v in items) + "\n}\n"
    return atomic_write_text(path, text)


def read_record(path: str | Path) -> Record:
    """Read one record. Raises :class:`InputError` naming the file for anything malformed."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such record file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read ({err})") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    return Record.from_dict(obj, path)
