"""Data readers, verification, downloads and the in-memory data, on small files in the exact
official formats and on the real FashionMNIST (Debian's dataset-fashion-mnist package)."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import pickle
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from datafiles import FASHION_NAMES, idx_bytes, write_cifar100, write_fashion_mnist, write_idx, write_svhn
from nnlife import data as D
from nnlife.errors import DataError, InputError


@pytest.fixture(scope="module")
def fashion():
    """The real FashionMNIST, found in the system copy (never downloaded by the tests)."""
    return D.load_data("FashionMNIST", download=False)


# ---- readers on small official-format files ---------------------------------------------


def test_idx_reader_reads_written_fashion_mnist(tmp_path):
    truth = write_fashion_mnist(tmp_path, n_train=37, n_test=11, seed=5)
    train_x, train_y, test_x, test_y = D.read_fashion_mnist(truth["paths"])
    assert train_x.shape == (37, 1, 28, 28) and train_x.dtype == np.uint8
    assert test_x.shape == (11, 1, 28, 28)
    assert train_y.dtype == np.int64 and train_y.shape == (37,)
    np.testing.assert_array_equal(train_x, truth["train_x"])
    np.testing.assert_array_equal(train_y, truth["train_y"])
    np.testing.assert_array_equal(test_x, truth["test_x"])
    np.testing.assert_array_equal(test_y, truth["test_y"])


def test_idx_reader_rejects_bad_magic_and_wrong_length(tmp_path):
    bad = tmp_path / "bad.gz"
    bad.write_bytes(gzip.compress(b"\x00\x00\x09\x01" + (3).to_bytes(4, "big") + b"abc"))
    with pytest.raises(DataError, match=r"bad\.gz: not an IDX file"):
        D.read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(idx_bytes(np.zeros((2, 3), np.uint8))[:-1])
    with pytest.raises(DataError, match=r"short: IDX header announces shape \(2, 3\), the file holds 5 values"):
        D.read_idx(short)
    assert D.read_idx(write_idx(tmp_path / "plain", np.arange(6, dtype=np.uint8).reshape(2, 3))).tolist() == [[0, 1, 2], [3, 4, 5]]


def test_cifar_archive_reader_fine_labels_and_channel_planes(tmp_path):
    truth = write_cifar100(tmp_path, n_train=40, n_test=20, seed=2)
    members = D.read_cifar_archive(truth["path"])
    assert set(members) == {"train", "test", "meta"}
    x, y = D.read_cifar_pickle(members["train"], "train")
    assert x.shape == (40, 3, 32, 32) and x.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(x, truth["train_x"])
    np.testing.assert_array_equal(y, truth["train_y"])  # fine labels, not the coarse ones
    # a raw row holds the red plane, then green, then blue, each row-major
    flat = pickle.loads(members["train"], encoding="latin1")[b"data"]
    assert flat.shape == (40, 3072)
    assert x[7, 1, 2, 3] == flat[7, 1024 + 2 * 32 + 3]
    tx, ty = D.read_cifar_pickle(members["test"], "test")
    assert tx.shape == (20, 3, 32, 32)
    np.testing.assert_array_equal(ty, truth["test_y"])


def test_cifar_extracted_pickles_read_from_disk(tmp_path):
    truth = write_cifar100(tmp_path, n_train=10, n_test=5, archive=False)
    x, y = D.read_cifar_pickle(truth["path"] / "test")
    np.testing.assert_array_equal(x, truth["test_x"])
    np.testing.assert_array_equal(y, truth["test_y"])


def test_cifar_pickle_reader_refuses_code(tmp_path, capsys):
    class Evil:
        def __reduce__(self):
            return (print, ("executed",))

    path = tmp_path / "train"
    path.write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    with pytest.raises(DataError, match=r"train: not a CIFAR-100 pickle \(unexpected object __builtin__.print\)"):
        D.read_cifar_pickle(path)
    assert capsys.readouterr().out == ""


def test_svhn_reader_layout_and_label_ten_is_zero(tmp_path):
    truth = write_svhn(tmp_path, n_train=30, n_test=12, seed=4)
    x, y = D.read_svhn_mat(truth["paths"]["train"])
    assert x.shape == (30, 3, 32, 32) and x.dtype == np.uint8
    assert y.dtype == np.int64 and set(np.unique(y)) <= set(range(10))
    np.testing.assert_array_equal(x, truth["train_x"])
    np.testing.assert_array_equal(y, truth["train_y"])
    import scipy.io

    mat = scipy.io.loadmat(truth["paths"]["train"])
    assert mat["X"].shape == (32, 32, 3, 30)
    stored = mat["y"].reshape(-1)
    assert 0 not in stored and ((stored == 10) == (y == 0)).all() and (y == 0).any()
    assert x[3, 2, 5, 7] == mat["X"][5, 7, 2, 3]  # X[row, column, channel, image]


# ---- the real FashionMNIST ---------------------------------------------------------------


def test_real_fashion_mnist(fashion):
    assert fashion.dataset == "FashionMNIST"
    assert fashion.train_x.shape == (60000, 1, 28, 28) and fashion.test_x.shape == (10000, 1, 28, 28)
    assert fashion.train_x.dtype == torch.uint8 and fashion.train_y.dtype == torch.int64
    assert fashion.test_x.dtype == torch.uint8 and fashion.test_y.dtype == torch.int64
    assert {t.device.type for t in (fashion.train_x, fashion.train_y, fashion.test_x, fashion.test_y)} == {"cpu"}
    assert torch.bincount(fashion.train_y).tolist() == [6000] * 10
    assert torch.bincount(fashion.test_y).tolist() == [1000] * 10
    assert fashion.train_y[0].item() == 9  # the first training image is an ankle boot
    assert (fashion.n_train_full, fashion.n_test_full) == (60000, 10000)
    assert len(fashion.files) == 4 and all(Path(f).is_file() for f in fashion.files)


def test_load_data_is_cached_per_process(fashion):
    assert D.load_data("fashionmnist", download=False) is fashion


def test_subset_is_a_prefix_view(fashion):
    part = D.subset(fashion, 3000, 1000)
    assert (part.n_train, part.n_test) == (3000, 1000)
    assert (part.n_train_full, part.n_test_full) == (60000, 10000)
    assert part.train_x.data_ptr() == fashion.train_x.data_ptr()  # a view, not a copy
    assert torch.equal(part.test_y, fashion.test_y[:1000])
    assert D.subset(fashion) is fashion
    with pytest.raises(InputError, match=r"train_images 60001: expected an integer in \[1, 60000\]"):
        D.subset(fashion, 60001)
    with pytest.raises(InputError, match="test_images 0"):
        D.subset(fashion, None, 0)


def test_image_data_checks_dtypes_and_devices():
    x = np.zeros((4, 1, 28, 28), np.uint8)
    y = np.arange(4)
    data = D.from_arrays("FashionMNIST", x, y, x[:2], y[:2])
    assert data.train_y.dtype == torch.int64 and data.device == torch.device("cpu")
    with pytest.raises(ValueError, match=r"train images: expected uint8 \(N, 1, 28, 28\)"):
        D.ImageData("FashionMNIST", torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.int64),
                    data.test_x, data.test_y, 4, 2)
    with pytest.raises(ValueError, match=r"test labels: expected int64 \(2,\)"):
        D.ImageData("FashionMNIST", data.train_x, data.train_y, data.test_x, torch.zeros(2, dtype=torch.int32), 4, 2)


# ---- where files are looked for ----------------------------------------------------------


def test_data_root_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("NNLIFE_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert D.data_root(tmp_path / "explicit") == tmp_path / "explicit"
    assert D.data_root() == tmp_path / "env"
    monkeypatch.delenv("NNLIFE_DATA")
    assert D.data_root() == tmp_path / "xdg" / "nnlife"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert D.data_root() == Path.home() / ".cache" / "nnlife"


def test_search_dirs(tmp_path):
    assert D.search_dirs("FashionMNIST", tmp_path) == [
        tmp_path / "FashionMNIST", tmp_path / "FashionMNIST" / "raw", tmp_path, Path("/usr/share/datasets/fashion-mnist")
    ]
    assert D.search_dirs("CIFAR-100", tmp_path) == [tmp_path / "CIFAR-100", tmp_path]
    assert D.search_dirs("SVHN", tmp_path, system=False) == [tmp_path / "SVHN", tmp_path]


def test_missing_files_without_download_name_file_places_and_source(tmp_path):
    with pytest.raises(DataError) as err:
        D.load_data("SVHN", root=tmp_path, download=False)
    message = str(err.value)
    assert "\n" not in message
    assert message == (
        f"SVHN file train_32x32.mat not found (looked in {tmp_path / 'SVHN'}, {tmp_path}); download "
        f"http://ufldl.stanford.edu/housenumbers/train_32x32.mat into {tmp_path / 'SVHN'}, or run without --no-download"
    )
    with pytest.raises(DataError, match=r"FashionMNIST file train-images-idx3-ubyte.gz not found .*apt-get install dataset-fashion-mnist"):
        D.load_data("FashionMNIST", root=tmp_path, download=False, system=False)


def test_corrupt_file_is_named_with_where_and_how(tmp_path):
    directory = tmp_path / "FashionMNIST"
    shutil.copy(D.DEBIAN_FASHION_MNIST / FASHION_NAMES["train_images"], directory.mkdir() or directory)
    bad = directory / FASHION_NAMES["train_labels"]
    bad.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + (60000).to_bytes(4, "big") + bytes(60000)))
    with pytest.raises(DataError) as err:
        D.load_data("FashionMNIST", root=tmp_path, download=False)
    message = str(err.value)
    assert message.startswith(f"{bad}: corrupt or wrong file (expected md5 25c81989df183df01b3e8a0aad5dffbe or decompressed sha256 ")
    assert f"looked in {directory}, " in message
    assert "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-labels-idx1-ubyte.gz" in message
    assert "\n" not in message


def test_unknown_data_set():
    with pytest.raises(InputError, match="unknown data set 'MNIST': expected one of FashionMNIST, CIFAR100, SVHN"):
        D.load_data("MNIST")


def test_fixture_files_fail_verification_for_cifar_and_svhn(tmp_path):
    write_cifar100(tmp_path / "CIFAR-100")
    with pytest.raises(DataError, match=r"cifar-100-python.tar.gz: corrupt or wrong file \(expected md5 eb9058c3a382ffc7106e4002c42a8d85"):
        D.load_data("CIFAR100", root=tmp_path, download=False)
    write_svhn(tmp_path / "SVHN")
    with pytest.raises(DataError, match=r"train_32x32.mat: corrupt or wrong file \(expected md5 e26dedcc434d2e4c54c9b2d4a06d8373"):
        D.load_data("SVHN", root=tmp_path, download=False)


def test_a_verified_cifar_archive_is_found_and_extracted_beside_it(tmp_path):
    truth = write_cifar100(tmp_path / "CIFAR-100", n_train=30, n_test=10)
    # the official archive cannot be had offline: pin this one's md5 the same way
    pinned = D.DataFile(D.CIFAR100_FILE.name, D.CIFAR100_FILE.url, hashlib.md5(truth["path"].read_bytes()).hexdigest())
    archive = D.find_file("CIFAR100", pinned, tmp_path, download_ok=False)
    assert archive == tmp_path / "CIFAR-100" / "cifar-100-python.tar.gz"
    members = D.read_cifar_archive(archive)
    target = D.extract_cifar_archive(archive, members, tmp_path)
    assert target == tmp_path / "CIFAR-100" / "cifar-100-python"
    assert sorted(p.name for p in target.iterdir()) == ["meta", "test", "train"]
    x, y = D.read_cifar_pickle(target / "train")
    np.testing.assert_array_equal(x, truth["train_x"])
    np.testing.assert_array_equal(y, truth["train_y"])


def test_extracted_cifar_that_is_not_the_official_split_is_refused(tmp_path):
    truth = write_cifar100(tmp_path / "CIFAR-100", n_train=40, n_test=20, archive=False)
    with pytest.raises(DataError, match=r"cifar-100-python/train: not the official CIFAR-100 split \(expected 50000 images, 500 of each"):
        D.load_data("CIFAR100", root=tmp_path, download=False)
    assert truth["path"].is_dir()


# ---- verification stamps -----------------------------------------------------------------


def test_verification_is_paid_once_and_redone_after_a_change(tmp_path):
    spec = D.FASHION_MNIST_FILES["train_labels"]
    path = tmp_path / "FashionMNIST" / spec.name
    path.parent.mkdir()
    shutil.copy(D.DEBIAN_FASHION_MNIST / spec.name, path)
    assert D.verify_file(path, spec, tmp_path) is True  # hashed
    assert (path.parent / f".{spec.name}.nnlife-verified").is_file()  # stamp next to it
    assert D.verify_file(path, spec, tmp_path) is False  # the stamp sufficed
    content = bytearray(gzip.decompress(path.read_bytes()))
    content[-1] ^= 1
    path.write_bytes(gzip.compress(bytes(content)))  # new size and mtime
    with pytest.raises(DataError, match="corrupt or wrong file"):
        D.verify_file(path, spec, tmp_path)


def test_system_copies_are_stamped_under_the_root(tmp_path):
    spec = D.FASHION_MNIST_FILES["test_labels"]
    system_copy = D.DEBIAN_FASHION_MNIST / spec.name
    D.verify_file(system_copy, spec, tmp_path)
    assert D.is_stamped(system_copy, spec.check_id, tmp_path)
    assert len(list((tmp_path / ".verified").iterdir())) == 1
    assert not list(D.DEBIAN_FASHION_MNIST.glob(f"*{D.STAMP_SUFFIX}"))


# ---- downloads (from a server on localhost: the official sources need the internet) -----


@pytest.fixture
def server(tmp_path):
    """An HTTP server on localhost serving ``tmp_path / "served"``; yields (base URL, dir)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(QuietHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", served
    httpd.shutdown()
    httpd.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_download_verifies_renames_stamps_and_loads(server, tmp_path):
    url, served = server
    for name in FASHION_NAMES.values():
        shutil.copy(D.DEBIAN_FASHION_MNIST / name, served / name)
    root = tmp_path / "root"
    data = D.load_data("FashionMNIST", root=root, mirror=url, system=False)
    target = root / "FashionMNIST"
    assert sorted(p.name for p in target.iterdir()) == sorted(
        list(FASHION_NAMES.values()) + [f".{n}{D.STAMP_SUFFIX}" for n in FASHION_NAMES.values()]
    )
    assert data.files == tuple(str(target / n) for n in FASHION_NAMES.values())
    assert data.n_train == 60000 and data.train_y[0].item() == 9
    # the second load finds the files and needs neither the network nor hashing
    for spec in D.FASHION_MNIST_FILES.values():
        assert D.verify_file(target / spec.name, spec, root) is False


def test_corrupt_download_is_not_kept(server, tmp_path):
    url, served = server
    spec = D.SVHN_FILES["test"]
    (served / spec.name).write_bytes(b"not a mat file")
    target = tmp_path / "dl"
    with pytest.raises(DataError, match=rf"download of {url}test_32x32.mat failed verification \(expected md5 eb5a983be6a315427106f1b164d9cef3\); nothing was kept"):
        D.download(spec, target, url=url + spec.name, root=tmp_path)
    assert list(target.iterdir()) == []


def test_download_from_file_url_and_network_error(tmp_path):
    spec = D.FASHION_MNIST_FILES["test_labels"]
    got = D.download(spec, tmp_path / "dl", url=(D.DEBIAN_FASHION_MNIST / spec.name).as_uri(), root=tmp_path)
    assert got == tmp_path / "dl" / spec.name and got.read_bytes() == (D.DEBIAN_FASHION_MNIST / spec.name).read_bytes()
    with pytest.raises(DataError, match=r"could not download file:///nonexistent/x.gz: .*; put t10k-labels-idx1-ubyte.gz into"):
        D.download(spec, tmp_path / "dl2", url="file:///nonexistent/x.gz", root=tmp_path)
    assert list((tmp_path / "dl2").iterdir()) == []
