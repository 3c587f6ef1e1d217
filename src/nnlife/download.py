"""Fetch a published data set of tables from a Dataverse installation, verified.

The published data set (6000 tables, 2000 per image data set) lives on Harvard Dataverse,
doi:10.7910/DVN/ZXTCGF. :func:`download_dataset` lists the data set's files through the
Dataverse native API, downloads each (resuming a partial download), verifies it against the
checksum the API lists, moves it into place, unpacks archives safely and counts the tables
per data set directory. Any Dataverse installation and data set of such tables works.

The API, as documented:

- listing: ``GET {server}/api/datasets/:persistentId/?persistentId=doi:{doi}`` ("Get JSON
  Representation of a Dataset", https://guides.dataverse.org/en/latest/api/native-api.html#get-json-representation-of-a-dataset)
  answers ``{"status": "OK", "data": {"latestVersion": {"files": [...]}}}``; each file is
  ``{"directoryLabel": "...", "dataFile": {"id", "filename", "filesize", "checksum":
  {"type": "MD5" | "SHA-1" | "SHA-256" | "SHA-512", "value"}, "md5" (older installations),
  "tabularData", "originalFileName"}}``.
- file access: ``GET {server}/api/access/datafile/{id}`` ("Basic File Access",
  https://guides.dataverse.org/en/latest/api/dataaccess.html#basic-file-access), which honours
  a single ``Range: bytes=N-`` header; an ingested tabular file is served in its archival
  (tab-separated) form unless ``format=original`` is asked for, and the listed checksum is
  that of the original, so such files are fetched with ``format=original``.

Why not pooch: ``pooch.DOIDownloader`` resolves the DOI through doi.org (so it cannot use
another ``--server`` or a local test server), keys a data set's files by bare file name (this
one has the same layout in three directories, and ``directoryLabel`` is dropped), only knows
MD5 for Dataverse and cannot resume; ``pooch.Unzip``/``pooch.Untar`` extract without refusing
unsafe members (``zipfile`` silently rewrites ``..``; ``tarfile`` on Python < 3.12 has no
filter by default). So the transfer is written here on ``requests`` (pooch's own transport),
with pooch's :func:`pooch.file_hash` for the checksums.

Layout: a file goes to ``OUT/<directoryLabel>/<filename>``; while it is being fetched its
bytes are in ``<filename>.part`` beside it, which a later run resumes with a Range request.
Only a verified file is renamed into place; one whose checksum fails is deleted (a later run
fetches it again). An archive (``.zip``, ``.tar``, ``.tar.gz``/``.tgz``, ``.tar.bz2``,
``.tar.xz``) is kept where it was downloaded and unpacked beside it: if all its members lie
in one top-level directory, into the archive's directory, otherwise into a directory named
after the archive. Every member is checked before anything is written: a member that is an
absolute path, climbs out with ``..``, is a link or a device is refused and nothing of that
archive is extracted. A hidden ``.<archive>.extracted.json`` beside the archive records the
archive's checksum and each member's SHA-256, so a re-run skips what is already in place
and re-extracts only what is missing or changed.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import stat
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator

from .errors import InputError
from .spec import DATASETS

DEFAULT_SERVER = "https://dataverse.harvard.edu"
PUBLISHED_DOI = "10.7910/DVN/ZXTCGF"
# The published set's tables per data set directory (SYSTEM.md: 2000 each on CIFAR-100,
# FashionMNIST and SVHN).
PUBLISHED_PER_DATASET = 2000
MODELS_DIRS = tuple(info.models_dir for info in DATASETS.values())

# Dataverse's checksum type names (DataFile.ChecksumType) -> hashlib / pooch names.
CHECKSUM_TYPES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-512": "sha512"}
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
PART_SUFFIX = ".part"
LOCK_NAME = ".nnlife-download.lock"
CHUNK = 1 << 16


class DownloadError(RuntimeError):
    """A file that could not be fetched or verified this time; a re-run tries it again.
    The message is one line naming the file."""


class UnsafeArchiveError(InputError):
    """An archive with a member that could land outside the output directory (or is not a
    regular file or directory); nothing of it is extracted."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a Dataverse data set, as its listing describes it."""

    id: int
    path: str  # relative POSIX path under the output directory: directoryLabel/filename
    size: int | None
    algorithm: str  # "md5", "sha1", "sha256" or "sha512"
    checksum: str  # lower-case hex
    original: bool = False  # an ingested tabular file: fetch the original upload

    @property
    def is_archive(self) -> bool:
        return self.path.lower().endswith(ARCHIVE_SUFFIXES)


