"""The extended record of one network: what the published table format has no room for
(docs/records.md).

One JSON file per network, ``<out>/<Dataset dir>_records/<ID>.json``, beside (not inside) the
``<Dataset dir>_models`` directory, so that a ``_models`` directory stays exactly like the
published one. It is written atomically, before the table (a table's presence means the
network is done; a record without a table is a network that failed or is being retried).

Keys (format ``nnlife-record``, version 1; every key is always present)::

    format, version      "nnlife-record", 1
    ID, dataset, random_seed
    network              ID of the network's repeat 0 (its own ID for repeat 0): the tables
                         of one network's repeats share it
    repeat               int: which training of the network (0: the ordinary run;
                         docs/training.md); a record written before repeats existed has neither key
                         and reads as repeat 0 of itself
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
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Protocol

from . import __version__
from .errors import InputError, read_json
from .run import RunFacts, RunOptions, Seeds
from .shapes import analyse
from .spec import NetworkSpec, dataset_info
from .table import Curve, atomic_write_text

RECORD_FORMAT = "nnlife-record"
RECORD_VERSION = 1
STATUSES = ("complete", "stopped_early", "failed")

# The record's keys in file order (see the module docstring); those of the run facts are
# read through from Record.facts.
KEYS = ("ID", "dataset", "random_seed", "network", "repeat", "status", "error", "epochs_requested", "epochs_trained", "seconds",
        "val_seconds", "train_accuracy", "params", "flops", "activation_bytes", "device", "device_name", "precision",
        "deterministic", "micro_batches", "batch_size", "train_images", "test_images", "train_subset", "test_subset",
        "n_train_full", "n_test_full", "svhn_extra", "data_files", "seeds", "versions", "hostname", "started",
        "finished", "spec", "extra")
FACT_KEYS = ("repeat", "epochs_requested", "device", "device_name", "precision", "deterministic", "micro_batches", "batch_size",
             "train_images", "test_images", "train_subset", "test_subset", "n_train_full", "n_test_full",
             "svhn_extra", "data_files", "started", "finished")

# Keys a record may lack: those added after version 1 was first written (a record made
# before repeats existed is repeat 0 of itself).
OPTIONAL_KEYS = ("extra", "network", "repeat")


@dataclass(frozen=True)
class Record:
    """The extended record of one network (see the module docstring for every key): the run's
    facts (:class:`nnlife.run.RunFacts`, whose fields read through: ``record.device``, ...)
    and what the run measured."""

    ID: str
    dataset: str
    random_seed: int
    status: str
    error: str | None
    epochs_trained: float
    seconds: tuple[float, ...]
    val_seconds: tuple[float, ...]
    train_accuracy: tuple[float, ...]
    params: int
    flops: int
    activation_bytes: int
    facts: RunFacts
    versions: dict[str, str]
    hostname: str
    spec: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)
    network: str = ""  # the ID of the network's repeat 0; empty: this record's own ID

    def __post_init__(self) -> None:
        if not self.network:
            object.__setattr__(self, "network", self.ID)
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r}: expected one of {', '.join(STATUSES)}")
        for name in ("seconds", "val_seconds", "train_accuracy"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def __getattr__(self, name: str) -> Any:
        # Only reached for names that are not fields: the run facts' keys read through.
        if name in FACT_KEYS:
            return getattr(self.facts, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def seeds(self) -> dict[str, int]:
        return dataclasses.asdict(self.facts.seeds)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": RECORD_FORMAT, "version": RECORD_VERSION}
        for key in KEYS:
            value = getattr(self, key)
            out[key] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, obj: dict[str, Any], path: str | Path | None = None) -> "Record":
        where = str(path) if path is not None else "<record>"
        if not isinstance(obj, dict) or obj.get("format") != RECORD_FORMAT:
            raise InputError(f"{where}: expected a JSON object with format {RECORD_FORMAT!r}")
        if obj.get("version") != RECORD_VERSION:
            raise InputError(f"{where}: field 'version': expected {RECORD_VERSION}, got {obj.get('version')!r}")
        missing = [n for n in KEYS if n not in obj and n not in OPTIONAL_KEYS]
        if missing:
            raise InputError(f"{where}: field '{missing[0]}': missing")
        try:
            facts = _facts_from_dict(obj)
            own = {f.name for f in dataclasses.fields(cls)} - {"facts"}
            return cls(facts=facts, **{n: obj[n] for n in KEYS if n in own and n in obj})
        except (TypeError, ValueError) as err:
            raise InputError(f"{where}: {err}") from None

    def spec_object(self) -> NetworkSpec:
        """The network of this record, rebuilt from its ``spec`` texts."""
        return NetworkSpec.from_row([self.spec[n] for n in NetworkSpec.field_names()])


def _facts_from_dict(obj: dict[str, Any]) -> RunFacts:
    """The run facts of a record read from JSON. A subset equal to the whole split was not
    asked for (a record keeps the sizes, not the request)."""
    options = RunOptions(
        epochs=obj["epochs_requested"], precision=obj["precision"], deterministic=obj["deterministic"],
        micro_batches=obj["micro_batches"], repeat=obj.get("repeat", 0),
        train_images=None if obj["train_subset"] == obj["n_train_full"] else obj["train_subset"],
        test_images=None if obj["test_subset"] == obj["n_test_full"] else obj["test_subset"],
    )
    seeds = obj["seeds"]
    if not isinstance(seeds, dict):
        raise TypeError(f"field 'seeds': expected an object, got {seeds!r}")
    return RunFacts(
        options=options, device=obj["device"], device_name=obj["device_name"], batch_size=obj["batch_size"],
        train_images=obj["train_images"], test_images=obj["test_images"], train_subset=obj["train_subset"],
        test_subset=obj["test_subset"], n_train_full=obj["n_train_full"], n_test_full=obj["n_test_full"],
        seeds=Seeds(**seeds), data_files=tuple(obj["data_files"]), svhn_extra=obj["svhn_extra"],
        started=obj["started"], finished=obj["finished"],
    )


def versions() -> dict[str, str]:
    """The versions a run used (from the installed distributions: no torch import)."""
    def of(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "unknown"

    return {"nnlife": __version__, "torch": of("torch"), "numpy": of("numpy"), "python": platform.python_version()}


class Measured(Protocol):
    """What a run measured, per half epoch (:class:`nnlife.train.TrainResult` is one)."""

    curve: Curve
    seconds: tuple[float, ...]
    val_seconds: tuple[float, ...]
    train_accuracy: tuple[float, ...]


def make_record(
    spec: NetworkSpec,
    facts: RunFacts,
    measured: Measured | None,
    *,
    status: str,
    error: str | None = None,
    extra: dict[str, Any] | None = None,
    network: str | None = None,
) -> Record:
    """The record of one run of ``spec`` (with its run facts filled in, see
    :meth:`NetworkSpec.with_run`). ``measured`` is None for a failed run. ``network`` is the
    ID of the network's repeat 0 (default: the spec's own ID, right for repeat 0)."""
    arith = analyse(spec)
    return Record(
        ID=spec.ID,
        dataset=spec.dataset,
        random_seed=spec.random_seed,
        status=status,
        error=error,
        epochs_trained=len(measured.curve) / 2 if measured is not None else 0.0,
        seconds=measured.seconds if measured is not None else (),
        val_seconds=measured.val_seconds if measured is not None else (),
        train_accuracy=measured.train_accuracy if measured is not None else (),
        params=arith.params,
        flops=arith.flops,
        activation_bytes=arith.activation_bytes,
        facts=facts,
        versions=versions(),
        hostname=socket.gethostname(),
        spec=spec.to_text_dict(),
        extra=dict(extra or {}),
        network=network or spec.ID,
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
    obj = read_json(path, missing=f"{path}: no such record file")
    return Record.from_dict(obj, path)
