"""The reference pages in docs/ say what the code does: every fact that can be checked
mechanically is checked here against the code itself.

Facts are read from clearly marked places in the pages: a table or code block right after an
HTML comment ``<!-- name ... -->``, or any table whose first header cell is ``constant``.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import json
import math
import pkgutil
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SRC = ROOT / "src" / "nnlife"
FIXTURES = ROOT / "tests" / "fixtures" / "reference"
PAGES = ("README.md", "taxonomy.md", "training.md", "table-format.md", "records.md",
         "curve-files.md", "prediction.md", "reliability.md")


def module(name: str):
    # `import nnlife.sample` would give the function nnlife.sample, which shadows the module.
    return importlib.import_module(name)


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def _after_marker(text: str, marker: str) -> list[str]:
    """The lines after the ``<!-- marker ... -->`` comment (exactly one must exist)."""
    lines = text.split("\n")
    hits = [i for i, line in enumerate(lines) if re.fullmatch(rf"<!-- {re.escape(marker)}( .*)? -->", line.strip())]
    assert len(hits) == 1, f"expected one <!-- {marker} --> marker, found {len(hits)}"
    return lines[hits[0] + 1:]


def marker_args(text: str, marker: str) -> list[str]:
    for line in text.split("\n"):
        m = re.fullmatch(rf"<!-- {re.escape(marker)}(?: (.*))? -->", line.strip())
        if m:
            return (m.group(1) or "").split()
    raise AssertionError(f"no <!-- {marker} --> marker")


def _cells(line: str) -> list[str]:
    inner = line.strip()
    assert inner.startswith("|") and inner.endswith("|"), line
    return [c.strip() for c in inner[1:-1].split("|")]


def _unquote(cell: str) -> str:
    return cell[1:-1] if len(cell) >= 2 and cell[0] == "`" and cell[-1] == "`" else cell


def parse_table(lines: list[str]) -> list[dict[str, str]]:
    """A markdown table from its header row on: one dict per row, header -> cell text."""
    rows = []
    it = iter(lines)
    header = _cells(next(it))
    assert set(next(it).replace("|", "").replace(":", "").strip()) <= {"-", " "}, "no separator row"
    for line in it:
        if not line.strip().startswith("|"):
            break
        cells = _cells(line)
        assert len(cells) == len(header), line
        rows.append(dict(zip(header, cells)))
    return rows


def marked_table(name: str, marker: str) -> list[dict[str, str]]:
    return parse_table(_after_marker(page(name), marker))


def marked_block(name: str, marker: str) -> str:
    """The content of the fenced code block right after the marker."""
    lines = _after_marker(page(name), marker)
    assert lines[0].startswith("```"), f"<!-- {marker} --> must be followed by a code block"
    end = next(i for i in range(1, len(lines)) if lines[i].startswith("```"))
    return "\n".join(lines[1:end])


def numbers(cell: str) -> tuple[float, ...]:
    return tuple(float(v) for v in cell.split(","))


# --------------------------------------------------------------------------------------
# Links between the pages


def slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, flags=re.M)}


def test_every_page_is_in_the_index():
    index = page("README.md")
    for name in PAGES[1:]:
        assert f"]({name})" in index, f"docs/README.md does not list {name}"
    assert sorted(p.name for p in DOCS.glob("*.md")) == sorted(PAGES)


@pytest.mark.parametrize("name", PAGES)
def test_relative_links_resolve(name):
    text = re.sub(r"```.*?```", "", page(name), flags=re.S)
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    assert links or name in ("curve-files.md", "reliability.md")
    for target in links:
        if re.match(r"[a-z]+:", target):
            continue
        path_part, _, anchor = target.partition("#")
        path = (DOCS / path_part).resolve() if path_part else DOCS / name
        assert path.exists(), f"{name}: link {target!r} points to a missing file"
        if anchor:
            assert path.suffix == ".md", f"{name}: anchor into a non-markdown file: {target!r}"
            assert anchor in anchors(path), f"{name}: link {target!r}: no heading #{anchor} in {path.name}"


# --------------------------------------------------------------------------------------
# Constants: every `constant | value` table of every page


def resolve(dotted: str):
    """``package.module.NAME``; a name that moved into a submodule of the package is found there."""
    mod_name, _, attr = dotted.rpartition(".")
    mod = module(mod_name)
    if hasattr(mod, attr):
        return getattr(mod, attr)
    for info in pkgutil.walk_packages(getattr(mod, "__path__", []), mod_name + "."):
        sub = module(info.name)
        if hasattr(sub, attr):
            return getattr(sub, attr)
    raise AssertionError(f"{dotted}: no such constant")


def constant_rows() -> list[tuple[str, dict[str, str]]]:
    rows = []
    for name in PAGES:
        lines = page(name).split("\n")
        for i, line in enumerate(lines):
            if line.strip().startswith("|") and _cells(line)[0] == "constant" and not (i and lines[i - 1].startswith("|")):
                rows += [(name, r) for r in parse_table(lines[i:])]
    return rows


def test_constants_tables_exist():
    pages = {name for name, _ in constant_rows()}
    assert {"taxonomy.md", "prediction.md"} <= pages


@pytest.mark.parametrize("name,row", constant_rows(), ids=lambda v: v if isinstance(v, str) else _unquote(v["constant"]))
def test_constant_values(name, row):
    dotted, text = _unquote(row["constant"]), _unquote(row["value"])
    documented = eval(text, {"__builtins__": {}}, {"inf": math.inf})  # our own page: tuples, numbers, inf
    actual = resolve(dotted)
    assert actual == documented, f"{name}: {dotted} is {actual!r}, the page says {text}"
    assert type(actual) is type(documented) or isinstance(actual, float) == isinstance(documented, float)


# --------------------------------------------------------------------------------------
# taxonomy.md


def test_dataset_facts():
    spec = module("nnlife.spec")
    rows = marked_table("taxonomy.md", "datasets")
    assert [_unquote(r["data set (`dataset`)"]) for r in rows] == list(spec.DATASETS)
    for r in rows:
        info = spec.DATASETS[_unquote(r["data set (`dataset`)"])]
        got = (r["C (channels)"], r["side"], r["K (classes)"], r["training images"], r["test images"])
        assert tuple(int(v.replace(",", "")) for v in got) == (info.channels, info.side, info.classes, info.n_train, info.n_test)
    assert "531,131" in page("taxonomy.md") and spec.SVHN_EXTRA_IMAGES == 531_131


def test_draw_trace(monkeypatch):
    """The worked example lists the draws in the order the sampler makes them."""
    sample = module("nnlife.sample")
    dataset, seed, n_conv = marker_args(page("taxonomy.md"), "draw-trace")
    trace = []
    real_int, real_float = sample._Draw.int, sample._Draw.float

    def draw_int(self, low, high):
        value = real_int(self, low, high)
        trace.append(("int", low, high, value))
        return value

    def draw_float(self, low, high):
        value = real_float(self, low, high)
        trace.append(("float", low, high, value))
        return value

    monkeypatch.setattr(sample._Draw, "int", draw_int)
    monkeypatch.setattr(sample._Draw, "float", draw_float)
    sample.sample(dataset, int(seed), int(n_conv))
    documented = []
    for line in marked_block("taxonomy.md", "draw-trace").split("\n"):
        kind, low, high, value = line.split()[:4]
        cast = int if kind == "int" else float
        documented.append((kind, cast(low), cast(high), cast(value)))
    assert documented == trace


def test_sample_line():
    sample = module("nnlife.sample")
    dataset, seed, n_conv = marker_args(page("taxonomy.md"), "sample-line")
    line = " ".join(sample.sample(dataset, int(seed), int(n_conv)).to_row())
    assert marked_block("taxonomy.md", "sample-line") == line


def test_plan_example():
    sample = module("nnlife.sample")
    dataset, master = marker_args(page("taxonomy.md"), "plan")
    rows = marked_table("taxonomy.md", "plan")
    planned = sample.plan(dataset, len(rows), int(master))
    assert [(int(r["index"]), int(r["`random_seed`"]), int(r["conv layers"])) for r in rows] == [
        (p.index, p.random_seed, p.n_conv) for p in planned
    ]


def test_batch_sizes_that_pass():
    sample = module("nnlife.sample")
    rows = marked_table("taxonomy.md", "batch-sizes")
    sizes = range(sample.MIN_BATCH, sample.MAX_BATCH + 1)
    assert len(sizes) == 226
    for r in rows:
        n = int(r["`N_train`"].replace(",", ""))
        assert int(r["batch sizes that pass (of 226)"]) == sum(1 for b in sizes if (n // b) % 2 == 0), r


def test_block_codes():
    spec = module("nnlife.spec")
    text = page("taxonomy.md")
    for code in spec.BLOCK_CODES:
        layers = ", ".join(f"`{name}`" for name in spec.block_layers(code))
        assert re.search(rf"^\| {code} \| [^|]+ \| {re.escape(layers)} \|$", text, flags=re.M), code


# --------------------------------------------------------------------------------------
# training.md


def test_seeds_example():
    train = module("nnlife.train")
    (seed,) = marker_args(page("training.md"), "seeds")
    rows = marked_table("training.md", "seeds")
    seeds = dataclasses.asdict(train.derive_seeds(int(seed)))
    assert {_unquote(r["seed"]): int(r["value"]) for r in rows} == seeds


def test_precision_modes():
    train = module("nnlife.train")
    rows = marked_table("training.md", "precisions")
    assert tuple(_unquote(r["mode"]) for r in rows) == train.PRECISIONS


def test_data_files():
    data = module("nnlife.data")
    rows = marked_table("training.md", "data-files")
    documented = [(r["data set"], _unquote(r["file"]), _unquote(r["md5 of the file as distributed"])) for r in rows]
    files = [("FashionMNIST", f) for f in data.FASHION_MNIST_FILES.values()]
    files += [("CIFAR100", data.CIFAR100_FILE)] + [("SVHN", f) for f in data.SVHN_FILES.values()]
    assert documented == [(d, f.name, f.md5) for d, f in files]


# --------------------------------------------------------------------------------------
# table-format.md


def test_header_names():
    table = module("nnlife.table")
    rows = marked_table("table-format.md", "header")
    assert [int(r["#"]) for r in rows] == list(range(1, 29))
    assert tuple(_unquote(r["name"]) for r in rows) == table.HEADER_FIELDS
    assert table.N_FIELDS == 28


def test_example_is_the_fixture():
    (path,) = marker_args(page("table-format.md"), "example")
    block = marked_block("table-format.md", "example").split("\n")
    fixture = (ROOT / path).read_text(encoding="ascii").split("\n")
    assert block == fixture[: len(block)]
    assert all(line.endswith(" " * 24) for line in block[2:])


def test_error_examples_are_the_readers_messages(tmp_path):
    """Each documented error line is what the reader says for the edit it implies."""
    table = module("nnlife.table")
    errors = module("nnlife.errors")
    good = (FIXTURES / "2021_02_15_13_55_26_539263.txt").read_text(encoding="ascii")
    lines = good.split("\n")
    edits = {
        "field 'epochs'": "\n".join(lines[:2] + [lines[2].replace("1.0 ", "1.5 ", 1)] + lines[3:]),
        "field 'batch_size'": good.replace(" 25 ", " 25.0 ", 1),
        "field 'convKernels'": good.replace(" 24-2-2 ", " 99-2-2 ", 1),
        "field 'ID'": good.replace("14.91 ", "14.91 x", 1),
        "no newline": good[:-1],
    }
    documented = [line for line in page("table-format.md").split("\n") if line.startswith("nnlife describe: error: T.txt")]
    assert len(documented) == len(edits)
    for line in documented:
        key = next(k for k in edits if k in line)
        with pytest.raises(errors.TableFormatError) as err:
            table.parse_table(edits[key], "T.txt")
        assert line == f"nnlife describe: error: {err.value}"


# --------------------------------------------------------------------------------------
# records.md


def record_keys() -> list[str]:
    record = module("nnlife.record")
    # The file's keys in order: the record's own fields and its run facts' (read through).
    return ["format", "version"] + list(record.KEYS)


def test_record_keys():
    rows = marked_table("records.md", "record-keys")
    assert [_unquote(r["key"]) for r in rows] == record_keys()
    record = module("nnlife.record")
    assert record.RECORD_FORMAT in rows[0]["meaning"] and str(record.RECORD_VERSION) in rows[1]["meaning"]
    for status in record.STATUSES:
        assert f'"{status}"' in rows[[_unquote(r["key"]) for r in rows].index("status")]["meaning"]


def test_record_example_has_every_key():
    example = json.loads(marked_block("records.md", "record-example"))
    assert list(example) == record_keys()


def _dict_literals_with(keys: set[str]) -> list[list[str]]:
    """The key lists of every dict literal in nnlife's source whose keys include ``keys``."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Dict) and all(isinstance(k, ast.Constant) for k in node.keys):
                names = [k.value for k in node.keys]
                if keys <= set(names):
                    found.append(names)
    return found


