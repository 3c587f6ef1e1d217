"""nnlife: learning-curve data sets of random neural networks.

Sample random CNNs from the published taxonomy, train them, record each lifespan in the
published table format, analyse such data sets, and predict fitness from early curves.
"""

from . import kernels as _kernels
from .errors import DataError, InputError, SpecError, TableFormatError
from .sample import PlannedNetwork, plan, sample
from .shapes import analyse
from .spec import DATASETS, NetworkSpec, dataset_info
from .table import Curve, Table, read_table, read_tables, write_table

# Before any torch operation: NNLIFE_CPU_KERNELS=avx2 asks torch, oneDNN and MKL for their
# portable kernels (nnlife.kernels, docs/training.md).
_kernels.apply()


def __getattr__(name: str) -> str:
    # The version is looked up on first use: importlib.metadata (and the email, zipfile and
    # csv modules it imports) is a tenth of a `nnlife --help`'s start-up.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("nnlife")
        except PackageNotFoundError:  # running from a source tree without installation
            value = "0.0.0+unknown"
        globals()["__version__"] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DATASETS",
    "Curve",
    "DataError",
    "InputError",
    "NetworkSpec",
    "PlannedNetwork",
    "SpecError",
    "Table",
    "TableFormatError",
    "analyse",
    "dataset_info",
    "plan",
    "read_table",
    "read_tables",
    "sample",
    "write_table",
    "__version__",
]
