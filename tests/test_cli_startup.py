"""The command line starts fast: building the parser and running a command import only what
they use (no torch, matplotlib, scipy or ray for `load`, and no pandas unless a DataFrame is
asked for; not even numpy for `sample` and `--help`; importlib.metadata only for `--version`)."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from nnlife.cli import COMMAND_MODULES, COMMANDS

REFERENCE = Path(__file__).parent / "fixtures" / "reference"
HEAVY = ("torch", "matplotlib", "scipy", "ray", "sklearn", "lightgbm")


def test_commands_map_to_the_modules_that_register_them():
    for name in COMMAND_MODULES:
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers(dest="command")
        importlib.import_module(f"nnlife.cli.{name}").register(sub)
        assert sorted(sub.choices) == sorted(c for c, m in COMMANDS.items() if m == name)


def imported_by(argv: list[str], full: bool = False) -> set[str]:
    """The top-level packages a command imported (every module's full name with ``full``)."""
    name = "m" if full else "m.split('.')[0]"
    code = (
        "import sys\n"
        "from nnlife.cli import main\n"
        f"status = main({argv!r})\n"
        f"print(' '.join(sorted({name} for m in sys.modules)))\n"
        "sys.exit(status)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split()[-1:] and proc.stdout.splitlines()[-1].split())


@pytest.mark.parametrize(
    "argv,also_not",
    [
        (["load", str(REFERENCE / "2021_02_15_13_55_26_539263.txt")], ("pandas",)),
        (["load", str(REFERENCE), "--workers", "2"], ("pandas",)),
        (["sample", "--dataset", "SVHN", "--count", "1", "--seed", "1"], ("pandas", "pyarrow", "numpy")),
    ],
)
def test_commands_import_only_what_they_use(argv, also_not):
    modules = imported_by(argv)
    assert "nnlife" in modules
    assert not modules & set(HEAVY + also_not), modules & set(HEAVY + also_not)


def test_help_imports_no_heavy_module():
    code = "import sys\nfrom nnlife.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n" \
           "print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    modules = set(proc.stdout.splitlines()[-1].split())
    assert "load" in proc.stdout and "campaign" in proc.stdout  # every command is listed
    assert not modules & set(HEAVY + ("pandas", "pyarrow", "numpy")), modules & set(HEAVY + ("pandas", "pyarrow", "numpy"))


def test_prediction_help_and_defaults_come_from_the_library(capsys, monkeypatch):
    """The prediction commands' parser imports no nnlife.predict: their help names its
    methods and defaults when shown, and an option left out is its default when run."""
    from nnlife import predict
    from nnlife.cli import make_parser
    from nnlife.cli.prediction import _defaults

    monkeypatch.setenv("COLUMNS", "1000")  # one line per option, so no name is broken
    parser = make_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["evaluate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"(default: all: {','.join(predict.METHODS)})" in text and f"one of {', '.join(predict.METHODS)};" in text
    assert f"(default {predict.DEFAULT_TARGET_EPOCH:g})" in text and f"(default {predict.DEFAULT_BUDGET:g})" in text
    args = _defaults(parser.parse_args(["evaluate", "x"]))
    assert (args.methods, args.target_epoch, args.N, args.threshold, args.level, args.budget) == (
        list(predict.METHODS), predict.DEFAULT_TARGET_EPOCH, predict.DEFAULT_N, predict.DEFAULT_THRESHOLD,
        predict.DEFAULT_LEVEL, predict.DEFAULT_BUDGET)
    args = _defaults(parser.parse_args(["predict", "x", "--method", "last", "--N", "5"]))
    assert args.N == 5 and args.level == predict.DEFAULT_LEVEL


def test_load_csv_imports_no_pandas(tmp_path):
    out = tmp_path / "summary.csv"
    modules = imported_by(["load", str(REFERENCE), "--csv", str(out)])
    assert "pandas" not in modules  # the CSV is written from the summary columns
    assert out.read_text().count("\n") == 4  # the header and the three networks


@pytest.mark.parametrize("argv", [["load", str(REFERENCE / "2021_02_15_13_55_26_539263.txt")], ["load", str(REFERENCE)]])
def test_load_does_not_look_up_the_version(argv):
    assert "importlib.metadata" not in imported_by(argv, full=True)


def test_version_is_looked_up_when_asked():
    from nnlife import __version__

    proc = subprocess.run([sys.executable, "-m", "nnlife", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout == f"nnlife {__version__}\n" and proc.stderr == ""


@pytest.mark.parametrize("workers", ["1", "2"])
def test_load_of_tables_imports_no_pyarrow_compute(tmp_path, workers):
    """pyarrow.compute builds a wrapper per compute function on import: the load path calls
    Arrow's functions without it, in this process and in the workers."""
    code = (
        "import sys\n"
        "from nnlife.analysis import _read_chunk, load\n"
        f"data = load({str(REFERENCE)!r}, workers={workers}, chunk_size=1)\n"
        f"data.write_summary_csv({str(tmp_path / 's.csv')!r})\n"
        "print(sorted(_read_chunk([data.networks['path'][0].as_py()], False)), 'pyarrow.compute' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-1] == "False"


def test_load_of_a_parquet_file_imports_no_pandas(tmp_path):
    """pyarrow's read_table goes through pyarrow.dataset, which imports pandas: load reads a
    packed file without it."""
    from nnlife.analysis import pack

    packed = tmp_path / "reference.parquet"
    pack(REFERENCE, packed)
    modules = imported_by(["load", str(packed)])
    assert "pyarrow" in modules and not modules & set(HEAVY + ("pandas",)), modules & set(HEAVY + ("pandas",))
