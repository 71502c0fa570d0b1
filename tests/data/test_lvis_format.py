import copy
import json
import os

import pytest
from common import scale_category_ids
from detectron2.data import DatasetCatalog, MetadataCatalog

from eql.data import DatasetFormatError, get_category_stats, load_lvis_format_json
from eql.data.lvis_format import image_path, register_lvis_format_dataset


def _write(tmp_path, data, name="ann.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


@pytest.fixture
def small_json(tiny_synthetic):
    with open(tiny_synthetic["train"]) as f:
        return json.load(f)


def test_records_carry_contiguous_image_labels(tmp_path, small_json):
    # renumber categories: json ids 10, 20, ... -> contiguous 0, 1, ...
    path = _write(tmp_path, scale_category_ids(small_json))
    records = load_lvis_format_json(path, str(tmp_path), check_image_files=False)
    by_id = {img["id"]: img for img in small_json["images"]}
    anns = {}
    for a in small_json["annotations"]:
        anns.setdefault(a["image_id"], []).append(a["category_id"] - 1)
    assert len(records) == len(small_json["images"])
    for r in records:
        img = by_id[r["image_id"]]
        assert r["image_labels"]["positive"] == sorted(set(anns.get(r["image_id"], [])))
        assert r["image_labels"]["negative"] == sorted(c - 1 for c in img["neg_category_ids"])
        assert r["image_labels"]["not_exhaustive"] == sorted(
            c - 1 for c in img["not_exhaustive_category_ids"]
        )
        # detectron2 keeps the raw json ids
        assert r["neg_category_ids"] == [c * 10 for c in img["neg_category_ids"]]
        assert sorted(o["category_id"] for o in r["annotations"]) == sorted(
            anns.get(r["image_id"], [])
        )
    assert any(r["image_labels"]["not_exhaustive"] for r in records)


def test_registered_dataset_metadata(tiny_synthetic):
    records = DatasetCatalog.get("tiny_synthetic_train")
    meta = MetadataCatalog.get("tiny_synthetic_train")
    assert len(meta.thing_classes) == 24 and meta.evaluator_type == "lvis"
    assert meta.thing_dataset_id_to_contiguous_id == {j + 1: j for j in range(24)}
    stats = get_category_stats("tiny_synthetic_train")
    counts = [0] * 24
    for r in records:
        for j in r["image_labels"]["positive"]:
            counts[j] += 1
    assert stats.image_count == counts
    assert stats.num_images_with_annotations == sum(1 for r in records if r["annotations"])
    assert os.path.isfile(tiny_synthetic["train"] + ".category_stats.json")


def test_builtin_lvis_splits_use_eql_loader(tmp_path, monkeypatch):
    import eql.data.lvis_format as lf

    # the builtin names are re-registered; loading one goes through load_lvis_format_json
    calls = []
    monkeypatch.setattr(lf, "load_lvis_format_json", lambda *a: calls.append(a) or [])
    assert DatasetCatalog.get("lvis_v1_val") == []
    assert DatasetCatalog.get("lvis_v0.5_train") == []
    assert calls[0][0].endswith("lvis/lvis_v1_val.json") and calls[0][2] == "lvis_v1_val"
    assert calls[1][0].endswith("lvis/lvis_v0.5_train.json")
    # v1 train statistics come from detectron2's shipped counts, without the json
    stats = get_category_stats("lvis_v1_train")
    assert len(stats.tail_classes(0.0011)) == 815


def test_image_path_rules():
    assert (
        image_path(
            "/r",
            {
                "coco_url": "http://images.cocodataset.org/train2017/0001.jpg",
                "file_name": "COCO_val2014_0001.jpg",
            },
        )
        == "/r/train2017/0001.jpg"
    )
    assert image_path("/r", {"file_name": "a/b.png"}) == "/r/a/b.png"


def _expect_error(path, *fragments, root="."):
    with pytest.raises(DatasetFormatError) as e:
        load_lvis_format_json(path, root)
    for frag in fragments:
        assert frag in str(e.value), str(e.value)


def test_missing_json(tmp_path):
    _expect_error(str(tmp_path / "nope.json"), "nope.json", "not found")


def test_invalid_json(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{")
    _expect_error(str(path), "bad.json", "not valid json")


@pytest.mark.parametrize("field", ["categories", "images"])
def test_missing_field(tmp_path, small_json, field):
    data = copy.deepcopy(small_json)
    del data[field]
    _expect_error(_write(tmp_path, data), "ann.json", f"'{field}'")


def test_empty_dataset(tmp_path, small_json):
    data = copy.deepcopy(small_json)
    data["images"], data["annotations"] = [], []
    _expect_error(_write(tmp_path, data), "ann.json", "empty dataset", "'images'")


def test_unknown_category(tmp_path, small_json):
    data = copy.deepcopy(small_json)
    data["annotations"][3]["category_id"] = 999
    _expect_error(_write(tmp_path, data), "ann.json", "annotations[3]", "999", "'category_id'")


def test_unknown_negative_category(tmp_path, small_json):
    data = copy.deepcopy(small_json)
    data["images"][1]["neg_category_ids"] = [777]
    _expect_error(_write(tmp_path, data), "images[1]", "'neg_category_ids'", "777")


def test_missing_image_file(tmp_path, small_json, tiny_synthetic):
    data = copy.deepcopy(small_json)
    data["images"][2]["file_name"] = "gone.png"
    _expect_error(
        _write(tmp_path, data),
        "gone.png",
        f"image id {data['images'][2]['id']}",
        root=tiny_synthetic["train_images"],
    )


def test_bad_polygon(tmp_path, small_json):
    data = copy.deepcopy(small_json)
    data["annotations"][0]["segmentation"] = [[1, 2, 3, 4]]
    _expect_error(_write(tmp_path, data), "annotations[0]", "'segmentation'")


def test_image_info_json_without_annotations_loads(tmp_path, small_json, tiny_synthetic):
    data = copy.deepcopy(small_json)
    del data["annotations"]
    path = _write(tmp_path, data)
    register_lvis_format_dataset("tiny_test_dev", path, tiny_synthetic["train_images"])
    records = DatasetCatalog.get("tiny_test_dev")
    assert len(records) == 16 and all(r["annotations"] == [] for r in records)
    assert not hasattr(MetadataCatalog.get("tiny_test_dev"), "category_stats")


def test_annotations_users_have_are_accepted_with_lvis_meaning(tmp_path, tiny_synthetic):
    """Boxes reaching outside the image (clipped by detectron2), a crowd region given as an RLE
    (a plain object: LVIS has no crowds; read with INPUT.MASK_FORMAT bitmask), annotation id 0:
    the run's start-up checks pass and the mapper makes instances of every one of them."""
    import shutil

    import numpy as np
    import pycocotools.mask as mask_util
    from common import instant_cfg
    from detectron2.data import DatasetMapper

    from eql.engine.validation import validate_run

    root = tmp_path / "set"
    shutil.copytree(tiny_synthetic["root"], root)
    path = root / "annotations" / "lvis_synthetic_train.json"
    data = json.loads(path.read_text())
    img = data["images"][0]
    h, w = img["height"], img["width"]
    anns = [a for a in data["annotations"] if a["image_id"] == img["id"]]
    anns[0]["bbox"] = [w - 10.0, -5.0, 30.0, 20.0]  # partly outside, right and top
    mask = np.zeros((h, w, 1), np.uint8, order="F")
    mask[10:30, 20:50] = 1
    rle = mask_util.encode(mask)[0]
    crowd = dict(anns[-1], id=0, iscrowd=1, bbox=[20.0, 10.0, 30.0, 20.0], area=600.0)
    crowd["segmentation"] = {"size": [h, w], "counts": rle["counts"].decode()}
    data["annotations"].append(crowd)
    path.write_text(json.dumps(data))
    from eql.data import register_synthetic_lvis

    register_synthetic_lvis(str(root), prefix="accepted")
    cfg = instant_cfg(tmp_path / "out", "INPUT.MASK_FORMAT", "bitmask")
    cfg.defrost()
    cfg.DATASETS.TRAIN, cfg.DATASETS.TEST = ("accepted_train",), ("accepted_val",)
    validate_run(cfg)
    record = next(r for r in DatasetCatalog.get("accepted_train") if r["image_id"] == img["id"])
    assert len(record["annotations"]) == len(anns) + 1
    out = DatasetMapper(cfg, is_train=True)(copy.deepcopy(record))
    inst = out["instances"]
    assert len(inst) == len(anns) + 1
    box = inst.gt_boxes.tensor
    assert (box[:, 0] >= 0).all() and (box[:, 2] <= out["image"].shape[2]).all()  # clipped
    assert inst.gt_masks.tensor[-1].sum() > 0  # the crowd region's mask
