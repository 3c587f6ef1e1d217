from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
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
