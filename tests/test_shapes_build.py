"""Shape arithmetic without torch, the builder, and their agreement."""

import pytest
import torch
from torch import nn

from nnlife.build import build
from nnlife.sample import plan
from nnlife.shapes import analyse
from nnlife.spec import DATASETS, conv_out
from nnlife.table import read_table


def test_conv_out():
    assert conv_out(32, 24, 12, 4) == 2
    assert conv_out(5, 5, 4, 1) == 1
    assert conv_out(28, 1, 1, 5) == 38
    assert conv_out(11, 10, 4, 4) == 3


# Hand computations from the rows of the three published tables (CIFAR-100, 3x32x32 inputs).
# side: (D + 2p - k) // s + 1; conv params: out*in*k*k + out; linear params: out*in + out.
HAND = {
    # 3-3-1, kernels 24-2-2, strides 12-2-1, paddings 4-2-2, pools 1/1/0 twice, filters 301-297-345, FC 100
    "2021_02_15_13_55_26_539263": (
        [
            ("Conv2d", (301, 2, 2)),  # (32+8-24)//12+1 = 2
            ("ReLU", (301, 2, 2)),
            ("MaxPool2d", (301, 2, 2)),  # (2+0-1)//1+1 = 2
            ("Conv2d", (297, 3, 3)),  # (2+4-2)//2+1 = 3
            ("ReLU", (297, 3, 3)),
            ("MaxPool2d", (297, 3, 3)),
            ("Conv2d", (345, 6, 6)),  # (3+4-2)//1+1 = 6
            ("ReLU", (345, 6, 6)),
            ("Flatten", (12420,)),  # 345*6*6
            ("Linear", (100,)),
        ],
        (301 * 3 * 24 * 24 + 301) + (297 * 301 * 2 * 2 + 297) + (345 * 297 * 2 * 2 + 345) + (100 * 12420 + 100),
    ),
    # 4-1-3, kernels 32-1-3, strides 20-1-2, paddings 2-2-3, pool 5/4/1, filters 190-306-383,
    # FC 145-100 with a dropout after the first FC layer
    "2021_02_15_13_56_59_917381": (
        [
            ("Conv2d", (190, 1, 1)),  # (32+4-32)//20+1 = 1
            ("Dropout", (190, 1, 1)),
            ("Conv2d", (306, 5, 5)),  # (1+4-1)//1+1 = 5
            ("ReLU", (306, 5, 5)),
            ("Conv2d", (383, 5, 5)),  # (5+6-3)//2+1 = 5
            ("ReLU", (383, 5, 5)),
            ("MaxPool2d", (383, 1, 1)),  # (5+2-5)//4+1 = 1
            ("Flatten", (383,)),
            ("Linear", (145,)),
            ("Dropout", (145,)),
            ("Linear", (100,)),
        ],
        (190 * 3 * 32 * 32 + 190) + (306 * 190 + 306) + (383 * 306 * 9 + 383) + (145 * 383 + 145) + (100 * 145 + 100),
    ),
    # 5-3-7, kernels 11-1-1, strides 5-1-1, paddings 5-1-1, pools 1-10/1-4/0-4, filters 321-63-384,
    # FC 358-340-100 with flags 0-0 (no FC dropout layer)
    "2021_02_15_14_01_32_105932": (
        [
            ("Conv2d", (321, 7, 7)),  # (32+10-11)//5+1 = 7
            ("ReLU", (321, 7, 7)),
            ("Dropout", (321, 7, 7)),
            ("Conv2d", (63, 9, 9)),  # (7+2-1)//1+1 = 9
            ("ReLU", (63, 9, 9)),
            ("MaxPool2d", (63, 9, 9)),  # kernel 1, stride 1, padding 0
            ("Conv2d", (384, 11, 11)),  # (9+2-1)//1+1 = 11
            ("ReLU", (384, 11, 11)),
            ("Dropout", (384, 11, 11)),
            ("MaxPool2d", (384, 3, 3)),  # (11+8-10)//4+1 = 3
            ("Flatten", (3456,)),  # 384*3*3
            ("Linear", (358,)),
            ("Linear", (340,)),
            ("Linear", (100,)),
        ],
        (321 * 3 * 11 * 11 + 321) + (63 * 321 + 63) + (384 * 63 + 384) + (358 * 3456 + 358) + (340 * 358 + 340) + (100 * 340 + 100),
    ),
}


