"""The device facts the throughput benchmarks share: dense peak FLOP/s, and synchronisation."""

from __future__ import annotations

import torch

# Dense peak TFLOP/s by (device name fragment, precision); fp32 on tensor-core GPUs is the
# CUDA-core rate. Sources: the vendors' data sheets (SXM parts).
PEAK_TFLOPS = {
    ("H200", "fp32"): 67.0, ("H200", "tf32"): 494.7, ("H200", "bf16"): 989.4,
    ("H100", "fp32"): 67.0, ("H100", "tf32"): 494.7, ("H100", "bf16"): 989.4,
    ("A100", "fp32"): 19.5, ("A100", "tf32"): 156.0, ("A100", "bf16"): 312.0,
    ("V100", "fp32"): 15.7,
}


def peak_tflops(device: torch.device, precision: str, override: float | None) -> float | None:
    """The device's dense peak for ``precision`` (``override`` when given); None on the CPU or
    for a GPU not in the table."""
    if override:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for (frag, prec), v in PEAK_TFLOPS.items() if frag in name and prec == precision), None)


def sync(device: torch.device) -> None:
    """Wait for the device, so that wall-clock times cover the work queued on it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
