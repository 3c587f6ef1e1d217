"""One training run's options and sizes, without torch (docs/training.md).

:class:`RunOptions` is what a user chooses for one run (epochs, precision, determinism,
micro-batches, subsets); the command line, :func:`nnlife.train.train`, the records and the
campaigns all pass this one frozen, validated object. :class:`RunFacts` is how a run was
actually made: the options plus the sizes worked out from them (:func:`run_facts`), the
seeds, the device and the data files. Both live here, free of torch, so that the campaign
driver and ``nnlife status`` can plan and describe runs without importing it.

The rules written once here:

* :data:`PRECISIONS`, and their check (:func:`check_precision`);
* the training-split size the batch-size rule counts (:func:`n_train_full`: SVHN with its
  extra split is 73,257 + 531,131 images);
* the truncation of a split (:func:`used_images`): ``floor(N / 2b) * 2b`` training images, so
  that each half epoch is a whole number of batches (for a full split, whose batch size was
  drawn so that ``floor(N / b)`` is even, this is the published ``floor(N / b) * b``), and
  ``floor(M / b) * b`` test images.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .errors import InputError
from .spec import SVHN_EXTRA_IMAGES, dataset_info

PRECISIONS = ("fp32", "tf32", "bf16")


def check_precision(precision: object, what: str = "precision") -> str:
    """``precision`` if it is one of :data:`PRECISIONS`; else :class:`InputError` naming ``what``."""
    if precision not in PRECISIONS:
        raise InputError(f"{what} {precision!r}: expected one of {', '.join(PRECISIONS)}")
    return precision  # type: ignore[return-value]


def n_train_full(dataset: str, svhn_extra: bool = False) -> int:
    """The size of ``dataset``'s full training split, with SVHN's extra split when asked for
    (the split size the batch-size rule uses)."""
    info = dataset_info(dataset)
    return info.n_train + (SVHN_EXTRA_IMAGES if svhn_extra and info.name == "SVHN" else 0)


def used_images(n_train: int, n_test: int, batch_size: int) -> tuple[int, int]:
    """(training images used per epoch, test images validated each time) of splits of
    ``n_train`` and ``n_test`` images: an even number of whole batches, and whole batches.
    The batch-size rule is never re-evaluated for a subset: it is cut instead."""
    b = batch_size
    return n_train // (2 * b) * (2 * b), n_test // b * b


@dataclass(frozen=True)
class RunOptions:
    """What a user chooses for one training run.

    ``precision``: "fp32" (TF32 off), "tf32", or "bf16" (autocast). ``deterministic``
    enforces torch's deterministic algorithms. ``micro_batches=k`` splits each batch into k
    chunks whose gradients accumulate to the same SGD update (checked against the network's
    batch size by :func:`run_facts`). ``train_images``/``test_images``: train and validate on
    prefixes of the splits (None: the whole split). ``repeat``: which training of the network
    this is (docs/training.md, "Repeats"): repeat r draws its seeds from the network's ``random_seed``
    and r (:func:`derive_seeds`); repeat 0 is the ordinary run."""

    epochs: int = 40
    precision: str = "fp32"
    deterministic: bool = False
    micro_batches: int = 1
    train_images: int | None = None
    test_images: int | None = None
    repeat: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise InputError(f"epochs {self.epochs!r}: expected a positive integer")
        check_repeat(self.repeat)
        check_precision(self.precision)
        object.__setattr__(self, "deterministic", bool(self.deterministic))


@dataclass(frozen=True)
class Seeds:
    """The three seeds of a run, all derived from the network's ``random_seed``:
    ``weights`` initialises the module (:func:`nnlife.build.build`), ``order`` drives the
    device generator of the epoch permutations, ``dropout`` seeds torch's global RNG, which
    dropout layers draw from. Distinct, so that no two streams are correlated."""

    weights: int
    order: int
    dropout: int


def check_repeat(repeat: object, what: str = "repeat") -> int:
    """``repeat`` if it is a non-negative integer; else :class:`InputError` naming ``what``."""
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 0:
        raise InputError(f"{what} {repeat!r}: expected a non-negative integer")
    return repeat


def derive_seeds(random_seed: int, repeat: int = 0) -> Seeds:
    """``sha256("nnlife/<purpose>/<random_seed>")``, first 8 bytes, as a 63-bit integer; for
    repeat r > 0 the text is ``"nnlife/<purpose>/<random_seed>/repeat/<r>"``. Repeat 0 keeps
    the text the seeds had before repeats existed, so its runs (and tables) are unchanged."""
    check_repeat(repeat)
    suffix = f"/repeat/{repeat}" if repeat else ""

    def derive(purpose: str) -> int:
        digest = hashlib.sha256(f"nnlife/{purpose}/{random_seed}{suffix}".encode()).digest()
        return int.from_bytes(digest[:8], "big") >> 1

    return Seeds(weights=derive("weights"), order=derive("order"), dropout=derive("dropout"))


@dataclass(frozen=True)
class RunFacts:
    """How a network was trained: everything about the run that is not the curve."""

    options: RunOptions
    device: str  # torch device, e.g. "cpu" or "cuda:0"
    device_name: str  # CPU model or GPU name
    batch_size: int
    train_images: int  # training images used per epoch (even number of whole batches)
    test_images: int  # test images validated each time (whole batches)
    train_subset: int  # training images available (the prefix asked for, or the split)
    test_subset: int
    n_train_full: int  # size of the full training split
    n_test_full: int
    seeds: Seeds
    data_files: tuple[str, ...]
    svhn_extra: bool
    started: str  # ISO 8601 local time
    finished: str = ""

    @property
    def precision(self) -> str:
        return self.options.precision

    @property
    def deterministic(self) -> bool:
        return self.options.deterministic

    @property
    def micro_batches(self) -> int:
        return self.options.micro_batches

    @property
    def repeat(self) -> int:
        return self.options.repeat

    @property
    def epochs_requested(self) -> int:
        return self.options.epochs

    @property
    def batches_per_half(self) -> int:
        return self.train_images // self.batch_size // 2

    @property
    def val_batches(self) -> int:
        return self.test_images // self.batch_size

    @property
    def train_GPU(self) -> bool:
        return self.device.startswith("cuda")


def run_facts(
    options: RunOptions,
    *,
    random_seed: int,
    batch_size: int,
    train_subset: int,
    test_subset: int,
    n_train_full: int,
    n_test_full: int,
    device: str,
    device_name: str,
    data_files: tuple[str, ...],
    svhn_extra: bool,
    started: str,
) -> RunFacts:
    """The sizes of a run of a network of batch size ``batch_size`` on splits of
    ``train_subset``/``test_subset`` images, checked before anything is trained. Raises
    :class:`InputError` for options that cannot work with this network."""
    b, k = batch_size, options.micro_batches
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= b:
        raise InputError(f"micro_batches {k!r}: expected an integer in [1, {b}] (the batch size)")
    n_used, n_val = used_images(train_subset, test_subset, b)
    if n_used == 0:
        raise InputError(f"train_images {train_subset}: too few for two batches of {b} (the network's batch size)")
    if n_val == 0:
        raise InputError(f"test_images {test_subset}: too few for one batch of {b} (the network's batch size)")
    return RunFacts(
        options=options, device=device, device_name=device_name, batch_size=b, train_images=n_used,
        test_images=n_val, train_subset=train_subset, test_subset=test_subset, n_train_full=n_train_full,
        n_test_full=n_test_full, seeds=derive_seeds(random_seed, options.repeat), data_files=tuple(data_files),
        svhn_extra=bool(svhn_extra), started=started,
    )
