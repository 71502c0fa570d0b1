"""Robustness cases (tests/robustness/test_robustness.py): bad LVIS-format jsons of DATASETS.TRAIN /
DATASETS.TEST."""

import json
import os

from common import Case

# ---------------------------------------------------------------------------------------------
# datasets (LVIS-format json of DATASETS.TRAIN / DATASETS.TEST)


def _json_case(mutate, *culprits, split="train"):
    def build(env):
        path = env.edit(mutate, split)
        return "train_net", env.train_argv(), [path, *culprits]

    return build


def _set(key, value, index=0, section="images"):
    def mutate(d):
        d[section][index][key] = value

    return mutate


def _drop(key, index=0, section="images"):
    def mutate(d):
        del d[section][index][key]

    return mutate


def _with(fn):
    def mutate(d):
        fn(d)

    return mutate


DATASET_CASES = [
    Case("D01-json-syntax", _json_case(lambda d: "{not json", "not valid json")),
    Case("D02-json-truncated", _json_case(lambda d: json.dumps(d)[:500], "not valid json")),
    Case("D03-json-top-level-list", _json_case(lambda d: "[1, 2]", "top level must be an object")),
    Case("D04-no-categories", _json_case(_with(lambda d: d.pop("categories")), "'categories'")),
    Case("D05-no-images", _json_case(_with(lambda d: d.pop("images")), "'images'")),
    Case("D06-empty-images", _json_case(_with(lambda d: d.update(images=[])), "'images' is empty")),
    Case(
        "D07-empty-categories",
        _json_case(_with(lambda d: d.update(categories=[])), "'categories' is empty"),
    ),
    Case("D08-category-without-name", _json_case(_drop("name", 3, "categories"), "categories[3]")),
    Case(
        "D09-duplicate-category-ids",
        _json_case(_set("id", 1, 1, "categories"), "duplicate ids"),
    ),
    Case("D10-image-without-id", _json_case(_drop("id", 2), "images[2]", "'id'")),
    Case("D11-image-without-height", _json_case(_drop("height", 2), "images[2]", "'height'")),
    Case(
        "D12-image-without-file-name",
        _json_case(_drop("file_name", 2), "images[2]", "'file_name' or 'coco_url'"),
    ),
    Case(
        "D13-unknown-negative-category",
        _json_case(_set("neg_category_ids", [999], 2), "neg_category_ids", "999"),
    ),
    Case(
        "D14-unknown-not-exhaustive-category",
        _json_case(_set("not_exhaustive_category_ids", [999], 2), "not_exhaustive", "999"),
    ),
    Case(
        "D15-duplicate-image-id",
        _json_case(_with(lambda d: d["images"].append(dict(d["images"][0]))), "repeats image id"),
    ),
    Case("D16-image-width-zero", _json_case(_set("width", 0, 1), "images[1]", "'width'")),
    Case(
        "D17-annotation-without-bbox",
        _json_case(_drop("bbox", 4, "annotations"), "annotations[4]", "'bbox'"),
    ),
    Case(
        "D18-annotation-unknown-category",
        _json_case(_set("category_id", 999, 4, "annotations"), "annotations[4]", "999"),
    ),
    Case(
        "D19-annotation-unknown-image",
        _json_case(_set("image_id", 99999, 4, "annotations"), "annotations[4]", "99999"),
    ),
    Case(
        "D20-duplicate-annotation-id",
        _json_case(
            _with(lambda d: d["annotations"][5].update(id=d["annotations"][4]["id"])),
            "duplicate annotation id",
        ),
    ),
    Case(
        "D21-bbox-three-numbers",
        _json_case(_set("bbox", [1, 2, 3], 4, "annotations"), "annotations[4]", "'bbox'"),
    ),
    Case(
        "D22-bbox-strings",
        _json_case(_set("bbox", ["1", "2", "3", "4"], 4, "annotations"), "annotations[4]"),
    ),
    Case(
        "D23-bbox-negative-width",
        _json_case(_set("bbox", [5, 5, -10, 8], 4, "annotations"), "annotations[4]", "negative"),
    ),
    Case(
        "D24-all-boxes-empty",
        _json_case(
            _with(
                lambda d: [
                    a.update(bbox=[a["bbox"][0], a["bbox"][1], 0, 0]) for a in d["annotations"]
                ]
            ),
            "every box",
        ),
    ),
    Case(
        "D25-polygon-two-points",
        _json_case(_set("segmentation", [[1, 1, 5, 5]], 4, "annotations"), "annotations[4]"),
    ),
    Case(
        "D26-training-json-without-annotations",
        _json_case(_with(lambda d: d.pop("annotations")), "'annotations'"),
    ),
    Case(
        "D27-training-json-empty-annotations",
        _json_case(_with(lambda d: d.update(annotations=[])), "'annotations' is empty"),
    ),
    Case("D28-val-json-syntax", _json_case(lambda d: "{", "not valid json", split="val")),
    Case(
        "D29-val-unknown-category",
        _json_case(_set("category_id", 999, 0, "annotations"), "annotations[0]", split="val"),
    ),
]


def _missing_train_json(env):
    os.remove(env.json_path("train"))
    return "train_net", env.train_argv(), [str(env.json_path("train")), "file not found"]


def _val_other_categories(env):
    def mutate(d):  # same count, one id changed
        old = d["categories"][-1]["id"]
        d["categories"][-1]["id"] = 5000
        for a in d.get("annotations", []):
            if a["category_id"] == old:
                a["category_id"] = 5000
        for img in d["images"]:
            for key in ("neg_category_ids", "not_exhaustive_category_ids"):
                img[key] = [5000 if c == old else c for c in img.get(key, [])]

    env.edit(mutate, "val")
    return "train_net", env.train_argv(), ["DATASETS.TEST", "rb_val", "other categories"]


def _num_classes_mismatch(env):
    argv = env.train_argv("MODEL.ROI_HEADS.NUM_CLASSES", "30")
    return "train_net", argv, ["rb_train", "24 categories", "30", "(MODEL.ROI_HEADS.NUM_CLASSES)"]


def _unregistered(key):
    def build(env):
        argv = env.train_argv(key, "('no_such_set',)")
        return "train_net", argv, [key, "no_such_set", "not registered"]

    return build


DATASET_CASES += [
    Case("D30-training-json-missing", _missing_train_json),
    Case("D31-val-categories-differ", _val_other_categories),
    Case("D32-num-classes-differ-from-dataset", _num_classes_mismatch),
    Case("D33-unregistered-train-set", _unregistered("DATASETS.TRAIN")),
    Case("D34-unregistered-test-set", _unregistered("DATASETS.TEST")),
]
