"""One network end to end: which network (:func:`network_spec`), trained
(:func:`nnlife.train.train`) and stored (:func:`store`, :func:`run_network` for all three): the record first, then the table,
both atomically, so that a table exists only for a finished network (docs/records.md,
docs/table-format.md)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable

import torch

from .data import ImageData, resolve_device
from .errors import InputError
from .outputs import check_writable
from .record import make_record, records_dir, write_record
from .run import RunFacts, RunOptions, n_train_full
from .sample import sample
from .spec import NetworkSpec, dataset_info, make_id
from .table import atomic_write_text, format_table, read_table, table_path
from .train import Listener, TrainResult, plan_run, train


def default_conv_layers(seed: int) -> int:
    """The conv-layer count of a network named by its seed alone: ``1 + seed % 10``."""
    return 1 + seed % 10


def network_spec(
    *,
    dataset: str | None = None,
    seed: int | None = None,
    table: str | Path | None = None,
    conv_layers: int | None = None,
    svhn_extra: bool = False,
) -> NetworkSpec:
    """The network to train: drawn from ``seed`` (``conv_layers`` conv layers, default
    :func:`default_conv_layers`) for ``dataset``, or read from line 2 of ``table``. The batch
    size of a drawn network follows the rule on the full training split (with SVHN's extra
    split when ``svhn_extra``). Raises :class:`InputError` for inconsistent arguments."""
    if (seed is None) == (table is None):
        raise InputError("give exactly one of a seed and a table")
    info = dataset_info(dataset) if dataset is not None else None
    if table is not None:
        if conv_layers is not None:
            raise InputError("conv_layers: only with a seed (a table fixes the network)")
        spec = read_table(table).spec
        if info is not None and info.name != spec.dataset:
            raise InputError(f"{table}: the network is for {spec.dataset}, not {info.name}")
    else:
        if info is None:
            raise InputError("a network drawn from a seed needs a data set (--dataset)")
        n_conv = default_conv_layers(seed) if conv_layers is None else conv_layers
        spec = sample(info.name, seed, n_conv, n_train=n_train_full(info.name, svhn_extra))
    if svhn_extra and spec.dataset != "SVHN":
        raise InputError(f"svhn_extra: only SVHN has an extra split, not {spec.dataset}")
    return spec


def check_output(out_dir: str | Path, dataset: str) -> None:
    """Before any training: the directories a run of a ``dataset`` network writes into (its
    tables' and its records') can be written, and nothing is left behind if they can
    (:func:`nnlife.outputs.check_writable` with ``create=False``). Raises
    :class:`~nnlife.errors.OutputError` naming the directory."""
    info = dataset_info(dataset)
    for directory in (Path(out_dir) / info.models_dir, records_dir(out_dir, info.name)):
        check_writable(directory, create=False)


def store(out_dir: str | Path, spec: NetworkSpec, result: TrainResult, *, extra: dict | None = None,
          network: str | None = None) -> Path:
    """Write the record of a finished run of ``spec`` (with its run facts filled in) under
    ``out_dir``, then its table; returns the table path. ``network``: the ID of the
    network's repeat 0 (default: the spec's own)."""
    status = "stopped_early" if result.stopped_early else "complete"
    write_record(out_dir, make_record(spec, result.facts, result, status=status, extra=extra, network=network))
    return atomic_write_text(table_path(out_dir, spec), format_table(spec, result.curve))


def store_failure(out_dir: str | Path, spec: NetworkSpec, facts: RunFacts, error: str, *,
                  extra: dict | None = None, network: str | None = None) -> Path:
    """Write the record of a run of ``spec`` that failed with ``error`` (no table); returns the
    record path."""
    return write_record(out_dir, make_record(spec, facts, None, status="failed", error=error, extra=extra,
                                             network=network))


def run_network(
    spec: NetworkSpec,
    data: ImageData,
    out_dir: str | Path,
    options: RunOptions = RunOptions(),
    *,
    ID: str | None = None,
    device: str | torch.device | None = None,
    listeners: Iterable[Listener | Callable] = (),
    record_extra: dict | None = None,
    network: str | None = None,
) -> Path:
    """Train ``spec`` and write ``<out>/<Dataset dir>_models/<ID>.txt`` and its extended
    record ``<out>/<Dataset dir>_records/<ID>.json``; returns the table path.

    ``ID`` defaults to the creation time. If training raises, a record with status "failed"
    and the error is written (no table) and the error re-raised; a mistake in the options
    (:class:`InputError`) writes nothing. For a repeat (``options.repeat`` > 0), ``network``
    is the ID of the network's repeat 0, which the record names."""
    ID = ID or make_id(datetime.now())
    if device is not None:
        data = data.to(resolve_device(device))
    run_spec = spec.with_run(ID=ID, train_GPU=data.device.type == "cuda", torch_set_deterministic=options.deterministic)
    try:
        result = train(run_spec, data, options, listeners=listeners)
    except InputError:
        raise  # a mistake in the options: nothing ran, nothing to record
    except Exception as err:
        store_failure(out_dir, run_spec, plan_run(run_spec, data, options), f"{type(err).__name__}: {err}",
                      extra=record_extra, network=network)
        raise
    return store(out_dir, run_spec, result, extra=record_extra, network=network)
