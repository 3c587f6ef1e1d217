"""The one canonical description of a network: :class:`NetworkSpec`.

A spec holds exactly the 24 metadata fields of line 2 of a published table (everything but
the curve), typed, with the table's own field names. The table row is derived from it
(:meth:`NetworkSpec.to_row`) and parsed back into it (:meth:`NetworkSpec.from_row`); the
module (:func:`nnlife.build.build`), the shape arithmetic (:mod:`nnlife.shapes`) and every
JSON form are derived from it too. Nothing else represents a network.

Numbers keep the type they were written with: the published generator writes an unused
hyperparameter as the integer ``0`` and everything else as ``repr`` of a float, so a value is
an ``int`` when its text is an integer and a ``float`` otherwise. That is what makes reading
and rewriting a published table byte-identical.

What a spec may hold (checked on construction, so every table read and every spec made obeys
it): the rules that make a network buildable (kernels fit the padded size they meet, one
pooling triple per pooling block, the last FC layer has one output per class, ...), plus
upper bounds that keep a typo from asking for an impossible network:

* per field, ten times the published taxonomy's largest value: at most 100 conv layers and
  50 FC layers, 4,000 conv filters and FC widths, conv padding 50, batch size 2,500; strides at
  most the padded side they meet (a larger stride gives the same 1 x 1 output);
* per network, from the shape arithmetic of :mod:`nnlife.shapes`: at most
  :data:`MAX_PARAMS` parameters (2**33, 32 GiB in fp32) and :data:`MAX_ACTIVATION_BYTES`
  of activations per image (2**31 bytes, 2 GiB in fp32). The largest network the taxonomy
  can draw has about 3.2e9 parameters and 0.6e9 bytes of activations per image, so both
  limits are the next power of two above the taxonomy's largest, doubled;
* ``ID``: a safe file name, 1 to 128 of ``A-Z a-z 0-9 _ - .``, not starting with ``.`` (the
  published IDs are ``YYYY_MM_DD_HH_MM_SS_ffffff``; the ID names the table file).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from .errors import SpecError, TableFormatError

# --------------------------------------------------------------------------------------
# The three image data sets


@dataclass(frozen=True)
class DatasetInfo:
    """Facts about one image data set (SYSTEM.md section 3)."""

    name: str  # the table's `dataset` value
    dir_name: str  # the published directory is f"{dir_name}_models"
    channels: int  # C
    classes: int  # K
    side: int  # images are side x side
    n_train: int  # standard training split
    n_test: int  # test split, used for validation

    @property
    def models_dir(self) -> str:
        return f"{self.dir_name}_models"


SVHN_EXTRA_IMAGES = 531_131  # size of SVHN's optional `extra` split

DATASETS: dict[str, DatasetInfo] = {
    "FashionMNIST": DatasetInfo("FashionMNIST", "FashionMNIST", 1, 10, 28, 60_000, 10_000),
    "CIFAR100": DatasetInfo("CIFAR100", "CIFAR-100", 3, 100, 32, 50_000, 10_000),
    "SVHN": DatasetInfo("SVHN", "SVHN", 3, 10, 32, 73_257, 26_032),
}

_ALIASES = {
    key.lower().replace("-", "").replace("_", ""): name
    for name in DATASETS
    for key in (name, DATASETS[name].dir_name, DATASETS[name].models_dir)
}


def dataset_info(name: str) -> DatasetInfo:
    """Look a data set up by its table name (``CIFAR100``), directory name (``CIFAR-100``) or
    either in any case. Raises :class:`InputError` for anything else."""
    from .errors import InputError

    if name in DATASETS:
        return DATASETS[name]
    key = str(name).lower().replace("-", "").replace("_", "")
    if key in _ALIASES:
        return DATASETS[_ALIASES[key]]
    raise InputError(
        f"unknown data set {name!r}: expected one of {', '.join(DATASETS)}"
    )


# --------------------------------------------------------------------------------------
# Blocks of non-linear layers

RELU, POOL, DROPOUT = 1, 2, 4  # the bits of a layer_types code
BLOCK_CODES = range(1, 8)


def block_layers(code: int) -> tuple[str, ...]:
    """The layers of a block, in their fixed order ReLU, dropout, pooling."""
    out = []
    if code & RELU:
        out.append("ReLU")
    if code & DROPOUT:
        out.append("Dropout")
    if code & POOL:
        out.append("MaxPool2d")
    return tuple(out)


def conv_out(d: int, kernel: int, stride: int, padding: int) -> int:
    """Side of the output of a convolution or max-pooling on a d x d input (floor mode)."""
    return (d + 2 * padding - kernel) // stride + 1


# --------------------------------------------------------------------------------------
# Text of numbers, as the published tables write them


def format_value(value: object) -> str:
    """Text of one field value: ``repr`` of floats, ``str`` of ints, ``True``/``False``,
    lists of ints joined by ``-`` (empty list: empty text)."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(float(value))  # float() also turns numpy scalars into plain text
    if isinstance(value, str):
        return value
    if isinstance(value, (tuple, list)):
        return "-".join(str(int(v)) for v in value)
    # numpy scalars and the like
    if hasattr(value, "item"):
        return format_value(value.item())
    raise TypeError(f"cannot format {value!r}")


