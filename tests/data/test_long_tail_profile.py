"""The LVIS v1-shaped class profile of the long-tail benchmark set: bins in LVIS's proportions
and with LVIS's own counts."""

import numpy as np
import pytest

from eql.data.synthetic.long_tail_profile import (
    bin_sizes,
    lvis_bin,
    lvis_v1_bin_counts,
    lvis_v1_profile_counts,
)


def test_lvis_v1_bins_as_published():
    counts = lvis_v1_bin_counts()
    assert {b: len(v) for b, v in counts.items()} == {"r": 337, "c": 461, "f": 405}
    assert min(counts["r"]) == 1 and max(counts["r"]) == 10
    assert min(counts["c"]) == 11 and max(counts["c"]) == 100
    assert min(counts["f"]) == 101


@pytest.mark.parametrize("num_classes", [100, 200, 300])
def test_profile_counts_per_bin_match_the_target(num_classes):
    counts = lvis_v1_profile_counts(num_classes, max_count=600)
    assert len(counts) == num_classes and counts == sorted(counts, reverse=True)
    per_bin = {b: [c for c in counts if lvis_bin(c) == b] for b in "rcf"}
    # LVIS v1: 337 / 461 / 405 of 1,203 classes
    expected = {b: round(num_classes * n / 1203) for b, n in (("r", 337), ("f", 405))}
    expected["c"] = num_classes - expected["r"] - expected["f"]
    assert {b: len(v) for b, v in per_bin.items()} == expected == bin_sizes(num_classes)
    assert max(counts) == 600 and min(per_bin["f"]) == 101  # LVIS's frequent bin starts at 101
    assert (min(per_bin["r"]), max(per_bin["r"]), min(per_bin["c"]), max(per_bin["c"])) == (
        1,
        10,
        11,
        100,
    )
    # rare and common values are LVIS's own: the medians agree within one step of the quantiles
    for b in "rc":
        lvis = lvis_v1_bin_counts()[b]
        assert (
            abs(np.median(per_bin[b]) - np.median(lvis))
            <= (max(lvis) - min(lvis)) / len(per_bin[b]) + 1
        )


def test_profile_rejects_impossible_sizes():
    with pytest.raises(ValueError, match="max_count"):
        lvis_v1_profile_counts(100, max_count=100)
    with pytest.raises(ValueError, match="num_classes"):
        lvis_v1_profile_counts(2, max_count=500)


def test_generated_set_with_the_lvis_profile(tmp_path):
    """The written training json has the profile's counts: every class in exactly its target
    number of images (the top class also fills images left empty), bins by LVIS's edges."""
    import json
    from collections import defaultdict

    from eql.data.synthetic.lvis import generate_synthetic_lvis

    paths = generate_synthetic_lvis(
        str(tmp_path), 2100, 20, num_classes=100, image_size=64, seed=1, progress=False,
        write_images=False, profile="lvis", max_images_per_class=150,
    )  # fmt: skip
    data = json.loads(open(paths["train"]).read())
    images_of = defaultdict(set)
    for a in data["annotations"]:
        images_of[a["category_id"]].add(a["image_id"])
    got = sorted((len(v) for v in images_of.values()), reverse=True)
    target = lvis_v1_profile_counts(100, 150)
    assert len(got) == 100 and got[1:] == target[1:] and got[0] >= target[0]
    freq = {c["id"]: c["frequency"] for c in data["categories"]}
    assert all(freq[c] == lvis_bin(len(v)) for c, v in images_of.items())
    assert sorted(freq.values()).count("r") == bin_sizes(100)["r"]
    with pytest.raises(ValueError, match="needs num_train_images >= "):
        generate_synthetic_lvis(str(tmp_path / "small"), 500, 10, num_classes=100, profile="lvis")


def test_uniform_val_measures_every_class_on_as_many_instances(tmp_path):
    """The benchmark's val ("uniform"): classes drawn alike, so the rare classes hold as many
    val instances as the frequent ones (with "sqrt" they hold far fewer); the training json is
    the same either way (val has its own random stream)."""
    import json
    from collections import defaultdict

    from eql.data.synthetic.lvis import generate_synthetic_lvis

    kw = dict(
        num_train_images=1000, num_val_images=400, num_classes=50, image_size=64, seed=0,
        progress=False, write_images=False, profile="lvis", max_images_per_class=150,
    )  # fmt: skip
    per_bin, train = {}, {}
    for weights in ("sqrt", "uniform"):
        paths = generate_synthetic_lvis(str(tmp_path / weights), val_class_weights=weights, **kw)
        train[weights] = open(paths["train"]).read()
        freq = {c["id"]: c["frequency"] for c in json.loads(train[weights])["categories"]}
        count = defaultdict(int)
        for a in json.loads(open(paths["val"]).read())["annotations"]:
            count[a["category_id"]] += 1
        assert set(count) == set(freq)  # every class is in val
        per_bin[weights] = {
            b: np.mean([n for c, n in count.items() if freq[c] == b]) for b in "rcf"
        }
    assert train["sqrt"] == train["uniform"]
    sqrt, uniform = per_bin["sqrt"], per_bin["uniform"]
    assert sqrt["r"] < 0.5 * sqrt["f"] and uniform["r"] > 2.5 * sqrt["r"]
    assert 0.75 < uniform["r"] / uniform["f"] < 1.33
    with pytest.raises(ValueError, match="val_class_weights must be one of"):
        generate_synthetic_lvis(str(tmp_path / "bad"), val_class_weights="flat", **kw)
    assert not (tmp_path / "bad").exists()


def test_prepare_script_refuses_a_too_small_lvis_profile_set(tmp_path, capsys):
    from common import load_script

    script = load_script("datasets/prepare_synthetic_lvis.py")
    out = tmp_path / "set"
    args = ["--profile", "lvis", "--num-classes", "100", "--num-train-images", "600"]
    assert script.main(args + ["--output-dir", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "error: profile 'lvis' with 100 classes and max_images_per_class 200 needs "
        "num_train_images >= 2269 (got 600)"
    ]
    assert not out.exists()


def test_prepare_script_writes_a_uniform_val(tmp_path, capsys):
    """--val-class-weights reaches the generator: the script's val json is the one
    generate_synthetic_lvis writes with val_class_weights="uniform" (and not the "sqrt" one)."""
    from common import load_script

    from eql.data.synthetic.lvis import generate_synthetic_lvis

    script = load_script("datasets/prepare_synthetic_lvis.py")
    # (enough val images that classes are drawn beyond each class's one guaranteed slot)
    args = ["--num-train-images", "40", "--num-val-images", "20", "--num-classes", "12"]
    args += ["--image-size", "32", "--output-dir", str(tmp_path / "script")]
    assert script.main(args + ["--val-class-weights", "uniform"]) == 0
    kw = dict(num_train_images=40, num_val_images=20, num_classes=12, image_size=32, progress=False)
    vals = {}
    for weights in ("sqrt", "uniform"):
        paths = generate_synthetic_lvis(str(tmp_path / weights), val_class_weights=weights, **kw)
        vals[weights] = open(paths["val"]).read()
    got = (tmp_path / "script" / "annotations" / "lvis_synthetic_val.json").read_text()
    assert got == vals["uniform"] != vals["sqrt"]
