"""One attempt at one planned network: what the driver hands an executor (picklable, no torch)."""

from __future__ import annotations

from dataclasses import dataclass

from ..executors.base import WorkerCode
from .manifest import PlannedRun
from .options import CampaignOptions


@dataclass(frozen=True)
class Task:
    """Everything a worker needs to train one network once. Where it runs (device, threads)
    is the executor's to choose: :class:`nnlife.executors.Placement`."""

    out: str
    net: PlannedRun
    options: CampaignOptions
    attempt: int  # 1, 2, ... within this run
    starts: int  # trainings of this network started before this one, over the campaign's life
    errors: tuple[str, ...]  # errors of earlier attempts
    data_root: str | None
    download: bool
    faults: str  # NNLIFE_INJECT_FAULTS as the campaign read it


# The worker's functions (nnlife.campaign.task, which imports torch), named so that the
# driver hands them to the executors without importing them.
WORKER = WorkerCode(run="nnlife.campaign.task:run_one", warm_up="nnlife.campaign.task:warm_up")
PREFLIGHT = "nnlife.campaign.task:preflight"
