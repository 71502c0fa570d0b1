# LVIS v1 training as a LazyConfig, with the settings of eql's yaml configs: the data (eql's
# reproducible train stream: a resumed run continues it exactly), the LVIS evaluator, SGD with
# detectron2's defaults, the 1x schedule (180k iterations of 16 images, steps at 120k and 160k).
import torch
from detectron2.config import LazyCall as L
from detectron2.data import DatasetMapper, build_detection_test_loader, get_detection_dataset_dicts
from detectron2.data import transforms as T
from detectron2.solver import WarmupParamScheduler
from detectron2.solver.build import get_default_optimizer_params
from fvcore.common.param_scheduler import MultiStepParamScheduler

from eql.data.train_stream import reproducible_train_loader
from eql.evaluation import LVISEvaluator

dataloader = dict(
    train=L(reproducible_train_loader)(
        dataset=L(get_detection_dataset_dicts)(names=("lvis_v1_train",)),
        mapper=L(DatasetMapper)(
            is_train=True,
            augmentations=[
                L(T.ResizeShortestEdge)(
                    short_edge_length=(640, 672, 704, 736, 768, 800),
                    max_size=1333,
                    sample_style="choice",
                ),
                L(T.RandomFlip)(horizontal=True),
            ],
            image_format="BGR",
            use_instance_mask=True,
        ),
        total_batch_size=16,
        sampler="TrainingSampler",
        num_workers=4,
    ),
    test=L(build_detection_test_loader)(
        dataset=L(get_detection_dataset_dicts)(names=("lvis_v1_val",), filter_empty=False),
        mapper=L(DatasetMapper)(
            is_train=False,
            augmentations=[L(T.ResizeShortestEdge)(short_edge_length=800, max_size=1333)],
            image_format="BGR",
        ),
        num_workers=4,
    ),
    evaluator=L(LVISEvaluator)(dataset_name="lvis_v1_val", max_dets_per_image=300),
)

train = dict(
    output_dir="./output",
    init_checkpoint="detectron2://ImageNetPretrained/MSRA/R-50.pkl",
    max_iter=180000,
    amp=dict(enabled=False),
    checkpointer=dict(period=5000),
    eval_period=0,  # evaluate after the last iteration only
    log_period=20,
    device="cuda",
    seed=-1,  # -1: a random seed shared by the processes, saved in the checkpoints
)

optimizer = L(torch.optim.SGD)(
    params=L(get_default_optimizer_params)(weight_decay_norm=0.0),
    lr=0.02,
    momentum=0.9,
    weight_decay=1e-4,
)

lr_multiplier = L(WarmupParamScheduler)(
    scheduler=L(MultiStepParamScheduler)(
        values=[1.0, 0.1, 0.01], milestones=[120000, 160000], num_updates=180000
    ),
    warmup_length=1000 / 180000,
    warmup_method="linear",
    warmup_factor=0.001,
)
