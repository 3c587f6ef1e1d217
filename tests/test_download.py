"""`nnlife download` against a Dataverse-speaking HTTP server on 127.0.0.1.

The server answers the two endpoints nnlife uses, in the documented shapes: the data set's
JSON (``/api/datasets/:persistentId/?persistentId=doi:...``, ``data.latestVersion.files[]``)
and file access (``/api/access/datafile/{id}``, with single ``Range: bytes=N-`` requests). It
serves a small data set made here from the reference tables (distinct IDs): CIFAR-100 tables
in a zip, FashionMNIST tables in a tar.gz, SVHN tables as loose files in a directory, and a
loose script at the top, with MD5, SHA-1, SHA-256, SHA-512 and legacy ``md5`` checksums.
Faults (a corrupted body, a connection cut mid-file, a server that ignores Range) are injected
once per file.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from nnlife import download as dl
from nnlife.cli import download as cli_download
from nnlife.cli import main
from nnlife.errors import InputError

from conftest import REFERENCE, REFERENCE_IDS

DOI = "10.5072/FK2/NNLIFE"


def table_copy(source_id: str, new_id: str) -> bytes:
    """A reference table with another ID (the ID field of line 2)."""
    data = (REFERENCE / f"{source_id}.txt").read_bytes()
    assert data.count(source_id.encode()) == 1
    return data.replace(source_id.encode(), new_id.encode())


def new_id(i: int) -> str:
    return f"2022_01_01_00_00_{i:02d}_000000"


@dataclass
class Served:
    """One file on the server: where it belongs and how it is listed."""

    id: int
    name: str
    label: str | None
    data: bytes
    checksum: str  # Dataverse type name, or "legacy-md5"


@dataclass
class Server:
    url: str
    doi: str
    files: dict[int, Served]
    # Faults, each used once: file id -> ...
    corrupt: set[int] = field(default_factory=set)
    cut_after: dict[int, int] = field(default_factory=dict)
    ignore_range: set[int] = field(default_factory=set)
    # What the server saw: (path, Range header or None)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    extra_listing: list[dict] = field(default_factory=list)
    # Answer file access with a 303 to a storage URL, as Harvard Dataverse does (to S3).
    redirect: bool = False

    def listing(self) -> dict:
        entries = []
        for f in self.files.values():
            data_file = {"id": f.id, "filename": f.name, "contentType": "application/octet-stream",
                         "filesize": len(f.data), "tabularData": False}
            algo = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-512": "sha512"}
            if f.checksum == "legacy-md5":
                data_file["md5"] = hashlib.md5(f.data).hexdigest()
            else:
                data_file["checksum"] = {"type": f.checksum, "value": hashlib.new(algo[f.checksum], f.data).hexdigest()}
                if f.checksum == "MD5":
                    data_file["md5"] = data_file["checksum"]["value"]
            entry = {"label": f.name, "restricted": False, "version": 1, "dataFile": data_file}
            if f.label:
                entry["directoryLabel"] = f.label
            entries.append(entry)
        entries.extend(self.extra_listing)
        return {"status": "OK", "data": {"id": 1, "identifier": self.doi.split("/", 1)[1],
                                         "latestVersion": {"versionState": "RELEASED", "files": entries}}}

    def file_requests(self, file_id: int) -> list[str | None]:
        where = f"/storage/{file_id}" if self.redirect else f"/api/access/datafile/{file_id}"
        return [rng for path, rng in self.requests if path == where]


def make_handler(state: Server):
    class Handler(BaseHTTPRequestHandler):
        timeout = 10  # a stuck connection ends by itself

        def log_message(self, *args):  # keep test output clean
            pass

        def _json(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # noqa: N802
            parsed = urlparse(self.path)
            state.requests.append((parsed.path, self.headers.get("Range")))
            if parsed.path in ("/api/datasets/:persistentId/", "/api/datasets/:persistentId"):
                pid = parse_qs(parsed.query).get("persistentId", [""])[0]
                if pid != f"doi:{state.doi}":
                    return self._json(404, {"status": "ERROR", "message": f"Dataset with Persistent ID {pid} not found."})
                return self._json(200, state.listing())
            match = re.fullmatch(r"/api/access/datafile/(\d+)|/storage/(\d+)", parsed.path)
            if not match or int(match.group(1) or match.group(2)) not in state.files:
                return self._json(404, {"status": "ERROR", "message": "not found"})
            file_id = int(match.group(1) or match.group(2))
            if state.redirect and match.group(1):
                self.send_response(303)
                self.send_header("Location", f"{state.url}/storage/{file_id}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = state.files[file_id].data
            if file_id in state.corrupt:
                state.corrupt.discard(file_id)
                data = data[:10] + bytes([data[10] ^ 0xFF]) + data[11:]
            start = 0
            rng = self.headers.get("Range")
            if rng and file_id in state.ignore_range:
                state.ignore_range.discard(file_id)
                rng = None
            if rng:
                m = re.fullmatch(r"bytes=(\d+)-", rng)
                assert m, rng
                start = int(m.group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data) - start))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            body = data[start:]
            if file_id in state.cut_after:
                n = state.cut_after.pop(file_id)
                self.wfile.write(body[:n])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)  # cut mid-file: fewer bytes than Content-Length
                return
            self.wfile.write(body)

    return Handler


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2021, 2, 15, 0, 0, 0)), data)  # same bytes every time
    return buffer.getvalue()


def tar_bytes(members: dict[str, bytes], gz: bool = True, links: dict[str, tuple[bytes, str]] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
        for name, (kind, target) in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = target
            archive.addfile(info)
    return gzip.compress(buffer.getvalue(), mtime=0) if gz else buffer.getvalue()


def the_dataset() -> tuple[dict[int, Served], dict[str, bytes]]:
    """The served files and the exact tree (relative path -> bytes) expected afterwards."""
    cifar = {f"CIFAR-100_models/{new_id(i)}.txt": table_copy(REFERENCE_IDS[i % 3], new_id(i)) for i in range(3)}
    fashion = {f"FashionMNIST_models/{new_id(10 + i)}.txt": table_copy(REFERENCE_IDS[i], new_id(10 + i)) for i in range(2)}
    svhn = {f"SVHN_models/{new_id(20 + i)}.txt": table_copy(REFERENCE_IDS[2 - i], new_id(20 + i)) for i in range(2)}
    script = b"import pandas as pd\nprint('load the tables')\n"
    cifar_zip = zip_bytes({"CIFAR-100_models/": b"", **cifar})
    fashion_tgz = tar_bytes(fashion)
    files = {
        11: Served(11, "CIFAR-100_models.zip", None, cifar_zip, "MD5"),
        12: Served(12, "FashionMNIST_models.tar.gz", None, fashion_tgz, "SHA-256"),
        13: Served(13, Path(next(iter(svhn))).name, "SVHN_models", svhn[next(iter(svhn))], "SHA-1"),
        14: Served(14, Path(list(svhn)[1]).name, "SVHN_models", svhn[list(svhn)[1]], "SHA-512"),
        15: Served(15, "DataLoader.py", None, script, "legacy-md5"),
    }
    tree = {**cifar, **fashion, **svhn, "DataLoader.py": script,
            "CIFAR-100_models.zip": cifar_zip, "FashionMNIST_models.tar.gz": fashion_tgz}
    return files, tree


@pytest.fixture
def server():
    files, _ = the_dataset()
    state = Server(url="", doi=DOI, files=files)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def tree_of(out: Path) -> dict[str, bytes]:
    """Every non-hidden file under ``out`` (hidden ones: the lock and extraction records)."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(out).parts)}


