"""Drawing random networks exactly as the published data set did (docs/taxonomy.md).

:func:`sample` is pure: every value comes from one explicit generator built from the network's
32-bit ``random_seed``, so the same (data set, seed, conv-layer count) gives the same spec on any
machine, in any process, on any Python version. The generator is :class:`random.Random`
(Mersenne Twister), used only through ``getrandbits`` and ``random()``, whose streams CPython
keeps stable; integers are drawn by rejection sampling on ``getrandbits`` written out here, so
the stream does not depend on library internals.

The draws happen in this order (changing it changes every network of every seed):

1. for each conv layer: kernel in [1, D], stride in [1, kernel], padding in [0, 5]; D updated;
   block size in [1, 3], then that many distinct types picked from (ReLU, dropout, pooling) by a
   partial Fisher-Yates shuffle; if the block pools: kernel in [1, D], stride in [1, kernel],
   padding in [0, kernel // 2]; D updated;
2. the "filters increase" boolean, then the filter count of each layer in order;
3. the feature-extraction dropout rate in [0.1, 0.7] (only if a block has dropout);
4. FC layer count in [1, 5]; hidden widths in [1, 400]; the "FC dropout allowed" boolean; if
   allowed the FC rate in [0.1, 0.7] and one boolean per hidden layer;
5. learning-rate exponent in [-6, 0]; for momentum, dampening, weight decay in turn a boolean
   and, if on, an exponent in [-6, 0];
6. batch size in [25, 250], redrawn until floor(n_train / b) is even.

A campaign's networks come from :func:`plan`: N per data set, stratified over conv-layer
counts, with per-network seeds derived from a master seed.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from .errors import InputError
from .spec import DROPOUT, POOL, RELU, NetworkSpec, conv_out, dataset_info

MAX_FILTERS = 400  # conv filters and hidden FC widths are at most this
MAX_PADDING = 5
MIN_BATCH, MAX_BATCH = 25, 250
RATE_LOW, RATE_HIGH = 0.1, 0.7
EXP_LOW, EXP_HIGH = -6.0, 0.0
MAX_CONV, MAX_FC = 10, 5


class _Draw:
    """Uniform draws from one seeded generator. Only ``getrandbits`` and ``random`` are used."""

    def __init__(self, seed: int):
        self._rng = random.Random(seed)

    def int(self, low: int, high: int) -> int:
        """Uniform integer in [low, high], both inclusive (rejection sampling, no bias)."""
        n = high - low + 1
        if n <= 0:
            raise ValueError(f"empty interval [{low}, {high}]")
        bits = n.bit_length()
        while True:
            r = self._rng.getrandbits(bits)
            if r < n:
                return low + r

    def bool(self) -> bool:
        return self.int(0, 1) == 1

    def float(self, low: float, high: float) -> float:
        return low + (high - low) * self._rng.random()

    def power_of_ten(self) -> float:
        return 10.0 ** self.float(EXP_LOW, EXP_HIGH)


def check_seed(seed: int, what: str = "seed") -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise InputError(f"{what} {seed!r}: expected an integer in [0, 2**32)")
    return seed


def sample(dataset: str, random_seed: int, n_conv: int, *, n_train: int | None = None) -> NetworkSpec:
    """Draw the network of ``random_seed`` with ``n_conv`` conv layers for ``dataset``.

    ``n_train`` is the training-set size the batch-size rule uses (default: the data set's
    standard training split; pass the size with SVHN's ``extra`` split when training on it).
    The returned spec has no run facts yet (``ID=""``).
    """
    info = dataset_info(dataset)
    check_seed(random_seed, "random_seed")
    if not 1 <= n_conv <= MAX_CONV:
        raise InputError(f"n_conv {n_conv!r}: expected an integer in [1, {MAX_CONV}]")
    n_train = info.n_train if n_train is None else n_train
    draw = _Draw(random_seed)

    # 1. Feature extraction, tracking the spatial side d.
    d = info.side
    codes: list[int] = []
    conv_k: list[int] = []
    conv_s: list[int] = []
    conv_p: list[int] = []
    pool_k: list[int] = []
    pool_s: list[int] = []
    pool_p: list[int] = []
    for _ in range(n_conv):
        k = draw.int(1, d)
        s = draw.int(1, k)
        p = draw.int(0, MAX_PADDING)
        d = conv_out(d, k, s, p)
        conv_k.append(k)
        conv_s.append(s)
        conv_p.append(p)

        size = draw.int(1, 3)
        types = [RELU, DROPOUT, POOL]
        for i in range(size):  # partial Fisher-Yates: `size` distinct types
            j = draw.int(i, 2)
            types[i], types[j] = types[j], types[i]
        code = sum(types[:size])
        codes.append(code)

        if code & POOL:
            pk = draw.int(1, d)
            ps = draw.int(1, pk)
            pp = draw.int(0, pk // 2)
            d = conv_out(d, pk, ps, pp)
            pool_k.append(pk)
            pool_s.append(ps)
            pool_p.append(pp)

    # 2. Filters.
    increasing = draw.bool()
    filters: list[int] = []
    for i in range(n_conv):
        last = i == n_conv - 1
        if not increasing:
            low = info.classes if last else info.channels
        elif i == 0:
            low = max(info.channels, info.classes) if last else info.channels
        else:
            low = max(filters[-1], info.classes) if last else filters[-1]
        filters.append(draw.int(low, MAX_FILTERS))

    # 3. Feature-extraction dropout rate.
    dropout_rate: float = draw.float(RATE_LOW, RATE_HIGH) if any(c & DROPOUT for c in codes) else 0

    # 4. Classification.
    m = draw.int(1, MAX_FC)
    widths = [draw.int(1, MAX_FILTERS) for _ in range(m - 1)]
    if draw.bool():
        fc_rate: float = draw.float(RATE_LOW, RATE_HIGH)
        fc_flags = [int(draw.bool()) for _ in range(m - 1)]
    else:
        fc_rate = 0
        fc_flags = [0] * (m - 1)

    # 5. Training hyperparameters; an unused one is the integer 0, as in the published tables.
    learning_rate = draw.power_of_ten()
    momentum: float = draw.power_of_ten() if draw.bool() else 0
    dampening: float = draw.power_of_ten() if draw.bool() else 0
    weight_decay: float = draw.power_of_ten() if draw.bool() else 0

    # 6. Batch size: the truncated training set must split into two halves of whole batches.
    while True:
        batch_size = draw.int(MIN_BATCH, MAX_BATCH)
        if (n_train // batch_size) % 2 == 0:
            break

    return NetworkSpec(
        random_seed=random_seed,
        dataset=info.name,
        batch_size=batch_size,
        learning_rate=learning_rate,
        momentum=momentum,
        dampening=dampening,
        weight_decay=weight_decay,
        layer_types=tuple(codes),
        dropout_rate=dropout_rate,
        convKernels=tuple(conv_k),
        convStrides=tuple(conv_s),
        convPaddings=tuple(conv_p),
        poolKernels=tuple(pool_k),
        poolStrides=tuple(pool_s),
        poolPaddings=tuple(pool_p),
        convFilters=tuple(filters),
        FC_dropout_rate=fc_rate,
        FC_dropout_layers=tuple(fc_flags),
        FCFilters=tuple(widths) + (info.classes,),
    )


# --------------------------------------------------------------------------------------
# Plans


@dataclass(frozen=True)
class PlannedNetwork:
    """One network of a plan: enough to draw its spec again."""

    dataset: str
    random_seed: int
    n_conv: int
    index: int  # position in the data set's plan, 0-based

    def spec(self, n_train: int | None = None) -> NetworkSpec:
        return sample(self.dataset, self.random_seed, self.n_conv, n_train=n_train)


def stratified_counts(count: int, max_conv: int = MAX_CONV) -> list[int]:
    """Conv-layer counts of a plan of ``count`` networks, in plan order.

    Counts cycle 1, 2, ..., 10, 1, 2, ..., so that N networks hold N/10 of each count (when 10
    divides N; otherwise the counts differ by at most one) and every prefix stays stratified.
    With ``max_conv`` below 10 (a selection's rule) they cycle 1 .. ``max_conv`` instead.
    """
    return [1 + i % max_conv for i in range(count)]


def network_seeds(dataset: str, count: int, master_seed: int) -> list[int]:
    """``count`` distinct 32-bit seeds for one data set, derived from the master seed.

    The stream is seeded with a SHA-256 of (master seed, data set), so data sets get unrelated
    seeds and the first k seeds of a larger plan equal those of a plan of k.
    """
    check_seed(master_seed, "master seed")
    info = dataset_info(dataset)
    digest = hashlib.sha256(f"nnlife-plan/{master_seed}/{info.name}".encode()).digest()
    rng = random.Random(int.from_bytes(digest, "big"))
    seeds: list[int] = []
    seen: set[int] = set()
    while len(seeds) < count:
        s = rng.getrandbits(32)
        if s not in seen:
            seen.add(s)
            seeds.append(s)
    return seeds


def plan(dataset: str, count: int, master_seed: int) -> list[PlannedNetwork]:
    """The ``count`` networks of one data set for a campaign with ``master_seed``."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise InputError(f"count {count!r}: expected a non-negative integer")
    info = dataset_info(dataset)
    seeds = network_seeds(info.name, count, master_seed)
    return [
        PlannedNetwork(info.name, seed, n_conv, i)
        for i, (seed, n_conv) in enumerate(zip(seeds, stratified_counts(count)))
    ]


# How far a selection walks its data set's plan before it gives up on a conv-layer count.
SELECT_SCAN = 200_000


def plan_selected(dataset: str, count: int, master_seed: int, *, max_flops: float | None = None,
                  min_lr: float | None = None, max_conv: int | None = None, n_train: int | None = None,
                  scan: int = SELECT_SCAN) -> list[PlannedNetwork]:
    """The networks of a cheap selection from the plan of ``count`` networks: walking the
    data set's plan (:func:`plan`, the same seeds and conv-layer counts), keep those whose
    forward FLOPs per image are at most ``max_flops`` and whose learning rate is at least
    ``min_lr`` and whose conv-layer count is at most ``max_conv`` (no rule when None), and
    for each conv-layer count the first ones of that count, as many as a plan of ``count``
    holds (:func:`stratified_counts`; with ``max_conv``, the counts 1 .. ``max_conv`` in
    turn), so the stratification is kept. Returned in plan order, each with its plan index.

    With no rule this is ``plan(dataset, count, master_seed)``. Raises
    :class:`InputError` when the first ``scan`` networks of the plan hold too few of some
    count (a cap too low for deep networks)."""
    from .shapes import analyse  # shapes needs nothing from here: no cycle

    if max_flops is None and min_lr is None and max_conv is None:
        return plan(dataset, count, master_seed)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise InputError(f"count {count!r}: expected a non-negative integer")
    if max_conv is not None and (isinstance(max_conv, bool) or not isinstance(max_conv, int)
                                 or not 1 <= max_conv <= MAX_CONV):
        raise InputError(f"--max-conv-layers {max_conv!r}: expected an integer from 1 to {MAX_CONV}")
    info = dataset_info(dataset)
    wanted = {k: 0 for k in range(1, MAX_CONV + 1)}
    for k in stratified_counts(count, max_conv or MAX_CONV):
        wanted[k] += 1
    chosen: list[PlannedNetwork] = []
    left = count
    # network_seeds' stream is a prefix-stable sequence: a plan of `scan` walks the same seeds.
    seeds = network_seeds(info.name, scan, master_seed) if count else []
    for i, (seed, n_conv) in enumerate(zip(seeds, stratified_counts(len(seeds)))):
        if left == 0:
            break
        if wanted[n_conv] == 0:
            continue
        spec = sample(info.name, seed, n_conv, n_train=n_train)
        if min_lr is not None and spec.learning_rate < min_lr:
            continue
        if max_flops is not None and analyse(spec).flops > max_flops:
            continue
        chosen.append(PlannedNetwork(info.name, seed, n_conv, i))
        wanted[n_conv] -= 1
        left -= 1
    if left:
        short = min(k for k, n in wanted.items() if n)
        raise InputError(f"{info.name}: only {count - left} of {count} networks meet the selection within the "
                         f"first {scan} of the plan (too few with {short} conv layers); raise the cap")
    return chosen