@pytest.mark.parametrize("table_id", sorted(HAND))
def test_reference_networks_rebuilt(reference_dir, table_id):
    spec = read_table(reference_dir / f"{table_id}.txt").spec
    layers, params = HAND[table_id]
    arith = analyse(spec)
    assert [(l.type, l.shape) for l in arith.layers] == layers
    assert arith.params == params

    module = build(spec, seed=0).eval()
    assert [type(m).__name__ for m in module] == [t for t, _ in layers]
    assert sum(p.numel() for p in module.parameters()) == params
    x = torch.rand(2, 3, 32, 32)
    shapes = []
    for m in module:
        x = m(x)
        shapes.append(tuple(x.shape[1:]))
    assert shapes == [s for _, s in layers]


def test_builder_layer_details(reference_dir):
    spec = read_table(reference_dir / "2021_02_15_14_01_32_105932.txt").spec
    m = build(spec)
    conv = m[0]
    assert isinstance(conv, nn.Conv2d) and conv.bias is not None
    assert (conv.kernel_size, conv.stride, conv.padding) == ((11, 11), (5, 5), (5, 5))
    assert isinstance(m[2], nn.Dropout) and m[2].p == spec.dropout_rate
    pool = m[9]
    assert isinstance(pool, nn.MaxPool2d) and (pool.kernel_size, pool.stride, pool.padding) == (10, 4, 4)
    # no activation between FC layers; the network ends in raw logits
    assert [type(x).__name__ for x in m[10:]] == ["Flatten", "Linear", "Linear", "Linear"]


def test_flops_and_memory_arithmetic(reference_dir):
    spec = read_table(reference_dir / "2021_02_15_13_56_59_917381.txt").spec
    a = analyse(spec)
    conv_macs = 190 * 3 * 32 * 32 * 1 + 306 * 190 * 25 + 383 * 306 * 9 * 25
    fc_macs = 145 * 383 + 100 * 145
    bias = 190 + 306 * 25 + 383 * 25 + 145 + 100
    relu = 306 * 25 + 383 * 25
    pool = 383 * 1 * (5 * 5 - 1)
    assert a.flops == 2 * (conv_macs + fc_macs) + bias + relu + pool
    outputs = 190 + 190 + 306 * 25 * 2 + 383 * 25 * 2 + 383 + 145 + 145 + 100
    assert a.activation_bytes == 4 * outputs


def test_build_seed_is_reproducible_and_side_effect_free():
    spec = plan("FashionMNIST", 3, 0)[2].spec()
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a = build(spec, seed=7)
    after = torch.rand(3)
    assert torch.equal(before, after)  # the global RNG was not consumed
    b = build(spec, seed=7)
    c = build(spec, seed=8)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))


def _stratified(dataset, per_count, seed=2022, n=1000):
    """The first `per_count` specs of each conv-layer count in a plan of n."""
    picked, seen = [], {}
    for p in plan(dataset, n, seed):
        if seen.get(p.n_conv, 0) < per_count:
            seen[p.n_conv] = seen.get(p.n_conv, 0) + 1
            picked.append(p.spec())
    return picked


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_arithmetic_agrees_with_module_on_meta(dataset):
    # 100 networks per data set (10 per conv-layer count), built without memory on the meta
    # device: every layer's output shape and the parameter count agree with the arithmetic.
    for spec in _stratified(dataset, 10):
        arith = analyse(spec)
        with torch.device("meta"):
            module = build(spec)
            x = torch.empty((2, *arith.input_shape))
            for m, layer in zip(module, arith.layers):
                x = m(x)
                assert type(m).__name__ == layer.type
                assert tuple(x.shape) == (2, *layer.shape)
        assert sum(p.numel() for p in module.parameters()) == arith.params
        assert tuple(x.shape) == (2, spec.info.classes)


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_forward_backward_every_parameter_gets_a_gradient(dataset):
    # Real forward and backward on a batch of 2 for one affordable network per conv-layer count.
    checked = 0
    by_count = {}
    for spec in _stratified(dataset, 30):
        a = analyse(spec)
        if a.params <= 3_000_000 and a.flops <= 100_000_000 and spec.n_conv not in by_count:
            by_count[spec.n_conv] = spec
    assert sorted(by_count) == list(range(1, 11))
    for spec in by_count.values():
        info = spec.info
        module = build(spec, seed=spec.random_seed)
        x = torch.rand(2, info.channels, info.side, info.side)
        out = module(x)
        assert out.shape == (2, info.classes)
        assert torch.isfinite(out).all()
        loss = nn.functional.cross_entropy(out, torch.tensor([0, 1]))
        loss.backward()
        for name, p in module.named_parameters():
            assert p.grad is not None, name
            assert p.grad.shape == p.shape
        checked += 1
    assert checked == 10
