"""Small data files in the exact official formats, for tests.

Each writer takes the arrays to store (or draws random ones from a seed) and returns what it
wrote, in nnlife's in-memory layout (images uint8 ``(N, C, H, W)``, labels int64), so a test
can compare a reader's output with the truth.

* FashionMNIST: four gzip-compressed IDX files (magic ``0x00000803`` images, ``0x00000801``
  labels, big-endian dimensions), named as distributed.
* CIFAR-100: ``cifar-100-python.tar.gz`` holding ``cifar-100-python/{train,test,meta}``,
  pickles (protocol 2) of dicts with byte-string keys ``data`` (uint8 (N, 3072): 1024 red,
  then 1024 green, then 1024 blue values, row-major), ``fine_labels``, ``coarse_labels``,
  ``filenames``, ``batch_label``; or the same pickles extracted.
* SVHN: MATLAB v5 ``{train,test,extra}_32x32.mat`` with ``X`` uint8 (32, 32, 3, N) and
  ``y`` uint8 (N, 1), digits 1..9 and 10 for the digit 0.
"""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

FASHION_NAMES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def random_split(n: int, channels: int, side: int, classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random uint8 images ``(n, channels, side, side)`` and int64 labels in [0, classes)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, channels, side, side), dtype=np.uint8)
    y = rng.integers(0, classes, size=n).astype(np.int64)
    return x, y


# ---- IDX (FashionMNIST) ---------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array: 0, 0, type 0x08, ndim, big-endian dims, data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write an IDX file, gzip-compressed when ``path`` ends in .gz."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = idx_bytes(array)
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)
    return path


def write_fashion_mnist(directory: str | Path, n_train: int = 60, n_test: int = 20, seed: int = 0) -> dict:
    """The four FashionMNIST files with random content in ``directory``. Returns
    ``{"paths": {key: Path}, "train_x", "train_y", "test_x", "test_y"}`` (images (N, 1, 28, 28))."""
    directory = Path(directory)
    train_x, train_y = random_split(n_train, 1, 28, 10, seed)
    test_x, test_y = random_split(n_test, 1, 28, 10, seed + 1)
    arrays = {"train_images": train_x[:, 0], "train_labels": train_y, "test_images": test_x[:, 0], "test_labels": test_y}
    paths = {key: write_idx(directory / FASHION_NAMES[key], arrays[key]) for key in FASHION_NAMES}
    return {"paths": paths, "train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y}


# ---- CIFAR-100 --------------------------------------------------------------------------


def cifar_pickle_bytes(x: np.ndarray, fine: np.ndarray, split: str) -> bytes:
    """A CIFAR-100 python pickle of images ``x`` (N, 3, 32, 32) and fine labels."""
    n = len(x)
    obj = {
        b"filenames": [f"image_{i}.png".encode() for i in range(n)],
        b"batch_label": f"{split} batch 1 of 1".encode(),
        b"fine_labels": [int(v) for v in fine],
        b"coarse_labels": [int(v) // 5 for v in fine],
        b"data": np.ascontiguousarray(x, dtype=np.uint8).reshape(n, 3 * 32 * 32),
    }
    return pickle.dumps(obj, protocol=2)


def write_cifar100(directory: str | Path, n_train: int = 40, n_test: int = 20, seed: int = 0, *, archive: bool = True) -> dict:
    """CIFAR-100 in ``directory``: ``cifar-100-python.tar.gz`` (``archive=True``) or the
    extracted ``cifar-100-python/{train,test,meta}``. Returns ``{"path", "train_x",
    "train_y", "test_x", "test_y"}``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    train_x, train_y = random_split(n_train, 3, 32, 100, seed)
    test_x, test_y = random_split(n_test, 3, 32, 100, seed + 1)
    members = {
        "train": cifar_pickle_bytes(train_x, train_y, "training"),
        "test": cifar_pickle_bytes(test_x, test_y, "testing"),
        "meta": pickle.dumps({b"fine_label_names": [f"class{i}".encode() for i in range(100)],
                              b"coarse_label_names": [f"super{i}".encode() for i in range(20)]}, protocol=2),
    }
    if archive:
        path = directory / "cifar-100-python.tar.gz"
        with tarfile.open(path, "w:gz") as tar:
            for name, payload in members.items():
                info = tarfile.TarInfo(f"cifar-100-python/{name}")
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    else:
        path = directory / "cifar-100-python"
        path.mkdir(exist_ok=True)
        for name, payload in members.items():
            (path / name).write_bytes(payload)
    return {"path": path, "train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y}


# ---- SVHN -------------------------------------------------------------------------------


def write_svhn_mat(path: str | Path, x: np.ndarray, y: np.ndarray) -> Path:
    """A ``*_32x32.mat`` file of images ``x`` (N, 3, 32, 32) and labels ``y`` in 0..9
    (stored as 1..10, 10 for the digit 0, ``X`` as (32, 32, 3, N))."""
    import scipy.io

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stored = np.where(np.asarray(y) == 0, 10, y).astype(np.uint8).reshape(-1, 1)
    scipy.io.savemat(path, {"X": np.ascontiguousarray(np.asarray(x, dtype=np.uint8).transpose(2, 3, 1, 0)), "y": stored})
    return path


def write_svhn(directory: str | Path, n_train: int = 30, n_test: int = 20, n_extra: int = 0, seed: int = 0) -> dict:
    """``train_32x32.mat``, ``test_32x32.mat`` (and ``extra_32x32.mat`` when ``n_extra``)
    in ``directory``. Returns ``{"paths", "train_x", "train_y", "test_x", "test_y",
    "extra_x", "extra_y"}`` with labels as nnlife reads them (0..9)."""
    directory = Path(directory)
    out: dict = {"paths": {}}
    for split, n, s in (("train", n_train, seed), ("test", n_test, seed + 1), ("extra", n_extra, seed + 2)):
        if split == "extra" and not n:
            continue
        x, y = random_split(n, 3, 32, 10, s)
        out["paths"][split] = write_svhn_mat(directory / f"{split}_32x32.mat", x, y)
        out[f"{split}_x"], out[f"{split}_y"] = x, y
    return out
