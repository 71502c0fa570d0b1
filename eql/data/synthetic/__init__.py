"""Generated long-tailed data: the LVIS-format detection set (shapes x colours x textures as
classes, LVIS's frequency profile, federated labels) and the segmentation set."""

from .lvis import generate_synthetic_lvis
from .semseg import generate_synthetic_semseg, register_synthetic_semseg

__all__ = ["generate_synthetic_lvis", "generate_synthetic_semseg", "register_synthetic_semseg"]
