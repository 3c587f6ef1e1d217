"""The manifest ``DIR/campaign.json``: a campaign's defining options and every planned unit, one
per network and repeat (data set, seed, conv-layer count, ID, batch size, FLOPs, repeat and
the ID of the network's repeat 0), written once, atomically, before
anything is trained; re-running the same command reuses it, and a command whose defining
options differ is refused, naming the option."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterable

from ..errors import InputError
from ..run import used_images
from ..sample import plan_selected, sample
from ..shapes import analyse
from ..spec import NetworkSpec, dataset_info, make_id
from ..table import atomic_write_text
from .options import OPTION_FLAGS, CampaignOptions

MANIFEST = "campaign.json"
MANIFEST_FORMAT = "nnlife-campaign"
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class PlannedRun:
    """One unit of a campaign, as the manifest holds it: one repeat of one network. A manifest
    written before repeats existed has neither ``repeat`` nor ``network``: repeat 0 of itself."""

    dataset: str
    random_seed: int
    conv_layers: int
    index: int  # position in its data set's plan
    ID: str
    batch_size: int
    flops: int  # forward FLOPs per image
    repeat: int = 0
    network: str = ""  # the ID of the network's repeat 0; empty: this unit's own ID

    @property
    def network_ID(self) -> str:
        """The ID of the network's repeat 0 (which the records of all its repeats name): its
        own ID for repeat 0 whatever ``network`` says."""
        return self.ID if self.repeat == 0 or not self.network else self.network

    def spec(self, options: CampaignOptions) -> NetworkSpec:
        """The network, drawn again from its seed (no run facts)."""
        return sample(self.dataset, self.random_seed, self.conv_layers, n_train=options.n_train_full(self.dataset))

    def images(self, options: CampaignOptions) -> tuple[int, int]:
        """(training images used per epoch, test images validated each time), as the trainer
        cuts them: an even number of whole batches, and whole batches."""
        return used_images(*self.subsets(options), self.batch_size)

    def subsets(self, options: CampaignOptions) -> tuple[int, int]:
        """(training images, test images) available to the trainer: the prefixes asked for,
        or the whole splits."""
        full, n_test = options.n_train_full(self.dataset), dataset_info(self.dataset).n_test
        return min(options.train_images or full, full), min(options.test_images or n_test, n_test)

    def cost(self, options: CampaignOptions) -> float:
        """Forward-pass FLOPs of the whole training: x3 per training image (forward and
        backward), x1 per validated image, two validations per epoch."""
        used, validated = self.images(options)
        return float(self.flops) * (3 * used + 2 * validated) * options.epochs


@dataclass(frozen=True)
class Manifest:
    options: CampaignOptions
    networks: tuple[PlannedRun, ...]
    created: str


def manifest_path(out: str | Path) -> Path:
    return Path(out) / MANIFEST


def make_manifest(options: CampaignOptions) -> Manifest:
    """Plan every network (``nnlife.sample.plan_selected`` per data set: the plan itself unless
    ``--max-mflops``/``--min-lr`` select from it), each ``repeats`` times, and give each unit an
    ID: its creation time, strictly increasing by at least a microsecond across the campaign."""
    networks: list[PlannedRun] = []
    last: datetime | None = None
    for dataset in options.datasets:
        max_flops = None if options.max_mflops is None else options.max_mflops * 1e6
        chosen = plan_selected(dataset, options.per_dataset, options.seed, max_flops=max_flops,
                               min_lr=options.min_lr, n_train=options.n_train_full(dataset))
        for planned in chosen:
            spec = planned.spec(n_train=options.n_train_full(dataset))
            flops = analyse(spec).flops
            first = ""
            for repeat in range(options.repeats):
                now = datetime.now()
                last = now if last is None or now > last else last + timedelta(microseconds=1)
                ID = make_id(last)
                networks.append(PlannedRun(dataset, planned.random_seed, planned.n_conv, planned.index,
                                           ID, spec.batch_size, flops, repeat, first or ID))
                first = first or ID
    manifest = Manifest(options, tuple(networks), datetime.now().isoformat(timespec="seconds"))
    check_subsets(manifest)
    return manifest


def check_subsets(manifest: Manifest) -> None:
    """Every network must be able to train on the subsets asked for: an even number of
    whole batches of training images, and at least one batch of test images. The message
    names the network with the largest batch size, which sets the minimum."""
    options = manifest.options
    for dataset in options.datasets:
        info = dataset_info(dataset)
        full = options.n_train_full(dataset)
        if options.train_images is not None and options.train_images > full:
            raise InputError(f"--train-images {options.train_images}: {dataset} has only {full} training images")
        if options.test_images is not None and options.test_images > info.n_test:
            raise InputError(f"--test-images {options.test_images}: {dataset} has only {info.n_test} test images")
        nets = [n for n in manifest.networks if n.dataset == dataset]
        if not nets:
            continue
        net = max(nets, key=lambda n: n.batch_size)
        used, validated = net.images(options)
        b = net.batch_size
        for flag, value, have, need, kind in (("--train-images", options.train_images, used, 2 * b, "training"),
                                              ("--test-images", options.test_images, validated, b, "test")):
            if have == 0:
                raise InputError(f"{flag} {value}: too few for {dataset} network {net.ID} (seed {net.random_seed}), "
                                 f"whose batch size {b} needs at least {need} {kind} images")


def _check_ids(manifest: Manifest, where: str) -> None:
    """Every network of a campaign has its own ID: tables, records and the journal are keyed
    by it, so two networks sharing one would overwrite each other's table."""
    seen: dict[str, int] = {}
    for i, n in enumerate(manifest.networks):
        if n.ID in seen:
            raise InputError(f"{where}: field 'networks': networks {seen[n.ID]} and {i} share the ID {n.ID}; "
                             f"expected one ID per network")
        seen[n.ID] = i


