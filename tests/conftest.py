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
