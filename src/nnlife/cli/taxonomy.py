"""`nnlife sample` and `nnlife describe`."""

from __future__ import annotations

import argparse
import json
import sys

from ..describe import describe, describe_text, sample_record
from ..sample import plan
from ..spec import DATASETS
from ..table import read_table
from . import argtypes


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sample",
        help="print the planned random networks of a data set as JSON lines",
        description="Print N JSON lines, one per planned network (conv-layer counts cycling "
        "1..10), with the table's field texts plus params and flops. Same arguments, same bytes.",
    )
    p.add_argument("--dataset", required=True, type=argtypes.dataset, help=f"one of {', '.join(DATASETS)}")
    p.add_argument("--count", required=True, type=argtypes.count, metavar="N", help="number of networks")
    p.add_argument("--seed", required=True, type=argtypes.seed, metavar="S", help="master seed in [0, 2**32)")
    p.set_defaults(func=run_sample)

    p = subparsers.add_parser(
        "describe",
        help="rebuild the network of a table and print its layers",
        description="Rebuild the network of a table and print each layer's output shape, the "
        "parameter count and forward FLOPs per image (multiply-add = 2).",
    )
    p.add_argument("table", metavar="TABLE.txt", help="a table in the published format")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=run_describe)


def run_sample(args: argparse.Namespace) -> int:
    out = sys.stdout
    for planned in plan(args.dataset, args.count, args.seed):
        out.write(json.dumps(sample_record(planned.spec())) + "\n")
    return 0


def run_describe(args: argparse.Namespace) -> int:
    info = describe(read_table(args.table).spec)
    print(json.dumps(info) if args.json else describe_text(info))
    return 0
