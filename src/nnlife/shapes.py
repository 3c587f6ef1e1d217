"""Shape, parameter, FLOP and memory arithmetic of a spec, without torch.

Conventions (per image, forward pass):

* a multiply-add counts 2 FLOPs; a bias addition 1 per output element;
* ReLU 1 FLOP per element; max-pooling ``k*k - 1`` comparisons per output element;
* dropout and flatten 0 (dropout is the identity at inference);
* activation memory is the bytes of every layer's output at 4 bytes per value (fp32), the
  tensors a training step keeps for the backward pass; flatten is a view and adds nothing.

A training step costs about 3x the forward FLOPs (forward, and two matrix products backward).
"""

from __future__ import annotations

from dataclasses import dataclass

from .spec import POOL, NetworkSpec, conv_out

BYTES_PER_VALUE = 4


@dataclass(frozen=True)
class Layer:
    """One layer of the built module, in order: its type (the torch class name), its output
    shape for one image, its parameter count, FLOPs and activation values."""

    type: str
    shape: tuple[int, ...]
    params: int
    flops: int
    activations: int  # values of its output that a training step keeps

    def to_dict(self) -> dict:
        return {
            "type": self.type,
            "shape": list(self.shape),
            "params": self.params,
            "flops": self.flops,
        }


@dataclass(frozen=True)
class Arithmetic:
    """Everything :func:`analyse` computes for a spec."""

    layers: tuple[Layer, ...]
    input_shape: tuple[int, int, int]

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def flops(self) -> int:
        return sum(layer.flops for layer in self.layers)

    @property
    def activation_bytes(self) -> int:
        return BYTES_PER_VALUE * sum(layer.activations for layer in self.layers)

    @property
    def flatten_features(self) -> int:
        return next(l.shape[0] for l in self.layers if l.type == "Flatten")



def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def analyse(spec: NetworkSpec) -> Arithmetic:
    """Per-layer output shapes, parameters, FLOPs and activation memory of a spec."""
    info = spec.info
    c, d = info.channels, info.side
    layers: list[Layer] = []
    pool_i = 0
    for i, code in enumerate(spec.layer_types):
        k, s, p, f = spec.convKernels[i], spec.convStrides[i], spec.convPaddings[i], spec.convFilters[i]
        d = conv_out(d, k, s, p)
        out = (f, d, d)
        n = _numel(out)
        layers.append(Layer("Conv2d", out, f * c * k * k + f, n * (2 * c * k * k + 1), n))
        c = f
        for name in spec.blocks[i]:
            if name == "ReLU":
                layers.append(Layer("ReLU", out, 0, n, n))
            elif name == "Dropout":
                layers.append(Layer("Dropout", out, 0, 0, n))
            else:
                assert code & POOL
                pk, ps, pp = spec.poolKernels[pool_i], spec.poolStrides[pool_i], spec.poolPaddings[pool_i]
                pool_i += 1
                d = conv_out(d, pk, ps, pp)
                out = (c, d, d)
                n = _numel(out)
                layers.append(Layer("MaxPool2d", out, 0, n * (pk * pk - 1), n))
    features = c * d * d
    layers.append(Layer("Flatten", (features,), 0, 0, 0))
    width = features
    for j, w in enumerate(spec.FCFilters):
        layers.append(Layer("Linear", (w,), w * width + w, w * (2 * width + 1), w))
        width = w
        if j < len(spec.FC_dropout_layers) and spec.FC_dropout_layers[j]:
            layers.append(Layer("Dropout", (w,), 0, 0, w))
    return Arithmetic(tuple(layers), (info.channels, info.side, info.side))