_INT_RE = re.compile(r"-?[0-9]+")
# Python refuses to convert integers of more than 4,300 digits; no field needs more than this.
MAX_NUMBER_DIGITS = 400


def parse_number(text: str) -> int | float:
    """Parse a number the way it was written: ``"0"`` -> ``0``, ``"0.5"`` -> ``0.5``.

    ``nan``, ``inf`` and ``-inf`` are accepted (a diverged network is recorded as measured).
    Raises ``ValueError`` for anything else.
    """
    if len(text) > MAX_NUMBER_DIGITS or not text.isascii():
        raise ValueError(text)
    if _INT_RE.fullmatch(text):
        return int(text)
    if text.strip() != text or not text or "_" in text:
        raise ValueError(text)
    return float(text)


# --------------------------------------------------------------------------------------
# The spec

LIST_FIELDS = (
    "layer_types",
    "convKernels",
    "convStrides",
    "convPaddings",
    "poolKernels",
    "poolStrides",
    "poolPaddings",
    "convFilters",
    "FC_dropout_layers",
    "FCFilters",
)
FLOAT_FIELDS = (
    "learning_rate",
    "momentum",
    "dampening",
    "weight_decay",
    "dropout_rate",
    "FC_dropout_rate",
)
BOOL_FIELDS = ("train_GPU", "torch_set_deterministic")

# Upper bounds (see the module docstring): ten times the taxonomy's largest value per field,
# and the next power of two above the taxonomy's largest network, doubled, per network.
MAX_CONV_LAYERS = 100
MAX_FC_LAYERS = 50
MAX_WIDTH = 4_000  # conv filters and FC widths
MAX_CONV_PADDING = 50
MAX_BATCH_SIZE = 2_500
MAX_PARAMS = 2**33
MAX_ACTIVATION_BYTES = 2**31
ACTIVATION_BYTES_PER_VALUE = 4  # fp32, as nnlife.shapes counts them
MAX_ID_LENGTH = 128
_ID_TEXT_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