def test_campaign_extra_keys():
    documented = [_unquote(r["key"]) for r in marked_table("records.md", "extra-keys")]
    found = _dict_literals_with({"campaign_seed", "plan_index", "attempt"})
    assert found, "no dict literal with the campaign's extra keys in src/nnlife"
    for keys in found:
        assert keys == documented


def test_early_stop_keys():
    documented = [_unquote(r["`early_stop` key"]) for r in marked_table("records.md", "early-stop-keys")]
    found = _dict_literals_with({"method", "target_epoch", "converged", "stop_epoch"})
    assert found, "no dict literal with the early-stop outcome's keys in src/nnlife"
    for keys in found:
        assert keys == documented


def test_manifest_keys(tmp_path):
    """The keys of a manifest the campaign code really writes."""
    campaign = module("nnlife.campaign")
    options = resolve("nnlife.campaign.CampaignOptions")(datasets=("FashionMNIST",), per_dataset=2, seed=1)
    manifest = resolve("nnlife.campaign.make_manifest")(options)
    resolve("nnlife.campaign.write_manifest")(tmp_path, manifest)
    obj = json.loads((tmp_path / campaign.MANIFEST).read_text())
    assert campaign.MANIFEST == "campaign.json"
    assert [_unquote(r["key"]) for r in marked_table("records.md", "manifest-keys")] == list(obj)
    assert [_unquote(r["`options` key"]) for r in marked_table("records.md", "manifest-options")] == list(obj["options"])
    assert [_unquote(r["`networks[]` key"]) for r in marked_table("records.md", "manifest-networks")] == list(obj["networks"][0])
    assert obj["format"] == "nnlife-campaign" and obj["version"] == 1


