"""Training throughput: nnlife's trainer against the plain PyTorch way, in the same run.

For a fixed list of sampled networks, each is trained for one epoch (with its two half-epoch
validations) twice, from the same initial weights:

* nnlife: ``nnlife.train.train`` (uint8 images on the device, device-side permutation, losses
  summed on the device, one host synchronisation per half epoch);
* plain: a ``TensorDataset`` of float images in [0, 1] + ``DataLoader(batch_size=b,
  shuffle=True, drop_last=True)``, ``.to(device)`` per batch, ``loss.item()`` per batch, and a
  standard validation loop (``eval()``, ``no_grad``, batches of b, partial batch dropped).

Both do the same work: the same number of SGD steps on the same number of images and the
same validation passes. Images/s counts training images per second of wall time for the
whole epoch (validation included); each method runs ``--rounds`` times in alternating order
and its fastest epoch counts. On the CPU the default list keeps networks of at most 2 forward
MFLOPs per image (so the run takes about 2 minutes); on a GPU every sampled network counts. On a GPU the script also prints the achieved FLOP/s
(forward FLOPs from nnlife.shapes, x3 per training image, x1 per validated image) as a
fraction of the device's dense peak for the precision used.

    python benchmarks/train_throughput.py                 # CPU defaults: 2 to 3 minutes
    python benchmarks/train_throughput.py --device cuda --train-images 60000 --test-images 10000
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nnlife.build import build
from nnlife.data import from_arrays, load_data, resolve_device
from nnlife.errors import DataError
from nnlife.sample import plan
from nnlife.shapes import analyse
from nnlife.run import RunOptions
from nnlife.train import _precision, derive_seeds, plan_run, train

from device_peaks import peak_tflops, sync  # beside this script


def plain_epoch(spec, data, facts, device, precision) -> float:
    """One epoch the plain way; returns wall seconds."""
    b = spec.batch_size
    train_x = data.train_x[: facts.train_subset].float().div(255).cpu()
    train_y = data.train_y[: facts.train_subset].cpu()
    test_x = data.test_x[: facts.test_subset].float().div(255).cpu()
    test_y = data.test_y[: facts.test_subset].cpu()
    # The same truncation as nnlife (an even number of whole batches) so the work is equal.
    train_set = TensorDataset(train_x, train_y)
    sampler = torch.utils.data.RandomSampler(train_set, num_samples=facts.train_images)
    loader = DataLoader(train_set, batch_size=b, sampler=sampler, drop_last=True)
    val_loader = DataLoader(TensorDataset(test_x, test_y), batch_size=b, shuffle=False, drop_last=True)

    model = build(spec, seed=derive_seeds(spec.random_seed).weights).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=float(spec.learning_rate), momentum=float(spec.momentum),
                                dampening=float(spec.dampening), weight_decay=float(spec.weight_decay))
    loss_fn = nn.CrossEntropyLoss()
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=precision == "bf16")

    def validate():
        model.eval()
        total, correct, seen = 0.0, 0, 0
        with torch.no_grad():
            for x, y in val_loader:
                x, y = x.to(device), y.to(device)
                with autocast:
                    logits = model(x)
                    loss = loss_fn(logits.float(), y)
                total += loss.item()
                correct += (logits.argmax(1) == y).sum().item()
                seen += len(y)
        model.train()
        return total / len(val_loader), 100 * correct / seen

    sync(device)
    start = time.perf_counter()
    model.train()
    running = 0.0
    for i, (x, y) in enumerate(loader):
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        with autocast:
            loss = loss_fn(model(x).float(), y)
        loss.backward()
        optimizer.step()
        running += loss.item()
        if i + 1 == facts.batches_per_half:
            validate()
    validate()
    sync(device)
    return time.perf_counter() - start


def nnlife_epoch(spec, data, device, precision, train_images, test_images) -> float:
    sync(device)
    start = time.perf_counter()
    train(spec, data, RunOptions(epochs=1, precision=precision, train_images=train_images, test_images=test_images))
    sync(device)
    return time.perf_counter() - start


def choose_specs(dataset: str, count: int, master_seed: int, max_mflops: float | None):
    """The first ``count`` planned networks (conv-layer counts cycling 1..10) whose forward
    FLOPs are at most ``max_mflops``: a fixed list for a given seed."""
    chosen = []
    for planned in plan(dataset, 100 * count, master_seed):
        spec = planned.spec()
        if max_mflops is None or analyse(spec).flops <= max_mflops * 1e6:
            chosen.append(spec)
        if len(chosen) == count:
            break
    return chosen


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="FashionMNIST")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="fp32", choices=("fp32", "tf32", "bf16"))
    p.add_argument("--networks", type=int, default=4, help="number of sampled networks")
    p.add_argument("--seed", type=int, default=2022, help="master seed of the plan")
    p.add_argument("--max-mflops", type=float, default=None,
                   help="skip networks with more forward MFLOPs per image (default: 2 on CPU, none on GPU)")
    p.add_argument("--train-images", type=int, default=None, help="default: 2000 on CPU, the full split on GPU")
    p.add_argument("--test-images", type=int, default=None, help="default: 500 on CPU, the full split on GPU")
    p.add_argument("--rounds", type=int, default=3, help="epochs per network and method; the fastest counts")
    p.add_argument("--synthetic", action="store_true", help="random images of the data set's shape")
    p.add_argument("--peak-tflops", type=float, default=None, help="device peak for the precision (GPU)")
    args = p.parse_args(argv)

    device = resolve_device(args.device)
    on_cpu = device.type == "cpu"
    max_mflops = args.max_mflops if args.max_mflops is not None else (2.0 if on_cpu else None)
    train_images = args.train_images or (2000 if on_cpu else None)
    test_images = args.test_images or (500 if on_cpu else None)

    if args.synthetic:
        data = synthetic(args.dataset, device)
    else:
        try:
            data = load_data(args.dataset, device=device)
        except DataError as err:
            print(f"{err}\n(use --synthetic to benchmark on random images)", file=sys.stderr)
            return 2
    specs = choose_specs(data.dataset, args.networks, args.seed, max_mflops)
    peak = peak_tflops(device, args.precision, args.peak_tflops)

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"# {data.dataset}{' (synthetic)' if args.synthetic else ''}, {name}, {args.precision}, torch {torch.__version__}")
    print(f"# one epoch per network on {train_images or data.n_train} training / {test_images or data.n_test} test images, "
          f"validation after each half epoch; fastest of {args.rounds} rounds per method")

    # Warm up both paths once (library initialisation, kernels, CUDA context) off the clock.
    warm = specs[0]
    nnlife_epoch(warm, data, device, args.precision, 4 * warm.batch_size, warm.batch_size)
    small = plan_run(warm, data, RunOptions(train_images=4 * warm.batch_size, test_images=warm.batch_size))
    with _precision(args.precision):
        plain_epoch(warm, data, small, device, args.precision)

    header = ["seed", "conv", "b", "params", "MFLOP/img", "nnlife img/s", "plain img/s", "ratio"]
    if peak:
        header += ["nnlife TFLOP/s", "% of peak"]
    rows = []
    total_nn = total_plain = 0.0
    total_images = 0
    for spec in specs:
        facts = plan_run(spec, data, RunOptions(train_images=train_images, test_images=test_images))
        # Alternate the order each round and keep each method's fastest epoch: other load on
        # the machine only ever adds time, so the minimum is the fairest estimate.
        times_plain, times_nn = [], []
        for r in range(args.rounds):
            for method in (("plain", "nnlife") if r % 2 == 0 else ("nnlife", "plain")):
                if method == "plain":
                    with _precision(args.precision):
                        times_plain.append(plain_epoch(spec, data, facts, device, args.precision))
                else:
                    times_nn.append(nnlife_epoch(spec, data, device, args.precision, train_images, test_images))
        t_plain, t_nn = min(times_plain), min(times_nn)
        flops = analyse(spec).flops
        n = facts.train_images
        row = [spec.random_seed, spec.n_conv, spec.batch_size, f"{analyse(spec).params:,}", f"{flops / 1e6:.2f}",
               f"{n / t_nn:,.0f}", f"{n / t_plain:,.0f}", f"{t_plain / t_nn:.2f}"]
        if peak:
            achieved = (3 * flops * n + 2 * flops * facts.test_images) / t_nn / 1e12
            row += [f"{achieved:.2f}", f"{100 * achieved / peak:.1f}"]
        rows.append([str(c) for c in row])
        total_nn += t_nn
        total_plain += t_plain
        total_images += n
        print("  ".join(rows[-1]), file=sys.stderr, flush=True)

    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("| " + " | ".join(h.rjust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(c.rjust(w) for c, w in zip(r, widths)) + " |")
    print(f"\nall networks: nnlife {total_images / total_nn:,.0f} img/s, plain {total_images / total_plain:,.0f} img/s, "
          f"ratio {total_plain / total_nn:.2f} (time of plain / time of nnlife)")
    return 0


def synthetic(dataset: str, device: torch.device):
    from nnlife.spec import dataset_info

    info = dataset_info(dataset)
    g = torch.Generator().manual_seed(0)
    shape = (info.channels, info.side, info.side)
    make = lambda n: (torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8),  # noqa: E731
                      torch.randint(0, info.classes, (n,), generator=g))
    (train_x, train_y), (test_x, test_y) = make(info.n_train), make(info.n_test)
    return from_arrays(info.name, train_x, train_y, test_x, test_y, device=device)


if __name__ == "__main__":
    sys.exit(main())
