"""Real per-epoch learning curves of networks from outside nnlife's taxonomy, as a curve file.

    python benchmarks/other_curves.py digits --networks 300 --seed 1 --out digits.csv
    python benchmarks/other_curves.py fashion --networks 60 --seed 2 --out fashion-mlp.csv
    python benchmarks/auto_rules.py digits.csv fashion-mlp.csv

The curves ``auto`` will meet in users' hands are not nnlife's: per-epoch curves of about 25
epochs, from networks, optimisers and data of their own, many of which learn to near 100 %.
This script makes curves of that kind for real, so that the prediction methods can be scored
on curves no method was designed on: every network is trained here, on real data, and measured
once an epoch on held-out images.

- ``digits``: scikit-learn's bundled 8x8 handwritten digits (1797 images, no download), a fixed
  split of 1197 training and 600 validation images; multilayer perceptrons and small CNNs.
- ``fashion``: FashionMNIST's full splits (60,000 / 10,000, found and verified as nnlife's
  campaigns find them); multilayer perceptrons.

Network ``i`` of seed ``s`` is drawn from its own generator (``default_rng([s, i])``), from a
space declared here and not tuned on any result: perceptrons of 1-3 hidden layers of 16-512
units or (digits) 1-2 conv layers of 4-32 channels; ReLU, tanh or sigmoid; plain SGD, SGD with
momentum 0.9, or Adam, at log-uniform learning rates over two to three decades each (some too
small to learn in 25 epochs, some large enough to diverge); batch 16-256; weight decay and
dropout or none. Training uses that generator's seed for torch too, one thread per process, so
a network's curve is the same on a rerun on the same machine.

Columns: ``id``, ``epoch`` (1 .. ``--epochs``), ``valAcc`` (percent), ``valLoss`` (mean
cross-entropy on the validation images), ``trainLoss`` (the epoch's mean training loss, nan
once it diverges), ``trainAcc`` (percent of the epoch's training batches), then the network's
configuration (ignored by the curve-file reader). The file is rewritten atomically every few
networks; a rerun with the same arguments keeps the networks already there and trains only the
missing ones.
"""

from __future__ import annotations

import argparse
import csv
import math
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from nnlife.table import atomic_write_text  # noqa: E402

CURVE_COLUMNS = ["id", "epoch", "valAcc", "valLoss", "trainLoss", "trainAcc"]
CONFIG_COLUMNS = ["kind", "layers", "width", "activation", "optimizer", "lr", "batch", "weight_decay", "dropout"]
DIGITS_TRAIN = 1197  # of scikit-learn's 1797 digits; the other 600 validate
FASHION_MEAN, FASHION_STD = 0.2860, 0.3530  # FashionMNIST's training-split pixel mean and spread


def config(dataset: str, seed: int, i: int) -> dict:
    """Network ``i``'s configuration, from its own generator."""
    rng = np.random.default_rng([seed, i])
    cnn = dataset == "digits" and rng.random() < 0.4
    opt = rng.choice(["sgd", "momentum", "adam"], p=[0.4, 0.3, 0.3])
    lr_range = {"sgd": (1e-3, 0.5), "momentum": (1e-4, 0.1), "adam": (1e-5, 1e-2)}[opt]
    return dict(
        kind="cnn" if cnn else "mlp",
        layers=int(rng.integers(1, 3)) if cnn else int(rng.integers(1, 4)),
        width=int(rng.choice([4, 8, 16, 32])) if cnn else int(rng.choice([16, 32, 64, 128, 256, 512])),
        activation=str(rng.choice(["relu", "tanh", "sigmoid"], p=[0.5, 0.3, 0.2])),
        optimizer=str(opt),
        lr=float(math.exp(rng.uniform(math.log(lr_range[0]), math.log(lr_range[1])))),
        batch=int(rng.choice([16, 32, 64, 128, 256])),
        weight_decay=0.0 if rng.random() < 0.5 else float(math.exp(rng.uniform(math.log(1e-6), math.log(1e-2)))),
        dropout=float(rng.choice([0.0, 0.0, 0.1, 0.3, 0.5])),
    )


def build(cfg: dict, side: int, channels: int = 1) -> nn.Module:
    act = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[cfg["activation"]]
    layers: list[nn.Module] = []
    if cfg["kind"] == "cnn":
        c = channels
        for _ in range(cfg["layers"]):
            layers += [nn.Conv2d(c, cfg["width"], 3, padding=1), act(), nn.MaxPool2d(2)]
            c, side = cfg["width"], side // 2
        layers += [nn.Flatten(), nn.Dropout(cfg["dropout"]), nn.Linear(c * side * side, 10)]
    else:
        n = channels * side * side
        layers.append(nn.Flatten())
        for _ in range(cfg["layers"]):
            layers += [nn.Linear(n, cfg["width"]), act(), nn.Dropout(cfg["dropout"])]
            n = cfg["width"]
        layers.append(nn.Linear(n, 10))
    return nn.Sequential(*layers)