@dataclass
class DownloadResult:
    """What one :func:`download_dataset` run did."""

    server: str
    doi: str
    files: tuple[RemoteFile, ...]
    fetched: list[str] = field(default_factory=list)  # paths downloaded (and verified) in this run
    present: list[str] = field(default_factory=list)  # paths already in place and verified
    failed: list[str] = field(default_factory=list)  # one line per file not in place after this run
    extracted: list[str] = field(default_factory=list)  # archives unpacked (or repaired) in this run
    counts: dict[str, int] = field(default_factory=dict)  # directory (relative) -> tables in it

    @property
    def ok(self) -> bool:
        return not self.failed


# --------------------------------------------------------------------------------------
# Listing


def normalize_doi(text: str) -> str:
    """``10.7910/DVN/ZXTCGF`` from that, ``doi:10.7910/...`` or ``https://doi.org/10.7910/...``."""
    doi = text.strip()
    doi = re.sub(r"^(?:https?://(?:dx\.)?doi\.org/|doi:)", "", doi, flags=re.IGNORECASE)
    if not re.fullmatch(r"10\.\d{4,9}/\S+", doi):
        raise InputError(f"--doi: expected a DOI such as {PUBLISHED_DOI}, got {text!r}")
    return doi


def listing_url(server: str, doi: str) -> str:
    return f"{server.rstrip('/')}/api/datasets/:persistentId/?persistentId=doi:{doi}"


def file_url(server: str, file: RemoteFile) -> str:
    url = f"{server.rstrip('/')}/api/access/datafile/{file.id}"
    return url + "?format=original" if file.original else url


def _safe_relative(text: object, where: str) -> PurePosixPath:
    """A relative path that stays inside the output directory, or an InputError."""
    if not isinstance(text, str) or not text or "\\" in text or "\0" in text:
        raise InputError(f"{where}: expected a relative path of '/'-separated names, got {text!r}")
    path = PurePosixPath(text)
    if path.is_absolute() or any(part in ("", ".", "..") for part in text.split("/")):
        raise InputError(f"{where}: expected a path inside the output directory, got {text!r}")
    return path


def parse_listing(payload: object, url: str) -> tuple[RemoteFile, ...]:
    """The files of a data set from the native API's JSON. Every field used is checked: a
    missing or malformed one is an InputError naming it (the listing decides where files are
    written, so nothing unexpected is accepted)."""
    try:
        files = payload["data"]["latestVersion"]["files"]  # type: ignore[index]
    except (KeyError, TypeError):
        raise InputError(f"{url}: expected Dataverse JSON with data.latestVersion.files") from None
    if not isinstance(files, list):
        raise InputError(f"{url}: field 'data.latestVersion.files': expected a list, got {type(files).__name__}")
    out: list[RemoteFile] = []
    seen: set[str] = set()
    for i, entry in enumerate(files):
        where = f"{url}: field 'data.latestVersion.files[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("dataFile"), dict):
            raise InputError(f"{where}.dataFile': expected an object")
        data = entry["dataFile"]
        file_id = data.get("id")
        if not isinstance(file_id, int) or isinstance(file_id, bool):
            raise InputError(f"{where}.dataFile.id': expected an integer, got {file_id!r}")
        original = bool(data.get("tabularData")) and isinstance(data.get("originalFileName"), str)
        name = data["originalFileName"] if original else data.get("filename")
        name_field = "originalFileName" if original else "filename"
        _safe_relative(name, f"{where}.dataFile.{name_field}'")
        if "/" in name:
            raise InputError(f"{where}.dataFile.{name_field}': expected a file name without '/', got {name!r}")
        label = entry.get("directoryLabel")
        path = PurePosixPath(name)
        if label not in (None, ""):
            path = _safe_relative(label.strip("/") if isinstance(label, str) else label, f"{where}.directoryLabel'") / name
        if path.name == LOCK_NAME or path.name.endswith(PART_SUFFIX):
            raise InputError(f"{where}': expected a file name not ending in {PART_SUFFIX}, got {name!r}")
        key = str(path)
        if key in seen:
            raise InputError(f"{where}': path {key!r} listed twice")
        seen.add(key)
        size = data.get("originalFileSize") if original else data.get("filesize")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            raise InputError(f"{where}.dataFile.filesize': expected a byte count, got {size!r}")
        checksum = data.get("checksum")
        if isinstance(checksum, dict):
            kind, value = checksum.get("type"), checksum.get("value")
            if kind not in CHECKSUM_TYPES:
                raise InputError(f"{where}.dataFile.checksum.type': expected one of {', '.join(CHECKSUM_TYPES)}, got {kind!r}")
            algorithm = CHECKSUM_TYPES[kind]
        elif isinstance(data.get("md5"), str):
            algorithm, value = "md5", data["md5"]
        else:
            # nnlife never keeps a file it cannot verify.
            raise InputError(f"{where}.dataFile.checksum': expected a checksum (type and value), got none")
        digits = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}[algorithm]
        if not isinstance(value, str) or not re.fullmatch(rf"[0-9a-fA-F]{{{digits}}}", value):
            raise InputError(f"{where}.dataFile.checksum.value': expected {digits} hex digits ({algorithm}), got {value!r}")
        out.append(RemoteFile(file_id, key, size, algorithm, value.lower(), original))
    return tuple(out)


