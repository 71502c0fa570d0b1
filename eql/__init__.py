"""eql: Equalization Loss for long-tailed detection in detectron2.

Importing the package registers its meta-architectures, ROI heads and datasets.
"""

from . import data, model_zoo, modeling  # noqa: F401  (registration, eql:// paths)
from .config import add_eql_config

__version__ = "0.1.0"
__all__ = ["add_eql_config"]