def write_manifest(out: str | Path, manifest: Manifest) -> Path:
    """Write ``DIR/campaign.json`` atomically: one network per line. Refuses (InputError) a
    manifest in which two networks share an ID."""
    _check_ids(manifest, str(manifest_path(out)))
    head = {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "created": manifest.created,
            "options": manifest.options.to_dict()}
    lines = [f" {json.dumps(k)}: {json.dumps(v)}" for k, v in head.items()]
    nets = ",\n".join("  " + json.dumps(dataclasses.asdict(n)) for n in manifest.networks)
    text = "{\n" + ",\n".join(lines) + ',\n "networks": [\n' + nets + "\n ]\n}\n"
    return atomic_write_text(manifest_path(out), text)


def read_manifest(out: str | Path) -> Manifest:
    """Read ``DIR/campaign.json``. Raises :class:`InputError` naming the file."""
    path = manifest_path(out)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{Path(out)}: no campaign here (no {MANIFEST})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read ({err})") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    if not isinstance(obj, dict) or obj.get("format") != MANIFEST_FORMAT:
        raise InputError(f"{path}: expected a JSON object with format {MANIFEST_FORMAT!r}")
    if obj.get("version") != MANIFEST_VERSION:
        raise InputError(f"{path}: field 'version': expected {MANIFEST_VERSION}, got {obj.get('version')!r}")
    try:
        options = CampaignOptions.from_dict(obj["options"])
        networks = tuple(PlannedRun(**n) for n in obj["networks"])
        manifest = Manifest(options, networks, str(obj.get("created", "")))
    except KeyError as err:
        raise InputError(f"{path}: field {err}: missing") from None
    except TypeError as err:
        raise InputError(f"{path}: field 'networks': {err}") from None
    except InputError as err:
        raise InputError(f"{path}: field 'options': {err}") from None
    _check_ids(manifest, str(path))
    return manifest


def open_manifest(out: str | Path, options: CampaignOptions) -> Manifest:
    """The campaign's manifest: read when it exists (refused with a one-line error naming the
    first defining option that differs from ``options``), else planned and written."""
    if manifest_path(out).exists():
        manifest = read_manifest(out)
        old, new = manifest.options.to_dict(), options.to_dict()
        for name in old:
            if old[name] != new.get(name):
                raise InputError(
                    f"{out}: {OPTION_FLAGS.get(name, name)} differs from the campaign in this directory "
                    f"(created with {_show(old[name])}, now {_show(new.get(name))}); use the same options "
                    f"to resume it, or another --out for a new campaign"
                )
        check_subsets(manifest)
        return manifest
    manifest = make_manifest(options)
    write_manifest(out, manifest)
    return manifest


def _show(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return "not set" if value is None else str(value)


def training_order(options: CampaignOptions, networks: Iterable[PlannedRun]) -> list[PlannedRun]:
    """Most expensive first (:meth:`PlannedRun.cost`), so that the pool does not end waiting
    on one giant network; ties in plan order."""
    return sorted(networks, key=lambda n: (-n.cost(options), options.datasets.index(n.dataset), n.index, n.repeat))
