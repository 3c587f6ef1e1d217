"""The three image data sets, read from their official distributions, held on the device.

Files and where they are looked for
-----------------------------------
``data_root()`` is the directory of downloads and the first place files are looked for:
an explicit root (``--data-root``), else the environment variable ``NNLIFE_DATA``, else
``$XDG_CACHE_HOME/nnlife`` (default ``~/.cache/nnlife``). For each data set the files are
looked for in ``<root>/<Dataset dir>/`` (``FashionMNIST``, ``CIFAR-100``, ``SVHN``), then in
``<root>/`` itself (so a torchvision-style root works too); FashionMNIST also in
``<root>/FashionMNIST/raw/`` and in ``/usr/share/datasets/fashion-mnist/`` (Debian's
``dataset-fashion-mnist`` package). Downloads go to ``<root>/<Dataset dir>/``.

=============  ===================================================  =========================
data set       files (official names)                                verified by
=============  ===================================================  =========================
FashionMNIST   ``{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``   md5 of the .gz as
                                                                     published, or sha256 of
                                                                     the decompressed bytes
CIFAR-100      ``cifar-100-python.tar.gz`` (or its extracted         md5 of the archive; an
               ``cifar-100-python/{train,test}`` pickles)            extracted copy: its shape
                                                                     and exact class counts
SVHN           ``{train,test}_32x32.mat`` (+ ``extra_32x32.mat``)    md5
=============  ===================================================  =========================

Debian recompresses the FashionMNIST files, so their .gz bytes differ from the published
ones while the decompressed content is identical: that content's sha256 is pinned here.

Verification is paid once per file: a verified file gets a small stamp (its size and mtime)
next to it when it lies inside the data root, else under ``<root>/.verified/`` (nnlife never
writes into a system directory); a file whose size or mtime changed is verified again. Downloads go to a temporary name, are verified, and
only then renamed; a download that fails verification is deleted.

In memory
---------
:func:`load_data` returns an :class:`ImageData`: uint8 image tensors ``(N, C, H, W)`` and
int64 labels, on one device, read once per process and cached, so a worker that trains
network after network reads each data set once. Pixels are scaled to [0, 1] by the trainer,
per batch, on the device. :func:`subset` takes prefixes of the splits (views, no copy).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import pickle
import sys
import tarfile
import threading
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from .errors import DataError, InputError
from .spec import SVHN_EXTRA_IMAGES, DatasetInfo, dataset_info

ENV_ROOT = "NNLIFE_DATA"
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
STAMP_SUFFIX = ".nnlife-verified"


# --------------------------------------------------------------------------------------
# The official files


@dataclass(frozen=True)
class DataFile:
    """One file of an official distribution and the checksums that identify it."""

    name: str  # file name as distributed
    url: str  # official source
    md5: str  # of the file as distributed
    content_sha256: str | None = None  # of the decompressed content (gzip files)

    @property
    def check_id(self) -> str:
        """What a stamp certifies: changes if the pinned checksums change."""
        return f"md5:{self.md5}/sha256:{self.content_sha256}"


_FMNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_MNIST_FILES = {
    "train_images": DataFile(
        "train-images-idx3-ubyte.gz", _FMNIST_URL + "train-images-idx3-ubyte.gz",
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ),
    "train_labels": DataFile(
        "train-labels-idx1-ubyte.gz", _FMNIST_URL + "train-labels-idx1-ubyte.gz",
        "25c81989df183df01b3e8a0aad5dffbe",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    ),
    "test_images": DataFile(
        "t10k-images-idx3-ubyte.gz", _FMNIST_URL + "t10k-images-idx3-ubyte.gz",
        "bef4ecab320f06d8554ea6380940ec79",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ),
    "test_labels": DataFile(
        "t10k-labels-idx1-ubyte.gz", _FMNIST_URL + "t10k-labels-idx1-ubyte.gz",
        "bb300cfdad3c16e7a12a480ee83cd310",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
}
CIFAR100_FILE = DataFile(
    "cifar-100-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
    "eb9058c3a382ffc7106e4002c42a8d85",
)
CIFAR100_DIR = "cifar-100-python"  # the archive's top directory
_SVHN_URL = "http://ufldl.stanford.edu/housenumbers/"
SVHN_FILES = {
    "train": DataFile("train_32x32.mat", _SVHN_URL + "train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373"),
    "test": DataFile("test_32x32.mat", _SVHN_URL + "test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3"),
    "extra": DataFile("extra_32x32.mat", _SVHN_URL + "extra_32x32.mat", "a93ce644f1a588dc4d68dda5feec44a7"),
}


def data_root(explicit: str | Path | None = None) -> Path:
    """The data root: ``explicit``, else ``$NNLIFE_DATA``, else the per-user cache directory
    (``$XDG_CACHE_HOME/nnlife``, default ``~/.cache/nnlife``). Always absolute."""
    if explicit is not None and str(explicit) != "":
        return Path(explicit).expanduser().absolute()
    env = os.environ.get(ENV_ROOT)
    if env:
        return Path(env).expanduser().absolute()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser().absolute() / "nnlife"


def search_dirs(dataset: str, root: str | Path | None = None, *, system: bool = True) -> list[Path]:
    """Where the files of ``dataset`` are looked for, in order. The first is where downloads
    go. ``system=False`` leaves out system-wide copies (Debian's FashionMNIST)."""
    info = dataset_info(dataset)
    root = data_root(root)
    dirs = [root / info.dir_name]
    if info.name == "FashionMNIST":
        dirs.append(root / info.dir_name / "raw")
    dirs.append(root)
    if info.name == "FashionMNIST" and system:
        dirs.append(DEBIAN_FASHION_MNIST)
    return dirs


# --------------------------------------------------------------------------------------
# Verification, paid once per file


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _content_sha256(path: Path) -> str | None:
    """sha256 of a gzip file's decompressed bytes; None when it is not valid gzip."""
    digest = hashlib.sha256()
    try:
        with gzip.open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
    except (OSError, EOFError, zlib.error):  # gzip.BadGzipFile is an OSError
        return None
    return digest.hexdigest()


def matches(path: Path, spec: DataFile) -> bool:
    """Whether ``path`` holds the official content of ``spec`` (hashes the whole file)."""
    if _md5(path) == spec.md5:
        return True
    return spec.content_sha256 is not None and _content_sha256(path) == spec.content_sha256


def _stamp_path(path: Path, root: Path) -> Path:
    """Next to a file inside the data root; for a file elsewhere (a system-wide copy), under
    ``<root>/.verified/``: nnlife never writes into directories it does not own."""
    if path.absolute().is_relative_to(root):
        return path.with_name(f".{path.name}{STAMP_SUFFIX}")
    key = hashlib.sha1(str(path.absolute()).encode()).hexdigest()[:16]
    return root / ".verified" / f"{key}-{path.name}{STAMP_SUFFIX}"


def _stamp_of(path: Path, check_id: str) -> dict:
    st = path.stat()
    return {"file": str(path.absolute()), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "check": check_id}


def is_stamped(path: str | Path, check_id: str, root: str | Path | None = None) -> bool:
    """Whether ``path`` carries a valid stamp: verified before, unchanged since."""
    path = Path(path)
    try:
        stamp = json.loads(_stamp_path(path, data_root(root)).read_text())
        return stamp == _stamp_of(path, check_id)
    except (OSError, ValueError):
        return False


def _write_stamp(path: Path, check_id: str, root: Path) -> None:
    from .table import atomic_write_text

    try:
        atomic_write_text(_stamp_path(path, root), json.dumps(_stamp_of(path, check_id)) + "\n")
    except OSError:  # OutputError is one too
        pass  # a read-only place: the file is verified again next time, nothing worse


def verify_file(
    path: str | Path, spec: DataFile, root: str | Path | None = None, *, looked_in: list[Path] | None = None
) -> bool:
    """Check ``path`` against the pinned checksums of ``spec``, unless a stamp shows it was
    verified before and is unchanged. Returns True when it hashed the file, False when the
    stamp sufficed. Raises :class:`DataError` (naming the file, the places searched and the
    source) when the content is wrong."""
    path = Path(path)
    root = data_root(root)
    if is_stamped(path, spec.check_id, root):
        return False
    try:
        good = matches(path, spec)
    except OSError as err:
        raise DataError(f"{path}: cannot read: {_why(err)}") from None
    if not good:
        what = f"md5 {spec.md5}"
        if spec.content_sha256:
            what += f" or decompressed sha256 {spec.content_sha256}"
        where = f"; looked in {', '.join(str(d) for d in looked_in)}" if looked_in else ""
        raise DataError(
            f"{path}: corrupt or wrong file (expected {what}{where}); delete it and download "
            f"{spec.url} into {path.parent}, or delete it and let nnlife download it"
        )
    _write_stamp(path, spec.check_id, root)
    return True


# --------------------------------------------------------------------------------------
# Finding and downloading


def _missing(dataset: str, name: str, dirs: list[Path], url: str) -> DataError:
    where = ", ".join(str(d) for d in dirs)
    hint = " (or apt-get install dataset-fashion-mnist)" if dataset == "FashionMNIST" else ""
    return DataError(
        f"{dataset} file {name} not found (looked in {where}); download {url} into {dirs[0]}"
        f"{hint}, or run without --no-download"
    )


def download(spec: DataFile, directory: str | Path, *, url: str | None = None, root: str | Path | None = None) -> Path:
    """Download ``spec`` (from ``url``, default its official source) into ``directory``.

    The bytes go to a temporary name in that directory, are verified against the pinned
    checksums, and only then are renamed to ``spec.name`` (and stamped); a download that fails
    is deleted. Raises :class:`DataError` on a network error or a checksum mismatch."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    url = url or spec.url
    final = directory / spec.name
    tmp = directory / f".{spec.name}.download-{os.getpid()}-{threading.get_ident()}"
    try:
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or None
                bar = _download_bar(spec.name, total)
                try:
                    for block in iter(lambda: response.read(1 << 20), b""):
                        out.write(block)
                        bar.update(len(block))
                finally:
                    bar.close()
        except (urllib.error.URLError, OSError, ValueError) as err:
            reason = getattr(err, "reason", None) or err
            raise DataError(f"could not download {url}: {reason}; put {spec.name} into {directory} by hand") from None
        if not matches(tmp, spec):
            raise DataError(
                f"download of {url} failed verification (expected md5 {spec.md5}); nothing was "
                f"kept in {directory}; try again or put {spec.name} there by hand"
            )
        os.replace(tmp, final)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    _write_stamp(final, spec.check_id, data_root(root))
    return final


def _download_bar(name: str, total: int | None):
    from tqdm import tqdm

    return tqdm(total=total, desc=f"download {name}", unit="B", unit_scale=True,
                file=sys.stderr, disable=not sys.stderr.isatty(), leave=False)


def find_file(
    dataset: str,
    spec: DataFile,
    root: str | Path | None = None,
    *,
    download_ok: bool = True,
    mirror: str | None = None,
    system: bool = True,
) -> Path:
    """The verified path of one official file: the first copy found in :func:`search_dirs`,
    else a download into the first of them (unless ``download_ok`` is False). ``mirror`` is
    a base URL to download from instead of the official source (the file name is appended)."""
    dirs = search_dirs(dataset, root, system=system)
    for d in dirs:
        path = d / spec.name
        if _is_file(path):
            verify_file(path, spec, root, looked_in=dirs)
            return path
    if not download_ok:
        raise _missing(dataset, spec.name, dirs, spec.url)
    url = mirror.rstrip("/") + "/" + spec.name if mirror else None
    return download(spec, dirs[0], url=url, root=root)


# --------------------------------------------------------------------------------------
# Readers of the official formats (no verification: see load_data)


def _why(err: OSError) -> str:
    return err.strerror or str(err) or type(err).__name__


def _is_file(path: Path) -> bool:
    """Whether ``path`` is a file; a place that cannot be searched (permission denied on a
    directory on the way) is named, not taken for a missing file."""
    try:
        return path.is_file()
    except OSError as err:  # pathlib raises PermissionError (it ignores only ENOENT and the like)
        raise DataError(f"{path}: cannot read: {_why(err)}") from None


def _read_bytes(path: Path) -> bytes:
    """The bytes of a data file; one :class:`DataError` line for any failure to read it."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, expected a data file") from None
    except MemoryError:
        raise DataError(f"{path}: too large to read into memory") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read: {_why(err)}") from None


