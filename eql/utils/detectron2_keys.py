"""The numeric keys of detectron2's config that an eql run depends on, with the values each may
take and why (eql/utils/config_keys.py). Checked at start-up with eql's own keys
(eql/config.py: ``validate_eql_config``), so that NaN, infinity, 0 or a negative count is refused
naming the key instead of ending in a traceback, a hang or a meaningless run.

``NOT_READ`` lists the numeric keys of detectron2's default config that no eql run reads, with
the reason; tests/test_config_keys.py fails when a numeric key is in neither.
"""

from ..errors import ConfigError
from .config_keys import Key, config_value

PROBABILITY = "[0, 1]"
POSITIVE = "> 0"
COUNT = ">= 1"
NONNEGATIVE = ">= 0"
IOU_LABELS = (-1, 0, 1)
RESNET_DEPTHS = (18, 34, 50, 101, 152)

DETECTRON2_KEYS = (
    # ---- model input and backbone
    Key("MODEL.PIXEL_MEAN", float, "any", "per-channel mean subtracted from images", seq=1),
    Key("MODEL.PIXEL_STD", float, POSITIVE, "per-channel std images are divided by", seq=1),
    Key("MODEL.BACKBONE.FREEZE_AT", int, "[0, 5]", "stages frozen: 0 none .. 5 all of ResNet"),
    Key("MODEL.FPN.OUT_CHANNELS", int, COUNT, "channels of every FPN level"),
    Key("MODEL.RESNETS.DEPTH", int, RESNET_DEPTHS, "the ResNet depths detectron2 builds"),
    Key("MODEL.RESNETS.NUM_GROUPS", int, COUNT, "groups of the 3x3 convolutions (ResNeXt)"),
    Key("MODEL.RESNETS.WIDTH_PER_GROUP", int, COUNT, "channels per group"),
    Key("MODEL.RESNETS.RES5_DILATION", int, (1, 2), "dilation of the last stage"),
    Key("MODEL.RESNETS.RES2_OUT_CHANNELS", int, COUNT, "output channels of stage 2"),
    Key("MODEL.RESNETS.STEM_OUT_CHANNELS", int, COUNT, "output channels of the stem"),
    Key("MODEL.RESNETS.DEFORM_NUM_GROUPS", int, COUNT, "groups of deformable convolutions"),
    # ---- anchors and RPN
    Key("MODEL.PROPOSAL_GENERATOR.MIN_SIZE", float, NONNEGATIVE, "smallest proposal side, pixels"),
    Key("MODEL.ANCHOR_GENERATOR.SIZES", float, POSITIVE, "anchor sizes, pixels", seq=2),
    Key("MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS", float, POSITIVE, "height / width", seq=2),
    Key("MODEL.ANCHOR_GENERATOR.ANGLES", float, "any", "rotated anchors' angles", seq=2),
    Key("MODEL.ANCHOR_GENERATOR.OFFSET", float, "[0, 1)", "anchor centre offset in a stride"),
    Key(
        "MODEL.RPN.BOUNDARY_THRESH",
        int,
        NONNEGATIVE,
        "pixels an anchor may cross the image border",
        also=((-1, "no limit"),),
    ),
    Key("MODEL.RPN.IOU_THRESHOLDS", float, "(0, 1]", "anchor matching IoU", seq=1),
    Key("MODEL.RPN.IOU_LABELS", int, IOU_LABELS, "label of each IoU interval", seq=1),
    Key("MODEL.RPN.BATCH_SIZE_PER_IMAGE", int, COUNT, "anchors sampled per image"),
    Key("MODEL.RPN.POSITIVE_FRACTION", float, "(0, 1]", "share of positive anchors sampled"),
    Key("MODEL.RPN.BBOX_REG_LOSS_WEIGHT", float, NONNEGATIVE, "weight of a loss term"),
    Key("MODEL.RPN.BBOX_REG_WEIGHTS", float, POSITIVE, "box deltas are divided by them", seq=1),
    Key("MODEL.RPN.SMOOTH_L1_BETA", float, NONNEGATIVE, "0: L1"),
    Key("MODEL.RPN.LOSS_WEIGHT", float, NONNEGATIVE, "weight of a loss term"),
    Key("MODEL.RPN.PRE_NMS_TOPK_TRAIN", int, COUNT, "proposals kept before NMS"),
    Key("MODEL.RPN.PRE_NMS_TOPK_TEST", int, COUNT, "proposals kept before NMS"),
    Key("MODEL.RPN.POST_NMS_TOPK_TRAIN", int, COUNT, "proposals kept after NMS"),
    Key("MODEL.RPN.POST_NMS_TOPK_TEST", int, COUNT, "proposals kept after NMS"),
    Key("MODEL.RPN.NMS_THRESH", float, PROBABILITY, "an IoU"),
    Key(
        "MODEL.RPN.CONV_DIMS",
        int,
        COUNT,
        "channels of the RPN head's convolutions",
        also=((-1, "the input's channels"),),
        seq=1,
    ),
    # ---- ROI heads
    Key("MODEL.ROI_HEADS.NUM_CLASSES", int, COUNT, "classes of the detector"),
    Key("MODEL.ROI_HEADS.IOU_THRESHOLDS", float, "(0, 1]", "proposal matching IoU", seq=1),
    Key("MODEL.ROI_HEADS.IOU_LABELS", int, IOU_LABELS, "label of each IoU interval", seq=1),
    Key("MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", int, COUNT, "proposals sampled per image"),
    Key("MODEL.ROI_HEADS.POSITIVE_FRACTION", float, "(0, 1]", "share of foreground proposals"),
    Key("MODEL.ROI_HEADS.SCORE_THRESH_TEST", float, PROBABILITY, "a score"),
    Key("MODEL.ROI_HEADS.NMS_THRESH_TEST", float, PROBABILITY, "an IoU"),
    Key("MODEL.ROI_BOX_HEAD.BBOX_REG_LOSS_WEIGHT", float, NONNEGATIVE, "weight of a loss term"),
    Key(
        "MODEL.ROI_BOX_HEAD.BBOX_REG_WEIGHTS",
        float,
        POSITIVE,
        "box deltas are divided by them",
        seq=1,
        length=4,
    ),
    Key("MODEL.ROI_BOX_HEAD.SMOOTH_L1_BETA", float, NONNEGATIVE, "0: L1"),
    Key("MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION", int, COUNT, "pooled feature side"),
    Key("MODEL.ROI_BOX_HEAD.POOLER_SAMPLING_RATIO", int, NONNEGATIVE, "0: adaptive"),
    Key("MODEL.ROI_BOX_HEAD.NUM_FC", int, NONNEGATIVE, "fully connected layers of the box head"),
    Key("MODEL.ROI_BOX_HEAD.FC_DIM", int, COUNT, "their width"),
    Key("MODEL.ROI_BOX_HEAD.NUM_CONV", int, NONNEGATIVE, "convolutions of the box head"),
    Key("MODEL.ROI_BOX_HEAD.CONV_DIM", int, COUNT, "their channels"),
    Key(
        "MODEL.ROI_BOX_HEAD.FED_LOSS_FREQ_WEIGHT_POWER",
        float,
        NONNEGATIVE,
        "negatives sampled with weight image_count ^ power",
    ),
    Key("MODEL.ROI_BOX_HEAD.FED_LOSS_NUM_CLASSES", int, COUNT, "classes per federated batch"),
    Key(
        "MODEL.ROI_BOX_CASCADE_HEAD.BBOX_REG_WEIGHTS",
        float,
        POSITIVE,
        "box deltas of each stage are divided by them",
        seq=2,
    ),
    Key("MODEL.ROI_BOX_CASCADE_HEAD.IOUS", float, "(0, 1]", "matching IoU per stage", seq=1),
    Key("MODEL.ROI_MASK_HEAD.POOLER_RESOLUTION", int, COUNT, "pooled feature side"),
    Key("MODEL.ROI_MASK_HEAD.POOLER_SAMPLING_RATIO", int, NONNEGATIVE, "0: adaptive"),
    Key("MODEL.ROI_MASK_HEAD.NUM_CONV", int, NONNEGATIVE, "convolutions of the mask head"),
    Key("MODEL.ROI_MASK_HEAD.CONV_DIM", int, COUNT, "their channels"),
    Key("MODEL.ROI_KEYPOINT_HEAD.POOLER_RESOLUTION", int, COUNT, "pooled feature side"),
    Key("MODEL.ROI_KEYPOINT_HEAD.POOLER_SAMPLING_RATIO", int, NONNEGATIVE, "0: adaptive"),
    Key("MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS", int, COUNT, "keypoint head channels", seq=1),
    Key("MODEL.ROI_KEYPOINT_HEAD.NUM_KEYPOINTS", int, COUNT, "keypoints per object"),
    Key("MODEL.ROI_KEYPOINT_HEAD.MIN_KEYPOINTS_PER_IMAGE", int, NONNEGATIVE, "keypoints needed"),
    Key("MODEL.ROI_KEYPOINT_HEAD.LOSS_WEIGHT", float, NONNEGATIVE, "weight of a loss term"),
    # ---- RetinaNet
    Key("MODEL.RETINANET.NUM_CLASSES", int, COUNT, "classes of the detector"),
    Key("MODEL.RETINANET.NUM_CONVS", int, COUNT, "convolutions of each subnet"),
    Key("MODEL.RETINANET.IOU_THRESHOLDS", float, "(0, 1]", "anchor matching IoU", seq=1),
    Key("MODEL.RETINANET.IOU_LABELS", int, IOU_LABELS, "label of each IoU interval", seq=1),
    Key("MODEL.RETINANET.PRIOR_PROB", float, "(0, 1)", "initial class probability"),
    Key("MODEL.RETINANET.SCORE_THRESH_TEST", float, PROBABILITY, "a score"),
    Key("MODEL.RETINANET.TOPK_CANDIDATES_TEST", int, COUNT, "candidates per level before NMS"),
    Key("MODEL.RETINANET.NMS_THRESH_TEST", float, PROBABILITY, "an IoU"),
    Key(
        "MODEL.RETINANET.BBOX_REG_WEIGHTS",
        float,
        POSITIVE,
        "box deltas are divided by them",
        seq=1,
        length=4,
    ),
    Key("MODEL.RETINANET.FOCAL_LOSS_GAMMA", float, NONNEGATIVE, "focusing exponent"),
    Key(
        "MODEL.RETINANET.FOCAL_LOSS_ALPHA",
        float,
        "(0, 1]",
        "weight of positives (1 - alpha: negatives); 0 would ignore every object",
        also=((-1.0, "no weighting"),),
    ),
    Key("MODEL.RETINANET.SMOOTH_L1_LOSS_BETA", float, NONNEGATIVE, "0: L1"),
    # ---- semantic segmentation
    Key("MODEL.SEM_SEG_HEAD.IGNORE_VALUE", int, "any", "label of unlabelled pixels"),
    Key("MODEL.SEM_SEG_HEAD.NUM_CLASSES", int, COUNT, "classes of the segmentation head"),
    Key("MODEL.SEM_SEG_HEAD.CONVS_DIM", int, COUNT, "channels of the head"),
    Key("MODEL.SEM_SEG_HEAD.COMMON_STRIDE", int, COUNT, "output stride"),
    Key("MODEL.SEM_SEG_HEAD.LOSS_WEIGHT", float, NONNEGATIVE, "weight of a loss term"),
    Key("MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT", float, NONNEGATIVE, "weight of a loss term"),
    Key("MODEL.PANOPTIC_FPN.COMBINE.OVERLAP_THRESH", float, PROBABILITY, "a mask overlap"),
    Key("MODEL.PANOPTIC_FPN.COMBINE.STUFF_AREA_LIMIT", int, NONNEGATIVE, "pixels"),
    Key("MODEL.PANOPTIC_FPN.COMBINE.INSTANCES_CONFIDENCE_THRESH", float, PROBABILITY, "a score"),
    # ---- input
    Key("INPUT.MIN_SIZE_TRAIN", int, COUNT, "shorter side(s) of training images", seq=1),
    Key("INPUT.MAX_SIZE_TRAIN", int, COUNT, "longest side of training images"),
    Key(
        "INPUT.MIN_SIZE_TEST",
        int,
        COUNT,
        "shorter side of test images",
        also=((0, "no resizing at test time"),),
    ),
    Key("INPUT.MAX_SIZE_TEST", int, COUNT, "longest side of test images"),
    Key("INPUT.CROP.SIZE", float, POSITIVE, "crop size (relative or absolute)", seq=1, length=2),
    Key("DATASETS.PRECOMPUTED_PROPOSAL_TOPK_TRAIN", int, COUNT, "proposals read per image"),
    Key("DATASETS.PRECOMPUTED_PROPOSAL_TOPK_TEST", int, COUNT, "proposals read per image"),
    Key("DATALOADER.NUM_WORKERS", int, NONNEGATIVE, "data loading processes; 0: in the trainer"),
    Key(
        "DATALOADER.REPEAT_THRESHOLD",
        float,
        PROBABILITY,
        "repeat-factor sampling threshold, a fraction of images (LVIS: 0.001)",
    ),
    # ---- solver
    Key("SOLVER.MAX_ITER", int, COUNT, "iterations to train"),
    Key("SOLVER.BASE_LR", float, POSITIVE, "learning rate; 0 would never change the weights"),
    Key("SOLVER.BASE_LR_END", float, NONNEGATIVE, "final learning rate of the cosine schedule"),
    Key("SOLVER.MOMENTUM", float, "[0, 1)", "SGD momentum"),
    Key("SOLVER.WEIGHT_DECAY", float, NONNEGATIVE, "L2 penalty"),
    Key("SOLVER.WEIGHT_DECAY_NORM", float, NONNEGATIVE, "L2 penalty of normalisation layers"),
    Key(
        "SOLVER.WEIGHT_DECAY_BIAS",
        float,
        NONNEGATIVE,
        "L2 penalty of biases; None: SOLVER.WEIGHT_DECAY",
        none_ok=True,
    ),
    Key("SOLVER.BIAS_LR_FACTOR", float, NONNEGATIVE, "biases' learning-rate factor"),
    Key("SOLVER.GAMMA", float, POSITIVE, "learning-rate factor at each step"),
    Key("SOLVER.STEPS", int, COUNT, "iterations where the learning rate drops", seq=1),
    Key("SOLVER.NUM_DECAYS", int, COUNT, "decays of the step schedule with RESCALE_INTERVAL"),
    Key("SOLVER.WARMUP_FACTOR", float, PROBABILITY, "warm-up's starting learning-rate factor"),
    Key("SOLVER.WARMUP_ITERS", int, NONNEGATIVE, "warm-up iterations; 0: none"),
    Key("SOLVER.CHECKPOINT_PERIOD", int, COUNT, "iterations between checkpoints"),
    Key("SOLVER.IMS_PER_BATCH", int, COUNT, "images per batch over all processes"),
    Key(
        "SOLVER.REFERENCE_WORLD_SIZE",
        int,
        NONNEGATIVE,
        "world size the solver keys were written for; 0: no rescaling",
    ),
    Key("SOLVER.CLIP_GRADIENTS.CLIP_VALUE", float, POSITIVE, "largest gradient value or norm"),
    Key(
        "SOLVER.CLIP_GRADIENTS.NORM_TYPE",
        float,
        POSITIVE,
        "p of the clipped p-norm; inf: the largest entry",
        inf_ok=True,
    ),
    # ---- test and run
    Key("TEST.EVAL_PERIOD", int, NONNEGATIVE, "iterations between evaluations; 0: at the end"),
    Key(
        "TEST.DETECTIONS_PER_IMAGE",
        int,
        COUNT,
        "detections a model keeps per image",
        also=((-1, "keep all (AP^Fixed)"),),
    ),
    Key("TEST.AUG.MIN_SIZES", int, COUNT, "test-time augmentation sizes", seq=1),
    Key("TEST.AUG.MAX_SIZE", int, COUNT, "test-time augmentation's longest side"),
    Key("TEST.PRECISE_BN.NUM_ITER", int, COUNT, "iterations of precise BN statistics"),
    Key("SEED", int, NONNEGATIVE, "the run's seed", also=((-1, "a random seed"),)),
    Key("VIS_PERIOD", int, NONNEGATIVE, "iterations between training visualisations; 0: none"),
)

