"""Campaign throughput: nnlife's campaign runner against the plain PyTorch way, in the same run.

A fixed stratified sample of networks (for each of FashionMNIST, CIFAR-100 and SVHN, one
network per conv-layer count 1..10, or ``--per-count`` of each) is trained twice:

* plain: one network at a time, a ``TensorDataset`` of float images + ``DataLoader``
  (``shuffle``, ``drop_last``), ``.to(device)`` and ``loss.item()`` per batch, a standard
  validation loop after each half epoch; all CPU threads (or the GPU) for the one network;
* nnlife: the campaign runner (``nnlife.campaign.run_campaign``) on the same networks: its
  local pool of long-lived workers (K on the CPU, G per GPU), most expensive first. Its wall
  time includes starting the workers and writing every table and record.

Both do the same work per network: the same epochs, the same SGD steps on the same number of
images, the same validation passes. The data is synthetic (seeded random images of each data
set's exact shapes: only throughput is measured). Printed: wall time, networks per hour,
training images per second, achieved FLOP/s (forward FLOPs from ``nnlife.shapes``, x3 per
training image, x1 per validated image) against the device's dense peak where known, and
the ratio plain time / nnlife time. On a GPU it also tries several ``--per-gpu`` values and
precisions, and extrapolates the hours of the full published campaign (3 data sets x 2000
networks x 40 epochs on the full splits) at the best configuration's FLOP/s.

    python benchmarks/campaign_throughput.py                  # CPU defaults: about 3 minutes
    python benchmarks/campaign_throughput.py --device cuda    # GPU: full splits, G and precision sweep

On the CPU the sample keeps, for each conv-layer count, the first planned network of at most
``--max-mflops`` forward MFLOPs per image (default 5 on the CPU, no limit on a GPU; the
cheapest of that count when none is that small), so that the run stays short; the plain
loop gets the faster of one thread and one per core (timed on the first network: torch's
multi-threading costs more than it gives on networks this small); the extrapolation of the
full campaign on the CPU is given for scale only.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nnlife.build import build
from nnlife.campaign import CampaignOptions, ExecutionOptions, Manifest, PlannedRun, read_journal, run_campaign, write_manifest
from nnlife.campaign.task import _SYNTHETIC, synthetic_data
from nnlife.data import resolve_device
from nnlife.executors import cores
from nnlife.sample import plan
from nnlife.shapes import analyse
from nnlife.spec import DATASETS, dataset_info
from nnlife.train import _precision, derive_seeds, plan_run

from device_peaks import peak_tflops, sync  # beside this script
from selection import choose_sample

FULL = (2000, 40)  # networks per data set, epochs: the published campaign


# --------------------------------------------------------------------------------------
# The sample


def full_campaign_flops(seed: int) -> float:
    """Forward-FLOP units of the full campaign: 3 x 2000 networks x 40 epochs, full splits."""
    options = CampaignOptions(datasets=tuple(DATASETS), per_dataset=FULL[0], seed=seed, epochs=FULL[1])
    total = 0.0
    for dataset in DATASETS:
        for planned in plan(dataset, FULL[0], seed):
            spec = planned.spec()
            net = PlannedRun(dataset, planned.random_seed, planned.n_conv, planned.index, "x", spec.batch_size,
                             analyse(spec).flops)
            total += net.cost(options)
    return total


# --------------------------------------------------------------------------------------
# The plain way, one network at a time


def plain_run(net: PlannedRun, options: CampaignOptions, device: torch.device) -> float:
    """Train one network the plain way for ``options.epochs``; returns wall seconds."""
    spec = net.spec(options)
    data = synthetic_data(net.dataset, device="cpu", train_images=options.train_images, test_images=options.test_images)
    facts = plan_run(spec, data, options.run_options())
    b = spec.batch_size
    train_set = TensorDataset(data.train_x[: facts.train_subset].float().div(255), data.train_y[: facts.train_subset])
    val_set = TensorDataset(data.test_x[: facts.test_images].float().div(255), data.test_y[: facts.test_images])
    model = build(spec, seed=derive_seeds(spec.random_seed).weights).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=float(spec.learning_rate), momentum=float(spec.momentum),
                                dampening=float(spec.dampening), weight_decay=float(spec.weight_decay))
    loss_fn = nn.CrossEntropyLoss()
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=options.precision == "bf16")

    def validate():
        model.eval()
        total, correct = 0.0, 0
        with torch.no_grad():
            for x, y in DataLoader(val_set, batch_size=b, drop_last=True):
                x, y = x.to(device), y.to(device)
                with autocast:
                    logits = model(x)
                    total += loss_fn(logits.float(), y).item()
                correct += (logits.argmax(1) == y).sum().item()
        model.train()
        return total, correct

    sync(device)
    start = time.perf_counter()
    with _precision(options.precision):
        for _ in range(options.epochs):
            sampler = torch.utils.data.RandomSampler(train_set, num_samples=facts.train_images)
            for i, (x, y) in enumerate(DataLoader(train_set, batch_size=b, sampler=sampler, drop_last=True)):
                x, y = x.to(device), y.to(device)
                optimizer.zero_grad()
                with autocast:
                    loss = loss_fn(model(x).float(), y)
                loss.backward()
                optimizer.step()
                loss.item()
                if i + 1 == facts.batches_per_half:
                    validate()
            validate()
    sync(device)
    return time.perf_counter() - start


# --------------------------------------------------------------------------------------
# nnlife's campaign runner


def campaign_run(sample: list[PlannedRun], options: CampaignOptions, execution: ExecutionOptions) -> tuple[float, float]:
    """Run the sample as a campaign in a temporary directory; returns (wall seconds of the
    whole run, seconds from the first network's start to the last one's end)."""
    with tempfile.TemporaryDirectory(prefix="nnlife-bench-") as out:
        write_manifest(out, Manifest(options, tuple(sample), "benchmark"))
        start = time.perf_counter()
        summary = run_campaign(out, options, execution)
        wall = time.perf_counter() - start
        if summary.failures or summary.trained != len(sample):
            raise SystemExit(f"campaign run failed: {summary.text()}")
        events = read_journal(out)
        times = [e["time"] for e in events if e["event"] in ("start", "done")]
        from datetime import datetime

        busy = (datetime.fromisoformat(max(times)) - datetime.fromisoformat(min(times))).total_seconds()
    return wall, busy


# --------------------------------------------------------------------------------------


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--seed", type=int, default=2022, help="master seed of the plans the sample is drawn from")
    p.add_argument("--per-count", type=int, default=None, help="networks per (data set, conv-layer count); default 1 on CPU, 2 on GPU")
    p.add_argument("--max-mflops", type=float, default=None, help="default: 5 on CPU, no limit on GPU")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--train-images", type=int, default=None, help="default: 1000 on CPU, the full split on GPU")
    p.add_argument("--test-images", type=int, default=None, help="default: 500 on CPU, the full split on GPU")
    p.add_argument("--workers", type=int, default=None, help="CPU workers of the campaign (default: one per core)")
    p.add_argument("--per-gpu", default="1,2,4,8", help="GPU: the --per-gpu values to try (comma-separated)")
    p.add_argument("--precisions", default="fp32,tf32,bf16", help="GPU: precisions to try at the best --per-gpu")
    p.add_argument("--peak-tflops", type=float, default=None, help="device peak for fp32 (else from a table, GPUs only)")
    args = p.parse_args(argv)

    device = resolve_device(args.device)
    on_cpu = device.type == "cpu"
    per_count = args.per_count or (1 if on_cpu else 2)
    max_mflops = args.max_mflops if args.max_mflops is not None else (5.0 if on_cpu else None)
    train_images = args.train_images or (1000 if on_cpu else None)
    test_images = args.test_images or (500 if on_cpu else None)
    load_before = os.getloadavg()
    sample = choose_sample(DATASETS, args.seed, per_count, max_mflops)
    base = CampaignOptions(datasets=tuple(DATASETS), per_dataset=10 * per_count, seed=args.seed, epochs=args.epochs,
                           train_images=train_images, test_images=test_images, synthetic=True)

    work = sum(n.cost(base) for n in sample)  # forward-FLOP units
    images = sum(n.images(base)[0] * base.epochs for n in sample)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({cores()} cores)"
    print(f"# {len(sample)} networks: FashionMNIST, CIFAR100, SVHN x conv layers 1..10 x {per_count} "
          f"(seed {args.seed}{f', <= {max_mflops:g} MFLOP/img' if max_mflops else ''}), synthetic data; {name}, "
          f"torch {torch.__version__}")
    print(f"# each: {args.epochs} epoch(s) on {train_images or 'all'} training / {test_images or 'all'} test images, "
          f"validation every half epoch; {work / 1e12:.2f} TFLOP in all")
    for dataset in DATASETS:
        mine = [n for n in sample if n.dataset == dataset]
        print(f"#   {dataset_info(dataset).name}: " + ", ".join(f"{n.conv_layers}:{n.flops / 1e6:.1f}" for n in mine)
              + " (conv layers: forward MFLOP/img)")

    rows = []

    def add(method: str, config: str, wall: float, precision: str, busy: float | None = None) -> None:
        peak = peak_tflops(device, precision, args.peak_tflops if precision == "fp32" else None)
        achieved = work / wall
        rows.append([method, config, f"{wall:.1f}", f"{busy:.1f}" if busy is not None else "",
                     f"{len(sample) / wall * 3600:,.0f}", f"{images / wall:,.0f}", f"{achieved / 1e9:,.1f}",
                     f"{100 * achieved / peak / 1e12:.1f}" if peak else "n/a", wall])
        print("  ".join(str(c) for c in rows[-1][:-1]), file=sys.stderr, flush=True)

    # The plain loop, one network at a time. On the CPU, torch's default (one thread per core)
    # can be much slower than one thread for networks this small: time the first network both
    # ways (after a warm-up, off the clock) and give the plain loop the faster setting.
    threads = cores()
    plain_run(sample[0], base, device)
    if on_cpu and cores() > 1:
        trial = {}
        for n in (1, cores()):
            torch.set_num_threads(n)
            trial[n] = plain_run(sample[0], base, device)
        threads = min(trial, key=trial.get)
        print("# plain loop, first network: " + ", ".join(f"{n} thread{'s' if n > 1 else ''} {t:.2f} s"
                                                          for n, t in trial.items()) + f": using {threads}")
    torch.set_num_threads(threads)
    _SYNTHETIC.clear()  # making the data is part of the work, as it is in the campaign's workers
    start = time.perf_counter()
    for net in sample:
        plain_run(net, base, device)
    plain_wall = time.perf_counter() - start
    add("plain loop, one network at a time", f"{threads} thread{'s' if threads > 1 else ''}" if on_cpu else "1 on the GPU",
        plain_wall, "fp32")

    if on_cpu:
        execution = ExecutionOptions(workers=args.workers, device="cpu", progress=False)
        wall, busy = campaign_run(sample, base, execution)
        k = args.workers or cores()
        add("nnlife campaign", f"{k} workers x {max(1, cores() // k)} threads, fp32", wall, "fp32", busy)
        best_wall, fp32_wall, best_precision = wall, wall, "fp32"
        runs = {(k, "fp32"): (wall, busy)}
    else:
        runs = {}  # (--per-gpu, precision) -> (wall s, busy s)
        best_wall, best_g, best_precision = None, 1, "fp32"
        for g in [int(v) for v in args.per_gpu.split(",")]:
            wall, busy = campaign_run(sample, base, ExecutionOptions(per_gpu=g, device=str(device.type), progress=False))
            add("nnlife campaign", f"--per-gpu {g}, fp32", wall, "fp32", busy)
            runs[g, "fp32"] = (wall, busy)
            if best_wall is None or wall < best_wall:
                best_wall, best_g = wall, g
        fp32_wall = best_wall
        for precision in [v for v in args.precisions.split(",") if v != "fp32"]:
            options = dataclasses.replace(base, precision=precision)
            wall, busy = campaign_run(sample, options, ExecutionOptions(per_gpu=best_g, device="cuda", progress=False))
            add("nnlife campaign", f"--per-gpu {best_g}, {precision}", wall, precision, busy)
            runs[best_g, precision] = (wall, busy)
            if wall < best_wall:
                best_wall, best_precision = wall, precision

    header = ["method", "configuration", "wall s", "busy s", "networks/h", "train img/s", "GFLOP/s", "% of peak"]
    table = [header] + [r[:-1] for r in rows]
    widths = [max(len(str(r[i])) for r in table) for i in range(len(header))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in table[1:]:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |")
    print(f"\n'busy s': from the first network's start to the last one's end (the campaign's wall time also "
          f"counts starting {'workers' if on_cpu else 'the GPU workers'} and loading data)")
    ratio = plain_wall / fp32_wall
    print(f"ratio plain / nnlife campaign (fp32): {ratio:.2f}")
    if not on_cpu:
        print(f"best: --per-gpu {best_g}, {best_precision} ({plain_wall / best_wall:.2f}x the plain loop)")
    print(f"load average (1 min) {load_before[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, "
          f"on {cores()} cores: other work on the machine slows both methods")
    full = full_campaign_flops(args.seed)
    rate = work / best_wall
    print(f"full campaign (3 x {FULL[0]} networks x {FULL[1]} epochs, full splits): {full / 1e15:,.1f} PFLOP; at the "
          f"best configuration's {rate / 1e9:,.1f} GFLOP/s: {full / rate / 3600:,.0f} hours on this "
          f"{'CPU (for scale: measured on small subsets)' if on_cpu else 'GPU'}")
    if not on_cpu:
        # The full campaign at each setting's measured FLOP rate: from the wall time (start-up
        # included, which a campaign of 6000 networks pays once) and from the busy time.
        fastest = min(runs, key=lambda key: runs[key][0])
        settings = [("fp32, one network at a time", runs.get((1, "fp32"))),
                    (f"fp32, --per-gpu {best_g} (the fastest faithful setting)", runs[best_g, "fp32"]),
                    (f"{fastest[1]}, --per-gpu {fastest[0]} (the fastest measured"
                     f"{'' if fastest[1] == 'fp32' else '; not the published fp32 arithmetic'})", runs[fastest])]
        for label, measured in settings:
            if measured is None:
                continue
            wall, busy = measured
            print(f"full campaign hours at {label}: {full / (work / wall) / 3600:,.0f} (from wall time), "
                  f"{full / (work / busy) / 3600:,.0f} (from busy time); {work / wall / 1e9:,.1f} and "
                  f"{work / busy / 1e9:,.1f} GFLOP/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
