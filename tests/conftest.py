import os
import warnings

import pytest

warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=UserWarning)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(os.path.dirname(REPO), "shared", "data")
INSTANT_CONFIG = os.path.join(
    REPO, "configs", "quick_schedules", "synthetic_mask_rcnn_R_18_FPN_instant_test.yaml"
)


@pytest.fixture(scope="session")
def tiny_synthetic(tmp_path_factory):
    """A small synthetic LVIS set (16 train / 6 val images, 24 classes, 128 px), registered as
    tiny_synthetic_train / tiny_synthetic_val."""
    from eql.data import generate_synthetic_lvis, register_synthetic_lvis

    root = str(tmp_path_factory.mktemp("tiny_synthetic"))
    paths = generate_synthetic_lvis(
        root,
        num_train_images=16,
        num_val_images=6,
        num_classes=24,
        image_size=128,
        seed=3,
        progress=False,
    )
    names = register_synthetic_lvis(root, prefix="tiny_synthetic")
    return {"root": root, "names": names, **paths}


def instant_cfg(output_dir, *opts):
    """The instant-test config on tiny_synthetic, writing into output_dir."""
    from eql.config import load_config

    return load_config(
        INSTANT_CONFIG,
        [
            "DATASETS.TRAIN",
            "('tiny_synthetic_train',)",
            "DATASETS.TEST",
            "('tiny_synthetic_val',)",
            "OUTPUT_DIR",
            str(output_dir),
            *opts,
        ],
    )


def scale_category_ids(data, factor=10):
    """An LVIS-format dict (copied) whose category ids are multiplied by ``factor``, everywhere they
    appear, so that contiguous id != json id - 1."""
    import copy

    data = copy.deepcopy(data)
    for c in data["categories"]:
        c["id"] *= factor
    for a in data.get("annotations", []):
        a["category_id"] *= factor
    for img in data["images"]:
        for key in ("neg_category_ids", "not_exhaustive_category_ids"):
            img[key] = [c * factor for c in img.get(key, [])]
    return data


CASCADE_OPTS = (
    "MODEL.ROI_HEADS.NAME",
    "EQLCascadeROIHeads",
    "MODEL.ROI_BOX_HEAD.CLS_AGNOSTIC_BBOX_REG",
    "True",
)