NORMS = ("", "BN", "SyncBN", "FrozenBN", "GN", "nnSyncBN", "naiveSyncBN", "naiveSyncBN_N", "LN")
BOX_LOSSES = ("smooth_l1", "giou", "diou", "ciou")
POOLERS = ("ROIAlign", "ROIAlignV2", "ROIPool", "ROIAlignRotated")

# detectron2's string keys with a fixed set of values (each read by a comparison or a dict lookup
# that fails deep inside, or silently does nothing, on another value)
DETECTRON2_CHOICE_KEYS = (
    Key("INPUT.MIN_SIZE_TRAIN_SAMPLING", str, ("choice", "range"), "how a training size is drawn"),
    Key("INPUT.RANDOM_FLIP", str, ("none", "horizontal", "vertical"), "training flip"),
    Key("INPUT.CROP.TYPE", str, ("relative_range", "relative", "absolute", "absolute_range")),
    Key("INPUT.MASK_FORMAT", str, ("polygon", "bitmask"), "how masks are read"),
    Key("MODEL.RESNETS.NORM", str, NORMS, "detectron2's get_norm names"),
    Key("MODEL.FPN.NORM", str, NORMS, "detectron2's get_norm names"),
    Key("MODEL.FPN.FUSE_TYPE", str, ("sum", "avg")),
    Key("MODEL.ROI_BOX_HEAD.NORM", str, NORMS, "detectron2's get_norm names"),
    Key("MODEL.ROI_MASK_HEAD.NORM", str, NORMS, "detectron2's get_norm names"),
    Key("MODEL.SEM_SEG_HEAD.NORM", str, NORMS, "detectron2's get_norm names"),
    Key("MODEL.RETINANET.NORM", str, NORMS, "detectron2's get_norm names"),
    Key("MODEL.RPN.BBOX_REG_LOSS_TYPE", str, BOX_LOSSES),
    Key("MODEL.ROI_BOX_HEAD.BBOX_REG_LOSS_TYPE", str, BOX_LOSSES),
    Key("MODEL.RETINANET.BBOX_REG_LOSS_TYPE", str, BOX_LOSSES),
    Key("MODEL.ROI_BOX_HEAD.POOLER_TYPE", str, POOLERS),
    Key("MODEL.ROI_MASK_HEAD.POOLER_TYPE", str, POOLERS),
    Key("MODEL.ROI_KEYPOINT_HEAD.POOLER_TYPE", str, POOLERS),
    Key(
        "SOLVER.LR_SCHEDULER_NAME",
        str,
        ("WarmupMultiStepLR", "WarmupCosineLR", "WarmupStepWithFixedGammaLR"),
    ),
    Key("SOLVER.WARMUP_METHOD", str, ("linear", "constant")),
    Key("SOLVER.CLIP_GRADIENTS.CLIP_TYPE", str, ("value", "norm")),
)