_IDX_TYPES = {0x08: np.uint8}


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (the MNIST format; gzip-compressed when its name ends in .gz)."""
    path = Path(path)
    data = _read_bytes(path)
    try:
        raw = gzip.decompress(data) if path.suffix == ".gz" else data
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path}: not a readable gzip file ({err}); expected a gzip-compressed IDX file") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataError(f"{path}: not an IDX file of unsigned bytes (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) != header + int(np.prod(dims, dtype=np.int64)):
        raise DataError(f"{path}: IDX header announces shape {dims}, the file holds {len(raw) - header} values")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def read_fashion_mnist(paths: dict[str, Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(train_x, train_y, test_x, test_y)`` from the four IDX files (keys as in
    ``FASHION_MNIST_FILES``); images ``(N, 1, 28, 28)`` uint8, labels int64."""
    arrays = {key: read_idx(path) for key, path in paths.items()}
    for split in ("train", "test"):
        x, y = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DataError(
                f"{paths[f'{split}_images']}: expected images (N, H, W) matching {len(y)} labels, got {x.shape}"
            )
    return (
        arrays["train_images"][:, None], arrays["train_labels"].astype(np.int64),
        arrays["test_images"][:, None], arrays["test_labels"].astype(np.int64),
    )


# The largest array a CIFAR-100 pickle holds: the training split's images. A pickle may declare
# any shape; an array larger than this is refused before numpy allocates it.
_CIFAR_MAX_ARRAY_BYTES = 50_000 * 3 * 32 * 32


