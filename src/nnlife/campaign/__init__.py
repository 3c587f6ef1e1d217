"""Campaigns: many networks, planned once, trained by a pool of workers, resumable.

A campaign is one output directory ``DIR``; one module per job:

* :mod:`.options`: what defines a campaign (:class:`CampaignOptions`) and how it runs
  (:class:`ExecutionOptions`);
* :mod:`.manifest`: ``DIR/campaign.json``, the plan (:class:`PlannedRun` per network),
  written once before anything is trained;
* :mod:`.layout`: where the tables (``DIR/<Dataset dir>_models/<ID>.txt``, exactly as
  published, written last: a network whose table reads as the planned network with the
  planned rows is done) and the records
  (``DIR/<Dataset dir>_records/<ID>.json``, docs/records.md) are, and the lock
  ``DIR/.campaign.lock``;
* :mod:`.journal`: ``DIR/campaign.log.jsonl`` and ``DIR/campaign.log``;
* :mod:`.faults`: fault injection (``NNLIFE_INJECT_FAULTS``) for testing the failure paths;
* :mod:`.attempt`: :class:`Task`, one attempt at one network, as handed to an executor;
* :mod:`.task`: the worker's side, :func:`~.task.run_one` (the only module here that imports
  torch; import it yourself where you need it);
* :mod:`.driver`: :func:`run_campaign`, which hands the networks to an executor
  (:mod:`nnlife.executors`) and records what happens;
* :mod:`.status`: :func:`campaign_status` and the progress bar.
"""

from __future__ import annotations

from ..executors import ExecutionOptions
from ..spec import dataset_info
from .attempt import PREFLIGHT, WORKER, Task
from .driver import Summary, record_failure, run_campaign
from .faults import FAULT_KINDS, FAULTS_ENV, Fault, parse_faults
from .journal import JOURNAL, LOG, Journal, log_line, read_journal
from .layout import (CORRUPT_SUFFIX, LOCK, CampaignLock, is_done, lock_holder, move_aside, open_state_file, record_file,
                     remove_stale_temporaries, table_file, table_state)
from .manifest import (MANIFEST, MANIFEST_FORMAT, MANIFEST_VERSION, Manifest, PlannedRun, adopt_tables, check_subsets,
                       make_manifest, same_network,
                       manifest_path, open_manifest, read_manifest, training_order, write_manifest)
from .options import DEFAULT_TARGET_EPOCH, OPTION_FLAGS, CampaignOptions
from .status import CampaignStatus, DatasetProgress, Failure, ProgressBar, _duration, campaign_status

__all__ = [
    "CORRUPT_SUFFIX", "DEFAULT_TARGET_EPOCH", "FAULTS_ENV", "FAULT_KINDS", "JOURNAL", "LOCK", "LOG", "MANIFEST", "MANIFEST_FORMAT",
    "MANIFEST_VERSION", "OPTION_FLAGS", "PREFLIGHT", "WORKER", "CampaignLock", "CampaignOptions", "CampaignStatus",
    "DatasetProgress", "ExecutionOptions", "Failure", "Fault", "Journal", "Manifest", "PlannedRun", "ProgressBar",
    "Summary", "Task", "adopt_tables", "campaign_status", "check_subsets", "dataset_info", "is_done", "lock_holder", "log_line",
    "make_manifest", "manifest_path", "move_aside", "open_manifest", "open_state_file", "parse_faults", "read_journal", "read_manifest", "record_file",
    "record_failure", "remove_stale_temporaries", "run_campaign", "same_network", "table_file", "table_state",
    "training_order", "write_manifest",
]
