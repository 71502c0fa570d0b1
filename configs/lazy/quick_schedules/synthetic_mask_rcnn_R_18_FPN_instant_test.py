# A few CPU iterations of a small Mask R-CNN R-18-FPN with EQL on eql's synthetic set, as a
# LazyConfig (for tests: train, checkpoint, resume, evaluate); the model of
# configs/quick_schedules/synthetic_mask_rcnn_R_18_FPN_instant_test.yaml. Set
# datasets.synthetic.root to a set made by eql.data.generate_synthetic_lvis.
from detectron2.config import LazyCall as L
from detectron2.data import transforms as T
from detectron2.layers import ShapeSpec
from fvcore.common.param_scheduler import MultiStepParamScheduler

from ..common.lvis_v1 import dataloader, optimizer, train
from ..common.mask_rcnn_fpn import model

datasets = dict(synthetic=dict(root="", prefix="synthetic_lvis"))

bottom_up = model.backbone.bottom_up
bottom_up.stem.norm = "BN"
bottom_up.stages.pop("stride_in_1x1")  # basic blocks have no 1x1 conv
bottom_up.stages.update(depth=18, norm="BN")
bottom_up.freeze_at = 0
model.backbone.out_channels = 128
model.pixel_std = [57.375, 57.120, 58.395]
rpn = model.proposal_generator
rpn.head.in_channels = 128
rpn.anchor_generator.sizes = [[16], [32], [64], [128], [256]]
rpn.batch_size_per_image = 128
rpn.pre_nms_topk = (1000, 500)
rpn.post_nms_topk = (256, 100)
heads = model.roi_heads
heads.num_classes = 24
heads.batch_size_per_image = 64
heads.box_pooler.sampling_ratio = 1  # torchvision's CPU ROIAlign backward is a bottleneck
heads.box_head.input_shape = ShapeSpec(channels=128, height=7, width=7)
heads.box_head.fc_dims = [256, 256]
heads.box_predictor.input_shape = ShapeSpec(channels=256)
heads.box_predictor.test_topk_per_image = 100
heads.box_predictor.cls_loss.name = "eql"
heads.box_predictor.cls_loss.train_datasets = ("synthetic_lvis_train",)
heads.box_predictor.cls_loss.keys = {"MODEL.EQL.EQL.LAMBDA": 0.11}
heads.mask_pooler.sampling_ratio = 1
heads.mask_head.input_shape = ShapeSpec(channels=128, width=14, height=14)
heads.mask_head.conv_dims = [128, 128, 128]

dataloader.train.dataset.names = ("synthetic_lvis_train",)
dataloader.train.mapper.augmentations = [
    L(T.ResizeShortestEdge)(short_edge_length=(128,), max_size=128, sample_style="choice"),
    L(T.RandomFlip)(horizontal=True),
]
dataloader.train.total_batch_size = 2
dataloader.train.num_workers = 0
dataloader.test.dataset.names = ("synthetic_lvis_val",)
dataloader.test.mapper.augmentations = [
    L(T.ResizeShortestEdge)(short_edge_length=128, max_size=128)
]
dataloader.test.num_workers = 0
dataloader.evaluator.dataset_name = "synthetic_lvis_val"
dataloader.evaluator.max_dets_per_image = 300

train.update(
    output_dir="./output/lazy_instant_test",
    init_checkpoint="",
    max_iter=4,
    checkpointer=dict(period=2),
    device="cpu",
    seed=0,
)
optimizer.lr = 0.01
lr_multiplier = L(MultiStepParamScheduler)(values=[1.0, 0.1], milestones=[3], num_updates=4)
