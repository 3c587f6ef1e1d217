"""Choosing a fixed, stratified list of planned networks under a compute cap (for benchmarks).

Imported by the benchmark scripts beside it (``python benchmarks/<script>.py`` puts this
directory on ``sys.path``). Random networks span three orders of magnitude of forward FLOPs
(FashionMNIST, master seed 2022: median 66 MFLOP per image, maximum 3.8 GFLOP), so a run that
must finish on a CPU keeps, for each conv-layer count, the first planned networks under a cap.
That biases the list towards cheap networks: benchmarks that use a cap say so.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from nnlife.campaign import PlannedRun
from nnlife.sample import plan
from nnlife.shapes import analyse
from nnlife.spec import dataset_info, make_id


def choose_sample(datasets, master_seed: int, per_count: int, max_mflops: float | None,
                  scan: int = 5000, min_lr: float | None = None) -> list[PlannedRun]:
    """For each data set and conv-layer count 1..10, the first ``per_count`` networks among
    the first ``scan`` of the data set's plan (``nnlife.sample.plan``) with at most
    ``max_mflops`` forward MFLOPs per image (no cap when None), topped up with the cheapest
    others of that count: a fixed list for a given seed, every count present. With
    ``min_lr``, networks whose drawn learning rate is below it are skipped altogether (a
    second, stated bias: the slow end of the taxonomy's 10**[-6, 0] range barely moves in 40
    epochs of a small subset). IDs are creation times, strictly increasing, as a campaign
    assigns them."""
    chosen: list[PlannedRun] = []
    when = datetime.now()
    for dataset in datasets:
        name = dataset_info(dataset).name
        picked: dict[int, list] = {k: [] for k in range(1, 11)}
        others: dict[int, list] = {k: [] for k in range(1, 11)}
        for planned in plan(name, scan, master_seed):
            if len(picked[planned.n_conv]) >= per_count:
                continue
            spec = planned.spec()
            if min_lr is not None and spec.learning_rate < min_lr:
                continue
            flops = analyse(spec).flops
            fits = max_mflops is None or flops <= max_mflops * 1e6
            (picked if fits else others)[planned.n_conv].append((flops, planned.index, planned, spec))
            if all(len(v) >= per_count for v in picked.values()):
                break
        for k in range(1, 11):
            for flops, _, planned, spec in picked[k] + sorted(others[k])[: per_count - len(picked[k])]:
                when += timedelta(microseconds=1)  # exact steps (a float clock rounds some to the same microsecond)
                chosen.append(PlannedRun(name, planned.random_seed, k, planned.index,
                                         make_id(when), spec.batch_size, flops))
    return chosen