def list_files(server: str, doi: str, *, session=None, timeout: float = 60.0) -> tuple[RemoteFile, ...]:
    """List the files of ``doi`` on ``server`` (the latest version the server shows)."""
    import requests

    session = session or requests.Session()
    url = listing_url(server, doi)
    try:
        response = session.get(url, timeout=timeout, headers={"Accept": "application/json"})
    except requests.RequestException as err:
        raise DownloadError(f"could not reach {server}: {_reason(err)}; check --server and the network, then run again") from None
    if response.status_code == 404:
        raise InputError(f"{server}: no data set doi:{doi} (HTTP 404{_api_message(response)}); check --doi and --server")
    if response.status_code != 200:
        raise DownloadError(f"{url}: HTTP {response.status_code}{_api_message(response)}; run again later")
    try:
        payload = response.json()
    except ValueError:
        raise InputError(f"{url}: expected Dataverse JSON, got {response.headers.get('Content-Type') or 'no content type'}; check --server") from None
    return parse_listing(payload, url)


def _api_message(response) -> str:
    try:
        message = response.json().get("message")
    except (ValueError, AttributeError):
        return ""
    return f": {message}" if isinstance(message, str) and message else ""


def _reason(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text[:200]


# --------------------------------------------------------------------------------------
# One file: resume, verify, move into place


def file_digest(path: Path, algorithm: str) -> str:
    import pooch

    return pooch.file_hash(str(path), alg=algorithm)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _Transient(Exception):
    """A failure worth another try in the same run (connection lost, 5xx, 429)."""


def fetch_file(
    file: RemoteFile,
    out: Path,
    server: str,
    *,
    session,
    retries: int = 3,
    backoff: float = 1.0,
    timeout: float = 60.0,
    progress: Callable[[int], None] = lambda n: None,
    stop: threading.Event | None = None,
) -> bool:
    """Put ``file`` into ``out``, verified. Returns True when it was downloaded, False when a
    verified copy was already there. Raises :class:`DownloadError` (one line) when it could
    not be fetched (the partial file is kept for the next run) or its checksum failed (the
    bytes are deleted, so the next run fetches it again)."""
    import requests

    target = out / file.path
    part = target.with_name(target.name + PART_SUFFIX)
    if target.is_file():
        if file_digest(target, file.algorithm) == file.checksum:
            return False
        target.unlink()  # changed since it was verified: fetch it again
    target.parent.mkdir(parents=True, exist_ok=True)
    url = file_url(server, file)
    attempt = 0
    while True:
        try:
            _transfer(file, part, url, session=session, timeout=timeout, progress=progress, stop=stop)
            break
        except _Transient as err:
            attempt += 1
            if attempt > retries:
                kept = part.stat().st_size if part.exists() else 0
                raise DownloadError(
                    f"{file.path}: download from {url} failed ({err}); kept {kept} bytes in "
                    f"{part.name}, run again to resume"
                ) from None
            time.sleep(backoff * attempt)
        except requests.RequestException as err:
            raise DownloadError(f"{file.path}: download from {url} failed ({_reason(err)}); run again") from None
    got = file_digest(part, file.algorithm)
    if got != file.checksum:
        part.unlink()
        raise DownloadError(
            f"{file.path}: {file.algorithm} mismatch (expected {file.checksum}, got {got}) for "
            f"{url}; refused and deleted, run again to fetch it again"
        )
    os.replace(part, target)
    _fsync_dir(target.parent)
    return True


def _transfer(file: RemoteFile, part: Path, url: str, *, session, timeout, progress, stop) -> None:
    """Append the missing bytes of ``file`` to ``part`` (from its current length), until the
    server has sent all of them. Raises _Transient for what another try may fix."""
    import requests
    import urllib3

    offset = part.stat().st_size if part.exists() else 0
    if file.size is not None and offset > file.size:
        part.unlink()
        offset = 0
    if file.size is not None and offset == file.size:
        return  # complete: only verification is left
    # identity: byte offsets must count the file's bytes, never those of a compressed stream.
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = session.get(url, headers=headers, stream=True, timeout=timeout)
    except (requests.ConnectionError, requests.Timeout) as err:
        raise _Transient(_reason(err)) from None
    with response:
        status = response.status_code
        if status == 416 and offset:
            part.unlink()  # the server has fewer bytes than we kept: start over
            raise _Transient("HTTP 416 for the kept bytes; starting over")
        if status == 429 or status >= 500:
            raise _Transient(f"HTTP {status}")
        if status not in (200, 206):
            raise DownloadError(f"{file.path}: HTTP {status}{_api_message(response)} for {url}")
        if status == 206:
            match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != offset:
                part.unlink()
                raise _Transient(f"Content-Range {response.headers.get('Content-Range')!r} does not start at {offset}")
            mode = "ab"
        else:
            mode = "wb"  # the whole file (the server ignored the Range, or none was sent)
            if offset:
                progress(-offset)
        try:
            with open(part, mode) as handle:
                for chunk in _chunks(response):
                    if stop is not None and stop.is_set():
                        raise KeyboardInterrupt
                    handle.write(chunk)
                    progress(len(chunk))
                handle.flush()
                os.fsync(handle.fileno())
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                urllib3.exceptions.HTTPError) as err:
            raise _Transient(f"connection lost: {_reason(err)}") from None
    size = part.stat().st_size
    if file.size is not None and size != file.size:
        raise _Transient(f"got {size} of {file.size} bytes")


