"""MODEL.EQL.LOSS "softmax_ce": the per-pixel softmax cross-entropy baseline of semantic
segmentation (EQLSemSegFPNHead), detectron2's numerics."""

from ...losses import SoftmaxCrossEntropy
from .registry import CLASSIFICATION_LOSS_REGISTRY, SEMSEG_HEAD, LossEntry


@CLASSIFICATION_LOSS_REGISTRY.register()
class SoftmaxCrossEntropyEntry(LossEntry):
    name = "softmax_ce"
    heads = (SEMSEG_HEAD,)
    summary = "per-pixel -log softmax(z)[y], mean over labelled pixels (detectron2's)"

    @classmethod
    def build(cls, cfg, num_classes):
        return SoftmaxCrossEntropy(num_classes)
