"""MODEL.EQL.LOSS "sigmoid_ce": the sigmoid cross-entropy baseline of the ROI heads."""

from ...losses import SigmoidCrossEntropy
from .federated import federated_sampler_from_config
from .registry import CLASSIFICATION_LOSS_REGISTRY, ROI_HEAD, LossEntry


@CLASSIFICATION_LOSS_REGISTRY.register()
class SigmoidCrossEntropyEntry(LossEntry):
    name = "sigmoid_ce"
    heads = (ROI_HEAD,)
    federated = True
    config_names = ("sigmoid", "fed")
    summary = "sum_ij BCE(z_ij, y_ij) / N over the C class logits"

    @classmethod
    def build(cls, cfg, num_classes):
        loss = SigmoidCrossEntropy(num_classes)
        sampler = federated_sampler_from_config(cfg, num_classes)
        return loss.use_federated(sampler) if sampler is not None else loss
