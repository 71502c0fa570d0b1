"""A GeneralizedRCNN that hands each image's LVIS label sets to the ROI heads."""

from typing import Dict, List

from detectron2.modeling import META_ARCH_REGISTRY, GeneralizedRCNN
from detectron2.utils.events import get_event_storage

from .image_labels import image_labels_from_inputs


@META_ARCH_REGISTRY.register()
class EQLGeneralizedRCNN(GeneralizedRCNN):
    """GeneralizedRCNN whose training forward also passes ``image_labels`` (list[ImageLabels]) to
    ROI heads that accept them (``roi_heads.accepts_image_labels``); other ROI heads are called as
    in detectron2. Inference is detectron2's."""

    def forward(self, batched_inputs: List[Dict]):
        if not self.training:
            return self.inference(batched_inputs)
        if not getattr(self.roi_heads, "accepts_image_labels", False):
            return super().forward(batched_inputs)

        images = self.preprocess_image(batched_inputs)
        gt_instances = [x["instances"].to(self.device) for x in batched_inputs]
        image_labels = image_labels_from_inputs(batched_inputs, self.device)
        features = self.backbone(images.tensor)
        if self.proposal_generator is not None:
            proposals, proposal_losses = self.proposal_generator(images, features, gt_instances)
        else:
            proposals = [x["proposals"].to(self.device) for x in batched_inputs]
            proposal_losses = {}
        _, detector_losses = self.roi_heads(
            images, features, proposals, gt_instances, image_labels=image_labels
        )
        if self.vis_period > 0 and get_event_storage().iter % self.vis_period == 0:
            self.visualize_training(batched_inputs, proposals)
        return {**detector_losses, **proposal_losses}
