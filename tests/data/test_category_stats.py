import json
import os

import pytest
from common import v05_counts

from eql.data.category_stats import (
    CategoryStats,
    compute_category_stats,
    frequency_bin,
    load_or_compute_stats,
    stats_from_image_counts,
    tail_ratio,
)
from eql.data.lvis_format import LVIS_V1_TRAIN_ANNOTATED_IMAGES, lvis_v1_train_stats


def test_lvis_v05_tail_classes():
    data = v05_counts()
    assert data["num_images_with_annotations"] == 56740
    stats = stats_from_image_counts(data["categories"], data["num_images_with_annotations"])
    assert stats.num_classes == 1230
    assert len(stats.tail_classes(0.00177)) == 915


def test_lvis_v1_tail_classes():
    stats = lvis_v1_train_stats()
    assert stats.num_classes == 1203
    assert stats.num_images_with_annotations == LVIS_V1_TRAIN_ANNOTATED_IMAGES == 99388
    assert len(stats.tail_classes(0.0011)) == 815
    # detectron2's categories carry LVIS's own bins: 337 rare, 461 common, 405 frequent
    assert [stats.frequency.count(b) for b in "rcf"] == [337, 461, 405]


def test_threshold_is_strict():
    stats = CategoryStats([1, 2, 3], [1, 2, 4], 100, ["r", "r", "r"])
    assert stats.tail_classes(0.02) == [0]  # f = 0.02 is not < 0.02
    assert stats.tail_classes(0.021) == [0, 1]


def test_frequency_bins_follow_lvis_edges():
    assert [frequency_bin(n) for n in (1, 10, 11, 100, 101)] == ["r", "r", "c", "c", "f"]


def test_tail_ratio_by_hand():
    # N = (50, 30, 15, 5) of 100 images; lambda = 0.2 -> tail = classes with f < 0.2: 15, 5
    assert tail_ratio([50, 30, 15, 5], 100, 0.2) == pytest.approx(20 / 100)
    assert tail_ratio([50, 30, 15, 5], 100, 0.01) == 0.0


def _toy_json():
    return {
        "images": [{"id": i, "height": 8, "width": 8, "file_name": f"{i}.png"} for i in (1, 2, 3)],
        "categories": [{"id": 7, "name": "b"}, {"id": 3, "name": "a"}, {"id": 9, "name": "c"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 7, "bbox": [0, 0, 1, 1]},
            {"id": 2, "image_id": 1, "category_id": 7, "bbox": [0, 0, 1, 1]},
            {"id": 3, "image_id": 2, "category_id": 7, "bbox": [0, 0, 1, 1]},
            {"id": 4, "image_id": 2, "category_id": 3, "bbox": [0, 0, 1, 1]},
        ],
    }


def test_compute_stats_counts_images_not_instances():
    stats = compute_category_stats(_toy_json())
    assert stats.category_ids == [3, 7, 9]  # contiguous order = ascending id
    assert stats.image_count == [1, 2, 0]
    assert stats.num_images_with_annotations == 2  # image 3 has no annotation
    assert stats.image_frequency() == [0.5, 1.0, 0.0]
    assert stats.frequency == ["r", "r", "r"]


def test_stats_cache_written_and_reused(tmp_path):
    path = tmp_path / "toy.json"
    path.write_text(json.dumps(_toy_json()))
    stats = load_or_compute_stats(str(path))
    cache = tmp_path / "toy.json.category_stats.json"
    assert cache.is_file()
    assert CategoryStats.from_json(str(cache)) == stats
    # the cache is what is read back: alter it and see the alteration
    altered = json.loads(cache.read_text())
    altered["image_count"] = [9, 9, 9]
    cache.write_text(json.dumps(altered))
    assert load_or_compute_stats(str(path)).image_count == [9, 9, 9]


def test_stats_cache_falls_back_to_cache_dir(tmp_path):
    path = tmp_path / "toy.json"
    path.write_text(json.dumps(_toy_json()))
    # the json's folder cannot take the cache: a folder sits where its temporary file would go
    (tmp_path / f".toy.json.category_stats.json.{os.getpid()}.tmp").mkdir()
    stats = load_or_compute_stats(str(path), cache_dir=str(tmp_path / "cache"))
    assert not (tmp_path / "toy.json.category_stats.json").exists()
    assert (
        CategoryStats.from_json(str(tmp_path / "cache" / "toy.json.category_stats.json")) == stats
    )
    assert stats.image_count == [1, 2, 0]


def test_cache_follows_the_content_not_the_file_times(tmp_path):
    """A json replaced by an older copy (cp -p: an older mtime) is not served stale statistics."""
    path = tmp_path / "toy.json"
    data = _toy_json()
    path.write_text(json.dumps(data))
    first = load_or_compute_stats(str(path))
    assert (tmp_path / "toy.json.category_stats.json").is_file()
    changed = json.loads(json.dumps(data))
    changed["annotations"] = [a for a in changed["annotations"] if a["category_id"] != 7]
    path.write_text(json.dumps(changed))
    os.utime(path, (1, 1))  # older than the cache
    second = load_or_compute_stats(str(path))
    assert second.image_count != first.image_count and second.image_count[1] == 0
    assert load_or_compute_stats(str(path)) == second  # and now served from the cache
