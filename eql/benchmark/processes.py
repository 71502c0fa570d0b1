"""Helpers of the scripts in benchmarks/: this process's memory from /proc, and running one
measurement in a process of its own that prints its result as a json line."""

import json
import os
import tempfile
from typing import Dict, Sequence

from ..utils.paths import check_writable
from ..utils.warm_start import run_script
from .lvis_sized import LVIS_V1_SIZES, write_lvis_sized_json


def proc_status_mb(field: str = "VmHWM") -> float:
    """A memory field of /proc/self/status in MB (Linux): VmHWM, the peak resident set size of
    this process's own address space (unlike ``ru_maxrss``, not inherited from the parent that
    started it), or VmRSS, the current one."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def run_json_child(script: str, args: Sequence[str], what: str) -> Dict:
    """Runs ``python SCRIPT ARGS`` as a process of its own, so that its peak memory is its own
    (forked from a warm process that imported the script's modules: eql.utils.warm_start; a fork's
    VmHWM starts from the memory a fresh process has after the same imports), and returns the json
    object on the last line of its output that holds one; raises RuntimeError naming ``what`` with
    the end of its output."""
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "child.log")
        code = run_script(script, args, log)
        with open(log, errors="replace") as f:
            output = f.read()
    if code:
        raise RuntimeError(f"{what} failed (exit code {code}):\n{output[-3000:]}")
    for line in reversed(output.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    raise RuntimeError(f"{what} printed no json result:\n{output[-3000:]}")


def lvis_sized_train_json(workdir: str, num_images=None):
    """(json file, image root, images, annotations) of a generated LVIS v1 train-shaped json of
    ``num_images`` images (default: LVIS v1 train's 100,170) in ``workdir`` (checked writable;
    generated once: the same seed gives the same file)."""

    check_writable(workdir, "--workdir", folder=True)
    images, annotations = LVIS_V1_SIZES["train"]
    num_images = images if num_images is None else num_images
    num_annotations = round(annotations * num_images / images)
    os.makedirs(workdir, exist_ok=True)
    name = f"lvis_v1_train_sized_{num_images}_{num_annotations}.json"
    json_file = os.path.join(workdir, name)
    if not os.path.isfile(json_file):
        write_lvis_sized_json(json_file, num_images, num_annotations, "train", seed=0)
    return json_file, os.path.join(workdir, f"images_{num_images}"), num_images, num_annotations
