"""Campaigns: many networks, planned once, trained by a pool of workers, resumable.

A campaign is one output directory ``DIR``:

``DIR/campaign.json``
    The manifest, written once (atomically) before anything is trained: the options that
    define the campaign (:class:`CampaignOptions`) and every network's data set, seed,
    conv-layer count, ID, batch size and FLOPs. Re-running the same command reuses it; a
    command whose defining options differ is refused, naming the option.
``DIR/<Dataset dir>_models/<ID>.txt``
    The tables, exactly as published. A table is written last and atomically by
    :func:`nnlife.train.run_network`, so its presence is the completion marker: a network
    whose table exists is never trained again.
``DIR/<Dataset dir>_records/<ID>.json``
    The extended records (:mod:`nnlife.record`); their ``extra`` holds the campaign facts
    (attempts, errors, micro-batches, worker, early-stop outcome). A network that failed
    after all retries has a record with status "failed" and no table; a re-run retries it.
``DIR/campaign.log.jsonl`` and ``DIR/campaign.log``
    The journal, one JSON object per line (events ``campaign-start``, ``start``, ``done``,
    ``failed``, ``crash``, ``retry``, ``oom-retry``, ``campaign-end``, ``interrupted``), and
    the same events as readable lines.
``DIR/.campaign.lock``
    Held with ``flock`` for the whole run (the kernel releases it even on ``kill -9``) and
    holding the PID of the running campaign: a second campaign on the same directory is
    refused, naming that PID.

Execution (:func:`run_campaign`): the networks that have no table yet are handed out most
expensive first (forward FLOPs x 3 for each training image plus the validated images, x
epochs), so the pool does not end waiting on one giant network, to an executor
(:mod:`nnlife.executors`: a local pool of worker processes, or Ray). Every executor runs the
same task function, :func:`run_one`, which trains one network and writes its record and
table. One network's failure never stops the campaign: an out-of-memory error on the GPU is
retried at once with twice the micro-batches (gradient accumulation gives the same update),
a crashed worker is replaced, and every failed attempt is retried up to ``retries`` times.

Fault injection, for testing the failure paths on any machine: the environment variable
``NNLIFE_INJECT_FAULTS`` holds comma-separated ``KIND:ID:ATTEMPT`` entries (``ATTEMPT`` a
number, or ``*`` for every attempt), read by the campaign when it starts:

* ``crash``: the worker process kills itself (SIGKILL) when attempt ATTEMPT of network ID
  starts, as the kernel's out-of-memory killer would;
* ``oom``: the first training try of that attempt raises ``torch.cuda.OutOfMemoryError``
  from inside the trainer, handled exactly as a real one (retry with doubled micro-batches);
* ``oom-always``: every try of that attempt raises it, so the attempt fails once the
  micro-batches reach the batch size;
* ``error``: that attempt fails with a ``RuntimeError``.
"""

from __future__ import annotations

import dataclasses
import fcntl
import heapq
import json
import math
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterable

from .errors import InputError
from .run import RunOptions, check_precision, n_train_full, run_facts, used_images
from .sample import check_seed, plan
from .spec import DATASETS, NetworkSpec, dataset_info, make_id
from .table import TEMP_PREFIX, atomic_write_text

MANIFEST = "campaign.json"
LOCK = ".campaign.lock"
JOURNAL = "campaign.log.jsonl"
LOG = "campaign.log"
MANIFEST_FORMAT = "nnlife-campaign"
MANIFEST_VERSION = 1
FAULTS_ENV = "NNLIFE_INJECT_FAULTS"
FAULT_KINDS = ("crash", "oom", "oom-always", "error")
DEFAULT_TARGET_EPOCH = 20.0


# --------------------------------------------------------------------------------------
# The options that define a campaign


# Option name -> how the command line spells it (for messages).
OPTION_FLAGS = {
    "datasets": "--datasets",
    "per_dataset": "--per-dataset",
    "seed": "--seed",
    "epochs": "--epochs",
    "train_images": "--train-images",
    "test_images": "--test-images",
    "precision": "--precision",
    "deterministic": "--deterministic",
    "svhn_extra": "--svhn-extra",
    "early_stop": "--early-stop",
    "target_epoch": "--target-epoch",
    "synthetic": "synthetic",
}


