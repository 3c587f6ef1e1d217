"""Make the corpus of real learning curves that benchmarks/prediction_quality.py measures.

A campaign on real FashionMNIST (the files nnlife finds or downloads: on Debian the package
``dataset-fashion-mnist``): ``--per-count`` networks for each conv-layer count 1..10 (default
20, so 200 networks), each trained for the full 40 epochs with validation every half epoch,
written as an ordinary campaign directory (manifest, ``FashionMNIST_models/*.txt``, records,
journal). It is a campaign like any other, so re-running the same command resumes it,
``nnlife status DIR`` shows its progress, and every table rebuilds its network.

    python benchmarks/make_corpus.py --out corpus                 # CPU: 1500/1000 images, <= 3 MFLOP/img
    python benchmarks/make_corpus.py --out corpus-learn --seed 2026 --per-count 10 --max-mflops 2 \\
        --min-lr 1e-3 --train-images 10000 --test-images 2000   # CPU, a corpus of networks that learn
    python benchmarks/make_corpus.py --out corpus-learn2 --seed 2027 --per-count 25 --max-conv-layers 4 \\
        --max-mflops 2 --min-lr 0.01 --train-images 10000 --test-images 2000   # CPU, shallow networks
    python benchmarks/make_corpus.py --out corpus --device cuda --max-mflops 0 \\
        --train-images 0 --test-images 0                          # GPU: full splits, no cap

Two departures from the published campaign keep it affordable on a CPU, and both are stated
in the printed header and in the manifest (its options, and every network with its FLOPs): training and validation use prefixes of the
splits (``--train-images``/``--test-images``, 0 for the full split), and the networks are the
first of each conv-layer count in the plan whose forward cost is at most ``--max-mflops``
MFLOP per image among the first ``--scan`` of the plan, topped up with the cheapest others of
that count where too few are under the cap (0: no cap; see benchmarks/selection.py). Cheap
deep networks are rare (with seed 2022, 1 in 500 eight-to-ten-layer networks is under 5 MFLOP),
so the deep counts are mostly such top-ups. Unfiltered random networks average 217 MFLOP per
image: thousands of CPU-hours for 200 of them.

With ``--max-conv-layers K`` the corpus is the campaign's own selection instead
(``nnlife campaign --max-mflops X --min-lr LR --max-conv-layers K``,
:func:`nnlife.sample.plan_selected`): ``--per-count`` networks of each count 1..K, the first of
the plan that meet every rule, no top-ups; the manifest's options state the rules.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from nnlife.campaign import CampaignOptions, ExecutionOptions, Manifest, manifest_path, run_campaign, write_manifest
from nnlife.errors import InputError

from selection import choose_sample  # beside this script

DATASET = "FashionMNIST"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="campaign directory of the corpus")
    p.add_argument("--seed", type=int, default=2022, help="master seed of the plan the networks come from")
    p.add_argument("--per-count", type=int, default=20, help="networks per conv-layer count (default 20: 200 in all)")
    p.add_argument("--max-mflops", type=float, default=3.0, help="forward MFLOP per image at most (0: no cap)")
    p.add_argument("--min-lr", type=float, default=0.0,
                   help="skip networks whose drawn learning rate is below this (0: keep all; a stated bias)")
    p.add_argument("--max-conv-layers", type=int, default=None,
                   help="only networks of at most K conv layers, as `nnlife campaign --max-conv-layers` selects "
                   "them (the campaign's own selection: --per-count of each count 1..K, no top-ups)")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--scan", type=int, default=20000, help="planned networks searched for the cap")
    p.add_argument("--train-images", type=int, default=1500, help="training images (0: the full split)")
    p.add_argument("--test-images", type=int, default=1000, help="test images validated (0: the full split)")
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--per-gpu", type=int, default=1)
    p.add_argument("--data-root", default=None)
    args = p.parse_args(argv)

    counts = args.max_conv_layers or 10
    try:
        if args.max_conv_layers:
            options = CampaignOptions(datasets=(DATASET,), per_dataset=counts * args.per_count, seed=args.seed,
                                      epochs=args.epochs, train_images=args.train_images or None,
                                      test_images=args.test_images or None, max_mflops=args.max_mflops or None,
                                      min_lr=args.min_lr or None, max_conv_layers=args.max_conv_layers)
        else:
            options = CampaignOptions(datasets=(DATASET,), per_dataset=10 * args.per_count, seed=args.seed,
                                      epochs=args.epochs, train_images=args.train_images or None,
                                      test_images=args.test_images or None)
        if not args.max_conv_layers and not manifest_path(args.out).exists():
            nets = choose_sample([DATASET], args.seed, args.per_count, args.max_mflops or None, scan=args.scan,
                                 min_lr=args.min_lr or None)
            write_manifest(args.out, Manifest(options, tuple(nets), datetime.now().isoformat(timespec="seconds")))
        print(f"# corpus: {counts * args.per_count} {DATASET} networks (plan seed {args.seed}, "
              f"{'<= %g MFLOP/img' % args.max_mflops if args.max_mflops else 'no FLOP cap'}"
              f"{', learning rate >= %g' % args.min_lr if args.min_lr else ''}"
              f"{', <= %d conv layers' % args.max_conv_layers if args.max_conv_layers else ''}), {args.epochs} epochs on "
              f"{args.train_images or 'all'} training / {args.test_images or 'all'} test images -> {args.out}",
              flush=True)
        execution = ExecutionOptions(workers=args.workers, per_gpu=args.per_gpu, device=args.device,
                                     data_root=args.data_root)
        summary = run_campaign(args.out, options, execution, echo=print)
    except InputError as err:
        print(f"make_corpus: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("make_corpus: interrupted; the same command resumes it", file=sys.stderr)
        return 130
    print(summary.text())
    return 0 if not summary.failures else 1


if __name__ == "__main__":
    sys.exit(main())
