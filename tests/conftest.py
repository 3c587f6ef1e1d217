from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
BENCHMARKS = Path(__file__).parent.parent / "benchmarks"
REFERENCE = FIXTURES / "reference"
REFERENCE_IDS = (
    "2021_02_15_13_55_26_539263",
    "2021_02_15_13_56_59_917381",
    "2021_02_15_14_01_32_105932",
)


@pytest.fixture
def reference_dir() -> Path:
    return REFERENCE


@pytest.fixture
def reference_paths() -> list[Path]:
    return [REFERENCE / f"{i}.txt" for i in REFERENCE_IDS]


@pytest.fixture(scope="session")
def fashion():
    """The real FashionMNIST (installed copy, never downloaded), loaded once on the CPU."""
    from nnlife import data

    return data.load_data("FashionMNIST", download=False)


@pytest.fixture
def cli():
    """``cli(*argv)``: run the command line in this process and return its exit status
    (argparse's own errors included)."""
    from nnlife.cli import main

    def run(*argv) -> int:
        try:
            return main([str(a) for a in argv])
        except SystemExit as exit:
            return exit.code

    return run


@pytest.fixture(scope="session")
def benchmark_module():
    """``load(name)``: the script ``benchmarks/NAME.py`` imported as the module ``NAME`` (and
    registered under that name, so that worker processes find the classes it defines)."""
    import importlib.util
    import sys

    def load(name: str):
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    return load