@dataclass(frozen=True)
class CampaignOptions:
    """What defines a campaign: changing any of these makes a different campaign.

    ``datasets`` are kept in the canonical order (FashionMNIST, CIFAR100, SVHN) whatever
    order they are given in. ``train_images``/``test_images`` train and validate every
    network on prefixes of the splits. ``early_stop`` names a method of
    :data:`nnlife.predict.METHODS`; ``target_epoch`` (only with it) defaults to
    ``min(20, epochs)``. ``synthetic`` trains on seeded random images of each data set's
    exact shapes instead of the real files: for throughput measurements only (the manifest
    and every record say so).
    """

    datasets: tuple[str, ...]
    per_dataset: int
    seed: int
    epochs: int = 40
    train_images: int | None = None
    test_images: int | None = None
    precision: str = "fp32"
    deterministic: bool = False
    svhn_extra: bool = False
    early_stop: str | None = None
    target_epoch: float | None = None
    synthetic: bool = False

    def __post_init__(self) -> None:
        names = [self.datasets] if isinstance(self.datasets, str) else list(self.datasets)
        infos = [dataset_info(n) for n in names]
        seen = [i.name for i in infos]
        if not seen:
            raise InputError("--datasets: expected at least one data set")
        duplicate = next((n for n in seen if seen.count(n) > 1), None)
        if duplicate:
            raise InputError(f"--datasets: {duplicate} is named twice")
        object.__setattr__(self, "datasets", tuple(n for n in DATASETS if n in seen))
        _check_int(self.per_dataset, "--per-dataset", 1)
        check_seed(self.seed, "--seed")
        _check_int(self.epochs, "--epochs", 1)
        for name in ("train_images", "test_images"):
            if getattr(self, name) is not None:
                _check_int(getattr(self, name), OPTION_FLAGS[name], 1)
        check_precision(self.precision, "--precision")
        if self.svhn_extra and "SVHN" not in self.datasets:
            raise InputError("--svhn-extra: only with SVHN among the data sets")
        for name in ("deterministic", "svhn_extra", "synthetic"):
            object.__setattr__(self, name, bool(getattr(self, name)))
        if self.early_stop is None:
            if self.target_epoch is not None:
                raise InputError("--target-epoch: only with --early-stop")
        else:
            from .predict import METHODS, check_target_epoch

            if self.early_stop not in METHODS:
                raise InputError(f"--early-stop {self.early_stop!r}: expected one of {', '.join(METHODS)}")
            target = min(DEFAULT_TARGET_EPOCH, float(self.epochs)) if self.target_epoch is None else self.target_epoch
            target = check_target_epoch(target)
            if target > self.epochs:
                raise InputError(f"--target-epoch {target:g}: beyond --epochs {self.epochs}")
            object.__setattr__(self, "target_epoch", target)

    def n_train_full(self, dataset: str) -> int:
        """The training-split size the batch-size rule uses for ``dataset``."""
        return n_train_full(dataset, self.svhn_extra)

    def run_options(self, micro_batches: int = 1) -> RunOptions:
        """The options of each network's training run."""
        return RunOptions(epochs=self.epochs, precision=self.precision, deterministic=self.deterministic,
                          micro_batches=micro_batches, train_images=self.train_images, test_images=self.test_images)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["datasets"] = list(self.datasets)
        return out

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> "CampaignOptions":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: (tuple(v) if k == "datasets" else v) for k, v in obj.items() if k in names})