class _DeclaredTooLarge(pickle.UnpicklingError):
    pass


def _check_declared(shape: object, dtype: object) -> None:
    """Refuse an array a pickle declares before it is allocated: no objects, and no more
    bytes than the largest CIFAR-100 split."""
    try:
        dtype = np.dtype(dtype)
        count = 1
        for n in shape:
            count *= int(n)
    except (TypeError, ValueError) as err:
        raise pickle.UnpicklingError(f"bad array shape or type ({err})") from None
    if dtype.hasobject:
        raise pickle.UnpicklingError("an array of Python objects")
    if count < 0:
        raise pickle.UnpicklingError(f"an array of negative shape {tuple(shape)}")
    if count * dtype.itemsize > _CIFAR_MAX_ARRAY_BYTES:
        raise _DeclaredTooLarge(
            f"an array of {count:,} x {dtype.itemsize} bytes, more than the largest split "
            f"(50,000 images, {_CIFAR_MAX_ARRAY_BYTES:,} bytes)"
        )


class _BoundedArray(np.ndarray):
    """What the CIFAR unpickler rebuilds arrays as: an ndarray whose declared size is checked
    before numpy allocates it (``__setstate__`` receives shape and type first)."""

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise pickle.UnpicklingError("bad array state")
        shape, dtype = (state[1], state[2]) if len(state) == 5 else (state[0], state[1])
        _check_declared(shape, dtype)
        super().__setstate__(state)


