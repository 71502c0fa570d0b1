"""Image-level label sets of LVIS (federated annotation), carried from the data to the ROI heads."""

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

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


def image_labels_from_inputs(batched_inputs: List[Dict], device) -> Optional[List[ImageLabels]]:
    """Per-image :class:`ImageLabels` of a batch, or None when the records carry none."""
    if not batched_inputs or any("image_labels" not in x for x in batched_inputs):
        return None
    return [ImageLabels.from_record(x, device) for x in batched_inputs]


def proposal_class_mask(
    image_labels: List[ImageLabels],
    num_proposals: Sequence[int],
    num_classes: int,
    sets: Sequence[str] = ("positive", "negative"),
) -> torch.Tensor:
    """(sum(num_proposals), num_classes) bool: row i is the mask of the image of proposal i."""
    per_image = torch.stack([labels.mask(num_classes, sets) for labels in image_labels])
    counts = torch.as_tensor(list(num_proposals), device=per_image.device)
    return per_image.repeat_interleave(counts, dim=0)


class ImageLabelsROIHeadsMixin:
    """For ROI heads whose ``forward`` takes ``image_labels`` (list[ImageLabels], one per image).

    During the call, every box predictor of the heads sees them as ``predictor.image_labels`` (None
    outside a training call), so that ``losses(predictions, proposals)`` keeps detectron2's
    signature, also in every stage of a cascade.
    """

    accepts_image_labels = True

    def box_predictors(self) -> List[torch.nn.Module]:
        predictor = self.box_predictor
        return list(predictor) if isinstance(predictor, torch.nn.ModuleList) else [predictor]

    @contextmanager
    def image_labels_in_predictors(self, image_labels: Optional[List[ImageLabels]]):
        predictors = self.box_predictors()
        for p in predictors:
            p.image_labels = image_labels
        try:
            yield
        finally:
            for p in predictors:
                p.image_labels = None

    def forward(self, images, features, proposals, targets=None, image_labels=None):
        with self.image_labels_in_predictors(image_labels if self.training else None):
            return super().forward(images, features, proposals, targets)