def _check_int(value: object, what: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InputError(f"{what} {value!r}: expected an integer >= {low}")
    return value


@dataclass(frozen=True)
class ExecutionOptions:
    """How a campaign runs: these may change between runs of the same campaign.

    ``workers``: worker processes on the CPU (default: one per core), or the Ray CPUs to
    start a local instance with. ``per_gpu``: concurrent trainings on each GPU. ``device``:
    ``auto`` (every visible GPU, else the CPU), ``cpu``, ``cuda`` (every visible GPU) or
    ``cuda:0,2`` (those GPUs). ``ray``: None for the local pool, ``""`` to start a local Ray
    instance, or the address of a running Ray cluster. ``retries``: how many times a failed
    network is tried again in one run. ``threads``: torch threads per training (default:
    cores // workers). ``progress``: show the overall bar (default: when stderr is a terminal).
    """

    workers: int | None = None
    per_gpu: int = 1
    device: str = "auto"
    ray: str | None = None
    retries: int = 2
    data_root: str | None = None
    download: bool = True
    threads: int | None = None
    progress: bool | None = None

    def __post_init__(self) -> None:
        if self.workers is not None:
            _check_int(self.workers, "--workers", 1)
        _check_int(self.per_gpu, "--per-gpu", 1)
        _check_int(self.retries, "--retries", 0)
        if self.threads is not None:
            _check_int(self.threads, "threads", 1)


# --------------------------------------------------------------------------------------
# The manifest


@dataclass(frozen=True)
class PlannedRun:
    """One network of a campaign, as the manifest holds it."""

    dataset: str
    random_seed: int
    conv_layers: int
    index: int  # position in its data set's plan
    ID: str
    batch_size: int
    flops: int  # forward FLOPs per image

    def spec(self, options: CampaignOptions) -> NetworkSpec:
        """The network, drawn again from its seed (no run facts)."""
        from .sample import sample

        return sample(self.dataset, self.random_seed, self.conv_layers, n_train=options.n_train_full(self.dataset))

    def images(self, options: CampaignOptions) -> tuple[int, int]:
        """(training images used per epoch, test images validated each time), as the trainer
        cuts them: an even number of whole batches, and whole batches."""
        return used_images(*self.subsets(options), self.batch_size)

    def subsets(self, options: CampaignOptions) -> tuple[int, int]:
        """(training images, test images) available to the trainer: the prefixes asked for,
        or the whole splits."""
        full, n_test = options.n_train_full(self.dataset), dataset_info(self.dataset).n_test
        return min(options.train_images or full, full), min(options.test_images or n_test, n_test)

    def cost(self, options: CampaignOptions) -> float:
        """Forward-pass FLOPs of the whole training: x3 per training image (forward and
        backward), x1 per validated image, two validations per epoch."""
        used, validated = self.images(options)
        return float(self.flops) * (3 * used + 2 * validated) * options.epochs


@dataclass(frozen=True)
class Manifest:
    options: CampaignOptions
    networks: tuple[PlannedRun, ...]
    created: str

    def by_id(self) -> dict[str, PlannedRun]:
        return {n.ID: n for n in self.networks}


def manifest_path(out: str | Path) -> Path:
    return Path(out) / MANIFEST


def make_manifest(options: CampaignOptions) -> Manifest:
    """Plan every network (``nnlife.sample.plan`` per data set) and give each an ID: its
    creation time, strictly increasing by at least a microsecond across the campaign."""
    from .shapes import analyse

    networks: list[PlannedRun] = []
    last: datetime | None = None
    for dataset in options.datasets:
        for planned in plan(dataset, options.per_dataset, options.seed):
            spec = planned.spec(n_train=options.n_train_full(dataset))
            now = datetime.now()
            last = now if last is None or now > last else last + timedelta(microseconds=1)
            networks.append(PlannedRun(dataset, planned.random_seed, planned.n_conv, planned.index,
                                       make_id(last), spec.batch_size, analyse(spec).flops))
    manifest = Manifest(options, tuple(networks), datetime.now().isoformat(timespec="seconds"))
    check_subsets(manifest)
    return manifest


def check_subsets(manifest: Manifest) -> None:
    """Every network must be able to train on the subsets asked for: an even number of
    whole batches of training images, and at least one batch of test images. The message
    names the network with the largest batch size, which sets the minimum."""
    options = manifest.options
    for dataset in options.datasets:
        info = dataset_info(dataset)
        full = options.n_train_full(dataset)
        if options.train_images is not None and options.train_images > full:
            raise InputError(f"--train-images {options.train_images}: {dataset} has only {full} training images")
        if options.test_images is not None and options.test_images > info.n_test:
            raise InputError(f"--test-images {options.test_images}: {dataset} has only {info.n_test} test images")
        nets = [n for n in manifest.networks if n.dataset == dataset]
        if not nets:
            continue
        net = max(nets, key=lambda n: n.batch_size)
        used, validated = net.images(options)
        b = net.batch_size
        for flag, value, have, need, kind in (("--train-images", options.train_images, used, 2 * b, "training"),
                                              ("--test-images", options.test_images, validated, b, "test")):
            if have == 0:
                raise InputError(f"{flag} {value}: too few for {dataset} network {net.ID} (seed {net.random_seed}), "
                                 f"whose batch size {b} needs at least {need} {kind} images")


def _check_ids(manifest: Manifest, where: str) -> None:
    """Every network of a campaign has its own ID: tables, records and the journal are keyed
    by it, so two networks sharing one would overwrite each other's table."""
    seen: dict[str, int] = {}
    for i, n in enumerate(manifest.networks):
        if n.ID in seen:
            raise InputError(f"{where}: field 'networks': networks {seen[n.ID]} and {i} share the ID {n.ID}; "
                             f"expected one ID per network")
        seen[n.ID] = i


def write_manifest(out: str | Path, manifest: Manifest) -> Path:
    """Write ``DIR/campaign.json`` atomically: one network per line. Refuses (InputError) a
    manifest in which two networks share an ID."""
    _check_ids(manifest, str(manifest_path(out)))
    head = {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "created": manifest.created,
            "options": manifest.options.to_dict()}
    lines = [f" {json.dumps(k)}: {json.dumps(v)}" for k, v in head.items()]
    nets = ",\n".join("  " + json.dumps(dataclasses.asdict(n)) for n in manifest.networks)
    text = "{\n" + ",\n".join(lines) + ',\n "networks": [\n' + nets + "\n ]\n}\n"
    return atomic_write_text(manifest_path(out), text)


def read_manifest(out: str | Path) -> Manifest:
    """Read ``DIR/campaign.json``. Raises :class:`InputError` naming the file."""
    path = manifest_path(out)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{Path(out)}: no campaign here (no {MANIFEST})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read ({err})") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    if not isinstance(obj, dict) or obj.get("format") != MANIFEST_FORMAT:
        raise InputError(f"{path}: expected a JSON object with format {MANIFEST_FORMAT!r}")
    if obj.get("version") != MANIFEST_VERSION:
        raise InputError(f"{path}: field 'version': expected {MANIFEST_VERSION}, got {obj.get('version')!r}")
    try:
        options = CampaignOptions.from_dict(obj["options"])
        networks = tuple(PlannedRun(**n) for n in obj["networks"])
        manifest = Manifest(options, networks, str(obj.get("created", "")))
    except KeyError as err:
        raise InputError(f"{path}: field {err}: missing") from None
    except TypeError as err:
        raise InputError(f"{path}: field 'networks': {err}") from None
    except InputError as err:
        raise InputError(f"{path}: field 'options': {err}") from None
    _check_ids(manifest, str(path))
    return manifest


def open_manifest(out: str | Path, options: CampaignOptions) -> Manifest:
    """The campaign's manifest: read when it exists (refused with a one-line error naming the
    first defining option that differs from ``options``), else planned and written."""
    if manifest_path(out).exists():
        manifest = read_manifest(out)
        old, new = manifest.options.to_dict(), options.to_dict()
        for name in old:
            if old[name] != new.get(name):
                raise InputError(
                    f"{out}: {OPTION_FLAGS.get(name, name)} differs from the campaign in this directory "
                    f"(created with {_show(old[name])}, now {_show(new.get(name))}); use the same options "
                    f"to resume it, or another --out for a new campaign"
                )
        check_subsets(manifest)
        return manifest
    manifest = make_manifest(options)
    write_manifest(out, manifest)
    return manifest


def _show(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return "not set" if value is None else str(value)


# --------------------------------------------------------------------------------------
# Where things are


def table_file(out: str | Path, net: PlannedRun) -> Path:
    return Path(out) / dataset_info(net.dataset).models_dir / f"{net.ID}.txt"


def record_file(out: str | Path, net: PlannedRun) -> Path:
    from .record import record_path

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


# --------------------------------------------------------------------------------------
# The lock


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


# --------------------------------------------------------------------------------------
# The journal


class Journal:
    """Appends events to ``DIR/campaign.log.jsonl`` (one JSON object per line, each written
    with one ``write`` on a file opened for appending) and to ``DIR/campaign.log``."""

    def __init__(self, out: str | Path):
        out = Path(out)
        self.fd = os.open(out / JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self.log_fd = os.open(out / LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def event(self, kind: str, **fields: Any) -> dict:
        entry = {"time": datetime.now().isoformat(timespec="microseconds"), "event": kind, **fields}
        os.write(self.fd, (json.dumps(entry, default=str) + "\n").encode())
        os.write(self.log_fd, (_log_line(entry) + "\n").encode())
        return entry

    def close(self) -> None:
        for fd in (self.fd, self.log_fd):
            try:
                os.close(fd)
            except OSError:
                pass


def _log_line(e: dict) -> str:
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
        text = (Path(out) / JOURNAL).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    events = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and "event" in entry:
            events.append(entry)
    return events


# --------------------------------------------------------------------------------------
# Fault injection


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


# --------------------------------------------------------------------------------------
# The task: one network, one attempt (runs in a worker process)


@dataclass(frozen=True)
class Task:
    """Everything a worker needs to train one network once; picklable."""

    out: str
    net: PlannedRun
    options: CampaignOptions
    attempt: int  # 1, 2, ... within this run
    starts: int  # trainings of this network started before this one, over the campaign's life
    errors: tuple[str, ...]  # errors of earlier attempts
    device: str  # "cpu" or "cuda" (a worker sees only its own GPU)
    threads: int | None  # torch threads, None: leave as is
    data_root: str | None
    download: bool
    faults: str  # NNLIFE_INJECT_FAULTS as the campaign read it


Report = Callable[[str, dict], None]

_SYNTHETIC: dict[tuple, Any] = {}


def synthetic_data(dataset: str, *, device: str = "cpu", svhn_extra: bool = False, train_images: int | None = None,
                   test_images: int | None = None):
    """Seeded random images and labels in ``dataset``'s shapes, for throughput measurements:
    the first ``train_images``/``test_images`` of splits of the official sizes (the sizes the
    trainer and the records see; default: all). Cached per process like
    :func:`nnlife.data.load_data`."""
    import torch

    from .data import from_arrays, resolve_device

    info = dataset_info(dataset)
    full = n_train_full(info.name, svhn_extra)
    n_train = min(train_images or full, full)
    n_test = min(test_images or info.n_test, info.n_test)
    key = (info.name, str(device), svhn_extra, n_train, n_test)
    if key not in _SYNTHETIC:
        g = torch.Generator().manual_seed(list(DATASETS).index(info.name))
        shape = (info.channels, info.side, info.side)
        x = lambda n: torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8)  # noqa: E731
        y = lambda n: torch.randint(0, info.classes, (n,), generator=g)  # noqa: E731
        _SYNTHETIC[key] = from_arrays(info.name, x(n_train), y(n_train), x(n_test), y(n_test), files=("synthetic",),
                                      device=resolve_device(device), n_train_full=full,
                                      n_test_full=info.n_test, svhn_extra=svhn_extra)
    return _SYNTHETIC[key]


def task_data(task: Task):
    """The data set of a task on the task's device (loaded once per process)."""
    from .data import load_data, resolve_device

    options = task.options
    if options.synthetic:
        return synthetic_data(task.net.dataset, device=task.device, svhn_extra=options.svhn_extra,
                              train_images=options.train_images, test_images=options.test_images)
    return load_data(task.net.dataset, root=task.data_root, device=resolve_device(task.device),
                     download=task.download, svhn_extra=options.svhn_extra and task.net.dataset == "SVHN")


class _EarlyStop:
    """A trainer listener around :class:`nnlife.predict.OnlineStopper`; on close it puts the
    outcome into the record's ``extra``."""

    def __init__(self, method: str, target_epoch: float, extra: dict):
        from .predict import OnlineStopper

        self.stopper = OnlineStopper(method, target_epoch)
        self.extra = extra

    def __call__(self, row) -> bool:
        return self.stopper.observe(row.epoch, row.valAcc, row.trainLoss, row.valLoss)

    def close(self) -> None:
        o = self.stopper.result()
        self.extra["early_stop"] = {"method": o.method, "target_epoch": o.target_epoch, "converged": o.converged,
                                    "stop_epoch": o.stop_epoch, "predicted": o.predicted, "uncertainty": o.uncertainty}


class _InjectedOOM:
    """Fault injection: raises a CUDA out-of-memory error inside the trainer, before the
    first batch (where the first forward pass of a network too big for the GPU fails)."""

    def begin(self, facts) -> None:
        import torch

        raise torch.cuda.OutOfMemoryError(
            f"CUDA out of memory (injected by {FAULTS_ENV}) with {facts.micro_batches} micro-batches")

    def __call__(self, row) -> None:
        return None


def _free_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def worker_name(device: str) -> str:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    where = f"{device} (GPU {visible})" if device.startswith("cuda") and visible is not None else device
    return f"{socket.gethostname()}:{os.getpid()} {where}"


def run_one(task: Task, report: Report | None = None) -> dict:
    """Train one network once, as a campaign does; the one task function of every executor.

    Writes the record and then the table (via :func:`nnlife.train.run_network`). An
    out-of-memory error is retried at once with twice the micro-batches (up to the batch
    size); any other error ends the attempt. Never raises for a failure of the network:
    returns ``{"status": "complete" | "stopped_early" | "failed", "error", "retryable",
    "epochs_trained", "micro_batches", "seconds", "worker", ...}``. ``report(kind, info)``
    receives ``start`` and ``oom-retry`` as they happen.
    """
    import torch

    from .record import read_record
    from .train import run_network

    report = report or (lambda kind, info: None)
    if task.threads:
        torch.set_num_threads(task.threads)
    faults = [f for f in parse_faults(task.faults) if f.applies(task.net.ID, task.attempt)]
    worker = worker_name(task.device)
    options, net = task.options, task.net
    extra: dict[str, Any] = {
        "campaign_seed": options.seed, "plan_index": net.index, "attempt": task.attempt, "starts": task.starts + 1,
        "errors": list(task.errors), "micro_batches": 1, "oom_retries": 0, "worker": worker, "early_stop": None,
    }
    t0 = time.perf_counter()

    def failed(error: str, retryable: bool = True) -> dict:
        return {"status": "failed", "error": error, "retryable": retryable, "epochs_trained": 0.0,
                "micro_batches": extra["micro_batches"], "oom_retries": extra["oom_retries"], "worker": worker,
                "seconds": time.perf_counter() - t0, "extra": extra}

    try:
        spec = net.spec(options)
        data = task_data(task)
    except InputError as err:  # a data file missing or corrupt: every attempt would fail alike
        return failed(str(err), retryable=False)
    report("start", {"worker": worker, "pid": os.getpid(), "device": str(data.device)})
    if any(f.kind == "crash" for f in faults):
        os.kill(os.getpid(), signal.SIGKILL)
    micro_batches, tries = 1, 0
    while True:
        tries += 1
        extra["micro_batches"] = micro_batches
        listeners: list[Any] = []
        if options.early_stop:
            listeners.append(_EarlyStop(options.early_stop, options.target_epoch, extra))
        if any(f.kind == "oom-always" or (f.kind == "oom" and tries == 1) for f in faults):
            listeners.append(_InjectedOOM())
        if any(f.kind == "error" for f in faults):
            listeners.append(_InjectedError())
        out_of_memory = False
        try:
            path = run_network(spec, data, task.out, options.run_options(micro_batches), ID=net.ID,
                               listeners=listeners, record_extra=extra)
        except torch.cuda.OutOfMemoryError:
            out_of_memory = True
        except InputError as err:  # options that cannot work for this network
            return failed(str(err), retryable=False)
        except Exception as err:
            return failed(f"{type(err).__name__}: {err}")
        if out_of_memory:
            # Out of the except block: the traceback, and the tensors its frames hold, are gone.
            _free_memory()
            if micro_batches >= spec.batch_size:
                error = (f"out of memory even with {micro_batches} micro-batches "
                         f"(one image at a time, batch size {spec.batch_size})")
                _mark_failed(task.out, net, error, extra)
                return failed(error)
            micro_batches = min(2 * micro_batches, spec.batch_size)
            extra["oom_retries"] += 1
            report("oom-retry", {"micro_batches": micro_batches})
            continue
        record = read_record(record_file(task.out, net))
        return {"status": record.status, "error": None, "retryable": False, "epochs_trained": record.epochs_trained,
                "micro_batches": micro_batches, "oom_retries": extra["oom_retries"], "worker": worker,
                "seconds": time.perf_counter() - t0, "started": record.started, "path": str(path),
                "extra": extra}


class _InjectedError:
    def begin(self, facts) -> None:
        raise RuntimeError(f"failure injected by {FAULTS_ENV}")

    def __call__(self, row) -> None:
        return None


def _mark_failed(out: str | Path, net: PlannedRun, error: str, extra: dict) -> None:
    """Rewrite the record of a failed attempt with the campaign's reason and facts."""
    import dataclasses as dc

    from .record import read_record, write_record

    path = record_file(out, net)
    try:
        record = read_record(path)
    except InputError:
        return
    write_record(out, dc.replace(record, status="failed", error=error, extra=dict(extra)))


def record_failure(out: str | Path, net: PlannedRun, options: CampaignOptions, error: str, extra: dict,
                   device: str) -> None:
    """Make the record of ``net`` say that it failed with ``error`` (for a worker that died
    and so could not say it): the existing record rewritten, or a new one with the sizes the
    trainer would have used."""
    import dataclasses as dc

    from .record import make_record, read_record, write_record

    path = record_file(out, net)
    try:
        record = read_record(path) if path.exists() else None
    except InputError:
        record = None
    if record is not None:
        record = dc.replace(record, status="failed", error=error, epochs_trained=0.0, seconds=(), val_seconds=(),
                            train_accuracy=(), extra=dict(extra))
    else:
        spec = net.spec(options).with_run(ID=net.ID, train_GPU=device.startswith("cuda"),
                                          torch_set_deterministic=options.deterministic)
        train_subset, test_subset = net.subsets(options)
        facts = run_facts(options.run_options(), random_seed=net.random_seed, batch_size=net.batch_size,
                          train_subset=train_subset, test_subset=test_subset,
                          n_train_full=options.n_train_full(net.dataset), n_test_full=dataset_info(net.dataset).n_test,
                          device=device, device_name="unknown (the worker died before training)", data_files=(),
                          svhn_extra=options.svhn_extra and net.dataset == "SVHN",
                          started=datetime.now().isoformat(timespec="microseconds"))
        record = make_record(spec, facts, None, status="failed", error=error, extra=extra)
    write_record(out, record)


# --------------------------------------------------------------------------------------
# Running a campaign


@dataclass(frozen=True)
class Failure:
    ID: str
    dataset: str
    error: str


@dataclass(frozen=True)
class Summary:
    """What one run of a campaign did."""

    out: str
    planned: int
    done_before: int  # tables that existed when the run started
    trained: int  # networks finished in this run
    stopped_early: int  # of which stopped by the early-stop method
    failures: tuple[Failure, ...]  # networks that failed every attempt of this run
    retried_failures: int  # networks failed in an earlier run and retried in this one
    half_epochs: int  # half epochs trained in this run by the networks that finished
    seconds: float
    backend: str

    @property
    def done(self) -> int:
        return self.done_before + self.trained

    def text(self) -> str:
        lines = [f"campaign {self.out}: {self.done} of {self.planned} networks done"]
        if self.trained == 0 and not self.failures:
            lines[0] += " (nothing to do)" if self.done == self.planned else ""
        else:
            part = f"this run: {self.trained} trained"
            if self.stopped_early:
                part += f" ({self.stopped_early} stopped early)"
            part += f", {len(self.failures)} failed, {self.half_epochs} half epochs in {self.seconds:.1f} s on {self.backend}"
            if self.retried_failures:
                part += f"; {self.retried_failures} networks that had failed before were retried"
            lines.append(part)
        if self.failures:
            lines.append(f"failed ({len(self.failures)}; a re-run of the same command retries them):")
            lines += [f"  {f.dataset} {f.ID}: {f.error}" for f in self.failures]
        return "\n".join(lines)


def run_campaign(
    out: str | Path,
    options: CampaignOptions,
    execution: ExecutionOptions | None = None,
    *,
    echo: Callable[[str], None] | None = None,
) -> Summary:
    """Run (or resume) the campaign in ``out`` to the end and return what this run did.

    Takes the lock, reads or writes the manifest, deletes stale temporary files, and trains
    every network without a table, most expensive first, on the local pool or Ray. Raises
    :class:`InputError` for options that cannot work, a locked directory, or a manifest made
    with other options. ``echo`` receives a few one-line messages (e.g. the plan of the run).
    """
    execution = execution or ExecutionOptions()
    echo = echo or (lambda text: None)
    out_path = Path(out)
    out_path.mkdir(parents=True, exist_ok=True)
    faults_text = os.environ.get(FAULTS_ENV, "")
    parse_faults(faults_text)
    with CampaignLock(out_path):
        manifest = open_manifest(out_path, options)
        removed = remove_stale_temporaries(out_path)
        if removed:
            echo(f"removed {len(removed)} temporary files left by an interrupted run")
        todo = [n for n in manifest.networks if not is_done(out_path, n)]
        history = read_journal(out_path)
        journal = Journal(out_path) if todo or _unjournaled(out_path, manifest, history) else None
        try:
            if journal is not None:
                _recover_done_events(out_path, manifest, history, journal)
            if not todo:
                return Summary(str(out_path), len(manifest.networks), len(manifest.networks), 0, 0, (), 0, 0, 0.0, "none")
            return _run(out_path, manifest, todo, history, journal, execution, faults_text, echo)
        finally:
            if journal is not None:
                journal.close()


def training_order(options: CampaignOptions, networks: Iterable[PlannedRun]) -> list[PlannedRun]:
    """Most expensive first (:meth:`PlannedRun.cost`), so that the pool does not end waiting
    on one giant network; ties in plan order."""
    return sorted(networks, key=lambda n: (-n.cost(options), options.datasets.index(n.dataset), n.index))


def _unjournaled(out: Path, manifest: Manifest, history: list[dict]) -> bool:
    done = {e.get("ID") for e in history if e.get("event") == "done"}
    return any(n.ID not in done and is_done(out, n) for n in manifest.networks)


def _recover_done_events(out: Path, manifest: Manifest, history: list[dict], journal: Journal) -> None:
    """A run killed between a table's write and its journal line left a finished network
    without a ``done`` event: add it now (marked ``recovered``), from its record."""
    from .record import read_record

    done = {e.get("ID") for e in history if e.get("event") == "done"}
    for net in manifest.networks:
        if net.ID in done or not is_done(out, net):
            continue
        fields: dict[str, Any] = {"ID": net.ID, "dataset": net.dataset, "recovered": True}
        try:
            record = read_record(record_file(out, net))
            fields.update(status=record.status, epochs_trained=record.epochs_trained, started=record.started,
                          seconds=sum(record.seconds), micro_batches=record.micro_batches)
        except InputError:
            pass
        journal.event("done", **fields)


def _errors_by_id(history: list[dict]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for e in history:
        if e.get("event") in ("failed", "crash") and "ID" in e:
            errors.setdefault(e["ID"], []).append(f"attempt {e.get('attempt')}: {e.get('error')}")
    return errors


def _run(out: Path, manifest: Manifest, todo: list[PlannedRun], history: list[dict], journal: Journal,
         execution: ExecutionOptions, faults_text: str, echo: Callable[[str], None]) -> Summary:
    from .executors import make_executor

    options = manifest.options
    errors = _errors_by_id(history)
    starts: dict[str, int] = {}
    for e in history:
        if e.get("event") == "start":
            starts[e["ID"]] = starts.get(e["ID"], 0) + 1
    failed_before = sum(1 for n in todo if n.ID in errors)
    executor = make_executor(execution)  # local workers start up (import torch) meanwhile
    try:
        if not options.synthetic and execution.ray in (None, ""):
            preflight(options, [d for d in options.datasets if any(n.dataset == d for n in todo)], execution)
    except BaseException:
        executor.close(kill=True)
        raise
    backend = executor.describe()
    t_start = time.time()
    journal.event("campaign-start", pid=os.getpid(), host=socket.gethostname(), planned=len(manifest.networks),
                  to_train=len(todo), backend=backend, retries=execution.retries)
    echo(f"campaign {out}: {len(manifest.networks)} networks planned, "
         f"{len(manifest.networks) - len(todo)} done, {len(todo)} to train on {backend}")

    # Most expensive first; a retried network goes back in at its place.
    queue = [(i, n) for i, n in enumerate(training_order(options, todo))]
    heapq.heapify(queue)
    by_order = {n.ID: (i, n) for i, n in queue}
    attempts: dict[str, int] = {}
    workers: dict[str, str] = {}  # the worker that runs each network
    micro_batches: dict[str, int] = {}
    failures: list[Failure] = []
    trained = stopped = halves = 0
    per_dataset_done = {d: sum(1 for n in manifest.networks if n.dataset == d and is_done(out, n)) for d in options.datasets}
    per_dataset_total = {d: sum(1 for n in manifest.networks if n.dataset == d) for d in options.datasets}
    work_left = sum(n.cost(options) for n in todo)  # for the time left (see _eta)
    work_done = 0.0
    bar = _Bar(len(manifest.networks), len(manifest.networks) - len(todo), execution.progress)
    bar.update(0, per_dataset_done, per_dataset_total, 0, None)

    def task_for(net: PlannedRun) -> Task:
        # device and threads are the executor's to fill in: it knows which worker runs it
        return Task(str(out), net, options, attempts[net.ID], starts.get(net.ID, 0), tuple(errors.get(net.ID, ())),
                    "", None, execution.data_root, execution.download, faults_text)

    def attempt_failed(task: Task, kind: str, error: str, retryable: bool) -> None:
        nonlocal work_left
        net, attempt = task.net, task.attempt
        final = not retryable or attempt > execution.retries
        journal.event(kind, ID=net.ID, dataset=net.dataset, attempt=attempt, error=error, final=final)
        if kind == "crash" or not record_file(out, net).exists():
            # the worker could not write the record: say here what happened to the network
            extra = {"campaign_seed": options.seed, "plan_index": net.index, "attempt": attempt,
                     "starts": starts.get(net.ID, 0), "errors": list(errors.get(net.ID, ())),
                     "micro_batches": micro_batches.get(net.ID, 1), "oom_retries": None,
                     "worker": workers.get(net.ID, task.device), "early_stop": None}
            record_failure(out, net, options, error, extra, task.device)
        errors.setdefault(net.ID, []).append(f"attempt {attempt}: {error}")
        if final:
            failures.append(Failure(net.ID, net.dataset, error))
            work_left -= net.cost(options)
        else:
            journal.event("retry", ID=net.ID, dataset=net.dataset, attempt=attempt + 1)
            heapq.heappush(queue, by_order[net.ID])

    interrupted = False
    previous_handler = _sigterm_as_interrupt()
    try:
        while queue or executor.busy():
            while queue and executor.free() > 0:
                _, net = heapq.heappop(queue)
                attempts[net.ID] = attempts.get(net.ID, 0) + 1
                executor.submit(task_for(net))
            for kind, task, info in executor.poll(0.5):
                net = task.net
                if kind == "start":
                    starts[net.ID] = starts.get(net.ID, 0) + 1
                    workers[net.ID] = info.get("worker")
                    micro_batches[net.ID] = 1
                    journal.event("start", ID=net.ID, dataset=net.dataset, attempt=task.attempt,
                                  worker=info.get("worker"), pid=info.get("pid"), device=info.get("device"))
                elif kind == "oom-retry":
                    micro_batches[net.ID] = info.get("micro_batches")
                    journal.event("oom-retry", ID=net.ID, dataset=net.dataset, attempt=task.attempt,
                                  micro_batches=info.get("micro_batches"))
                elif kind == "crash":
                    attempt_failed(task, "crash", info["error"], info.get("retryable", True))
                elif info["status"] == "failed":
                    attempt_failed(task, "failed", info["error"], info.get("retryable", True))
                else:
                    trained += 1
                    stopped += info["status"] == "stopped_early"
                    halves += int(round(2 * info["epochs_trained"]))
                    per_dataset_done[net.dataset] += 1
                    work_done += net.cost(options)
                    work_left -= net.cost(options)
                    journal.event("done", ID=net.ID, dataset=net.dataset, attempt=task.attempt, status=info["status"],
                                  epochs_trained=info["epochs_trained"], micro_batches=info["micro_batches"],
                                  seconds=round(info["seconds"], 3), started=info.get("started"), worker=info["worker"])
                    bar.update(1, per_dataset_done, per_dataset_total, len(failures),
                               _eta(work_left, work_done, time.time() - t_start))
                if kind != "start":
                    bar.update(0, per_dataset_done, per_dataset_total, len(failures),
                               _eta(work_left, work_done, time.time() - t_start))
    except KeyboardInterrupt:
        interrupted = True
        journal.event("interrupted", pid=os.getpid(), trained=trained)
        raise
    finally:
        _restore_sigterm(previous_handler)
        executor.close(kill=interrupted)
        bar.close()
    seconds = time.time() - t_start
    journal.event("campaign-end", pid=os.getpid(), trained=trained, failed=len(failures), seconds=round(seconds, 3))
    return Summary(str(out), len(manifest.networks), len(manifest.networks) - len(todo), trained, stopped,
                   tuple(sorted(failures, key=lambda f: f.ID)), failed_before, halves, seconds, backend)


def preflight(options: CampaignOptions, datasets: Iterable[str], execution: ExecutionOptions) -> None:
    """Find (download if allowed) and verify the data files once, in the driver, before any
    worker starts: a missing or corrupt file is one clear error, not a failure per network,
    and K workers do not download the same file at once. The arrays are dropped afterwards."""
    from .data import clear_cache, load_data

    try:
        for dataset in datasets:
            load_data(dataset, root=execution.data_root, device="cpu", download=execution.download,
                      svhn_extra=options.svhn_extra and dataset == "SVHN")
    finally:
        clear_cache()


def _sigterm_as_interrupt():
    """SIGTERM stops the driver the way Ctrl-C does (journal line, workers stopped)."""
    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        return None


def _restore_sigterm(previous) -> None:
    if previous is not None:
        try:
            signal.signal(signal.SIGTERM, previous)
        except ValueError:
            pass


class _Bar:
    """One overall tqdm bar on stderr (only when it is a terminal, unless forced)."""

    def __init__(self, total: int, initial: int, enabled: bool | None):
        if enabled is None:
            enabled = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
        self.bar = None
        if enabled:
            from tqdm import tqdm

            # tqdm's own time left counts networks; the postfix has the estimate by FLOPs (_eta).
            self.bar = tqdm(total=total, initial=initial, desc="networks", unit="net", file=sys.stderr,
                            dynamic_ncols=True, smoothing=0.05,
                            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}, {rate_fmt}{postfix}]")

    def update(self, n: int, done: dict[str, int], total: dict[str, int], failed: int, eta: float | None) -> None:
        if self.bar is None:
            return
        postfix = f"ETA {_duration(eta)}, " + " ".join(f"{d} {done[d]}/{total[d]}" for d in total)
        if failed:
            postfix += f" failed {failed}"
        self.bar.set_postfix_str(postfix, refresh=False)
        self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# --------------------------------------------------------------------------------------
# Status of a running or stopped campaign


@dataclass(frozen=True)
class DatasetProgress:
    dataset: str
    planned: int
    done: int
    failed: int  # no table, and the latest attempt failed

    @property
    def remaining(self) -> int:
        return self.planned - self.done - self.failed


@dataclass(frozen=True)
class CampaignStatus:
    out: str
    datasets: tuple[DatasetProgress, ...]
    running_pid: int | None  # the PID holding the lock (0: unknown), None: not running
    last_events: tuple[dict, ...]
    rate_per_hour: float | None  # networks finished per hour in the latest run
    eta_seconds: float | None
    failures: tuple[Failure, ...]

    @property
    def planned(self) -> int:
        return sum(d.planned for d in self.datasets)

    @property
    def done(self) -> int:
        return sum(d.done for d in self.datasets)

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": self.out, "running": self.running_pid is not None, "pid": self.running_pid,
            "planned": self.planned, "done": self.done,
            "datasets": [{**dataclasses.asdict(d), "remaining": d.remaining} for d in self.datasets],
            "rate_per_hour": self.rate_per_hour, "eta_seconds": self.eta_seconds,
            "failures": [dataclasses.asdict(f) for f in self.failures], "last_events": list(self.last_events),
        }

    def text(self) -> str:
        state = "running" if self.running_pid is not None else "not running"
        if self.running_pid:
            state += f" (PID {self.running_pid})"
        lines = [f"campaign {self.out}: {state}, {self.done} of {self.planned} networks done"]
        width = max(len(d.dataset) for d in self.datasets)
        lines.append(f"  {'data set':<{width}}  planned   done  failed  remaining")
        for d in self.datasets:
            lines.append(f"  {d.dataset:<{width}}  {d.planned:>7}  {d.done:>5}  {d.failed:>6}  {d.remaining:>9}")
        if self.rate_per_hour:
            eta = f", ETA {_duration(self.eta_seconds)} (from the FLOPs left)" if self.eta_seconds is not None else ""
            lines.append(f"rate {self.rate_per_hour:.1f} networks/hour in the latest run{eta}")
        if self.failures:
            lines.append(f"failed ({len(self.failures)}; a re-run retries them):")
            lines += [f"  {f.dataset} {f.ID}: {f.error}" for f in self.failures]
        if self.last_events:
            lines.append("last events:")
            lines += ["  " + _log_line(e) for e in self.last_events]
        return "\n".join(lines)


def _eta(work_left: float, work_done: float, seconds: float) -> float | None:
    """Seconds until ``work_left`` is done at the pace at which ``work_done`` took ``seconds``.
    Work is :meth:`PlannedRun.cost` (FLOPs), not a count of networks: the most expensive
    networks go first, so a count-based estimate would be many times too long early on."""
    if work_done <= 0 or seconds <= 0:
        return None
    return work_left * seconds / work_done


def _duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "unknown"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def campaign_status(out: str | Path, *, last: int = 5) -> CampaignStatus:
    """Progress of the campaign in ``out``, running or not: tables done, networks whose
    latest attempt failed, the rest remaining; whether a run holds the lock; the latest run's
    rate (networks finished per hour, from the journal) and the time left at the pace of its
    FLOPs (see :func:`_eta`)."""
    from .record import read_record

    out = Path(out)
    manifest = read_manifest(out)
    events = read_journal(out)
    pid = lock_holder(out)
    progress, failures = [], []
    left: list[PlannedRun] = []  # what the campaign has yet to train (a running one retries failures)
    for dataset in manifest.options.datasets:
        nets = [n for n in manifest.networks if n.dataset == dataset]
        done = failed = 0
        for net in nets:
            if is_done(out, net):
                done += 1
                continue
            path = record_file(out, net)
            record = None
            if path.exists():
                try:
                    record = read_record(path)
                except InputError:
                    pass
            if record is not None and record.status == "failed":
                failed += 1
                failures.append(Failure(net.ID, dataset, record.error or ""))
                if pid is None:
                    continue
            left.append(net)
        progress.append(DatasetProgress(dataset, len(nets), done, failed))
    rate = eta = None
    latest = _latest_run(events, running=pid is not None)
    if latest is not None:
        done_ids, seconds = latest
        rate = len(done_ids) / seconds * 3600
        if left:
            cost = {n.ID: n.cost(manifest.options) for n in manifest.networks}
            eta = _eta(sum(cost[n.ID] for n in left), sum(cost.get(ID, 0.0) for ID in done_ids), seconds)
    return CampaignStatus(str(out), tuple(progress), pid, tuple(events[-last:]) if last else (), rate, eta,
                          tuple(failures))


def _latest_run(events: list[dict], running: bool) -> tuple[list[str], float] | None:
    """The IDs finished since the latest ``campaign-start`` and the seconds since it: up to now
    while it runs, else up to its last event. None before any network finished."""
    starts = [i for i, e in enumerate(events) if e.get("event") == "campaign-start"]
    if not starts:
        return None
    run = events[starts[-1]:]
    done = [e["ID"] for e in run if e.get("event") == "done" and not e.get("recovered") and "ID" in e]
    if not done:
        return None
    t0 = datetime.fromisoformat(run[0]["time"])
    t1 = datetime.now() if running else datetime.fromisoformat(run[-1]["time"])
    seconds = (t1 - t0).total_seconds()
    return (done, seconds) if seconds > 0 else None