# keys naming a registered class, with the registry and when the model reads the key
REGISTRY_KEYS = (
    ("MODEL.META_ARCHITECTURE", "META_ARCH_REGISTRY", "always"),
    ("MODEL.BACKBONE.NAME", "BACKBONE_REGISTRY", "always"),
    ("MODEL.PROPOSAL_GENERATOR.NAME", "PROPOSAL_GENERATOR_REGISTRY", "rcnn"),
    ("MODEL.ANCHOR_GENERATOR.NAME", "ANCHOR_GENERATOR_REGISTRY", "anchors"),
    ("MODEL.RPN.HEAD_NAME", "RPN_HEAD_REGISTRY", "rcnn"),
    ("MODEL.ROI_HEADS.NAME", "ROI_HEADS_REGISTRY", "rcnn"),
    ("MODEL.ROI_BOX_HEAD.NAME", "ROI_BOX_HEAD_REGISTRY", "rcnn"),
    ("MODEL.ROI_MASK_HEAD.NAME", "ROI_MASK_HEAD_REGISTRY", "masks"),
    ("MODEL.ROI_KEYPOINT_HEAD.NAME", "ROI_KEYPOINT_HEAD_REGISTRY", "keypoints"),
    ("MODEL.SEM_SEG_HEAD.NAME", "SEM_SEG_HEADS_REGISTRY", "semseg"),
)

