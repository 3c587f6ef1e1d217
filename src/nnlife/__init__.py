"""nnlife: learning-curve data sets of random neural networks.

Sample random CNNs from the published taxonomy, train them, record each lifespan in the
published table format, analyse such data sets, and predict fitness from early curves.
"""

from importlib.metadata import PackageNotFoundError, version as _version

from .errors import DataError, InputError, SpecError, TableFormatError
from .sample import PlannedNetwork, plan, sample
from .shapes import analyse
from .spec import DATASETS, NetworkSpec, dataset_info
from .table import Curve, Table, read_table, read_tables, write_table

try:
    __version__ = _version("nnlife")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

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
