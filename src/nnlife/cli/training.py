"""`nnlife train`: train one network and write its table and record."""

from __future__ import annotations

import argparse

from ..spec import DATASETS
from . import argtypes


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train one network and write its table and record",
        description="Train one network exactly as the published data set did (SGD, validation "
        "every half epoch) and write OUT/<Dataset dir>_models/<ID>.txt (2*epochs+1 lines) and its "
        "record OUT/<Dataset dir>_records/<ID>.json. Prints the table's path (one per repeat). "
        "The output directory is checked before the data is loaded or anything trained.",
        epilog="Environment: NNLIFE_CPU_KERNELS=avx2 runs torch's portable AVX2 CPU kernels, so that "
        "deterministic CPU runs give the same curves on any x86-64 machine with AVX2 (slower on "
        "AVX-512 machines; default native; docs/training.md).",
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--seed", type=argtypes.seed, metavar="S", help="draw the network of random_seed S")
    which.add_argument("--table", metavar="SPEC.txt", help="retrain the network of a table (line 2)")
    p.add_argument("--dataset", type=argtypes.dataset, metavar="D",
                   help=f"one of {', '.join(DATASETS)} (required with --seed; with --table it must match)")
    p.add_argument("--conv-layers", type=_conv_layers, metavar="N",
                   help="conv layers of a network drawn with --seed, 1..10 (default: 1 + S mod 10)")
    p.add_argument("--epochs", type=argtypes.positive, default=40, metavar="E", help="epochs to train (default 40)")
    p.add_argument("--device", default="auto", metavar="DEV", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--precision", choices=argtypes.PRECISIONS, default="fp32",
                   help="fp32 (default, TF32 off), tf32, or bf16 autocast (faster, not the published setting)")
    p.add_argument("--deterministic", action="store_true",
                   help="enforce deterministic algorithms (recorded as torch_set_deterministic)")
    p.add_argument("--micro-batches", type=argtypes.positive, default=1, metavar="K",
                   help="split each batch into K chunks with accumulated gradients (same update, less memory)")
    p.add_argument("--train-images", type=argtypes.positive, metavar="N", help="train on the first N training images")
    p.add_argument("--test-images", type=argtypes.positive, metavar="M", help="validate on the first M test images")
    p.add_argument("--data-root", metavar="DIR",
                   help="where data files are found and downloaded (default $NNLIFE_DATA, else ~/.cache/nnlife)")
    p.add_argument("--no-download", action="store_true", help="never use the network; fail if a data file is missing")
    p.add_argument("--svhn-extra", action="store_true", help="SVHN: append the extra split to the training split")
    p.add_argument("--repeats", type=argtypes.positive, default=1, metavar="K",
                   help="train the network K times with different training seeds (weights, order, dropout); "
                   "repeat 0 is the ordinary run, each repeat its own table and record (default 1)")
    p.add_argument("--out", required=True, metavar="DIR", help="output root")
    p.set_defaults(func=run_train)


def _conv_layers(text: str) -> int:
    value = argtypes.positive(text)
    if value > 10:
        raise argparse.ArgumentTypeError(f"expected an integer in [1, 10], got {text!r}")
    return value


def run_train(args: argparse.Namespace) -> int:
    from ..data import load_data, resolve_device
    from ..kernels import check
    from ..lifespan import check_output, network_spec, run_network
    from ..run import RunOptions
    from ..train import ProgressBar

    check()  # NNLIFE_CPU_KERNELS, before anything is loaded
    spec = network_spec(dataset=args.dataset, seed=args.seed, table=args.table,
                        conv_layers=args.conv_layers, svhn_extra=args.svhn_extra)
    check_output(args.out, spec.dataset)
    device = resolve_device(args.device)
    data = load_data(spec.dataset, root=args.data_root, device=device,
                     download=not args.no_download, svhn_extra=args.svhn_extra)
    network = None  # the ID of repeat 0, which the later repeats' records name
    for repeat in range(args.repeats):
        options = RunOptions(epochs=args.epochs, precision=args.precision, deterministic=args.deterministic,
                             micro_batches=args.micro_batches, train_images=args.train_images,
                             test_images=args.test_images, repeat=repeat)
        label = f"{spec.dataset} seed {spec.random_seed}" + (f" repeat {repeat}" if args.repeats > 1 else "")
        path = run_network(spec, data, args.out, options, listeners=[ProgressBar(label)], network=network)
        network = network or path.stem
        print(path, flush=True)
    return 0
