"""Building the torch module of a spec (docs/taxonomy.md), and nothing else.

The module is a flat ``nn.Sequential`` whose children are, in order: for each conv layer a
``Conv2d`` (with bias) and its block (``ReLU``, then ``Dropout(dropout_rate)``, then
``MaxPool2d(kernel, stride, padding)``, whichever the code holds); then ``Flatten``; then the FC
layers (``Linear`` with bias), a ``Dropout(FC_dropout_rate)`` after each hidden FC layer whose
flag is 1, and no activation anywhere in the classifier: the network ends in raw logits.
"""

from __future__ import annotations

import torch
from torch import nn

from .shapes import analyse
from .spec import NetworkSpec


def build(spec: NetworkSpec, *, seed: int | None = None) -> nn.Sequential:
    """The module of ``spec``, on the CPU, in fp32, in training mode.

    Weights get PyTorch's default initialisation. With ``seed`` it is drawn from a generator
    seeded with it (the global RNG state is saved and restored, so the call has no side
    effect); without, from the global RNG as usual.
    """
    if seed is None:
        return _build(spec)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _build(spec)


def _build(spec: NetworkSpec) -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = spec.info.channels
    pool_i = 0
    for i, block in enumerate(spec.blocks):
        filters = spec.convFilters[i]
        layers.append(
            nn.Conv2d(
                channels,
                filters,
                kernel_size=spec.convKernels[i],
                stride=spec.convStrides[i],
                padding=spec.convPaddings[i],
                bias=True,
            )
        )
        channels = filters
        for name in block:
            if name == "ReLU":
                layers.append(nn.ReLU())
            elif name == "Dropout":
                layers.append(nn.Dropout(float(spec.dropout_rate)))
            else:
                layers.append(
                    nn.MaxPool2d(
                        kernel_size=spec.poolKernels[pool_i],
                        stride=spec.poolStrides[pool_i],
                        padding=spec.poolPaddings[pool_i],
                    )
                )
                pool_i += 1
    layers.append(nn.Flatten())
    width = analyse(spec).flatten_features
    for j, out in enumerate(spec.FCFilters):
        layers.append(nn.Linear(width, out, bias=True))
        width = out
        if j < len(spec.FC_dropout_layers) and spec.FC_dropout_layers[j]:
            layers.append(nn.Dropout(float(spec.FC_dropout_rate)))
    return nn.Sequential(*layers)
