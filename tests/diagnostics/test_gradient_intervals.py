"""eql.diagnostics.gradient_intervals and tools/gradient_intervals.py: the ratio interval by
interval from hand-made checkpoints, checked by hand; a folder it cannot read is one error naming
the file."""

import json
import math

import pytest
import torch
from common import run_tool

from eql.diagnostics.gradient_intervals import GradientIntervalsError, interval_ratios
from eql.diagnostics.gradient_stats import FORMAT

FREQUENCY = ["r", "c", "f", "f"]
LOSS = "roi_heads.box_predictor.cls_loss"


def _run(folder, checkpoints, frequency=FREQUENCY):
    """A run folder: gradient_stats.json with the classes' bins, and model_<it>.pth holding the
    accumulated record (pos, neg) of each iteration given."""
    folder.mkdir(exist_ok=True)
    stats = {"format": FORMAT, "records": {LOSS: {"ratio": [1.0] * len(frequency)}},
             "classes": {"frequency": frequency}}  # fmt: skip
    (folder / "gradient_stats.json").write_text(json.dumps(stats))
    for it, (pos, neg) in checkpoints.items():
        model = {"backbone.w": torch.zeros(2), f"{LOSS}.gradient_record.pos": torch.tensor(pos),
                 f"{LOSS}.gradient_record.neg": torch.tensor(neg)}  # fmt: skip
        torch.save({"model": model, "iteration": it}, folder / f"model_{it:07d}.pth")
    return str(folder)


def test_each_interval_is_the_difference_of_two_checkpoints(tmp_path):
    run = _run(
        tmp_path / "run",
        {
            3: ([1.0, 2.0, 4.0, 6.0], [4.0, 2.0, 4.0, 3.0]),
            7: ([2.0, 2.0, 10.0, 6.0], [6.0, 6.0, 8.0, 3.0]),  # class 3: no negative in 4-7
        },
    )
    torch.save({"model": {}}, tmp_path / "run" / "model_final.pth")  # not an interval
    first, second = interval_ratios(run)
    assert (first.record, first.first, first.last) == ("roi_heads.box_predictor", 0, 3)
    assert first.ratio == {"r": 0.25, "c": 1.0, "f": pytest.approx((1.0 + 2.0) / 2)}
    assert first.share == pytest.approx(13 / 23)
    # 4-7: pos (1, 0, 6, 0), neg (2, 4, 4, 0): class 3 left out of the frequent mean
    assert (second.first, second.last) == (4, 7)
    assert second.ratio == {"r": 0.5, "c": 0.0, "f": 1.5} and second.share == pytest.approx(10 / 23)
    code, err, out = run_tool("gradient_intervals", [run])
    assert code == 0, err
    assert "| roi_heads.box_predictor | 0–3 | 0.25 | 1.00 | 1.50 | 57% |" in out
    assert "| roi_heads.box_predictor | 4–7 | 0.50 | 0.00 | 1.50 | 43% |" in out


def test_a_bin_without_classes_is_a_dash(tmp_path):
    run = _run(tmp_path / "run", {5: ([1.0, 1.0], [2.0, 0.0])}, frequency=["f", "c"])
    (only,) = interval_ratios(run)
    assert math.isnan(only.ratio["r"]) and math.isnan(only.ratio["c"]) and only.ratio["f"] == 0.5


@pytest.mark.parametrize(
    "case, message",
    [
        ("no checkpoint", "no checkpoint model_<iteration>.pth"),
        ("no record", "model_0000005.pth: no gradient record"),
        ("other class count", "has 3 classes, gradient_stats.json 4"),
        ("not a checkpoint", "model_0000005.pth: not a checkpoint"),
        ("a file", "gradient_stats.json: not a folder"),
    ],
)
def test_a_folder_it_cannot_read_is_one_error_naming_the_file(tmp_path, case, message):
    folder = tmp_path / "run"
    run = _run(folder, {} if case == "no checkpoint" else {5: ([1.0] * 4, [1.0] * 4)})
    if case == "no record":
        torch.save({"model": {"w": torch.zeros(1)}}, folder / "model_0000005.pth")
    elif case == "other class count":
        _run(folder, {5: ([1.0] * 3, [1.0] * 3)})
    elif case == "not a checkpoint":
        (folder / "model_0000005.pth").write_text("not a pickle")
    elif case == "a file":
        run = str(folder / "gradient_stats.json")
    with pytest.raises(GradientIntervalsError, match=message):
        interval_ratios(run)
    code, err, out = run_tool("gradient_intervals", [run])
    assert code == 2 and err.startswith("error: ") and message.split(":")[-1].strip() in err
    assert out == ""