@dataclass(frozen=True, kw_only=True)
class NetworkSpec:
    """A network and its training hyperparameters: line 2 of a table without the curve.

    Field names and order are the table's. Lists are tuples of ints. ``ID``, ``train_GPU``
    and ``torch_set_deterministic`` are facts of a run; a freshly sampled spec has
    ``ID=""`` and both flags ``False`` until it is trained (use :meth:`with_run`).
    """

    ID: str = ""
    random_seed: int
    train_GPU: bool = False
    torch_set_deterministic: bool = False
    dataset: str
    batch_size: int
    loss_fn: str = "CrossEntropyLoss"
    optimizer: str = "SGD"
    learning_rate: float
    momentum: float
    dampening: float
    weight_decay: float
    layer_types: tuple[int, ...]
    dropout_rate: float
    convKernels: tuple[int, ...]
    convStrides: tuple[int, ...]
    convPaddings: tuple[int, ...]
    poolKernels: tuple[int, ...]
    poolStrides: tuple[int, ...]
    poolPaddings: tuple[int, ...]
    convFilters: tuple[int, ...]
    FC_dropout_rate: float
    FC_dropout_layers: tuple[int, ...]
    FCFilters: tuple[int, ...]

    def __post_init__(self) -> None:
        for name in LIST_FIELDS:  # accept lists, keep tuples (hashable, immutable)
            value = getattr(self, name)
            if not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        problem = _check(self)
        if problem is not None:
            raise SpecError(*problem)

    # ---- derived facts -----------------------------------------------------------

    @property
    def info(self) -> DatasetInfo:
        return DATASETS[self.dataset]

    @property
    def n_conv(self) -> int:
        return len(self.layer_types)

    @property
    def n_fc(self) -> int:
        return len(self.FCFilters)

    @property
    def blocks(self) -> tuple[tuple[str, ...], ...]:
        return tuple(block_layers(code) for code in self.layer_types)

    def with_run(self, *, ID: str, train_GPU: bool, torch_set_deterministic: bool) -> "NetworkSpec":
        """The same network with the facts of one run filled in."""
        return dataclasses.replace(
            self, ID=ID, train_GPU=train_GPU, torch_set_deterministic=torch_set_deterministic
        )

    # ---- the table row -----------------------------------------------------------

    @staticmethod
    def field_names() -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(NetworkSpec))

    def to_row(self) -> list[str]:
        """The 24 metadata fields as the text of line 2 of a table."""
        return [format_value(getattr(self, name)) for name in self.field_names()]

    def to_text_dict(self) -> dict[str, str]:
        """Field name -> text on line 2 of the table."""
        return dict(zip(self.field_names(), self.to_row()))

    @classmethod
    def from_row(
        cls, fields: Sequence[str], *, path: object = None, line: int | None = None
    ) -> "NetworkSpec":
        """Parse the 24 metadata fields of line 2. Raises :class:`TableFormatError` naming
        the file, line and field of the first problem."""
        names = cls.field_names()
        if len(fields) != len(names):
            raise TableFormatError(path, line, None, f"{len(names)} metadata fields", len(fields))
        values: dict[str, object] = {}
        for name, text in zip(names, fields):
            values[name] = _parse_field(name, text, path, line)
        try:
            return cls(**values)
        except SpecError as err:
            raise TableFormatError(path, line, err.field, err.expected, err.got) from None


# ---- parsing and checking ------------------------------------------------------------


def _parse_field(name: str, text: str, path: object, line: int | None) -> object:
    def fail(expected: str) -> TableFormatError:
        return TableFormatError(path, line, name, expected, text)

    if name in LIST_FIELDS:
        if text == "":
            return ()
        parts = text.split("-")
        if not all(p.isdigit() and p.isascii() and len(p) <= MAX_NUMBER_DIGITS for p in parts):
            raise fail("a list of non-negative integers joined by '-'")
        return tuple(int(p) for p in parts)
    if name in BOOL_FIELDS:
        if text not in ("True", "False"):
            raise fail("True or False")
        return text == "True"
    if name in FLOAT_FIELDS:
        try:
            return parse_number(text)
        except ValueError:
            raise fail("a number") from None
    if name in ("random_seed", "batch_size"):
        if len(text) > MAX_NUMBER_DIGITS or not _INT_RE.fullmatch(text):
            raise fail("an integer")
        return int(text)
    if name == "dataset":
        if text not in DATASETS:
            raise fail(f"one of {', '.join(DATASETS)}")
        return text
    if name == "ID":
        if not text:
            raise fail("a non-empty ID")
        return text
    return text  # loss_fn, optimizer: checked in _check


