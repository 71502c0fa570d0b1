# eql's Cascade Mask R-CNN R-50-FPN for LVIS v1: three stages (IoU 0.5, 0.6, 0.7), each box
# predictor with its own copy of the loss, as configs/LVISv1-InstanceSegmentation/
# Base-LVISv1-Cascade-Mask-RCNN.yaml.
from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec
from detectron2.modeling.box_regression import Box2BoxTransform
from detectron2.modeling.matcher import Matcher
from detectron2.modeling.roi_heads import FastRCNNConvFCHead

from eql.engine.lazy import classification_loss
from eql.modeling.fast_rcnn import EQLFastRCNNOutputLayers
from eql.modeling.roi_heads import EQLCascadeROIHeads

from .mask_rcnn_fpn import model

for _key in ("box_head", "box_predictor", "proposal_matcher"):
    model.roi_heads.pop(_key)
model.proposal_generator.post_nms_topk = (2000, 1000)
model.roi_heads.update(
    _target_=EQLCascadeROIHeads,
    box_heads=[
        L(FastRCNNConvFCHead)(
            input_shape=ShapeSpec(channels=256, height=7, width=7),
            conv_dims=[],
            fc_dims=[1024, 1024],
        )
        for _ in range(3)
    ],
    box_predictors=[
        L(EQLFastRCNNOutputLayers)(
            input_shape=ShapeSpec(channels=1024),
            test_score_thresh=0.0001,
            test_topk_per_image=300,
            box2box_transform=L(Box2BoxTransform)(weights=(w1, w1, w2, w2)),
            cls_agnostic_bbox_reg=True,
            num_classes="${...num_classes}",
            prior_prob=0.001,
            cls_loss=L(classification_loss)(
                name="sigmoid_ce",
                num_classes="${....num_classes}",
                train_datasets=("lvis_v1_train",),
            ),
        )
        for (w1, w2) in [(10, 5), (20, 10), (30, 15)]
    ],
    proposal_matchers=[
        L(Matcher)(thresholds=[th], labels=[0, 1], allow_low_quality_matches=False)
        for th in [0.5, 0.6, 0.7]
    ],
)
