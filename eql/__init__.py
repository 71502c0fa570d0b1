"""eql: Equalization Loss for long-tailed detection in detectron2.

Where detectron2 is installed, importing the package registers its meta-architectures, heads,
datasets and the ``eql://`` checkpoint handler, and ``eql.add_eql_config`` is its config entry.
Without detectron2 the pure-torch parts work alone: ``eql.losses`` (every loss) and
``eql.classification`` import torch and numpy only; the detectron2 parts raise an ImportError
naming detectron2 when asked for.
"""

import importlib.util

__version__ = "0.1.0"
__all__ = ["add_eql_config", "HAS_DETECTRON2"]


def _detectron2_installed() -> bool:
    try:
        return importlib.util.find_spec("detectron2") is not None
    except (ImportError, ValueError):  # a broken or blocked installation counts as none
        return False


HAS_DETECTRON2 = _detectron2_installed()

if HAS_DETECTRON2:
    from . import data, model_zoo, modeling  # noqa: F401  (registration, eql:// paths)
    from .config import add_eql_config
else:

    def __getattr__(name: str):
        if name in ("add_eql_config", "config", "data", "evaluation", "model_zoo", "modeling"):
            raise ImportError(
                f"eql.{name} needs detectron2, which is not installed here; without it, "
                "eql.losses and eql.classification work (pure torch)"
            )
        raise AttributeError(f"module 'eql' has no attribute {name!r}")