NOT_READ = {
    "VERSION": "the config format's version, read by detectron2's merge",
    "GLOBAL.HACK": "unused by detectron2",
    "TEST.EXPECTED_RESULTS": "detectron2's own regression check ([task, metric, value, tol])",
    "TEST.KEYPOINT_OKS_SIGMAS": "COCO keypoint evaluation (eql evaluates with LVIS's)",
}


def _fail(key: str, message: str):
    raise ConfigError(f"{key}: {message}")


def _has_roi_heads(cfg) -> bool:
    """Whether the meta-architecture is a GeneralizedRCNN (which builds MODEL.ROI_HEADS)."""
    from detectron2.modeling import META_ARCH_REGISTRY, GeneralizedRCNN

    arch = cfg.MODEL.META_ARCHITECTURE
    return arch in META_ARCH_REGISTRY and issubclass(META_ARCH_REGISTRY.get(arch), GeneralizedRCNN)


def check_registered_names(cfg) -> None:
    """Every key naming a registered class that the model reads names one (else detectron2's
    KeyError in every process, after the start)."""
    import detectron2.modeling as modeling

    arch = cfg.MODEL.META_ARCHITECTURE
    rcnn = _has_roi_heads(cfg)
    read = {
        "always": True,
        "rcnn": rcnn,
        "anchors": rcnn or arch.endswith("RetinaNet"),
        "masks": rcnn and cfg.MODEL.MASK_ON,
        "keypoints": rcnn and cfg.MODEL.KEYPOINT_ON,
        "semseg": arch in ("SemanticSegmentor", "PanopticFPN"),
    }
    for key, registry_name, when in REGISTRY_KEYS:
        if not read[when]:
            continue
        registry = getattr(modeling, registry_name)
        node = config_value(cfg, key)
        if node not in registry:
            names = sorted(name for name, _ in registry)
            _fail(key, f"{node!r} is not registered; registered: {names}")


