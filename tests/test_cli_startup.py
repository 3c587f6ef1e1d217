"""The command line starts fast: building the parser and running a command import only what
they use (no torch, matplotlib, scipy or ray for `load`; not even numpy for `sample`)."""

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


def imported_by(argv: list[str]) -> set[str]:
    code = (
        "import sys\n"
        "from nnlife.cli import main\n"
        f"status = main({argv!r})\n"
        "print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))\n"
        "sys.exit(status)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split()[-1:] and proc.stdout.splitlines()[-1].split())


@pytest.mark.parametrize(
    "argv,also_not",
    [
        (["load", str(REFERENCE / "2021_02_15_13_55_26_539263.txt")], ()),
        (["load", str(REFERENCE), "--workers", "2"], ()),
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
    assert not modules & set(HEAVY + ("pandas", "pyarrow")), modules & set(HEAVY)
