"""One place per loss: each registered entry is the file of its name and takes what the loss is
from the loss class of the same name; its keys make its config node and the checks of their
values. A toy loss written as one new file outside the package registers itself and trains two
iterations of a quick-schedule config, touching no file of the repository
(docs/adding_a_loss.md)."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from common import INSTANT_CONFIG, REPO, synthetic_args

from eql.config import get_eql_cfg, load_config
from eql.errors import ConfigError
from eql.losses import LOSSES
from eql.modeling.losses import CLASSIFICATION_LOSS_REGISTRY, LossEntry

# the losses of the papers and what they are: (sigmoid scores, loss class)
KNOWN = {
    "sigmoid_ce": (True, "SigmoidCrossEntropy"),
    "eql": (True, "SigmoidEQL"),
    "eqlv2": (True, "EQLv2"),
    "focal": (True, "SigmoidFocalLoss"),
    "efl": (True, "EqualizedFocalLoss"),
    "seesaw": (False, "SeesawLoss"),
    "seql": (False, "SoftmaxEQL"),
    "softmax_ce": (False, "SoftmaxCrossEntropy"),
    "softmax_eql": (False, "GradientSoftmaxEQL"),
}


def test_every_entry_is_the_file_of_its_name_and_has_its_loss_class():
    assert set(KNOWN) <= set(CLASSIFICATION_LOSS_REGISTRY.names()) == set(LOSSES)
    for name, entry in CLASSIFICATION_LOSS_REGISTRY:
        assert entry.__module__ == f"eql.modeling.losses.{name}", name
        assert LOSSES[name].__module__ == f"eql.losses.{name}", name
        assert entry.loss_class is LOSSES[name] and entry.sigmoid is LOSSES[name].sigmoid
    for name, (sigmoid, class_name) in KNOWN.items():
        entry = CLASSIFICATION_LOSS_REGISTRY.get(name)
        assert entry.loss_class.__name__ == class_name and entry.sigmoid is sigmoid


def test_an_entry_cannot_declare_what_its_loss_class_says():
    with pytest.raises(ValueError, match="'sigmoid' comes from the loss class"):

        class Declares(LossEntry):
            name = "sigmoid_ce"
            sigmoid = False

        CLASSIFICATION_LOSS_REGISTRY._do_register("x", Declares)
    with pytest.raises(ValueError, match="no loss class named 'nope' in eql.losses"):

        class Unknown(LossEntry):
            name = "nope"

        CLASSIFICATION_LOSS_REGISTRY._do_register("x", Unknown)


def test_the_config_node_and_its_checks_come_from_the_keys():
    cfg = get_eql_cfg()
    for name, entry in CLASSIFICATION_LOSS_REGISTRY:
        if not entry.config_node:
            assert not entry.keys, name
            continue
        node = cfg.MODEL.EQL[entry.config_node]
        assert {k: node[k] for k in node} == {k.name: k.default for k in entry.keys}, name
    with pytest.raises(ConfigError, match=r"MODEL\.EQL\.SEESAW\.EPS"):
        load_config(INSTANT_CONFIG, ["MODEL.EQL.SEESAW.EPS", "0.0"])


TOY_LOSS = '''
"""A toy loss: sigmoid cross-entropy whose negative terms are scaled by MODEL.EQL.TOY.WEIGHT."""

import torch
import torch.nn.functional as F

from eql.losses import ClassificationLoss, register_loss
from eql.modeling.losses import CLASSIFICATION_LOSS_REGISTRY, ROI_HEAD, LossEntry
from eql.utils.config_keys import Key


@register_loss("toy")
class ToyLoss(ClassificationLoss):
    def __init__(self, num_classes, weight=0.5):
        super().__init__(num_classes)
        self.weight = weight
        self.calls = 0

    def forward(self, logits, gt_classes, context=None):
        self.check_inputs(logits, gt_classes)
        self.calls += 1
        z = logits[:, : self.num_classes].float()
        y = F.one_hot(gt_classes, self.num_classes + 1)[:, : self.num_classes].float()
        bce = F.binary_cross_entropy_with_logits(z, y, reduction="none")
        return (bce * (y + self.weight * (1 - y))).sum() / max(len(z), 1)


@CLASSIFICATION_LOSS_REGISTRY.register()
class ToyEntry(LossEntry):
    name = "toy"
    config_node = "TOY"
    heads = (ROI_HEAD,)
    summary = "sum_ij (y_ij + WEIGHT (1 - y_ij)) BCE(z_ij, y_ij) / N"
    keys = (Key("WEIGHT", float, "[0, 1]", "weight of the negative terms", default=0.5),)

    @classmethod
    def build(cls, cfg, num_classes):
        return ToyLoss(num_classes, cls.node(cfg).WEIGHT)
'''

TOY_CONFIG = """
_BASE_: "{base}"
MODEL:
  EQL:
    LOSS: "toy"
    TOY:
      WEIGHT: 0.25
