"""`nnlife campaign` and `nnlife status`."""

from __future__ import annotations

import argparse
import json
import sys

from ..spec import DATASETS
from . import argtypes


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "campaign",
        help="train many random networks per data set, resumably, on local workers or Ray",
        description="Plan N networks per data set (conv-layer counts stratified, seeds derived from "
        "--seed), write the plan to OUT/campaign.json, then train every network that has no finished "
        "table yet, most expensive first: OUT/<Dataset dir>_models/<ID>.txt plus records, laid out like "
        "the published data set. Re-running the same command resumes (finished networks are never "
        "retrained; failed ones are retried; a table that is not the planned network's finished table is "
        "renamed to <ID>.txt.corrupt-<time> and the network trained again; without campaign.json the "
        "tables there are adopted by seed and network); different defining options in the same OUT are "
        "refused. Exit status 0 when every network is done, 1 when some failed.",
        epilog="Environment: NNLIFE_CPU_KERNELS=avx2 runs torch's portable AVX2 CPU kernels, so that "
        "deterministic CPU runs give the same curves on any x86-64 machine with AVX2 (slower on "
        "AVX-512 machines; default native; docs/training.md).",
    )
    p.add_argument("--datasets", required=True, type=argtypes.datasets, metavar="D[,D...]",
                   help=f"comma-separated, from {', '.join(DATASETS)}")
    p.add_argument("--per-dataset", required=True, type=argtypes.positive, metavar="N", help="networks per data set")
    p.add_argument("--seed", required=True, type=argtypes.seed, metavar="S", help="master seed in [0, 2**32)")
    p.add_argument("--out", required=True, metavar="DIR", help="campaign directory")
    p.add_argument("--epochs", type=argtypes.positive, default=40, metavar="E", help="epochs per network (default 40)")
    p.add_argument("--train-images", type=argtypes.positive, metavar="N", help="train on the first N training images")
    p.add_argument("--test-images", type=argtypes.positive, metavar="M", help="validate on the first M test images")
    p.add_argument("--precision", choices=argtypes.PRECISIONS, default="fp32",
                   help="fp32 (default, TF32 off), tf32, or bf16 autocast")
    p.add_argument("--deterministic", action="store_true", help="enforce deterministic algorithms")
    p.add_argument("--svhn-extra", action="store_true", help="SVHN: append the extra split to the training split")
    p.add_argument("--early-stop", metavar="METHOD",
                   help="stop each network once this prediction method is confident (e.g. penguin)")
    p.add_argument("--target-epoch", type=float, metavar="E",
                   help="the epoch the early-stop method predicts (default min(20, --epochs))")
    p.add_argument("--repeats", type=argtypes.positive, default=1, metavar="K",
                   help="train each planned network K times with different training seeds (repeat 0 is the "
                   "ordinary run; each repeat its own table and record; default 1)")
    p.add_argument("--max-mflops", type=_positive_number, metavar="X",
                   help="a cheap demo, not the published distribution: keep only planned networks of at most X "
                   "forward MFLOP per image (for each conv-layer count the first ones of the plan)")
    p.add_argument("--min-lr", type=_positive_number, metavar="LR",
                   help="a cheap demo, not the published distribution: skip planned networks whose learning "
                   "rate is below LR")
    p.add_argument("--max-conv-layers", type=argtypes.positive, metavar="K",
                   help="a cheap demo, not the published distribution: keep only planned networks of at most K "
                   "conv layers (1..10; the counts 1..K in turn)")
    run = p.add_argument_group("execution (may change between runs of the same campaign)")
    run.add_argument("--workers", type=argtypes.positive, metavar="K",
                     help="CPU worker processes (default: one per core); with --ray, the CPUs of a local instance")
    run.add_argument("--per-gpu", type=argtypes.positive, default=1, metavar="G",
                     help="concurrent trainings on each GPU (default 1)")
    run.add_argument("--device", default="auto", metavar="DEV",
                     help="auto (default: every visible GPU, else the CPU), cpu, cuda, or cuda:N[,M...]")
    run.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                     help="run on Ray: alone, start a local instance; with ADDRESS, join that cluster")
    run.add_argument("--retries", type=argtypes.count, default=2, metavar="R",
                     help="tries after a network's first failure in this run (default 2)")
    run.add_argument("--threads", type=argtypes.positive, metavar="T", help="torch threads per training")
    run.add_argument("--data-root", metavar="DIR",
                     help="where data files are found and downloaded (default $NNLIFE_DATA, else ~/.cache/nnlife)")
    run.add_argument("--no-download", action="store_true", help="never use the network; fail if a data file is missing")
    p.set_defaults(func=run_campaign_command)

    p = subparsers.add_parser(
        "status",
        help="progress of a campaign, running or stopped",
        description="Print a campaign's progress: done, failed and remaining networks per data set, "
        "whether a run is active (and its PID), the latest run's rate and ETA, failures and the last events.",
    )
    p.add_argument("out", metavar="DIR", help="campaign directory")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--events", type=argtypes.count, default=5, metavar="N", help="last journal events to show (default 5)")
    p.set_defaults(func=run_status)


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def run_campaign_command(args: argparse.Namespace) -> int:
    from ..campaign import CampaignOptions, ExecutionOptions, run_campaign
    from ..executors import WorkerStartError

    options = CampaignOptions(
        datasets=args.datasets, per_dataset=args.per_dataset, seed=args.seed, epochs=args.epochs,
        train_images=args.train_images, test_images=args.test_images, precision=args.precision,
        deterministic=args.deterministic, svhn_extra=args.svhn_extra, early_stop=args.early_stop,
        target_epoch=args.target_epoch, repeats=args.repeats, max_mflops=args.max_mflops, min_lr=args.min_lr,
        max_conv_layers=args.max_conv_layers,
    )
    execution = ExecutionOptions(
        workers=args.workers, per_gpu=args.per_gpu, device=args.device, ray=args.ray, retries=args.retries,
        data_root=args.data_root, download=not args.no_download, threads=args.threads,
    )
    try:
        summary = run_campaign(args.out, options, execution, echo=lambda text: print(text, file=sys.stderr))
    except WorkerStartError as err:
        print(f"nnlife campaign: error: {err}", file=sys.stderr)
        return 1
    print(summary.text())
    return 1 if summary.failures else 0


def run_status(args: argparse.Namespace) -> int:
    from ..campaign import campaign_status

    status = campaign_status(args.out, last=args.events)
    print(json.dumps(status.to_dict()) if args.json else status.text())
    return 0
