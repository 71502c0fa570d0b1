"""Image-level label sets of LVIS (federated annotation), carried from the data to the losses."""

from typing import Dict, List, Optional

from ..losses.context import ImageLabels


def image_labels_from_inputs(batched_inputs: List[Dict], device) -> Optional[List[ImageLabels]]:
    """Per-image :class:`ImageLabels` of a batch, or None when the records carry none."""
    if not batched_inputs or any("image_labels" not in x for x in batched_inputs):
        return None
    return [ImageLabels.from_record(x, device) for x in batched_inputs]