def check_detectron2_relations(cfg) -> None:
    """Rules between detectron2's keys that detectron2 asserts deep inside (a traceback) or does
    not check: interval labels, sorted thresholds and steps, matching lengths."""
    model = cfg.MODEL
    for node in ("RPN", "ROI_HEADS", "RETINANET"):
        thresholds, labels = model[node].IOU_THRESHOLDS, model[node].IOU_LABELS
        if list(thresholds) != sorted(thresholds):
            _fail(f"MODEL.{node}.IOU_THRESHOLDS", f"must be in increasing order, got {thresholds}")
        if len(labels) != len(thresholds) + 1:
            _fail(
                f"MODEL.{node}.IOU_LABELS",
                f"needs one label per IoU interval: {len(thresholds) + 1} for "
                f"MODEL.{node}.IOU_THRESHOLDS {list(thresholds)}, got {list(labels)}",
            )
    if len(model.PIXEL_MEAN) != len(model.PIXEL_STD):
        _fail(
            "MODEL.PIXEL_STD",
            f"needs one value per channel of MODEL.PIXEL_MEAN ({len(model.PIXEL_MEAN)}), got "
            f"{list(model.PIXEL_STD)}",
        )
    cascade = model.ROI_BOX_CASCADE_HEAD
    if len(cascade.BBOX_REG_WEIGHTS) != len(cascade.IOUS) or any(
        len(w) != 4 for w in cascade.BBOX_REG_WEIGHTS
    ):
        _fail(
            "MODEL.ROI_BOX_CASCADE_HEAD.BBOX_REG_WEIGHTS",
            f"needs 4 weights for each of the {len(cascade.IOUS)} stages of "
            f"MODEL.ROI_BOX_CASCADE_HEAD.IOUS, got {cascade.BBOX_REG_WEIGHTS}",
        )
    box_head = model.ROI_BOX_HEAD
    if _has_roi_heads(cfg) and box_head.NUM_CONV + box_head.NUM_FC < 1:
        _fail(
            "MODEL.ROI_BOX_HEAD.NUM_FC",
            "the box head needs at least one layer: MODEL.ROI_BOX_HEAD.NUM_CONV + NUM_FC >= 1, got "
            f"{box_head.NUM_CONV} + {box_head.NUM_FC}",
        )
    steps = list(cfg.SOLVER.STEPS)
    if steps != sorted(steps):
        _fail("SOLVER.STEPS", f"must be in increasing order, got {steps}")
    if model.RESNETS.DEPTH in (18, 34) and model.RESNETS.RES2_OUT_CHANNELS != 64:
        _fail(
            "MODEL.RESNETS.RES2_OUT_CHANNELS",
            f"must be 64 for MODEL.RESNETS.DEPTH {model.RESNETS.DEPTH} (basic blocks), got "
            f"{model.RESNETS.RES2_OUT_CHANNELS}",
        )