def load(dataset: str):
    """``(train_x, train_y, val_x, val_y, side)`` as float tensors (N, 1, side, side) and labels."""
    if dataset == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        order = np.random.default_rng(0).permutation(len(d.target))
        x = torch.tensor(d.images[order] / 16.0, dtype=torch.float32).unsqueeze(1)
        y = torch.tensor(d.target[order], dtype=torch.int64)
        return x[:DIGITS_TRAIN], y[:DIGITS_TRAIN], x[DIGITS_TRAIN:], y[DIGITS_TRAIN:], 8
    from nnlife.data import load_data

    data = load_data("FashionMNIST", download=False)
    norm = lambda t: (t.to(torch.float32) / 255.0 - FASHION_MEAN) / FASHION_STD  # noqa: E731
    return norm(data.train_x), data.train_y, norm(data.test_x), data.test_y, 28


_DATA: dict = {}


def train(dataset: str, seed: int, i: int, epochs: int) -> list[list]:
    """Network ``i``'s rows: one per epoch, ``CURVE_COLUMNS`` then its configuration."""
    torch.set_num_threads(1)
    if dataset not in _DATA:
        _DATA[dataset] = load(dataset)
    tx, ty, vx, vy, side = _DATA[dataset]
    cfg = config(dataset, seed, i)
    torch.manual_seed(int(np.random.default_rng([seed, i, 1]).integers(2**31)))
    net = build(cfg, side)
    params = dict(lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    opt = (torch.optim.Adam(net.parameters(), **params) if cfg["optimizer"] == "adam" else
           torch.optim.SGD(net.parameters(), momentum=0.9 if cfg["optimizer"] == "momentum" else 0.0, **params))
    loss_fn = nn.CrossEntropyLoss()
    shuffle = torch.Generator().manual_seed(int(np.random.default_rng([seed, i, 2]).integers(2**31)))
    rows = []
    for epoch in range(1, epochs + 1):
        net.train()
        total, right, seen = 0.0, 0, 0
        for idx in torch.randperm(len(ty), generator=shuffle).split(cfg["batch"]):
            out = net(tx[idx])
            loss = loss_fn(out, ty[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            right += int((out.argmax(1) == ty[idx]).sum())
            seen += len(idx)
        net.eval()
        with torch.no_grad():
            out = net(vx)
            val_loss = float(loss_fn(out, vy))
            val_acc = 100.0 * float((out.argmax(1) == vy).float().mean())
        rows.append([f"{dataset}-{seed}-{i}", epoch, f"{val_acc:.4f}", f"{val_loss:.6g}", f"{total / seen:.6g}",
                     f"{100.0 * right / seen:.4f}"] + [cfg[k] for k in CONFIG_COLUMNS])
    return rows


def _train(job):
    return job[2], train(*job)


def read_done(path: Path) -> dict[int, list[list]]:
    """The networks already in ``path`` (by index), with their rows as text."""
    done: dict[int, list[list]] = {}
    if path.exists():
        with open(path, newline="") as handle:
            reader = csv.reader(handle)
            next(reader, None)
            for row in reader:
                done.setdefault(int(row[0].rsplit("-", 1)[1]), []).append(row)
    return done


def write(path: Path, done: dict[int, list[list]]) -> None:
    lines = [",".join(CURVE_COLUMNS + CONFIG_COLUMNS)]
    for i in sorted(done):
        lines += [",".join(str(v) for v in row) for row in done[i]]
    atomic_write_text(path, "\n".join(lines) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", choices=["digits", "fashion"])
    ap.add_argument("--networks", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", required=True, help="the curve file (CSV) to write, or to complete")
    args = ap.parse_args(argv)
    if args.networks < 1 or args.epochs < 1 or args.workers < 1:
        ap.error("--networks, --epochs and --workers: expected positive integers")
    out = Path(args.out)
    done = read_done(out)
    todo = [(args.dataset, args.seed, i, args.epochs) for i in range(args.networks) if i not in done]
    print(f"{out}: {len(done)} networks there, {len(todo)} to train", flush=True)
    start, last_write = time.perf_counter(), time.perf_counter()
    with mp.get_context("spawn").Pool(args.workers) as pool:
        for n, (i, rows) in enumerate(pool.imap_unordered(_train, todo), 1):
            done[i] = rows
            best = max(float(r[2]) for r in rows)
            print(f"[{n}/{len(todo)}] network {i}: best valAcc {best:.1f} % ({time.perf_counter() - start:.0f} s)",
                  flush=True)
            if time.perf_counter() - last_write > 30 or n == len(todo):
                write(out, done)
                last_write = time.perf_counter()
    if not todo:
        write(out, done)
    return 0


if __name__ == "__main__":
    sys.exit(main())
