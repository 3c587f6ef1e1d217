"""The options that define a campaign (:class:`CampaignOptions`, written into its manifest);
how it runs (:class:`~nnlife.executors.ExecutionOptions`) may change between runs."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..executors.base import ExecutionOptions, check_int
from ..predict import METHODS, check_target_epoch, make_predictor
from ..run import RunOptions, check_precision, n_train_full
from ..sample import MAX_CONV, check_seed
from ..spec import DATASETS, dataset_info

__all__ = ["DEFAULT_TARGET_EPOCH", "OPTION_FLAGS", "CampaignOptions", "ExecutionOptions"]

DEFAULT_TARGET_EPOCH = 20.0

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
    "repeats": "--repeats",
    "max_mflops": "--max-mflops",
    "min_lr": "--min-lr",
    "max_conv_layers": "--max-conv-layers",
}


@dataclass(frozen=True)
class CampaignOptions:
    """What defines a campaign: changing any of these makes a different campaign.

    ``datasets`` are kept in the canonical order (FashionMNIST, CIFAR100, SVHN) whatever
    order they are given in. ``train_images``/``test_images`` train and validate every
    network on prefixes of the splits. ``early_stop`` names a method of
    :data:`nnlife.predict.METHODS`, ``learned:MODEL``, ``penguin_stop+learned:MODEL`` or
    ``package.module:Class`` (as ``nnlife evaluate`` takes them); ``target_epoch`` (only with
    it) defaults to ``min(20, epochs)``. ``synthetic`` trains on seeded random images of each data set's
    exact shapes instead of the real files: for throughput measurements only (the manifest
    and every record say so).

    ``repeats``: each planned network is trained that many times (repeat 0, 1, ...;
    docs/training.md), every repeat its own unit of the manifest. ``max_mflops``, ``min_lr`` and
    ``max_conv_layers`` make a cheap demonstration, not the published distribution: only the
    planned networks of at most that many forward MFLOP per image, at least that learning rate
    and at most that many conv layers are kept, for each conv-layer count the first ones of the plan (:func:`nnlife.sample.plan_selected`, so their
    seeds are the published plan's). The manifest's options say so in ``selection``.
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
    repeats: int = 1
    max_mflops: float | None = None
    min_lr: float | None = None
    max_conv_layers: int | None = None

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
        check_int(self.per_dataset, "--per-dataset", 1)
        check_seed(self.seed, "--seed")
        check_int(self.epochs, "--epochs", 1)
        for name in ("train_images", "test_images"):
            if getattr(self, name) is not None:
                check_int(getattr(self, name), OPTION_FLAGS[name], 1)
        check_precision(self.precision, "--precision")
        check_int(self.repeats, "--repeats", 1)
        for name in ("max_mflops", "min_lr"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise InputError(f"{OPTION_FLAGS[name]} {value!r}: expected a positive number")
            object.__setattr__(self, name, float(value))
        if self.max_conv_layers is not None:
            check_int(self.max_conv_layers, "--max-conv-layers", 1)
            if self.max_conv_layers > MAX_CONV:
                raise InputError(f"--max-conv-layers {self.max_conv_layers}: expected an integer from 1 to {MAX_CONV}")
        if self.svhn_extra and "SVHN" not in self.datasets:
            raise InputError("--svhn-extra: only with SVHN among the data sets")
        for name in ("deterministic", "svhn_extra", "synthetic"):
            object.__setattr__(self, name, bool(getattr(self, name)))
        if self.early_stop is None:
            if self.target_epoch is not None:
                raise InputError("--target-epoch: only with --early-stop")
        else:
            if ":" not in self.early_stop and self.early_stop not in METHODS:
                raise InputError(f"--early-stop {self.early_stop!r}: expected one of {', '.join(METHODS)}, "
                                 f"learned:MODEL, penguin_stop+learned:MODEL or package.module:Class")
            try:  # learned:MODEL and package.module:Class are loaded here, before anything is trained
                make_predictor(self.early_stop)
            except InputError as err:
                raise InputError(f"--early-stop: {err}") from None
            target = min(DEFAULT_TARGET_EPOCH, float(self.epochs)) if self.target_epoch is None else self.target_epoch
            target = check_target_epoch(target)
            if target > self.epochs:
                raise InputError(f"--target-epoch {target:g}: beyond --epochs {self.epochs}")
            object.__setattr__(self, "target_epoch", target)

    def n_train_full(self, dataset: str) -> int:
        """The training-split size the batch-size rule uses for ``dataset``."""
        return n_train_full(dataset, self.svhn_extra)

    @property
    def selection(self) -> str:
        """What the plan holds, in words (written into the manifest's options, so a report of
        the campaign says it)."""
        if self.max_mflops is None and self.min_lr is None and self.max_conv_layers is None:
            return "the published distribution: every planned network"
        rules = []
        if self.max_mflops is not None:
            rules.append(f"at most {self.max_mflops:g} MFLOP per image (forward)")
        if self.min_lr is not None:
            rules.append(f"learning rate at least {self.min_lr:g}")
        if self.max_conv_layers is not None:
            rules.append(f"at most {self.max_conv_layers} conv layers")
        return ("a small, cheap demo, NOT the published distribution: only the planned networks with "
                + " and ".join(rules) + ", for each conv-layer count the first ones of the plan")

    def run_options(self, micro_batches: int = 1, repeat: int = 0) -> RunOptions:
        """The options of each network's training run (of its repeat ``repeat``)."""
        return RunOptions(epochs=self.epochs, precision=self.precision, deterministic=self.deterministic,
                          micro_batches=micro_batches, train_images=self.train_images, test_images=self.test_images,
                          repeat=repeat)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["datasets"] = list(self.datasets)
        out["selection"] = self.selection
        return out

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> "CampaignOptions":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: (tuple(v) if k == "datasets" else v) for k, v in obj.items() if k in names})
