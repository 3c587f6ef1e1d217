"""`nnlife download`: the published data set (or any Dataverse data set of tables), verified."""

from __future__ import annotations

import argparse
import sys

from ..spec import dataset_info
from . import argtypes

# nnlife.download's defaults, repeated so that building the parser does not import it (nor
# requests); tests check that the two agree.
DEFAULT_SERVER = "https://dataverse.harvard.edu"
PUBLISHED_DOI = "10.7910/DVN/ZXTCGF"


def expect(text: str) -> int | dict[str, int]:
    """``N`` (each of the three data set directories) or ``D=N[,D=N...]`` where D is a data
    set (CIFAR100, FashionMNIST, SVHN, or its directory) or any directory under --out."""
    text = text.strip()
    if "=" not in text:
        return argtypes.count(text)
    out: dict[str, int] = {}
    for item in text.split(","):
        name, sep, number = item.partition("=")
        name = name.strip().strip("/")
        if not sep or not name:
            raise argparse.ArgumentTypeError(f"expected N or DATASET=N[,DATASET=N...], got {item!r}")
        try:
            directory = dataset_info(name).models_dir
        except ValueError:
            directory = name
        out[directory] = argtypes.count(number.strip())
    return out


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "download",
        help="fetch the published data set (Harvard Dataverse), verified, laid out as published",
        description="List the files of a Dataverse data set (default: the published one, "
        f"doi:{PUBLISHED_DOI} on {DEFAULT_SERVER}) through the native API, download each with "
        "a progress bar (a partial download is resumed), verify it against the checksum the API "
        "lists and only then move it into place; unpack archives (zip, tar, tar.gz) beside "
        "themselves, refusing any member that could land outside OUT; then count the tables per "
        "directory. Re-running skips what is already verified and in place. Exit status 0 when "
        "every file is in place and the counts are as expected; 1 when a file could not be "
        "fetched or failed verification (it is deleted; run again), a file cannot be written, or a "
        "count differs; 2 for a "
        "bad argument, an unusable listing or an unsafe archive.",
    )
    p.add_argument("--out", default="published", metavar="DIR",
                   help="output directory (default ./published): DIR/CIFAR-100_models/, ...")
    p.add_argument("--server", default=DEFAULT_SERVER, metavar="URL",
                   help=f"Dataverse installation (default {DEFAULT_SERVER})")
    p.add_argument("--doi", default=PUBLISHED_DOI, metavar="DOI",
                   help=f"the data set's DOI (default {PUBLISHED_DOI}, the published set)")
    p.add_argument("--expect", type=expect, metavar="N|D=N,...",
                   help="tables expected per data set directory: N for each of CIFAR-100_models, "
                   "FashionMNIST_models and SVHN_models, or DATASET=N pairs (default 2000 each for "
                   "the published DOI; for another DOI the counts found are only reported)")
    p.add_argument("--jobs", type=argtypes.positive, default=4, metavar="J",
                   help="files downloaded at once (default 4)")
    p.add_argument("--retries", type=argtypes.count, default=3, metavar="R",
                   help="tries after a lost connection or a server error, per file, in this run (default 3)")
    p.set_defaults(func=run_download)


def run_download(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..download import DownloadError, count_mismatches, download_dataset, expected_counts, normalize_doi

    out = Path(args.out)
    doi = normalize_doi(args.doi)
    try:
        result = download_dataset(out, server=args.server, doi=doi, jobs=args.jobs, retries=args.retries)
    except DownloadError as err:
        print(f"nnlife download: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # the output directory cannot be written: full, read-only, ...
        where = f"{err.filename}: " if err.filename else ""
        print(f"nnlife download: error: {where}{err.strerror or err}; nothing unverified was kept", file=sys.stderr)
        return 1
    for line in result.failed:
        print(f"nnlife download: error: {line}", file=sys.stderr)
    size = sum(f.size or 0 for f in result.files)
    print(f"doi:{result.doi} on {result.server}: {len(result.files)} files ({size / 1e6:.1f} MB): "
          f"{len(result.fetched)} downloaded, {len(result.present)} already in place, "
          f"{len(result.failed)} failed; {len(result.extracted)} archives unpacked")
    if result.failed:
        print(f"nnlife download: {len(result.failed)} files not in place (archives not unpacked); "
              f"run the same command again to fetch them", file=sys.stderr)
        return 1
    expected = expected_counts(result.doi, args.expect)
    for directory in sorted(set(result.counts) | set(expected)):
        want = f" (expected {expected[directory]})" if directory in expected else ""
        print(f"{out / directory}: {result.counts.get(directory, 0)} tables{want}")
    mismatches = count_mismatches(result.counts, expected, out)
    for line in mismatches:
        print(f"nnlife download: error: {line}", file=sys.stderr)
    return 1 if mismatches else 0
