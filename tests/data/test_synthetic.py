import hashlib
import json
import os

import numpy as np
import pytest

from eql.data.category_stats import compute_category_stats
from eql.data.synthetic.classes import class_catalogue
from eql.data.synthetic.long_tail_profile import bin_edges, frequency_of, target_image_counts
from eql.data.synthetic.lvis import generate_synthetic_lvis


def _digest(folder):
    h = hashlib.sha256()
    for root, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            h.update(name.encode())
            with open(os.path.join(root, name), "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    kw = dict(num_train_images=6, num_val_images=3, num_classes=10, image_size=64, progress=False)
    generate_synthetic_lvis(str(tmp_path / "a"), seed=5, **kw)
    generate_synthetic_lvis(str(tmp_path / "b"), seed=5, **kw)
    generate_synthetic_lvis(str(tmp_path / "c"), seed=6, **kw)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_lvis_api_loads_both_splits(tiny_synthetic):
    from lvis import LVIS

    for split in ("train", "val"):
        api = LVIS(tiny_synthetic[split])
        assert len(api.get_img_ids()) == (16 if split == "train" else 6)
        assert len(api.get_cat_ids()) == 24
        for cat in api.load_cats(None):
            assert {"frequency", "image_count", "synset", "synonyms", "name"} <= set(cat)
        for img in api.load_imgs(None):
            assert "neg_category_ids" in img and "not_exhaustive_category_ids" in img
            assert os.path.isfile(os.path.join(tiny_synthetic[f"{split}_images"], img["file_name"]))


def test_annotations_are_valid_and_consistent(tiny_synthetic):
    from PIL import Image

    with open(tiny_synthetic["train"]) as f:
        data = json.load(f)
    images = {img["id"]: img for img in data["images"]}
    for ann in data["annotations"]:
        x, y, w, h = ann["bbox"]
        assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= 128 and y + h <= 128
        poly = ann["segmentation"][0]
        assert len(poly) >= 6 and len(poly) % 2 == 0
        assert 0 < ann["area"] <= w * h + 1  # a square fills its box (coordinates are rounded)
        img = images[ann["image_id"]]
        # a not-exhaustive class has an annotation; a negative class has none
        assert ann["category_id"] not in img["neg_category_ids"]
    present = {}
    for ann in data["annotations"]:
        present.setdefault(ann["image_id"], set()).add(ann["category_id"])
    for img in data["images"]:
        assert set(img["not_exhaustive_category_ids"]) <= present.get(img["id"], set())
        with Image.open(os.path.join(tiny_synthetic["train_images"], img["file_name"])) as im:
            assert im.size == (img["width"], img["height"])
    # categories' image_count and frequency match the annotations
    stats = compute_category_stats(data)
    assert stats.image_count == [c["image_count"] for c in data["categories"]]
    rare_max, common_max = bin_edges(16)
    assert [c["frequency"] for c in data["categories"]] == [
        frequency_of(max(n, 1), rare_max, common_max) for n in stats.image_count
    ]


def test_object_pixels_have_the_class_colour(tmp_path):
    paths = generate_synthetic_lvis(
        str(tmp_path), 4, 1, num_classes=8, image_size=96, seed=1, progress=False
    )
    from PIL import Image
    from pycocotools import mask as mask_util

    from eql.data.synthetic.classes import COLOURS

    with open(paths["train"]) as f:
        data = json.load(f)
    classes = class_catalogue(8)
    for ann in data["annotations"]:
        img = np.asarray(
            Image.open(os.path.join(paths["train_images"], f"{ann['image_id']:06d}.png"))
        )
        rle = mask_util.frPyObjects(ann["segmentation"], 96, 96)
        inside = mask_util.decode(mask_util.merge(rle)).astype(bool)
        cls = classes[ann["category_id"] - 1]
        assert cls.texture == "solid"  # the first 8 classes are solid shapes
        mean = img[inside].reshape(-1, 3).mean(0)
        assert np.abs(mean - np.array(COLOURS[cls.colour])).max() < 25


def test_long_tail_follows_lvis_bin_proportions():
    counts = target_image_counts(120, 2000)
    rare_max, common_max = bin_edges(2000)
    assert (rare_max, common_max) == (20, 200)
    bins = [frequency_of(c, rare_max, common_max) for c in counts]
    # LVIS v1: 337 / 461 / 405 of 1203
    assert [bins.count(b) for b in "rcf"] == [round(120 * 337 / 1203), 46, round(120 * 405 / 1203)]
    assert counts == sorted(counts, reverse=True)
    assert counts[0] == 1000 and counts[-1] == 1


def test_generated_bins_cover_r_c_f(tmp_path):
    paths = generate_synthetic_lvis(
        str(tmp_path), 300, 2, num_classes=24, image_size=64, seed=0, progress=False
    )
    with open(paths["train"]) as f:
        cats = json.load(f)["categories"]
    bins = [c["frequency"] for c in cats]
    assert all(bins.count(b) >= 4 for b in "rcf"), bins


@pytest.mark.parametrize(
    "kwargs",
    [dict(num_classes=0), dict(num_classes=10**4), dict(num_train_images=0), dict(image_size=8)],
)
def test_bad_arguments(tmp_path, kwargs):
    with pytest.raises(ValueError):
        generate_synthetic_lvis(str(tmp_path), **{"progress": False, **kwargs})


def test_annotations_only_mode_writes_the_same_jsons(tmp_path):
    kw = dict(
        num_train_images=5, num_val_images=2, num_classes=6, image_size=64, seed=4, progress=False
    )
    a = generate_synthetic_lvis(str(tmp_path / "a"), **kw)
    b = generate_synthetic_lvis(str(tmp_path / "b"), write_images=False, **kw)
    for split in ("train", "val"):
        with open(a[split]) as fa, open(b[split]) as fb:
            assert json.load(fa) == json.load(fb)
    assert not os.path.exists(b["train_images"])


def test_catalogue_reaches_300_classes_with_distinct_textures():
    """320 distinct (shape, colour, texture) classes; the first 192 as before the two textures
    were added; every texture has its own dark pattern (share of dark pixels and layout)."""
    from eql.data.synthetic.classes import MAX_CLASSES, TEXTURES
    from eql.data.synthetic.draw import texture_layer

    names = [c.name for c in class_catalogue(MAX_CLASSES)]
    assert MAX_CLASSES == 320 and len(set(names)) == 320
    assert names[0] == "red_solid_circle" and names[191] == "white_checkered_pentagon"
    assert names[192] == "red_dotted_circle" and names[-1] == "white_barred_pentagon"
    dark = {
        t: np.asarray(texture_layer(t, (200, 200, 200), 16, 2))[:, :, 0] < 100 for t in TEXTURES
    }
    assert {t: float(d.mean()) for t, d in dark.items()} == {
        "solid": 0.0, "striped": 0.5, "checkered": 0.5, "dotted": 0.25, "barred": 0.5,
    }  # fmt: skip
    assert (dark["striped"] == dark["barred"].T).all()  # horizontal vs vertical
    assert not (dark["checkered"] == dark["striped"]).all()
    with pytest.raises(ValueError, match=r"\[1, 320\]"):
        class_catalogue(321)