def _chunks(response) -> Iterator[bytes]:
    """The body's bytes as they arrive. ``read1`` (urllib3 2) hands over every byte received
    before a connection is lost, so the partial file keeps all of them; ``iter_content`` reads
    whole chunks and drops the last partial one when the connection breaks."""
    read1 = getattr(response.raw, "read1", None)
    if read1 is None:
        yield from response.iter_content(CHUNK)
        return
    while True:
        chunk = read1(CHUNK)
        if not chunk:
            return
        yield chunk


# --------------------------------------------------------------------------------------
# Archives


@dataclass(frozen=True)
class _Member:
    name: str  # relative POSIX path inside the archive, normalised
    is_dir: bool
    size: int


def _archive_members(path: Path) -> list[_Member]:
    """The members of an archive, each checked; raises UnsafeArchiveError on the first that
    could land outside the extraction directory or is not a regular file or directory."""

    def refuse(name: str, why: str) -> UnsafeArchiveError:
        return UnsafeArchiveError(f"{path}: member {name!r}: {why}; nothing extracted from this archive")

    def check(name: str) -> str:
        if "\0" in name or "\\" in name:
            raise refuse(name, "a name with a backslash or NUL")
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
            raise refuse(name, "an absolute path")
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise refuse(name, "a path that climbs out with '..'")
        if not parts:
            raise refuse(name, "an empty path")
        return "/".join(parts)

    members: list[_Member] = []
    if path.name.lower().endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                name = check(info.filename)
                # Unix file type bits, when the writer set them (zipfile's writestr does not).
                kind = stat.S_IFMT(info.external_attr >> 16)
                if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                    raise refuse(info.filename, "a link or special file (only regular files and directories are extracted)")
                members.append(_Member(name, info.is_dir(), info.file_size))
    else:
        with tarfile.open(path) as archive:
            for info in archive:
                name = check(info.name)
                if not (info.isreg() or info.isdir()):
                    kind = "a link" if (info.issym() or info.islnk()) else "a device or special file"
                    raise refuse(info.name, f"{kind} (only regular files and directories are extracted)")
                members.append(_Member(name, info.isdir(), info.size))
    return [m for m in members if not m.name.split("/")[0] == "__MACOSX"]