SOLVER:
  MAX_ITER: 2
"""

# a user's script: imports the loss (registers it), then runs eql's train_net
DRIVER = """
import json, sys
import toy_loss
import train_net
from eql.config import load_config
from eql.classification.losses import build_classification_loss

try:
    load_config(sys.argv[1], ["MODEL.EQL.TOY.WEIGHT", "2.0"])
except Exception as e:
    print("REFUSED", type(e).__name__, e)
loss = build_classification_loss("toy", [10, 5, 1])
print("CLASSIFIER", type(loss).__name__, loss.num_logits)
sys.exit(train_net.cli(sys.argv[2:]))
"""


def _git_status():
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout


def test_a_toy_loss_in_one_new_file_trains_two_iterations(tiny_synthetic, tmp_path):
    before = _git_status()
    folder = tmp_path / "user_code"
    folder.mkdir()
    (folder / "toy_loss.py").write_text(TOY_LOSS)
    config = tmp_path / "toy_mask_rcnn_R_18_FPN_instant_test.yaml"
    config.write_text(TOY_CONFIG.format(base=INSTANT_CONFIG))
    out = tmp_path / "run"
    argv = synthetic_args(tiny_synthetic, out, str(config)) + ["TEST.EVAL_PERIOD", "0"]
    paths = [str(folder), os.path.join(REPO, "tools")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(DRIVER), str(config), *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    # the node and the check of its value come from the entry's keys
    assert "REFUSED ConfigError" in log and "MODEL.EQL.TOY.WEIGHT" in log
    # the classifier tool's list is the registry's
    assert "CLASSIFIER ToyLoss 3" in log
    assert "Classification loss 'toy' in the ROI heads" in log
    saved = (out / "config.yaml").read_text()
    assert "TOY:\n      WEIGHT: 0.25" in saved
    metrics = [json.loads(line) for line in (out / "metrics.json").read_text().splitlines()]
    trained = [m for m in metrics if "loss_cls" in m]
    assert [m["iteration"] for m in trained] == [1]  # written after the second (last) iteration
    assert all(0 < m["loss_cls"] < 100 for m in trained)
    assert (out / "model_final.pth").is_file()
    assert _git_status() == before  # no file of the repository touched


def test_the_guide_to_adding_a_loss_runs(tmp_path):
    """docs/adding_a_loss.md's loss, entry and test, written as files of a project outside the
    package (relative imports made absolute): the entry registers and the test passes."""
    import re

    with open(os.path.join(REPO, "docs", "adding_a_loss.md")) as f:
        loss, _, entry, test, lazy = re.findall(r"```python\n(.*?)```", f.read(), flags=re.S)
    absolute = {
        "from .base ": "from eql.losses.base ",
        "from .context ": "from eql.losses.context ",
    }
    absolute["from .registry import register_loss"] = (
        "from eql.losses.registry import register_loss"
    )
    for old, new in absolute.items():
        loss = loss.replace(old, new)
    entry = entry.replace("from ...losses import ToyLoss", "from toy import ToyLoss")
    entry = entry.replace("from ...utils.", "from eql.utils.").replace(
        "from .registry import", "from eql.modeling.losses.registry import"
    )
    (tmp_path / "toy.py").write_text(loss)
    (tmp_path / "toy_entry.py").write_text(entry)
    test = "import toy_entry  # noqa: F401\n" + test.replace(
        "from eql.losses import", "from toy import"
    )
    # the LazyConfig block, as a third test
    test += "\n\ndef test_the_lazy_config_block():\n" + "".join(
        f"    {line}\n" for line in lazy.splitlines()
    )
    (tmp_path / "test_toy.py").write_text(test)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.path.join(REPO, "tests")]),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_toy.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "3 passed" in proc.stdout
