"""What ``nnlife describe`` and ``nnlife sample`` print about a network."""

from __future__ import annotations

from .shapes import analyse
from .spec import NetworkSpec

# The run facts are not part of a sampled network; `sample` leaves them out.
RUN_FACTS = ("ID", "train_GPU", "torch_set_deterministic")


def sample_record(spec: NetworkSpec) -> dict:
    """The JSON object ``nnlife sample`` prints for a spec: every table field except the run
    facts, as the exact text of line 2, plus ``params`` and ``flops`` as integers."""
    arith = analyse(spec)
    record: dict[str, object] = {
        name: text for name, text in spec.to_text_dict().items() if name not in RUN_FACTS
    }
    record["params"] = arith.params
    record["flops"] = arith.flops
    return record


def describe(spec: NetworkSpec) -> dict:
    """Rebuild the network of ``spec`` and report its layers.

    The module is really built and run on one blank image; each layer's output shape and the
    parameter count are read off the module, and checked against the shape arithmetic (which
    supplies the FLOPs). It is built on torch's ``meta`` device, which has shapes and no
    storage, so describing costs no memory and no time whatever the network's size (the
    taxonomy's largest have over three billion parameters). Returns ``{"ID", "dataset", "input_shape", "params", "flops",
    "activation_bytes", "layers": [{"type", "shape", "params", "flops"}, ...]}``.
    """
    import torch  # imported here so that commands which only sample never load torch

    from .build import build

    arith = analyse(spec)
    with torch.device("meta"):
        module = build(spec, seed=0).eval()
    shapes: list[tuple[int, ...]] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape[1:]))) for m in module]
    with torch.no_grad():
        module(torch.zeros((1, *arith.input_shape), device="meta"))
    for h in hooks:
        h.remove()
    layers = []
    for child, shape, layer in zip(module, shapes, arith.layers):
        params = sum(p.numel() for p in child.parameters())
        if (type(child).__name__, shape, params) != (layer.type, layer.shape, layer.params):
            raise RuntimeError(f"shape arithmetic disagrees with the module at {child}: {layer}")
        layers.append(layer.to_dict())
    return {
        "ID": spec.ID,
        "dataset": spec.dataset,
        "input_shape": list(arith.input_shape),
        "params": sum(p.numel() for p in module.parameters()),
        "flops": arith.flops,
        "activation_bytes": arith.activation_bytes,
        "layers": layers,
    }


def describe_text(info: dict) -> str:
    """A human-readable layer table of :func:`describe`'s result."""
    rows = [("#", "layer", "output shape", "params", "FLOPs")]
    rows.append(("", "input", "x".join(map(str, info["input_shape"])), "", ""))
    for i, layer in enumerate(info["layers"], 1):
        rows.append((str(i), layer["type"], "x".join(map(str, layer["shape"])), f"{layer['params']:,}", f"{layer['flops']:,}"))
    widths = [max(len(r[c]) for r in rows) for c in range(5)]
    lines = [f"network {info['ID'] or '(unsaved)'} on {info['dataset']}"]
    for r in rows:
        lines.append("  ".join(
            cell.rjust(w) if c in (0, 3, 4) else cell.ljust(w) for c, (cell, w) in enumerate(zip(r, widths))
        ).rstrip())
    lines.append(f"parameters: {info['params']:,}")
    lines.append(f"forward FLOPs per image: {info['flops']:,} (multiply-add = 2)")
    lines.append(f"activation memory per image: {info['activation_bytes']:,} bytes (fp32)")
    return "\n".join(lines)