def _reconstruct(subtype, shape, dtype):
    if subtype is not _BoundedArray:
        raise pickle.UnpicklingError("unexpected array type")
    _check_declared(shape, dtype)
    return np.ndarray.__new__(_BoundedArray, shape, dtype)


_NUMPY_SCALAR = (np._core if hasattr(np, "_core") else np.core).multiarray.scalar  # numpy 2 moved it


def _scalar(dtype, data=None):
    _check_declared((), dtype)
    return _NUMPY_SCALAR(dtype, data) if data is not None else _NUMPY_SCALAR(dtype)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles the CIFAR layout (dicts, lists, numpy arrays) and nothing executable; every
    array's declared size is bounded before it is allocated."""

    _ALLOWED = {
        ("_codecs", "encode"): __import__("codecs").encode,
        ("numpy", "ndarray"): _BoundedArray,
        ("numpy", "dtype"): np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy.core.multiarray", "scalar"): _scalar,
        ("numpy._core.multiarray", "scalar"): _scalar,
    }

    def find_class(self, module: str, name: str):
        found = self._ALLOWED.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name}")
        return found


_PICKLE_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
                  KeyError, IndexError, OverflowError, RecursionError, MemoryError, UnicodeError)


def read_cifar_pickle(source: str | Path | bytes, name: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, 32, 32)`` uint8 and fine labels int64 (0..99) from one CIFAR-100 pickle
    (``train`` or ``test``), given as a path or as the pickle's bytes."""
    label = name or str(source)
    expected = "expected a dict with 'data' uint8 (N, 3072) and N 'fine_labels' in 0..99"
    raw = source if isinstance(source, bytes) else _read_bytes(Path(source))
    try:
        obj = _ArrayUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except _PICKLE_ERRORS as err:
        raise DataError(f"{label}: not a CIFAR-100 pickle ({str(err).splitlines()[0] if str(err) else type(err).__name__}); {expected}") from None
    if not isinstance(obj, dict):
        raise DataError(f"{label}: not a CIFAR-100 pickle (got a {type(obj).__name__}); {expected}")
    obj = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}
    if "data" not in obj or "fine_labels" not in obj:
        raise DataError(f"{label}: not a CIFAR-100 pickle (no 'data' or no 'fine_labels'); {expected}")
    data, labels = obj["data"], obj["fine_labels"]
    if not isinstance(data, np.ndarray):
        raise DataError(f"{label}: 'data' is a {type(data).__name__}; {expected}")
    x = np.asarray(data)
    if not isinstance(labels, (list, tuple, np.ndarray)) or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in labels
    ):
        raise DataError(f"{label}: 'fine_labels' is not a list of integers; {expected}")
    if any(not 0 <= int(v) < 100 for v in labels):
        bad = next(int(v) for v in labels if not 0 <= int(v) < 100)
        raise DataError(f"{label}: 'fine_labels' holds {bad}; {expected}")
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3 * 32 * 32 or len(x) != len(y):
        raise DataError(f"{label}: got 'data' {x.dtype} {x.shape} and {len(y)} fine labels; {expected}")
    return x.reshape(-1, 3, 32, 32), y


