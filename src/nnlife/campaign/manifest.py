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
from typing import Callable, Iterable

from ..errors import InputError, read_json
from ..run import used_images
from ..sample import plan_selected, sample
from ..shapes import analyse
from ..spec import _ID_TEXT_RE, MAX_ID_LENGTH, NetworkSpec, dataset_info, make_id
from ..outputs import atomic_write_text
from ..record import record_path
from ..table import read_table
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
    ``--max-mflops``/``--min-lr``/``--max-conv-layers`` select from it), each ``repeats`` times, and give each unit an
    ID: its creation time, strictly increasing by at least a microsecond across the campaign."""
    networks: list[PlannedRun] = []
    last: datetime | None = None
    first = ""
    for net in _plan(options):
        now = datetime.now()
        last = now if last is None or now > last else last + timedelta(microseconds=1)
        ID = make_id(last)
        first = ID if net.repeat == 0 else first  # a network's units come repeat 0 first
        networks.append(dataclasses.replace(net, ID=ID, network=first))
    manifest = Manifest(options, tuple(networks), datetime.now().isoformat(timespec="seconds"))
    check_subsets(manifest)
    return manifest


def _plan(options: CampaignOptions) -> list[PlannedRun]:
    """The units of ``options``, without IDs: the same for the same options, anywhere. Each
    data set's networks are ``nnlife.sample.plan_selected``'s (the plan itself unless
    ``--max-mflops``/``--min-lr``/``--max-conv-layers`` select from it), each ``repeats`` times, repeat 0 first."""
    networks = []
    for dataset in options.datasets:
        max_flops = None if options.max_mflops is None else options.max_mflops * 1e6
        chosen = plan_selected(dataset, options.per_dataset, options.seed, max_flops=max_flops,
                               min_lr=options.min_lr, max_conv=options.max_conv_layers,
                               n_train=options.n_train_full(dataset))
        for planned in chosen:
            spec = planned.spec(n_train=options.n_train_full(dataset))
            flops = analyse(spec).flops
            for repeat in range(options.repeats):
                networks.append(PlannedRun(dataset, planned.random_seed, planned.n_conv, planned.index, "",
                                           spec.batch_size, flops, repeat, ""))
    return networks


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
    obj = read_json(path, missing=f"{Path(out)}: no campaign here (no {MANIFEST})")
    if not isinstance(obj, dict) or obj.get("format") != MANIFEST_FORMAT:
        raise InputError(f"{path}: expected a JSON object with format {MANIFEST_FORMAT!r}")
    if obj.get("version") != MANIFEST_VERSION:
        raise InputError(f"{path}: field 'version': expected {MANIFEST_VERSION}, got {obj.get('version')!r}")
    for name, kind in (("options", dict), ("networks", list)):
        if name not in obj:
            raise InputError(f"{path}: field '{name}': missing")
        if not isinstance(obj[name], kind):
            raise InputError(f"{path}: field '{name}': expected a JSON {'object' if kind is dict else 'list'}")
    try:
        options = CampaignOptions.from_dict(obj["options"])
    except TypeError as err:
        raise InputError(f"{path}: field 'options': {err}") from None
    except InputError as err:
        raise InputError(f"{path}: field 'options': {err}") from None
    networks = tuple(_read_network(n, i, path, options) for i, n in enumerate(obj["networks"]))
    manifest = Manifest(options, networks, str(obj.get("created", "")))
    _check_ids(manifest, str(path))
    _check_plan(manifest, path)
    return manifest


_FIELDS = tuple(f.name for f in dataclasses.fields(PlannedRun))
# written since repeats exist; a manifest from before has neither (every unit is repeat 0)
_OPTIONAL_FIELDS = ("repeat", "network")
# integer fields: (least value, greatest value or None)
_INT_FIELDS = {"random_seed": (0, 2**32 - 1), "conv_layers": (1, None), "index": (0, None), "batch_size": (1, None),
               "flops": (1, None)}


def _read_network(obj: object, i: int, path: Path, options: CampaignOptions) -> PlannedRun:
    """Network ``i`` of a manifest, every field checked: a hand-edited manifest is refused
    with one line before anything is trained, not halfway through the campaign."""
    where = f"{path}: network {i}"
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected a JSON object with the fields {', '.join(_FIELDS)}, got {_short(obj)}")
    for name in _FIELDS:
        if name not in obj and name not in _OPTIONAL_FIELDS:
            raise InputError(f"{where}: field '{name}': missing")
    unknown = next((name for name in obj if name not in _FIELDS), None)
    if unknown is not None:
        raise InputError(f"{where}: field {unknown!r}: unknown; expected only {', '.join(_FIELDS)}")
    if obj["dataset"] not in options.datasets:
        raise InputError(f"{where}: field 'dataset': expected one of the campaign's data sets "
                         f"({', '.join(options.datasets)}), got {_short(obj['dataset'])}")
    for name, (low, high) in _INT_FIELDS.items():
        value = obj[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            expected = f"an integer in [{low}, {high}]" if high is not None else f"an integer >= {low}"
            raise InputError(f"{where}: field '{name}': expected {expected}, got {_short(value)}")
    repeat = obj.get("repeat", 0)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 0:
        raise InputError(f"{where}: field 'repeat': expected an integer >= 0, got {_short(repeat)}")
    if not isinstance(obj.get("network", ""), str):
        raise InputError(f"{where}: field 'network': expected the ID of the network's repeat 0, got {_short(obj['network'])}")
    ID = obj["ID"]
    if not isinstance(ID, str) or len(ID) > MAX_ID_LENGTH or not _ID_TEXT_RE.fullmatch(ID):
        raise InputError(f"{where}: field 'ID': expected a file name of 1 to {MAX_ID_LENGTH} of A-Z a-z 0-9 _ - . "
                         f"not starting with '.', got {_short(ID)}")
    return PlannedRun(**obj)


def _check_plan(manifest: Manifest, path: Path) -> None:
    """Every unit is the network its seed draws (batch size, FLOPs), so a manifest edited by
    hand is refused before anything is trained. Units are checked one by one, not against the
    list the options would plan: a manifest may hold a chosen selection of planned networks
    (benchmarks/make_corpus.py writes one), and each unit still rebuilds from its seed."""
    options = manifest.options
    for i, net in enumerate(manifest.networks):
        spec = net.spec(options)
        for name, want in (("batch_size", spec.batch_size), ("flops", analyse(spec).flops)):
            if getattr(net, name) != want:
                raise InputError(f"{path}: network {i}: field '{name}': expected {want!r} (as its seed draws it), "
                                 f"got {getattr(net, name)!r}")


def _short(value: object, limit: int = 60) -> str:
    text = json.dumps(value) if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def open_manifest(out: str | Path, options: CampaignOptions,
                  echo: Callable[[str], None] | None = None) -> Manifest:
    """The campaign's manifest: read when it exists (refused with a one-line error naming the
    first defining option that differs from ``options``), else planned and written, adopting
    the tables already in ``out`` (:func:`adopt_tables`)."""
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
    manifest, adopted = adopt_tables(out, make_manifest(options))
    write_manifest(out, manifest)
    if adopted and echo is not None:
        echo(f"{out}: no {MANIFEST}; planned again from the options and adopted the {adopted} tables there "
             f"that are planned networks (matched by data set, seed and network)")
    return manifest


def same_network(a: NetworkSpec, b: NetworkSpec) -> bool:
    """The same network whatever run made it: every field but those of a run (ID,
    train_GPU, torch_set_deterministic)."""
    return _network_key(a) == _network_key(b)


def _network_key(spec: NetworkSpec) -> tuple[str, ...]:
    return tuple(spec.with_run(ID="", train_GPU=False, torch_set_deterministic=False).to_row())


def adopt_tables(out: str | Path, manifest: Manifest) -> tuple[Manifest, int]:
    """A campaign directory with tables but no manifest (deleted, or lost): the plan of the
    same options has the same seeds and networks, so each table is matched to its planned
    network by (data set, random_seed, the whole network: line 2 of the table) and that network
    keeps the table's ID; it is not trained again. A table that matches no planned network
    (another campaign's, a second copy of one network, unreadable) is refused with one line
    listing them: training next to it would leave a data set that is not this campaign's.
    Returns the manifest and how many tables it adopted."""
    out = Path(out)
    options = manifest.options
    keys = {(n.dataset, _network_key(n.spec(options)), n.repeat): i for i, n in enumerate(manifest.networks)}
    ids: list[str | None] = [None] * len(manifest.networks)
    tables, unmatched = [], []
    for dataset in options.datasets:
        directory = out / dataset_info(dataset).models_dir
        if directory.is_dir():
            tables += sorted(p for p in directory.glob("*.txt") if not p.name.startswith("."))
    for path in tables:
        try:
            table = read_table(path)
        except InputError:
            unmatched.append(path)
            continue
        i = keys.get((table.spec.dataset, _network_key(table.spec), _repeat_of(out, table.spec)))
        if i is None or ids[i] is not None or table.spec.ID != path.stem:
            unmatched.append(path)
            continue
        ids[i] = table.spec.ID
    if unmatched:
        names = ", ".join(str(p.relative_to(out)) for p in unmatched[:3]) + (", ..." if len(unmatched) > 3 else "")
        raise InputError(f"{out}: no {MANIFEST}, and {len(unmatched)} of the {len(tables)} tables here match no "
                         f"network that these options plan ({names}); run with the options that made them, or move "
                         f"them out of {out}, or use another --out")
    networks, first = [], ""
    for n, ID in zip(manifest.networks, ids):
        n = n if ID is None else dataclasses.replace(n, ID=ID)
        first = n.ID if n.repeat == 0 else first  # repeats name their network's (adopted) repeat 0
        networks.append(dataclasses.replace(n, network=first))
    return dataclasses.replace(manifest, networks=tuple(networks)), sum(ID is not None for ID in ids)


def _repeat_of(out: Path, spec: NetworkSpec) -> int:
    """The repeat a table is, from the record beside it (the table format has no room for it);
    0 without a readable record, as for a table made before repeats existed."""
    try:
        repeat = json.loads(record_path(out, spec).read_text(encoding="utf-8")).get("repeat", 0)
    except (OSError, ValueError, AttributeError):
        return 0
    return repeat if isinstance(repeat, int) and not isinstance(repeat, bool) else 0


def _show(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return "not set" if value is None else str(value)


def training_order(options: CampaignOptions, networks: Iterable[PlannedRun]) -> list[PlannedRun]:
    """Most expensive first (:meth:`PlannedRun.cost`), so that the pool does not end waiting
    on one giant network; ties in plan order."""
    return sorted(networks, key=lambda n: (-n.cost(options), options.datasets.index(n.dataset), n.index, n.repeat))