def _open_members(path: Path) -> Iterator[tuple[str, object]]:
    """(normalised name, readable binary stream) for every regular file of a checked archive."""
    if path.name.lower().endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    with archive.open(info) as stream:
                        yield info.filename, stream
    else:
        with tarfile.open(path) as archive:
            for info in archive:
                if info.isreg():
                    stream = archive.extractfile(info)
                    assert stream is not None
                    with stream:
                        yield info.name, stream


def _archive_stem(name: str) -> str:
    lower = name.lower()
    for suffix in sorted(ARCHIVE_SUFFIXES, key=len, reverse=True):
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


def extract_archive(archive: Path, checksum: str, root: Path) -> bool:
    """Unpack a verified ``archive`` beside itself (see the module notes), idempotently.
    Returns True when something was written, False when every member was already in place.
    Raises UnsafeArchiveError (nothing written) for an unsafe member, InputError for an
    archive that cannot be read (as published: its checksum matched)."""
    try:
        return _extract(archive, checksum, root)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, RuntimeError, NotImplementedError) as err:
        # RuntimeError, NotImplementedError: an encrypted zip member, an unknown compression.
        raise InputError(f"{archive}: not a readable archive ({_reason(err)}); nothing more extracted from it") from None


def _extract(archive: Path, checksum: str, root: Path) -> bool:
    import hashlib

    members = _archive_members(archive)
    files = [m for m in members if not m.is_dir]
    tops = {m.name.split("/")[0] for m in members}
    single_dir = len(tops) == 1 and all("/" in m.name or m.is_dir for m in members)
    dest = archive.parent if single_dir else archive.parent / _archive_stem(archive.name)
    root = root.resolve()
    for m in members:
        resolved = (dest / m.name).resolve()
        if resolved != root and root not in resolved.parents:
            raise UnsafeArchiveError(f"{archive}: member {m.name!r}: lands outside {root}; nothing extracted from this archive")
    marker = archive.with_name(f".{archive.name}.extracted.json")
    done: dict[str, str] = {}
    try:
        record = json.loads(marker.read_text())
        if record.get("archive") == checksum and isinstance(record.get("members"), dict):
            done = record["members"]
    except (OSError, ValueError):
        pass
    todo = {m.name for m in files if not (m.name in done and (dest / m.name).is_file()
                                          and file_digest(dest / m.name, "sha256") == done[m.name])}
    if not todo:
        return False
    for m in members:
        if m.is_dir:
            (dest / m.name).mkdir(parents=True, exist_ok=True)
    digests = {name: done[name] for name in done if name not in todo}
    by_name = {m.name: m for m in files}
    for raw_name, stream in _open_members(archive):
        name = "/".join(p for p in raw_name.split("/") if p not in ("", "."))
        if name not in todo:
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".nnlife-tmp-", suffix=PART_SUFFIX, dir=target.parent)
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as handle:
                for block in iter(lambda: stream.read(CHUNK), b""):  # type: ignore[attr-defined]
                    handle.write(block)
                    digest.update(block)
                handle.flush()
                os.fsync(handle.fileno())
            if os.path.getsize(tmp) != by_name[name].size:
                raise UnsafeArchiveError(f"{archive}: member {name!r}: size differs from its header")
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        digests[name] = digest.hexdigest()
    from .table import atomic_write_text

    atomic_write_text(marker, json.dumps({"archive": checksum, "members": digests}, indent=0, sort_keys=True) + "\n")
    return True


# --------------------------------------------------------------------------------------
# Counting tables


def count_tables(out: Path) -> dict[str, int]:
    """Tables (``*.txt`` files whose first line is the published header) per directory under
    ``out``, by relative POSIX path; hidden files and directories are skipped."""
    from .table import HEADER

    header = (HEADER + "\n").encode("ascii")
    counts: dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(out):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        n = 0
        for name in filenames:
            if name.startswith(".") or not name.endswith(".txt"):
                continue
            try:
                with open(os.path.join(dirpath, name), "rb") as handle:
                    n += handle.read(len(header)) == header
            except OSError:
                continue
        if n:
            counts[Path(dirpath).relative_to(out).as_posix()] = n
    return counts


