"""The start-up check of image files (eql/data/image_files.py): size after EXIF rotation, complete
files by their last bytes (with a full decode where those are not conclusive), samples, and the
manifest cached by the json's content."""

import io
import json

import numpy as np
import pytest
from PIL import Image

from eql.data.image_files import (
    MANIFEST_SUFFIX,
    check_image_files,
    image_problem,
    load_manifest,
    manifest_of,
)
from eql.data.lvis_json import DatasetFormatError


def _jpeg(w, h, orientation=None) -> bytes:
    y, x = np.mgrid[0:h, 0:w]
    im = Image.fromarray(np.stack([x % 256, y % 256, (x + y) % 256], -1).astype(np.uint8))
    buffer = io.BytesIO()
    if orientation is None:
        im.save(buffer, "JPEG")
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        im.save(buffer, "JPEG", exif=exif.tobytes())
    return buffer.getvalue()


def _png(w, h) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (w, h), (10, 20, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def test_sizes_and_exif_rotation(tmp_path):
    path = tmp_path / "a.jpg"
    path.write_bytes(_jpeg(40, 30))
    assert image_problem(str(path), 40, 30) is None
    assert "is 40 x 30 pixels, the json says 30 x 40" in image_problem(str(path), 30, 40)
    path.write_bytes(_jpeg(40, 30, orientation=6))  # stored 40 x 30, shown (and read) 30 x 40
    assert image_problem(str(path), 30, 40) is None


@pytest.mark.parametrize("kind", ["jpeg", "png"])
def test_complete_files_by_their_end(tmp_path, kind):
    data = _jpeg(64, 48) if kind == "jpeg" else _png(64, 48)
    path = tmp_path / f"a.{kind}"
    path.write_bytes(data + b"\0" * 100)  # zero padding after the end marker
    assert image_problem(str(path), 64, 48) is None
    path.write_bytes(data[: len(data) * 2 // 3])
    assert "truncated or corrupt" in image_problem(str(path), 64, 48)


def test_a_trailer_after_the_end_is_decoded_to_decide(tmp_path):
    """A JPEG with data after its end marker (a motion photo's video, a vendor trailer) is
    complete: the tail test fails, the full decode passes."""
    path = tmp_path / "motion.jpg"
    path.write_bytes(_jpeg(64, 48) + b"ftypmp42" + bytes(range(256)) * 20)
    assert image_problem(str(path), 64, 48) is None


def test_not_found_and_not_an_image(tmp_path):
    assert image_problem(str(tmp_path / "nope.jpg"), 1, 1) == "not found"
    (tmp_path / "text.jpg").write_text("hello")
    assert image_problem(str(tmp_path / "text.jpg"), 1, 1) == "is not an image PIL can read"


def _dataset(tmp_path, n=20):
    images = [{"id": 10 + k, "file_name": f"{k}.png", "width": 16, "height": 12} for k in range(n)]
    for img in images:
        (tmp_path / img["file_name"]).write_bytes(_png(16, 12))
    data = {"images": images, "categories": [{"id": 1, "name": "a"}], "annotations": []}
    path = tmp_path / "set.json"
    path.write_text(json.dumps(data))
    return str(path), data


def test_every_image_or_a_fixed_sample(tmp_path):
    json_file, data = _dataset(tmp_path)
    images = manifest_of(data).images
    assert check_image_files(json_file, str(tmp_path), images) == 20
    assert check_image_files(json_file, str(tmp_path), images, sample=5) == 5
    assert check_image_files(json_file, str(tmp_path), images, sample=0) == 0
    (tmp_path / "7.png").unlink()
    with pytest.raises(DatasetFormatError, match=r"set.json: images\[7\] \(id 17\): image file "):
        check_image_files(json_file, str(tmp_path), images, where=" (here)")


def test_the_manifest_follows_the_json_content(tmp_path):
    json_file, data = _dataset(tmp_path, n=3)
    first = load_manifest(json_file, None, None)
    assert [i[0] for i in first.images] == [10, 11, 12] and first.first_rle == -1
    cache = tmp_path / ("set.json" + MANIFEST_SUFFIX)
    assert cache.exists()
    data["images"][0]["width"] = 99
    data["annotations"] = [
        {
            "id": 1,
            "image_id": 10,
            "category_id": 1,
            "bbox": [0, 0, 1, 1],
            "segmentation": {"size": [12, 99], "counts": [12 * 99]},  # a crowd region's RLE
        }
    ]
    (tmp_path / "set.json").write_text(json.dumps(data))  # other content: parsed again
    second = load_manifest(json_file, None, None)
    assert second.images[0][2] == 99 and second.first_rle == 0