def test_journal_events():
    rows = marked_table("records.md", "journal-events")
    documented = {_unquote(r["`event`"]): {_unquote(k.strip()) for k in r["further keys"].split(",")} for r in rows}
    source = "\n".join(p.read_text(encoding="utf-8") for p in sorted(SRC.rglob("*.py")))
    literal_calls: dict[str, set[str]] = {}
    named_calls: list[set[str]] = []  # events whose name is passed in a variable
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "event" and node.args:
            names = {k.arg for k in node.keywords if k.arg is not None}
            if not names:
                continue
            if isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                literal_calls.setdefault(node.args[0].value, set()).update(names)
            else:
                named_calls.append(names)
    assert literal_calls, "no journal events found in src/nnlife"
    for event, keys in literal_calls.items():
        assert event in documented, f"journal event {event!r} is not documented"
        assert documented[event] == keys, event
    for event in documented:  # also those whose name is passed through a variable
        assert f'"{event}"' in source, f"documented journal event {event!r} does not occur in src/nnlife"
        if event not in literal_calls:
            assert documented[event] in named_calls, event


# --------------------------------------------------------------------------------------
# prediction.md


def test_families():
    curves = module("nnlife.curves")
    rows = marked_table("prediction.md", "families")
    assert [_unquote(r["family"]) for r in rows] == list(curves.FAMILIES)
    for r in rows:
        fam = curves.FAMILIES[_unquote(r["family"])]
        assert _unquote(r["formula"]) == fam.formula
        assert tuple(p.strip() for p in r["parameters"].split(",")) == fam.params
        assert numbers(r["lower bounds"]) == fam.lower
        assert numbers(r["upper bounds"]) == fam.upper