def read_svhn_mat(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, 32, 32)`` uint8 and labels int64 (digit 0 is stored as 10 and read
    as 0) from one SVHN ``*_32x32.mat`` file (``X`` shaped (32, 32, 3, N), ``y`` (N, 1))."""
    import scipy.io

    path = Path(path)
    expected = "expected a MATLAB v5 file with X uint8 (32, 32, 3, N) and N labels y in 1..10"
    try:
        with open(path, "rb") as handle:
            mat = scipy.io.loadmat(handle, variable_names=("X", "y"))
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (IsADirectoryError, PermissionError) as err:
        raise DataError(f"{path}: cannot read: {_why(err)}") from None
    except Exception as err:  # scipy raises many kinds (ValueError, TypeError, OSError...) for a broken file
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise DataError(f"{path}: not a readable MATLAB file ({type(err).__name__}: {first}); {expected}") from None
    if "X" not in mat or "y" not in mat:
        raise DataError(f"{path}: no variable X or y; {expected}")
    x, y = mat["X"], mat["y"]
    if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
        raise DataError(f"{path}: X or y is not an array; {expected}")
    if (x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (32, 32, 3) or y.size != x.shape[3]
            or y.dtype.kind not in "ui" or (y.size and (y.min() < 1 or y.max() > 10))):
        raise DataError(f"{path}: got X {x.dtype} {x.shape}, y {y.dtype} {y.shape}; {expected}")
    y = y.reshape(-1).astype(np.int64)
    y[y == 10] = 0
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1)), y


# --------------------------------------------------------------------------------------
# Per data set: find, verify, read


def _load_fashion_mnist(root, download_ok, mirror, system):
    paths = {
        key: find_file("FashionMNIST", spec, root, download_ok=download_ok, mirror=mirror, system=system)
        for key, spec in FASHION_MNIST_FILES.items()
    }
    return (*read_fashion_mnist(paths), tuple(str(p) for p in paths.values()))


def _check_cifar(x: np.ndarray, y: np.ndarray, path: Path, per_class: int) -> None:
    """The official CIFAR-100 splits hold exactly ``per_class`` images of each of 100 classes."""
    counts = np.bincount(y, minlength=100) if len(y) and y.min() >= 0 else None
    if counts is None or len(counts) != 100 or not (counts == per_class).all():
        raise DataError(
            f"{path}: not the official CIFAR-100 split (expected {100 * per_class} images, "
            f"{per_class} of each of 100 classes); delete it and get {CIFAR100_FILE.url}"
        )


def _load_cifar100(root, download_ok, mirror, system):
    info = dataset_info("CIFAR100")
    dirs = search_dirs("CIFAR100", root, system=system)
    # An extracted copy (ours, stamped when we extracted it, or the user's).
    for d in dirs:
        train, test = d / CIFAR100_DIR / "train", d / CIFAR100_DIR / "test"
        if _is_file(train) and _is_file(test):
            (train_x, train_y), (test_x, test_y) = read_cifar_pickle(train), read_cifar_pickle(test)
            _check_cifar(train_x, train_y, train, info.n_train // 100)
            _check_cifar(test_x, test_y, test, info.n_test // 100)
            return train_x, train_y, test_x, test_y, (str(train), str(test))
    archive = find_file("CIFAR100", CIFAR100_FILE, root, download_ok=download_ok, mirror=mirror, system=system)
    members = read_cifar_archive(archive)
    extract_cifar_archive(archive, members, data_root(root))
    (train_x, train_y), (test_x, test_y) = (read_cifar_pickle(members[n], f"{archive}:{n}") for n in ("train", "test"))
    return train_x, train_y, test_x, test_y, (str(archive),)


def read_cifar_archive(archive: str | Path) -> dict[str, bytes]:
    """The ``train``, ``test`` and ``meta`` pickles of ``cifar-100-python.tar.gz`` as bytes."""
    out: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for name in ("train", "test", "meta"):
                try:
                    handle = tar.extractfile(f"{CIFAR100_DIR}/{name}")
                except KeyError:
                    continue
                if handle is not None:
                    out[name] = handle.read()
    except (OSError, EOFError, tarfile.TarError) as err:
        raise DataError(f"{archive}: cannot read the archive ({err})") from None
    for name in ("train", "test"):
        if name not in out:
            raise DataError(f"{archive}: expected member {CIFAR100_DIR}/{name}")
    return out


def extract_cifar_archive(archive: str | Path, members: dict[str, bytes], root: str | Path | None = None) -> Path | None:
    """Keep an extracted copy of a verified archive's pickles (``members``, see
    :func:`read_cifar_archive`) in ``cifar-100-python/`` beside the archive (under
    ``<root>/CIFAR-100/`` when the archive lies outside the data root), so that later loads
    skip decompressing it. Each file is written under a temporary name and renamed. Best
    effort: returns the directory, or None when it cannot be written."""
    archive = Path(archive)
    root = data_root(root)
    inside = archive.absolute().is_relative_to(root)
    target = (archive.parent if inside else root / "CIFAR-100") / CIFAR100_DIR
    try:
        target.mkdir(parents=True, exist_ok=True)
        for name, payload in members.items():
            tmp = target / f".{name}.part-{os.getpid()}"
            tmp.write_bytes(payload)
            os.replace(tmp, target / name)
    except OSError:
        return None
    return target


def _load_svhn(root, download_ok, mirror, system, extra):
    names = ("train", "test", "extra") if extra else ("train", "test")
    paths = {
        n: find_file("SVHN", SVHN_FILES[n], root, download_ok=download_ok, mirror=mirror, system=system)
        for n in names
    }
    train_x, train_y = read_svhn_mat(paths["train"])
    test_x, test_y = read_svhn_mat(paths["test"])
    if extra:
        extra_x, extra_y = read_svhn_mat(paths["extra"])
        train_x = np.concatenate([train_x, extra_x])
        train_y = np.concatenate([train_y, extra_y])
    return train_x, train_y, test_x, test_y, tuple(str(p) for p in paths.values())


# --------------------------------------------------------------------------------------
# ImageData


@dataclass(frozen=True, eq=False)
class ImageData:
    """One data set's splits on one device: images uint8 ``(N, C, H, W)``, labels int64.

    ``n_train_full``/``n_test_full`` are the sizes of the full splits these tensors were
    taken from (a :func:`subset` keeps them); ``files`` the data files they were read from.
    """

    dataset: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    n_train_full: int
    n_test_full: int
    files: tuple[str, ...] = ()
    svhn_extra: bool = False

    def __post_init__(self) -> None:
        info = dataset_info(self.dataset)
        object.__setattr__(self, "dataset", info.name)
        shape = (info.channels, info.side, info.side)
        for x, y, split in ((self.train_x, self.train_y, "train"), (self.test_x, self.test_y, "test")):
            if x.dtype != torch.uint8 or tuple(x.shape[1:]) != shape:
                raise ValueError(f"{split} images: expected uint8 (N, {', '.join(map(str, shape))}), got {x.dtype} {tuple(x.shape)}")
            if y.dtype != torch.int64 or y.shape != (x.shape[0],):
                raise ValueError(f"{split} labels: expected int64 ({x.shape[0]},), got {y.dtype} {tuple(y.shape)}")
        devices = {t.device for t in (self.train_x, self.train_y, self.test_x, self.test_y)}
        if len(devices) != 1:
            raise ValueError(f"all tensors must be on one device, got {sorted(map(str, devices))}")

    @property
    def info(self) -> DatasetInfo:
        return dataset_info(self.dataset)

    @property
    def device(self) -> torch.device:
        return self.train_x.device

    @property
    def n_train(self) -> int:
        return int(self.train_x.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.test_x.shape[0])

    def to(self, device: str | torch.device) -> "ImageData":
        """The same data on another device (a copy; self when it is already there)."""
        device = _device(device)
        if self.device == device:
            return self
        move = lambda t: t.to(device)  # noqa: E731
        return replace(self, train_x=move(self.train_x), train_y=move(self.train_y),
                       test_x=move(self.test_x), test_y=move(self.test_y))


def from_arrays(dataset: str, train_x, train_y, test_x, test_y, *, files=(), device="cpu",
                n_train_full: int | None = None, n_test_full: int | None = None,
                svhn_extra: bool = False) -> ImageData:
    """An :class:`ImageData` from numpy arrays or tensors (images uint8 (N, C, H, W))."""
    def t(a, dtype):
        if torch.is_tensor(a):
            return a.to(dtype)
        a = np.asarray(a)
        if not a.flags.writeable:  # e.g. read straight from a bytes buffer: torch wants to own it
            a = a.copy()
        return torch.from_numpy(a).to(dtype)

    data = ImageData(
        dataset=dataset_info(dataset).name,
        train_x=t(train_x, torch.uint8), train_y=t(train_y, torch.int64),
        test_x=t(test_x, torch.uint8), test_y=t(test_y, torch.int64),
        n_train_full=len(train_y) if n_train_full is None else n_train_full,
        n_test_full=len(test_y) if n_test_full is None else n_test_full,
        files=tuple(str(f) for f in files), svhn_extra=svhn_extra,
    )
    return data.to(device)


def subset(data: ImageData, n_train: int | None = None, n_test: int | None = None) -> ImageData:
    """The first ``n_train`` training and first ``n_test`` test images (``None``: all),
    as views of the same tensors. The full split sizes are kept."""
    def check(n, available, what):
        if n is None:
            return available
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= available:
            raise InputError(f"{what} {n!r}: expected an integer in [1, {available}] (the {data.dataset} split has {available} images)")
        return n

    n_train = check(n_train, data.n_train, "train_images")
    n_test = check(n_test, data.n_test, "test_images")
    if n_train == data.n_train and n_test == data.n_test:
        return data
    return replace(data, train_x=data.train_x[:n_train], train_y=data.train_y[:n_train],
                   test_x=data.test_x[:n_test], test_y=data.test_y[:n_test])


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """A torch device from ``auto`` (CUDA when available, else the CPU), ``cpu``, ``cuda`` or
    ``cuda:N``; ``cuda`` means the current CUDA device. Raises :class:`InputError`."""
    if device is None or device == "auto":
        return _device("cuda" if torch.cuda.is_available() else "cpu")
    return _device(device)


def _device(device: str | torch.device) -> torch.device:
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"device {device!r}: expected cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"device {str(device)!r}: CUDA is not available on this machine")
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
    return device


_CACHE: dict[tuple, ImageData] = {}
_CACHE_LOCK = threading.RLock()  # load_data calls itself for the host copy


def load_data(
    dataset: str,
    *,
    root: str | Path | None = None,
    device: str | torch.device = "cpu",
    download: bool = True,
    svhn_extra: bool = False,
    mirror: str | None = None,
    system: bool = True,
) -> ImageData:
    """Both splits of ``dataset`` on ``device``, found (or downloaded) and verified.

    Cached per (data set, device, svhn_extra, root) in this process: a second call is free.
    ``download=False`` never touches the network; ``mirror`` is a base URL to download from
    instead of the official sources; ``svhn_extra`` appends SVHN's ``extra`` split to its
    training split. Raises :class:`DataError` for missing or corrupt files, naming them.
    """
    info = dataset_info(dataset)
    if svhn_extra and info.name != "SVHN":
        raise InputError(f"svhn_extra: only SVHN has an extra split, not {info.name}")
    device = _device(device)
    root_path = data_root(root)
    key = (info.name, str(device), bool(svhn_extra), str(root_path), system)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        if device.type != "cpu":
            host = load_data(info.name, root=root_path, device="cpu", download=download,
                             svhn_extra=svhn_extra, mirror=mirror, system=system)
            data = host.to(device)
        else:
            if info.name == "FashionMNIST":
                arrays = _load_fashion_mnist(root_path, download, mirror, system)
            elif info.name == "CIFAR100":
                arrays = _load_cifar100(root_path, download, mirror, system)
            else:
                arrays = _load_svhn(root_path, download, mirror, system, svhn_extra)
            train_x, train_y, test_x, test_y, files = arrays
            n_train_expected = info.n_train + (SVHN_EXTRA_IMAGES if svhn_extra else 0)
            if (len(train_y), len(test_y)) != (n_train_expected, info.n_test):
                raise DataError(
                    f"{files[0]}: expected {n_train_expected} training and {info.n_test} test images "
                    f"of {info.name}, got {len(train_y)} and {len(test_y)}"
                )
            data = from_arrays(info.name, train_x, train_y, test_x, test_y, files=files, svhn_extra=svhn_extra)
        _CACHE[key] = data
        return data


def clear_cache() -> None:
    """Forget every data set held by :func:`load_data` in this process."""
    with _CACHE_LOCK:
        _CACHE.clear()