def expected_counts(doi: str, expect: dict[str, int] | int | None) -> dict[str, int]:
    """Tables expected per data set directory: ``expect`` as given (one number for each of the
    three, or per directory), else 2000 each for the published DOI, else nothing."""
    if expect is None:
        return {d: PUBLISHED_PER_DATASET for d in MODELS_DIRS} if doi.upper() == PUBLISHED_DOI else {}
    if isinstance(expect, int):
        return {d: expect for d in MODELS_DIRS}
    return dict(expect)


def count_mismatches(counts: dict[str, int], expected: dict[str, int], out: Path) -> list[str]:
    """One line per data set directory whose table count differs from what was expected."""
    return [
        f"{out / directory}: {counts.get(directory, 0)} tables, expected {want}"
        for directory, want in sorted(expected.items())
        if counts.get(directory, 0) != want
    ]


# --------------------------------------------------------------------------------------
# The whole data set


class _Lock:
    """``OUT/.nnlife-download.lock`` held with flock while a download runs, so two runs never
    append to the same partial file."""

    def __init__(self, out: Path):
        self.path = out / LOCK_NAME
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self.fd)
            raise InputError(f"{out}: another nnlife download is writing here ({self.path} is locked)") from None

    def close(self) -> None:
        os.close(self.fd)


def download_dataset(
    out: str | Path,
    *,
    server: str = DEFAULT_SERVER,
    doi: str = PUBLISHED_DOI,
    jobs: int = 4,
    retries: int = 3,
    backoff: float = 1.0,
    timeout: float = 60.0,
    progress: bool | None = None,
) -> DownloadResult:
    """Fetch every file of ``doi`` on ``server`` into ``out`` (verified), unpack its archives
    and count its tables (``result.counts``). A file that could not be fetched or verified is
    reported in ``result.failed`` (one line each) and the others go on; archives are unpacked
    only when every file is in place. Raises InputError for an unusable listing or an unsafe
    archive, DownloadError when the listing cannot be fetched."""
    import requests

    out = Path(out)
    server = server.rstrip("/")
    doi = normalize_doi(doi)
    if not re.match(r"^https?://[^/\s]+", server):
        raise InputError(f"--server: expected an http(s) URL such as {DEFAULT_SERVER}, got {server!r}")
    out.mkdir(parents=True, exist_ok=True)
    lock = _Lock(out)
    try:
        files = list_files(server, doi, timeout=timeout)
        result = DownloadResult(server, doi, files)
        _fetch_all(files, out, server, result, jobs=jobs, retries=retries, backoff=backoff,
                   timeout=timeout, progress=progress, session_factory=requests.Session)
        if result.ok:
            for f in files:
                if f.is_archive and extract_archive(out / f.path, f.checksum, out):
                    result.extracted.append(f.path)
        result.counts = count_tables(out)
        return result
    finally:
        lock.close()


def _fetch_all(files, out, server, result, *, jobs, retries, backoff, timeout, progress, session_factory) -> None:
    from tqdm import tqdm

    local = threading.local()
    stop = threading.Event()
    total = sum(f.size or 0 for f in files)
    bar = tqdm(total=total, unit="B", unit_scale=True, desc="download", file=sys.stderr, leave=False,
               disable=(not sys.stderr.isatty()) if progress is None else not progress)
    # Bytes already in place or in partial files count as done, so the bar and its rate show
    # only what is left.
    for f in files:
        for p in (out / f.path, (out / f.path).with_name(Path(f.path).name + PART_SUFFIX)):
            if p.is_file():
                bar.update(min(p.stat().st_size, f.size or 0))
                break
    lock = threading.Lock()

    def advance(n: int) -> None:
        with lock:
            bar.update(n)

    def one(f: RemoteFile) -> tuple[RemoteFile, bool | str]:
        if not hasattr(local, "session"):
            local.session = session_factory()
        try:
            return f, fetch_file(f, out, server, session=local.session, retries=retries, backoff=backoff,
                                 timeout=timeout, progress=advance, stop=stop)
        except DownloadError as err:
            return f, str(err)

    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        for f, outcome in pool.map(one, files):
            if isinstance(outcome, str):
                result.failed.append(outcome)
            elif outcome:
                result.fetched.append(f.path)
            else:
                result.present.append(f.path)
    except BaseException:
        stop.set()  # the workers stop at their next chunk; partial files stay for a resume
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