def test_documented_methods_exist():
    predict = module("nnlife.predict")
    headings = re.findall(r"^#+ (.+)$", page("prediction.md"), flags=re.M)
    named = {n for h in headings for n in re.findall(r"`([a-z_0-9]+)`", h)}
    named -= {"nnlife"}
    assert named and named <= set(predict.METHODS), named - set(predict.METHODS)
    assert set(module("nnlife.curves").FAMILIES) <= named


def test_outcome_examples():
    predict = module("nnlife.predict")
    table = module("nnlife.table")
    for r in marked_table("prediction.md", "outcomes"):
        ID, method = _unquote(r["table"]), _unquote(r["method"])
        o = predict.simulate(method, table.read_table(FIXTURES / f"{ID}.txt"), 20.0)
        got = ("yes" if o.converged else "no", f"{o.stop_epoch:.1f}", f"{o.predicted:.2f}", f"{o.actual:.2f}")
        assert got == (r["converged"], r["stop epoch"], r["predicted"], r["actual"]), (ID, method)


def test_evaluate_columns():
    """The documented columns of `nnlife evaluate` are those it prints."""
    predict = module("nnlife.predict")
    header = predict.format_scores([]).split("\n")[0]
    printed = [c.strip() for c in header.strip("|").split("|")][1:]
    documented = [r["column"] for r in parse_table(_table_after(page("prediction.md"), "| column | measure |"))]
    assert [c.lower() for c in printed] == [c.lower() for c in documented]
    assert "ID, method, target_epoch, converged, stop_epoch,\npredicted, actual, uncertainty" in page("prediction.md")
    assert predict.OUTCOME_COLUMNS == ("ID", "method", "target_epoch", "converged", "stop_epoch", "predicted", "actual", "uncertainty")


def _table_after(text: str, header: str) -> list[str]:
    lines = text.split("\n")
    return lines[lines.index(header):]
