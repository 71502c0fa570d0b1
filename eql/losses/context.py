"""What a classification loss is told about a batch besides its logits and targets.

A loss is called as ``loss(logits, gt_classes, context)``; :class:`LossContext` carries, explicitly,
what some losses need from outside the rows: the image each row comes from and that image's LVIS
label sets (sigmoid EQL's image-level rule), and the normaliser of the summed loss (RetinaNet's
running count of positive anchors).
"""

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Union

import torch


@dataclass
class ImageLabels:
    """The label sets of one image, in contiguous class ids.

    Attributes:
        positive (R_p,): classes annotated in the image.
        negative (R_n,): classes verified absent (LVIS ``neg_category_ids``).
        not_exhaustive (R_e,): classes whose instances may be partly unannotated
            (LVIS ``not_exhaustive_category_ids``).
    """

    positive: torch.Tensor
    negative: torch.Tensor
    not_exhaustive: torch.Tensor

    @classmethod
    def from_record(cls, record: Dict, device="cpu") -> "ImageLabels":
        """From a dataset record's ``image_labels`` dict (see eql.data.lvis_format)."""
        labels = record["image_labels"]

        def t(key):
            return torch.as_tensor(labels.get(key, []), dtype=torch.int64, device=device)

        return cls(t("positive"), t("negative"), t("not_exhaustive"))

    def to(self, device) -> "ImageLabels":
        return ImageLabels(
            self.positive.to(device), self.negative.to(device), self.not_exhaustive.to(device)
        )

    def mask(
        self, num_classes: int, sets: Sequence[str] = ("positive", "negative")
    ) -> torch.Tensor:
        """(num_classes,) bool: True for the classes in the union of ``sets``."""
        out = torch.zeros(num_classes, dtype=torch.bool, device=self.positive.device)
        for name in sets:
            out[getattr(self, name)] = True
        return out


def image_index_of_rows(num_per_image: Sequence[int], device=None) -> torch.Tensor:
    """(sum(num_per_image),) int64: the image of every row when the rows of image 0 come first,
    then those of image 1, ... (the order of detectron2's proposals)."""
    counts = torch.as_tensor(list(num_per_image), dtype=torch.int64, device=device)
    return torch.repeat_interleave(torch.arange(len(counts), device=device), counts)


@dataclass
class LossContext:
    """Per-call information for a classification loss.

    Attributes:
        image_index (N,) int64 or None: the image (index into ``image_labels``) of each row.
        image_labels (list[ImageLabels]) or None: the LVIS label sets of each image.
        normalizer: the summed loss is divided by it; None: the number of rows.
    """

    image_index: Optional[torch.Tensor] = None
    image_labels: Optional[List[ImageLabels]] = None
    normalizer: Optional[Union[float, torch.Tensor]] = None

    def image_class_mask(
        self, num_classes: int, sets: Sequence[str] = ("positive", "negative")
    ) -> Optional[torch.Tensor]:
        """(N, num_classes) bool: row i is the union of ``sets`` of its image; None without image
        labels."""
        if self.image_labels is None:
            return None
        if self.image_index is None:
            raise ValueError("LossContext: image_labels given without image_index")
        if self.image_index.numel() and int(self.image_index.max()) >= len(self.image_labels):
            raise ValueError(
                f"LossContext: image_index refers to image {int(self.image_index.max())}, but "
                f"only {len(self.image_labels)} images have labels"
            )
        if not self.image_labels:
            return torch.zeros(0, num_classes, dtype=torch.bool, device=self.image_index.device)
        per_image = torch.stack([labels.mask(num_classes, sets) for labels in self.image_labels])
        return per_image[self.image_index.to(per_image.device)]

    def normalizer_for(self, num_rows: int) -> Union[float, torch.Tensor]:
        """The divisor of the summed loss: ``normalizer``, or the number of rows (at least 1)."""
        if self.normalizer is not None:
            return self.normalizer
        return max(num_rows, 1)