def _check(spec: NetworkSpec) -> tuple[str, str, object] | None:
    """First inconsistency of a spec as (field, expected, got), or None.

    These are the rules every buildable network obeys (whatever generated it); the tighter
    intervals of the random sampler are asserted by its tests, not imposed on tables.
    """
    if spec.dataset not in DATASETS:
        return ("dataset", f"one of {', '.join(DATASETS)}", spec.dataset)
    info = DATASETS[spec.dataset]
    if spec.ID and (
        not isinstance(spec.ID, str) or len(spec.ID) > MAX_ID_LENGTH or not _ID_TEXT_RE.fullmatch(spec.ID)
    ):
        return ("ID", f"a file name of 1 to {MAX_ID_LENGTH} of A-Z a-z 0-9 _ - . not starting with '.'", spec.ID)
    if not 0 <= spec.random_seed < 2**32:
        return ("random_seed", "an integer in [0, 2**32)", spec.random_seed)
    if not 1 <= spec.batch_size <= MAX_BATCH_SIZE:
        return ("batch_size", f"an integer in [1, {MAX_BATCH_SIZE}]", spec.batch_size)
    if spec.loss_fn != "CrossEntropyLoss":
        return ("loss_fn", "CrossEntropyLoss", spec.loss_fn)
    if spec.optimizer != "SGD":
        return ("optimizer", "SGD", spec.optimizer)
    for name in FLOAT_FIELDS:
        value = getattr(spec, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return (name, "a finite number", value)
    if not spec.learning_rate > 0:
        return ("learning_rate", "a positive number", spec.learning_rate)
    for name in ("momentum", "dampening", "weight_decay"):
        if getattr(spec, name) < 0:
            return (name, "a number >= 0", getattr(spec, name))
    for name in ("dropout_rate", "FC_dropout_rate"):
        if not 0 <= getattr(spec, name) < 1:
            return (name, "a rate in [0, 1)", getattr(spec, name))

    n = len(spec.layer_types)
    if not 1 <= n <= MAX_CONV_LAYERS:
        return ("layer_types", f"1 to {MAX_CONV_LAYERS} convolutional layers", f"{n} codes")
    for code in spec.layer_types:
        if code not in BLOCK_CODES:
            return ("layer_types", "block codes in 1..7", format_value(spec.layer_types))
    for name in ("convKernels", "convStrides", "convPaddings", "convFilters"):
        if len(getattr(spec, name)) != n:
            return (name, f"{n} entries (one per code in layer_types)", format_value(getattr(spec, name)))
    n_pool = sum(1 for code in spec.layer_types if code & POOL)
    for name in ("poolKernels", "poolStrides", "poolPaddings"):
        if len(getattr(spec, name)) != n_pool:
            return (name, f"{n_pool} entries (one per pooling block in layer_types)", format_value(getattr(spec, name)))
    m = len(spec.FCFilters)
    if not 1 <= m <= MAX_FC_LAYERS:
        return ("FCFilters", f"1 to {MAX_FC_LAYERS} fully connected layers", f"{m} widths")
    if len(spec.FC_dropout_layers) != m - 1:
        return ("FC_dropout_layers", f"{m - 1} entries (one per hidden FC layer)", format_value(spec.FC_dropout_layers))
    if any(flag not in (0, 1) for flag in spec.FC_dropout_layers):
        return ("FC_dropout_layers", "flags 0 or 1", format_value(spec.FC_dropout_layers))
    if spec.FCFilters[-1] != info.classes:
        return ("FCFilters", f"last entry {info.classes} (the classes of {spec.dataset})", format_value(spec.FCFilters))
    if any(not 1 <= w <= MAX_WIDTH for w in spec.FCFilters):
        return ("FCFilters", f"widths in [1, {MAX_WIDTH}]", format_value(spec.FCFilters))
    if any(not 1 <= f <= MAX_WIDTH for f in spec.convFilters):
        return ("convFilters", f"filter counts in [1, {MAX_WIDTH}]", format_value(spec.convFilters))
    if any(p > MAX_CONV_PADDING for p in spec.convPaddings):
        return ("convPaddings", f"paddings in [0, {MAX_CONV_PADDING}]", format_value(spec.convPaddings))
    if any(s < 1 for s in spec.convStrides):
        return ("convStrides", "strides >= 1", format_value(spec.convStrides))
    if any(s < 1 for s in spec.poolStrides):
        return ("poolStrides", "strides >= 1", format_value(spec.poolStrides))

    # Walk the spatial size: every kernel must fit the (padded) size it meets. The walk also
    # sums parameters and activation values exactly as nnlife.shapes.analyse does (shapes
    # imports this module, so it cannot be called from here; a test holds the two equal).
    d = info.side
    c = info.channels
    params = 0
    values = 0
    pool_i = 0
    for i, code in enumerate(spec.layer_types):
        k, s, p, f = spec.convKernels[i], spec.convStrides[i], spec.convPaddings[i], spec.convFilters[i]
        if k < 1 or k > d + 2 * p:
            return ("convKernels", f"kernel of conv layer {i + 1} in [1, {d + 2 * p}] (input side {d}, padding {p})", k)
        if s > d + 2 * p:
            return ("convStrides", f"stride of conv layer {i + 1} in [1, {d + 2 * p}] (the padded input side)", s)
        d = conv_out(d, k, s, p)
        params += f * c * k * k + f
        c = f
        # the conv output, and the ReLU and dropout outputs of the same shape
        values += f * d * d * (1 + bool(code & RELU) + bool(code & DROPOUT))
        if code & POOL:
            pk, ps, pp = spec.poolKernels[pool_i], spec.poolStrides[pool_i], spec.poolPaddings[pool_i]
            if pk < 1 or pk > d + 2 * pp:
                return ("poolKernels", f"kernel of pooling layer {pool_i + 1} in [1, {d + 2 * pp}] (input side {d})", pk)
            if pp > pk // 2:
                return ("poolPaddings", f"padding of pooling layer {pool_i + 1} at most half its kernel ({pk // 2})", pp)
            if ps > d + 2 * pp:
                return ("poolStrides", f"stride of pooling layer {pool_i + 1} in [1, {d + 2 * pp}] (the padded input side)", ps)
            d = conv_out(d, pk, ps, pp)
            values += c * d * d
            pool_i += 1
    width = c * d * d
    conv_params = params
    for j, w in enumerate(spec.FCFilters):
        params += w * width + w
        width = w
        values += w * (1 + (j < len(spec.FC_dropout_layers) and spec.FC_dropout_layers[j] == 1))
    if params > MAX_PARAMS:
        blame = "convFilters" if 2 * conv_params >= params else "FCFilters"
        return (blame, f"a network of at most {MAX_PARAMS:,} parameters (2**33)", f"{params:,} parameters")
    if values * ACTIVATION_BYTES_PER_VALUE > MAX_ACTIVATION_BYTES:
        return (
            "convFilters",
            f"a network of at most {MAX_ACTIVATION_BYTES:,} bytes of activations per image (2**31)",
            f"{values * ACTIVATION_BYTES_PER_VALUE:,} bytes",
        )
    return None


# --------------------------------------------------------------------------------------
# IDs

ID_FORMAT = "%Y_%m_%d_%H_%M_%S_%f"
_ID_RE = re.compile(r"\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}_\d{6}")


def make_id(when: datetime | None = None) -> str:
    """An ID in the published form ``YYYY_MM_DD_HH_MM_SS_ffffff`` (creation time)."""
    return (when or datetime.now()).strftime(ID_FORMAT)


def is_published_id(text: str) -> bool:
    return bool(_ID_RE.fullmatch(text))
