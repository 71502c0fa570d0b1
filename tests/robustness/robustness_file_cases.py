"""Robustness cases (tests/robustness/test_robustness.py): image files of the training and test
sets, and annotations a user can really have, found before the run starts (eql/data/image_files.py,
eql/data/lvis_json.py, eql/engine/validation.py)."""

from common import Case
from robustness_dataset_cases import _json_case, _set


def _image_case(edit, split, *culprits, index=2):
    """Edits the split's ``index``-th image file; the error names the json, the image and the
    file."""

    def build(env):
        path = env.image(split, index)
        edit(path)
        names = [str(env.json_path(split)), f"images[{index}]", str(path)]
        return "train_net", env.train_argv(), names + list(culprits)

    return build


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _size_differs(env):
    path = env.edit(_set("width", 129, 1), "val")
    return "train_net", env.train_argv(), [path, "images[1]", "128 x 128", "129 x 128"]


def _rle(size, counts="0"):
    return {"size": size, "counts": counts}


def _crowd_rle_with_polygon_format(env):
    def mutate(d):
        ann = d["annotations"][4]
        img = next(i for i in d["images"] if i["id"] == ann["image_id"])
        ann.update(iscrowd=1, segmentation=_rle([img["height"], img["width"]], [0, 10, 100]))

    path = env.edit(mutate)
    return "train_net", env.train_argv(), ["INPUT.MASK_FORMAT", "annotations[4]", path, "bitmask"]


def _val_without_area(env):
    def mutate(d):
        del d["annotations"][3]["area"]

    path = env.edit(mutate, "val")
    return "train_net", env.train_argv(), [path, "annotations[3]", "'area'"]


FILE_CASES = [
    Case("D35-train-image-missing", _image_case(lambda p: p.unlink(), "train", "not found")),
    Case(
        "D36-train-image-not-an-image",
        _image_case(lambda p: p.write_text("not an image"), "train", "not an image"),
    ),
    Case("D37-train-image-truncated", _image_case(_truncate, "train", "truncated")),
    Case("D38-val-image-truncated", _image_case(_truncate, "val", "truncated", index=1)),
    Case("D39-val-json-size-disagrees-with-file", _size_differs),
    Case(
        "D40-polygon-of-strings",
        _json_case(
            _set("segmentation", [["1", "2", "9", "2", "9", "9"]], 4, "annotations"),
            "annotations[4]",
            "'segmentation'",
            "not a list of numbers",
        ),
    ),
    Case(
        "D41-polygon-with-nan",
        _json_case(
            _set("segmentation", [[1, 2, float("nan"), 2, 9, 9]], 4, "annotations"),
            "annotations[4]",
            "non-finite",
        ),
    ),
    Case(
        "D42-string-image-id",
        _json_case(_set("id", "7", 3), "images[3]", "'id' must be an integer", "'7'"),
    ),
    Case(
        "D43-string-category-id",
        _json_case(_set("id", "2", 1, "categories"), "categories[1]", "'id' must be an integer"),
    ),
    Case(
        "D44-string-annotation-id",
        _json_case(_set("id", "5", 5, "annotations"), "annotations[5]", "must be an integer"),
    ),
    Case("D45-val-annotation-without-area", _val_without_area),
    Case("D46-crowd-rle-with-polygon-mask-format", _crowd_rle_with_polygon_format),
    Case(
        "D47-rle-of-another-size",
        _json_case(_set("segmentation", _rle([10, 10]), 4, "annotations"), "annotations[4]", "RLE"),
    ),
    Case(
        "D48-negative-area",
        _json_case(_set("area", -4.0, 2, "annotations"), "annotations[2]", "'area'"),
    ),
    Case(
        "D49-neg-category-ids-not-a-list",
        _json_case(_set("neg_category_ids", 3, 2), "images[2]", "neg_category_ids"),
    ),
]
