"""The sampler follows every rule of the taxonomy (docs/taxonomy.md), over thousands of networks."""

import importlib
import math
import statistics
import subprocess
import sys

import pytest

from nnlife.errors import InputError
from nnlife.sample import network_seeds, plan, sample, stratified_counts
from nnlife.spec import DATASETS, DROPOUT, POOL, conv_out

sample_module = importlib.import_module("nnlife.sample")  # the module (nnlife.sample is also the function)

N_PER_DATASET = 1000


@pytest.fixture(scope="module")
def specs():
    return {ds: [p.spec() for p in plan(ds, N_PER_DATASET, 2022)] for ds in DATASETS}


def is_power_of_ten_draw(x):
    return 1e-6 <= x <= 1.0


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_every_value_in_its_interval(specs, dataset):
    info = DATASETS[dataset]
    for s in specs[dataset]:
        n = s.n_conv
        assert 1 <= n <= 10
        d = info.side
        pool_i = 0
        for i, code in enumerate(s.layer_types):
            k, st, p = s.convKernels[i], s.convStrides[i], s.convPaddings[i]
            assert 1 <= k <= d, "conv kernel must fit the input side it meets"
            assert 1 <= st <= k and 0 <= p <= 5
            d = conv_out(d, k, st, p)
            assert d >= 1
            assert 1 <= code <= 7
            if code & POOL:
                pk, ps, pp = s.poolKernels[pool_i], s.poolStrides[pool_i], s.poolPaddings[pool_i]
                assert 1 <= pk <= d and 1 <= ps <= pk and 0 <= pp <= pk // 2
                d = conv_out(d, pk, ps, pp)
                assert d >= 1
                pool_i += 1
        n_pool = sum(1 for c in s.layer_types if c & POOL)
        assert len(s.poolKernels) == len(s.poolStrides) == len(s.poolPaddings) == n_pool == pool_i
        assert len(s.convKernels) == len(s.convStrides) == len(s.convPaddings) == len(s.convFilters) == n

        # filters: either mode's rules hold (each mode on its own: test_filters_increase_mode)
        f = s.convFilters
        assert all(x <= 400 for x in f) and f[-1] >= info.classes
        assert all(x >= info.channels for x in f)

        has_dropout = any(c & DROPOUT for c in s.layer_types)
        if has_dropout:
            assert 0.1 <= s.dropout_rate <= 0.7 and isinstance(s.dropout_rate, float)
        else:
            assert s.dropout_rate == 0 and isinstance(s.dropout_rate, int)

        m = s.n_fc
        assert 1 <= m <= 5
        assert s.FCFilters[-1] == info.classes
        assert all(1 <= w <= 400 for w in s.FCFilters[:-1])
        assert len(s.FC_dropout_layers) == m - 1
        assert all(flag in (0, 1) for flag in s.FC_dropout_layers)
        if s.FC_dropout_rate == 0:
            assert not any(s.FC_dropout_layers)
        else:
            assert 0.1 <= s.FC_dropout_rate <= 0.7

        assert is_power_of_ten_draw(s.learning_rate)
        for name in ("momentum", "dampening", "weight_decay"):
            v = getattr(s, name)
            assert (v == 0 and isinstance(v, int)) or is_power_of_ten_draw(v)

        b = s.batch_size
        assert 25 <= b <= 250
        assert (info.n_train // b) % 2 == 0
        assert s.ID == "" and s.train_GPU is False and s.torch_set_deterministic is False


def test_stratified_counts_exact(specs):
    for dataset in DATASETS:
        counts = [0] * 11
        for s in specs[dataset]:
            counts[s.n_conv] += 1
        assert counts[1:] == [N_PER_DATASET // 10] * 10
    # 2000 per data set gives 200 of each, and every prefix stays stratified
    counts = stratified_counts(2000)
    assert all(counts.count(n) == 200 for n in range(1, 11))
    assert sorted(stratified_counts(23)) == sorted(list(range(1, 11)) * 2 + [1, 2, 3])


def test_booleans_near_half_and_block_sizes_uniform(specs):
    pooled = [s for ds in DATASETS for s in specs[ds]]
    n = len(pooled)
    for name in ("momentum", "dampening", "weight_decay", "FC_dropout_rate"):
        on = sum(1 for s in pooled if getattr(s, name) != 0) / n
        assert abs(on - 0.5) < 0.04, (name, on)  # sd of the mean is 0.009 at n = 3000
    flags = [f for s in pooled if s.FC_dropout_rate != 0 for f in s.FC_dropout_layers]
    assert abs(statistics.mean(flags) - 0.5) < 0.04
    blocks = [bin(c).count("1") for s in pooled for c in s.layer_types]
    for size in (1, 2, 3):
        assert abs(blocks.count(size) / len(blocks) - 1 / 3) < 0.03
    codes = [c for s in pooled for c in s.layer_types]
    for code in range(1, 8):  # 1-type blocks 1/9 each, 2-type 1/9 each, the 3-type block 1/3
        want = 1 / 3 if code == 7 else 1 / 9
        assert abs(codes.count(code) / len(codes) - want) < 0.025, code


def test_log_learning_rate_uniform(specs):
    pooled = [math.log10(s.learning_rate) for ds in DATASETS for s in specs[ds]]
    assert min(pooled) >= -6 and max(pooled) <= 0
    # six unit bins, each should hold 1/6 (sd 0.0068 at n = 3000)
    for lo in range(-6, 0):
        frac = sum(1 for x in pooled if lo <= x < lo + 1) / len(pooled)
        assert abs(frac - 1 / 6) < 0.035, (lo, frac)
    assert abs(statistics.mean(pooled) + 3) < 0.15
    # the batch size is uniform over the allowed values (their mean, 137.5 give or take)
    b = [s.batch_size for ds in DATASETS for s in specs[ds]]
    assert abs(statistics.mean(b) - 137.5) < 5


def test_same_seed_same_network_and_golden_values():
    assert sample("CIFAR100", 12345, 4) == sample("CIFAR100", 12345, 4)
    # Pinned: a change here changes every network of every seed (see the draw order in sample.py).
    assert sample("CIFAR100", 12345, 4).to_row() == [
        "", "12345", "False", "False", "CIFAR100", "159", "CrossEntropyLoss", "SGD",
        "0.008227006513210011", "0", "0", "2.4872911199946227e-05", "5-3-7-5",
        "0.5625006031100864", "27-1-2-3", "24-1-1-2", "0-1-4-0", "2-4", "1-1", "0-0",
        "4-7-346-356", "0", "0", "147-100",
    ]
    assert sample("FashionMNIST", 4242424242, 10).to_row()[12:] == [
        "7-4-7-7-2-5-7-1-3-6", "0.3669579712218821", "9-1-10-6-3-1-7-1-4-1",
        "7-1-1-3-3-1-2-1-2-1", "1-5-5-3-5-3-2-2-3-4", "3-1-2-4-3-3-8", "3-1-2-1-3-3-1",
        "0-0-1-1-0-1-1", "127-310-42-16-232-50-27-363-395-229", "0.16780140429527235",
        "1-1-0-0", "203-291-109-184-10",
    ]


def test_same_network_in_another_process():
    code = "from nnlife.sample import sample; print(sample('SVHN', 77, 6).to_row())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(sample("SVHN", 77, 6).to_row())


def test_plan_seeds_distinct_deterministic_and_prefix_stable():
    seeds = network_seeds("CIFAR100", 2000, 1)
    assert len(set(seeds)) == 2000 and all(0 <= s < 2**32 for s in seeds)
    assert network_seeds("CIFAR100", 10, 1) == seeds[:10]
    assert network_seeds("SVHN", 10, 1) != seeds[:10]
    assert network_seeds("CIFAR100", 10, 2) != seeds[:10]
    p = plan("SVHN", 20, 3)
    assert [x.n_conv for x in p] == list(range(1, 11)) * 2
    assert [x.index for x in p] == list(range(20))


def test_batch_size_rule_uses_given_training_size():
    n_extra = 73_257 + 531_131
    for seed in range(200):
        b = sample("SVHN", seed, 1, n_train=n_extra).batch_size
        assert (n_extra // b) % 2 == 0


@pytest.mark.parametrize(
    "args,match",
    [
        (("MNIST", 1, 1), "unknown data set 'MNIST'"),
        (("SVHN", -1, 1), r"random_seed -1: expected an integer in \[0, 2\*\*32\)"),
        (("SVHN", 2**32, 1), "random_seed"),
        (("SVHN", 1, 0), r"n_conv 0: expected an integer in \[1, 10\]"),
        (("SVHN", 1, 11), "n_conv 11"),
    ],
)
def test_bad_sampler_arguments(args, match):
    with pytest.raises(InputError, match=match):
        sample(*args)


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_filters_increase_mode(dataset, monkeypatch):
    """The "filters increase" draw on its own: when it is true, every layer's filter count is
    at least the one before, the first at least the input channels and the last at least the
    classes; when false, the counts only lie in their intervals, and do decrease somewhere.
    The mode is the first boolean a draw makes (the conv section draws integers only): the
    real draws are watched, not replaced."""
    modes: list[bool] = []
    real_bool = sample_module._Draw.bool

    def watched(self) -> bool:
        value = real_bool(self)
        if not getattr(self, "_mode_seen", False):
            self._mode_seen = True
            modes.append(value)
        return value

    monkeypatch.setattr(sample_module._Draw, "bool", watched)
    info = DATASETS[dataset]
    by_mode: dict[bool, list] = {True: [], False: []}
    for seed in range(1500):
        spec = sample(dataset, seed, 2 + seed % 9)  # 2..10 conv layers: an order to keep
        by_mode[modes[-1]].append(spec.convFilters)
    assert len(modes) == 1500 and 600 < len(by_mode[True]) < 900  # a fair coin
    for f in by_mode[True]:
        assert all(b >= a for a, b in zip(f, f[1:])), f
        assert f[0] >= info.channels and f[-1] >= info.classes and f[-1] <= 400
    decreasing = [f for f in by_mode[False] if any(b < a for a, b in zip(f, f[1:]))]
    assert len(decreasing) > 0.8 * len(by_mode[False])
    for f in by_mode[False]:
        assert all(info.channels <= x <= 400 for x in f[:-1]) and info.classes <= f[-1] <= 400