def run(server: Server, out: Path, **kwargs) -> dl.DownloadResult:
    kwargs.setdefault("doi", server.doi)
    return dl.download_dataset(out, server=server.url, backoff=0.0, progress=False, **kwargs)


def cli(server: Server, out: Path, *args: str, capsys) -> tuple[int, str, str]:
    status = main(["download", "--out", str(out), "--server", server.url, *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# --------------------------------------------------------------------------------------
# Listing


def test_listing_is_parsed_in_the_documented_shape(server):
    files = dl.list_files(server.url, DOI)
    by_id = {f.id: f for f in files}
    assert sorted(by_id) == [11, 12, 13, 14, 15]
    assert by_id[11].path == "CIFAR-100_models.zip" and by_id[11].algorithm == "md5" and by_id[11].is_archive
    assert by_id[12].algorithm == "sha256" and by_id[12].is_archive
    assert by_id[13].path == f"SVHN_models/{new_id(20)}.txt" and by_id[13].algorithm == "sha1"
    assert by_id[14].algorithm == "sha512" and by_id[14].size == len(server.files[14].data)
    assert by_id[15].algorithm == "md5" and by_id[15].checksum == hashlib.md5(server.files[15].data).hexdigest()
    assert dl.file_url(server.url, by_id[13]) == f"{server.url}/api/access/datafile/13"


def test_an_ingested_tabular_file_is_fetched_as_its_original():
    payload = {"data": {"latestVersion": {"files": [{"directoryLabel": "SVHN_models", "dataFile": {
        "id": 7, "filename": "x.tab", "filesize": 10, "tabularData": True, "originalFileName": "x.txt",
        "originalFileSize": 12, "checksum": {"type": "MD5", "value": "0" * 32}}}]}}}
    (f,) = dl.parse_listing(payload, "LIST")
    assert (f.path, f.size, f.original) == ("SVHN_models/x.txt", 12, True)
    assert dl.file_url("http://h", f) == "http://h/api/access/datafile/7?format=original"


@pytest.mark.parametrize("entry, message", [
    ({"directoryLabel": "../up", "dataFile": {"id": 1, "filename": "a.txt", "md5": "0" * 32}},
     "field 'data.latestVersion.files[0].directoryLabel': expected a path inside the output directory, got '../up'"),
    ({"directoryLabel": "/abs", "dataFile": {"id": 1, "filename": "a.txt", "md5": "0" * 32}},
     "field 'data.latestVersion.files[0].directoryLabel': expected a path inside the output directory, got 'abs'"),
    ({"dataFile": {"id": 1, "filename": "..", "md5": "0" * 32}},
     "field 'data.latestVersion.files[0].dataFile.filename': expected a path inside the output directory, got '..'"),
    ({"dataFile": {"id": 1, "filename": "a.txt"}},
     "field 'data.latestVersion.files[0].dataFile.checksum': expected a checksum (type and value), got none"),
    ({"dataFile": {"id": 1, "filename": "a.txt", "checksum": {"type": "CRC32", "value": "00"}}},
     "field 'data.latestVersion.files[0].dataFile.checksum.type': expected one of MD5, SHA-1, SHA-256, SHA-512, got 'CRC32'"),
    ({"dataFile": {"id": 1, "filename": "a.txt", "checksum": {"type": "SHA-1", "value": "abc"}}},
     "field 'data.latestVersion.files[0].dataFile.checksum.value': expected 40 hex digits (sha1), got 'abc'"),
])
def test_a_listing_that_could_write_outside_or_cannot_be_verified_is_refused(entry, message):
    # A leading '/' of a directoryLabel is Dataverse's own spelling variant and is stripped;
    # what remains must stay inside.
    payload = {"data": {"latestVersion": {"files": [entry]}}}
    if entry.get("directoryLabel") == "/abs":
        (f,) = dl.parse_listing(payload, "LIST")
        assert f.path == "abs/a.txt"
        return
    with pytest.raises(InputError) as err:
        dl.parse_listing(payload, "LIST")
    assert str(err.value) == f"LIST: {message}"


def test_cli_defaults_match_the_library():
    assert cli_download.DEFAULT_SERVER == dl.DEFAULT_SERVER
    assert cli_download.PUBLISHED_DOI == dl.PUBLISHED_DOI
    assert dl.MODELS_DIRS == ("FashionMNIST_models", "CIFAR-100_models", "SVHN_models")


def test_doi_spellings():
    for text in (DOI, f"doi:{DOI}", f"https://doi.org/{DOI}"):
        assert dl.normalize_doi(text) == DOI
    with pytest.raises(InputError, match=r"--doi: expected a DOI such as 10\.7910/DVN/ZXTCGF, got 'nope'"):
        dl.normalize_doi("nope")


# --------------------------------------------------------------------------------------
# A whole download


def test_download_gives_the_exact_files_verified_and_a_rerun_fetches_nothing(server, tmp_path):
    out = tmp_path / "published"
    _, tree = the_dataset()
    result = run(server, out)
    assert result.ok, result.failed
    assert sorted(result.fetched) == sorted(f.path for f in dl.list_files(server.url, DOI))
    assert sorted(result.extracted) == ["CIFAR-100_models.zip", "FashionMNIST_models.tar.gz"]
    assert tree_of(out) == tree
    assert not list(out.rglob("*.part"))
    assert result.counts == {"CIFAR-100_models": 3, "FashionMNIST_models": 2, "SVHN_models": 2}

    server.requests.clear()
    again = run(server, out)
    assert again.fetched == [] and again.extracted == [] and again.failed == []
    assert len(again.present) == 5
    assert [path for path, _ in server.requests] == ["/api/datasets/:persistentId/"]  # the listing only
    assert tree_of(out) == tree

    # An extracted table that was changed or deleted is restored from the kept archive.
    changed = out / f"CIFAR-100_models/{new_id(1)}.txt"
    changed.write_bytes(b"edited\n")
    (out / f"FashionMNIST_models/{new_id(10)}.txt").unlink()
    third = run(server, out)
    assert sorted(third.extracted) == ["CIFAR-100_models.zip", "FashionMNIST_models.tar.gz"]
    assert third.fetched == []
    assert tree_of(out) == tree


def test_a_corrupted_file_is_refused_deleted_and_fetched_by_the_next_run(server, tmp_path, capsys):
    out = tmp_path / "published"
    _, tree = the_dataset()
    server.corrupt.add(12)
    status, stdout, stderr = cli(server, out, "--doi", DOI, capsys=capsys)
    assert status == 1
    lines = stderr.splitlines()
    expected = hashlib.sha256(server.files[12].data).hexdigest()
    assert lines[0].startswith(f"nnlife download: error: FashionMNIST_models.tar.gz: sha256 mismatch (expected {expected}, got ")
    assert lines[0].endswith(f"for {server.url}/api/access/datafile/12; refused and deleted, run again to fetch it again")
    assert lines[1:] == ["nnlife download: 1 files not in place (archives not unpacked); run the same command again to fetch them"]
    assert not (out / "FashionMNIST_models.tar.gz").exists()
    assert not (out / "FashionMNIST_models.tar.gz.part").exists()
    assert not (out / "CIFAR-100_models").exists()  # nothing unpacked while a file is missing
    assert "5 files" in stdout and "4 downloaded" in stdout and "1 failed" in stdout

    server.requests.clear()
    status, stdout, stderr = cli(server, out, "--doi", DOI, capsys=capsys)
    assert (status, stderr) == (0, "")
    assert [path for path, _ in server.requests] == ["/api/datasets/:persistentId/", "/api/access/datafile/12"]
    assert tree_of(out) == tree
    assert f"{out / 'FashionMNIST_models'}: 2 tables\n" in stdout


def test_an_interrupted_transfer_resumes_from_the_partial_file_in_the_same_run(server, tmp_path):
    out = tmp_path / "published"
    _, tree = the_dataset()
    server.cut_after[11] = 700
    result = run(server, out, retries=1)
    assert result.ok, result.failed
    assert server.file_requests(11) == [None, "bytes=700-"]
    assert tree_of(out) == tree


@pytest.mark.parametrize("redirect", [False, True])
def test_an_interrupted_transfer_is_kept_and_resumed_by_the_next_run(server, tmp_path, redirect):
    out = tmp_path / "published"
    _, tree = the_dataset()
    server.redirect = redirect
    size = len(server.files[11].data)
    server.cut_after[11] = 1000
    first = run(server, out, retries=0)
    assert len(first.failed) == 1
    assert first.failed[0].startswith(f"CIFAR-100_models.zip: download from {server.url}/api/access/datafile/11 failed (")
    assert first.failed[0].endswith("kept 1000 bytes in CIFAR-100_models.zip.part, run again to resume")
    part = out / "CIFAR-100_models.zip.part"
    assert part.read_bytes() == server.files[11].data[:1000]
    assert not (out / "CIFAR-100_models.zip").exists()

    second = run(server, out, retries=0)
    assert second.ok and second.fetched == ["CIFAR-100_models.zip"]
    assert server.file_requests(11) == [None, "bytes=1000-"]
    assert not part.exists() and tree_of(out) == tree
    assert len(tree["CIFAR-100_models.zip"]) == size


def test_a_server_that_ignores_the_range_gives_the_whole_file_again(server, tmp_path):
    out = tmp_path / "published"
    _, tree = the_dataset()
    server.cut_after[12] = 500
    server.ignore_range.add(12)
    result = run(server, out, retries=1)
    assert result.ok
    assert server.file_requests(12) == [None, "bytes=500-"]  # answered 200 with the whole file
    assert tree_of(out) == tree


def test_a_partial_file_longer_than_the_listed_size_starts_over(server, tmp_path):
    out = tmp_path / "published"
    _, tree = the_dataset()
    (out / "SVHN_models").mkdir(parents=True)
    name = server.files[13].name
    (out / "SVHN_models" / (name + ".part")).write_bytes(b"x" * (len(server.files[13].data) + 5))
    result = run(server, out)
    assert result.ok
    assert server.file_requests(13) == [None]
    assert tree_of(out) == tree


def test_a_file_changed_in_place_is_fetched_again(server, tmp_path):
    out = tmp_path / "published"
    _, tree = the_dataset()
    run(server, out)
    (out / "DataLoader.py").write_bytes(b"changed\n")
    again = run(server, out)
    assert again.fetched == ["DataLoader.py"]
    assert tree_of(out) == tree


# --------------------------------------------------------------------------------------
# Unsafe archives


@pytest.mark.parametrize("name, archive, member, why", [
    ("CIFAR-100_models.zip", lambda: zip_bytes({"CIFAR-100_models/a.txt": b"a", "../evil.txt": b"x"}),
     "../evil.txt", "a path that climbs out with '..'"),
    ("CIFAR-100_models.zip", lambda: zip_bytes({"/tmp/evil.txt": b"x"}), "/tmp/evil.txt", "an absolute path"),
    ("FashionMNIST_models.tar.gz", lambda: tar_bytes({"FashionMNIST_models/a.txt": b"a", "FashionMNIST_models/../../evil.txt": b"x"}),
     "FashionMNIST_models/../../evil.txt", "a path that climbs out with '..'"),
    ("FashionMNIST_models.tar", lambda: tar_bytes({}, gz=False, links={"FashionMNIST_models/link": (tarfile.SYMTYPE, "/etc/passwd")}),
     "FashionMNIST_models/link", "a link (only regular files and directories are extracted)"),
    ("FashionMNIST_models.tar", lambda: tar_bytes({}, gz=False, links={"FashionMNIST_models/hard": (tarfile.LNKTYPE, "../../../etc/passwd")}),
     "FashionMNIST_models/hard", "a link (only regular files and directories are extracted)"),
    ("FashionMNIST_models.tar", lambda: tar_bytes({}, gz=False, links={"FashionMNIST_models/dev": (tarfile.CHRTYPE, "")}),
     "FashionMNIST_models/dev", "a device or special file (only regular files and directories are extracted)"),
])
def test_an_archive_with_an_unsafe_member_is_refused(server, tmp_path, capsys, name, archive, member, why):
    data = archive()
    server.files = {11: Served(11, name, None, data, "SHA-256")}
    out = tmp_path / "out" / "published"
    status, stdout, stderr = cli(server, out, "--doi", DOI, capsys=capsys)
    assert status == 2
    assert stderr == (f"nnlife download: error: {out / name}: member {member!r}: {why}; "
                      "nothing extracted from this archive\n")
    assert (out / name).read_bytes() == data  # the verified archive stays; nothing else was written
    assert tree_of(out) == {name: data}
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "evil.txt").exists()


def test_an_archive_without_a_top_directory_is_unpacked_into_one_named_after_it(server, tmp_path):
    tables = {f"{new_id(i)}.txt": table_copy(REFERENCE_IDS[i], new_id(i)) for i in range(2)}
    data = zip_bytes(tables)
    server.files = {11: Served(11, "SVHN_models.zip", None, data, "MD5")}
    out = tmp_path / "published"
    result = run(server, out)
    assert result.counts == {"SVHN_models": 2}
    assert tree_of(out) == {"SVHN_models.zip": data, **{f"SVHN_models/{k}": v for k, v in tables.items()}}


# --------------------------------------------------------------------------------------
# Counts and the command line


def test_counts_are_checked_against_expect_and_a_mismatch_is_reported(server, tmp_path, capsys):
    out = tmp_path / "published"
    status, stdout, stderr = cli(server, out, "--doi", DOI, "--expect", "CIFAR100=3,FashionMNIST=2,SVHN=3", capsys=capsys)
    assert status == 1
    assert stderr == f"nnlife download: error: {out / 'SVHN_models'}: 2 tables, expected 3\n"
    assert stdout.splitlines()[1:] == [
        f"{out / 'CIFAR-100_models'}: 3 tables (expected 3)",
        f"{out / 'FashionMNIST_models'}: 2 tables (expected 2)",
        f"{out / 'SVHN_models'}: 2 tables (expected 3)",
    ]
    status, stdout, stderr = cli(server, out, "--doi", DOI, "--expect", "CIFAR100=3,FashionMNIST=2,SVHN=2", capsys=capsys)
    assert (status, stderr) == (0, "")


def test_another_doi_reports_counts_and_the_published_doi_expects_2000_each(server, tmp_path, capsys):
    out = tmp_path / "published"
    status, stdout, stderr = cli(server, out, "--doi", DOI, capsys=capsys)
    assert (status, stderr) == (0, "")
    assert stdout.splitlines() == [
        f"doi:{DOI} on {server.url}: 5 files ({sum(len(f.data) for f in server.files.values()) / 1e6:.1f} MB): "
        "5 downloaded, 0 already in place, 0 failed; 2 archives unpacked",
        f"{out / 'CIFAR-100_models'}: 3 tables",
        f"{out / 'FashionMNIST_models'}: 2 tables",
        f"{out / 'SVHN_models'}: 2 tables",
    ]
    # The same files served under the published DOI: 2000 tables are expected per data set.
    server.doi = dl.PUBLISHED_DOI
    status, stdout, stderr = cli(server, out, capsys=capsys)
    assert status == 1
    assert stderr.splitlines() == [
        f"nnlife download: error: {out / d}: {n} tables, expected 2000"
        for d, n in (("CIFAR-100_models", 3), ("FashionMNIST_models", 2), ("SVHN_models", 2))
    ]
    status, _, stderr = cli(server, out, "--expect", "0", capsys=capsys)
    assert status == 1 and len(stderr.splitlines()) == 3


def test_an_unknown_doi_and_bad_arguments_are_one_line_and_status_2(server, tmp_path, capsys):
    out = tmp_path / "published"
    status, _, stderr = cli(server, out, "--doi", "10.5072/FK2/NONE", capsys=capsys)
    assert status == 2
    assert stderr == (f"nnlife download: error: {server.url}: no data set doi:10.5072/FK2/NONE (HTTP 404: "
                      "Dataset with Persistent ID doi:10.5072/FK2/NONE not found.); check --doi and --server\n")
    status, _, stderr = cli(server, out, "--doi", "ZXTCGF", capsys=capsys)
    assert (status, stderr) == (2, "nnlife download: error: --doi: expected a DOI such as 10.7910/DVN/ZXTCGF, got 'ZXTCGF'\n")
    with pytest.raises(SystemExit) as exit_:
        main(["download", "--expect", "SVHN=-1"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.startswith("nnlife download: error: argument --expect: expected a non-negative integer, got '-1'")


def test_a_listing_with_an_unsafe_path_writes_nothing(server, tmp_path, capsys):
    server.extra_listing.append({"directoryLabel": "../outside", "dataFile": {"id": 99, "filename": "a.txt", "md5": "0" * 32}})
    out = tmp_path / "published"
    status, _, stderr = cli(server, out, "--doi", DOI, capsys=capsys)
    assert status == 2
    assert stderr.startswith(f"nnlife download: error: {dl.listing_url(server.url, DOI)}: field 'data.latestVersion.files[5].directoryLabel'")
    assert tree_of(out) == {}


def test_an_unreachable_server_is_one_line_and_status_1(tmp_path, capsys):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    status = main(["download", "--out", str(tmp_path / "o"), "--server", f"http://127.0.0.1:{port}", "--doi", DOI])
    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith(f"nnlife download: error: could not reach http://127.0.0.1:{port}: ")
    assert err.endswith("check --server and the network, then run again\n") and err.count("\n") == 1


def test_two_runs_on_one_directory_are_refused(server, tmp_path):
    out = tmp_path / "published"
    out.mkdir()
    held = dl._Lock(out)
    try:
        with pytest.raises(InputError, match="another nnlife download is writing here"):
            run(server, out)
    finally:
        held.close()


def test_the_command_runs_as_a_program(server, tmp_path):
    out = tmp_path / "published"
    done = subprocess.run([sys.executable, "-m", "nnlife", "download", "--out", str(out), "--server", server.url,
                           "--doi", DOI, "--expect", "CIFAR100=3,FashionMNIST=2,SVHN=2"],
                          capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stderr) == (0, "")
    assert tree_of(out) == the_dataset()[1]


def test_an_unreadable_archive_is_one_line_and_status_2(server, tmp_path, capsys):
    server.files = {11: Served(11, "SVHN_models.zip", None, b"not a zip at all\n", "MD5")}
    out = tmp_path / "published"
    status, _, stderr = cli(server, out, "--doi", DOI, capsys=capsys)
    assert status == 2
    assert stderr == (f"nnlife download: error: {out / 'SVHN_models.zip'}: not a readable archive (File is not a "
                      "zip file); nothing more extracted from it\n")


def test_an_output_directory_that_cannot_be_made_is_one_line(server, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    status, _, stderr = cli(server, blocker / "published", "--doi", DOI, capsys=capsys)
    assert status == 1
    assert stderr == f"nnlife download: error: {blocker / 'published'}: Not a directory; nothing unverified was kept\n"
