"""What the robustness cases share (tests/test_robustness.py): a case, the temporary folder
it edits, and running a tool in-process."""

import contextlib
import io
import json
import os
import shutil
import sys
from dataclasses import dataclass
from typing import Callable, List, Tuple

from conftest import REPO

for _folder in ("datasets", "benchmarks", "tools"):  # the scripts, imported by name
    sys.path.insert(0, os.path.join(REPO, _folder))

INSTANT = os.path.join(
    REPO, "configs/quick_schedules/synthetic_mask_rcnn_R_18_FPN_instant_test.yaml"
)


@dataclass
class Case:
    id: str
    build: Callable  # (Env) -> (tool, argv, culprits)


class Env:
    """A temporary folder with a copy of the tiny synthetic set (jsons and images) that a case
    can edit."""

    def __init__(self, tmp_path, tiny):
        self.tmp = tmp_path
        self.root = tmp_path / "data"
        shutil.copytree(tiny["root"], self.root, ignore=shutil.ignore_patterns("*.images.json"))
        self.out = tmp_path / "out"

    def image(self, split="train", index=0):
        """The path of the split's ``index``-th image file (as its json lists it)."""
        data = json.loads(self.json_path(split).read_text())
        return self.root / split / data["images"][index]["file_name"]

    def json_path(self, split="train"):
        return self.root / "annotations" / f"lvis_synthetic_{split}.json"

    def edit(self, fn, split="train"):
        path = self.json_path(split)
        data = json.loads(path.read_text())
        result = fn(data)
        path.write_text(result if isinstance(result, str) else json.dumps(data))
        return str(path)

    def train_argv(self, *opts, config=INSTANT, extra=()):
        return [
            *extra,
            "--config-file",
            config,
            "DATASETS.SYNTHETIC.ROOT",
            str(self.root),
            "DATASETS.SYNTHETIC.PREFIX",
            "rb",
            "DATASETS.TRAIN",
            "('rb_train',)",
            "DATASETS.TEST",
            "('rb_val',)",
            "OUTPUT_DIR",
            str(self.out),
            *opts,
        ]


def run_tool(tool: str, argv: List[str]) -> Tuple[int, str, str]:
    """Runs tools/<tool>.py in-process: (exit code, stderr, stdout)."""
    module = __import__(tool)
    err, out = io.StringIO(), io.StringIO()
    env = dict(os.environ)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                entry = getattr(module, "cli", None) or module.main
                code = entry(argv)
                code = 0 if code is None or not isinstance(code, int) else code
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
    finally:
        os.environ.clear()
        os.environ.update(env)
    return code, err.getvalue(), out.getvalue()
