"""Helpers shared by the tests: the repository's paths, configs and data, by-hand numerics,
gloo process groups, every loss of eql.losses, and running the tools and scripts in-process or as
processes. Fixtures are in conftest.py. At the top it imports torch, eql.losses and the standard
library only: a Python without detectron2 imports this module (tests/test_package.py)."""

import contextlib
import copy
import fcntl
import functools
import importlib.util
import io
import json
import math
import multiprocessing
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Callable, Dict, List, Tuple

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from eql.losses import LOSSES, ClassificationLoss, EQLv2, SeesawLoss, SigmoidEQL, SoftmaxEQL

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(os.path.dirname(REPO), "shared", "data")
V05_COUNTS = os.path.join(SHARED_DATA, "lvis_v0.5_train_category_image_count.json")
INSTANT_CONFIG = os.path.join(
    REPO, "configs", "quick_schedules", "synthetic_mask_rcnn_R_18_FPN_instant_test.yaml"
)
INSTANT = INSTANT_CONFIG
TRAIN_NET = os.path.join(REPO, "tools", "train_net.py")
CASCADE_OPTS = (
    "MODEL.ROI_HEADS.NAME",
    "EQLCascadeROIHeads",
    "MODEL.ROI_BOX_HEAD.CLS_AGNOSTIC_BBOX_REG",
    "True",
)


# --- numerics by hand


def sig(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def bce(z: float, y: float) -> float:
    """Binary cross-entropy of one logit, by hand."""
    p = sig(z)
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


def _gloo_entry(rank, world_size, init_file, fn, args):
    dist.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size
    )
    try:
        fn(rank, world_size, *args)
        dist.barrier()  # no rank tears the group down while another still communicates
    finally:
        dist.destroy_process_group()


def run_gloo(fn, world_size: int, tmp_dir: str, *args) -> None:
    """Runs ``fn(rank, world_size, *args)`` in ``world_size`` CPU processes joined by a gloo
    process group; ``fn`` must be importable (a module-level function) and write what the test
    checks to files."""
    init_file = os.path.join(str(tmp_dir), "gloo_init")
    # forked from one server process a pytest worker starts once, which has imported torch, eql
    # and this module: a spawned process would import them again each time (~5 CPU-s)
    multiprocessing.get_context("forkserver").set_forkserver_preload(["torch", "eql", "common"])
    mp.start_processes(
        _gloo_entry,
        args=(world_size, init_file, fn, args),
        nprocs=world_size,
        join=True,
        start_method="forkserver",
    )


def loss_state(module: torch.nn.Module) -> dict:
    """The persistent buffers of a module, as cloned tensors."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _gloo_loss_steps(rank, world_size, out_dir, make_loss, make_batch, steps, normalizer):
    from eql.losses import LossContext

    z, gt = make_batch()
    rows = slice(rank * len(gt) // world_size, (rank + 1) * len(gt) // world_size)
    loss = make_loss()
    for _ in range(steps):
        loss(z[rows], gt[rows], LossContext(normalizer=normalizer))
    torch.save(loss_state(loss), os.path.join(out_dir, f"rank{rank}.pth"))


def assert_statistics_summed_over_processes(
    tmp_dir, make_loss, make_batch, steps=3, normalizer=8.0
):
    """Two gloo processes, each with half of the batch, end with identical loss statistics, equal
    to one process without torch.distributed on the whole batch (a fixed normaliser). The
    factories must be module-level functions (they travel to the processes)."""
    from eql.losses import LossContext

    run_gloo(_gloo_loss_steps, 2, tmp_dir, str(tmp_dir), make_loss, make_batch, steps, normalizer)
    s0, s1 = (torch.load(os.path.join(str(tmp_dir), f"rank{r}.pth")) for r in (0, 1))
    z, gt = make_batch()
    single = make_loss()
    for _ in range(steps):
        single(z, gt, LossContext(normalizer=normalizer))
    assert set(s0) == set(single.state_dict())
    for k in s0:
        assert torch.equal(s0[k], s1[k]), k
        assert torch.allclose(s0[k], single.state_dict()[k], rtol=1e-5), k


def load_script(relative_path: str):
    """A script of the repository (tools/, benchmarks/, datasets/) loaded as a module, so that its
    ``main(argv)`` is called in-process."""
    name = relative_path.replace("/", "_").rsplit(".", 1)[0]
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, relative_path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- every loss of eql.losses

LOSS_CLASSES = 5
TRAIN_COUNTS = [100, 50, 20, 5, 2]  # training images per class: the last two are tail (< 20)
TAIL = torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0])  # T(f) of the detection forms


def _every_loss() -> Dict[str, Tuple[Callable[[], ClassificationLoss], int]]:
    """name -> (factory, top label) for every registered loss of eql.losses, built as its class's
    ``for_classification`` does (a loss added to the registry is tested with no change here), and
    the detection forms with a background class and objectness logits. The top label is C when
    the loss takes the background C, else C - 1."""
    makers = {
        name: functools.partial(cls.for_classification, TRAIN_COUNTS)
        for name, cls in sorted(LOSSES.items())
    }
    makers.update(
        {
            "eqlv2_detection": lambda: EQLv2(LOSS_CLASSES),
            "seesaw_detection": lambda: SeesawLoss(LOSS_CLASSES),
            "seql_detection": lambda: SoftmaxEQL(TAIL, background=True),
            "eql_detection": lambda: SigmoidEQL(TAIL),
        }
    )
    return {
        name: (make, LOSS_CLASSES if make().background else LOSS_CLASSES - 1)
        for name, make in makers.items()
    }


# every loss of eql.losses: its factory and the top label it takes (LOSS_CLASSES with a
# background, labels in [0, LOSS_CLASSES]; else LOSS_CLASSES - 1)
EVERY_LOSS = _every_loss()


def every_loss_class_is_covered() -> None:
    """Fails naming the ClassificationLoss classes of eql.losses that EVERY_LOSS does not build."""
    import eql.losses as losses

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    public = {c for c in subclasses(ClassificationLoss) if getattr(losses, c.__name__, None) is c}
    covered = {type(make()) for make, _ in EVERY_LOSS.values()}
    assert public <= covered, sorted(c.__name__ for c in public - covered)


# --- configs and data


def instant_cfg(output_dir, *opts):
    """The instant-test config on tiny_synthetic, writing into output_dir."""
    from eql.config import load_config

    return load_config(
        INSTANT_CONFIG,
        [
            "DATASETS.TRAIN",
            "('tiny_synthetic_train',)",
            "DATASETS.TEST",
            "('tiny_synthetic_val',)",
            "OUTPUT_DIR",
            str(output_dir),
            *opts,
        ],
    )


def scale_category_ids(data, factor=10):
    """An LVIS-format dict (copied) whose category ids are multiplied by ``factor``, everywhere they
    appear, so that contiguous id != json id - 1."""
    data = copy.deepcopy(data)
    for c in data["categories"]:
        c["id"] *= factor
    for a in data.get("annotations", []):
        a["category_id"] *= factor
    for img in data["images"]:
        for key in ("neg_category_ids", "not_exhaustive_category_ids"):
            img[key] = [c * factor for c in img.get(key, [])]
    return data


def v05_counts() -> dict:
    """LVIS v0.5 train's per-category image counts (../shared/data)."""
    with open(V05_COUNTS) as f:
        return json.load(f)


PREDICTOR_CLASSES = 6  # the class count of the box-predictor tests


def write_counts_file(tmp_path, counts, num_images=100):
    path = tmp_path / "counts.json"
    cats = [{"id": j + 1, "image_count": n} for j, n in enumerate(counts)]
    path.write_text(json.dumps({"categories": cats, "num_images_with_annotations": num_images}))
    return str(path)


def predictor_cfg(tmp_path, counts, *opts):
    from eql.config import load_config

    return load_config(
        INSTANT_CONFIG,
        [
            "MODEL.ROI_HEADS.NUM_CLASSES",
            str(PREDICTOR_CLASSES),
            "MODEL.EQL.FREQUENCY_SOURCE",
            write_counts_file(tmp_path, counts),
            *opts,
        ],
    )


def random_proposals(num_per_image, seed=0):
    from detectron2.structures import Boxes, Instances

    g = torch.Generator().manual_seed(seed)
    out = []
    for n in num_per_image:
        inst = Instances((64, 64))
        xy = torch.rand(n, 2, generator=g) * 30
        inst.proposal_boxes = Boxes(
            torch.cat([xy, xy + 10 + torch.rand(n, 2, generator=g) * 20], 1)
        )
        inst.gt_boxes = Boxes(inst.proposal_boxes.tensor + torch.rand(n, 4, generator=g))
        inst.gt_classes = torch.randint(0, PREDICTOR_CLASSES + 1, (n,), generator=g)
        out.append(inst)
    return out


def gt_as_predictions(record, jitter=0.0, rng=None):
    """Instances predicting each ground-truth object (boxes, classes, masks, score 1)."""
    from detectron2.structures import Boxes, BoxMode, Instances

    h, w = record["height"], record["width"]
    inst = Instances((h, w))
    anns = record["annotations"]
    boxes = torch.tensor(
        [BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in anns],
        dtype=torch.float32,
    ).reshape(-1, 4)
    if jitter:
        boxes = boxes + torch.as_tensor(rng.normal(0, jitter, boxes.shape), dtype=torch.float32)
    inst.pred_boxes = Boxes(boxes)
    inst.pred_classes = torch.tensor([a["category_id"] for a in anns], dtype=torch.int64)
    inst.scores = (
        torch.ones(len(anns))
        if not jitter
        else torch.as_tensor(rng.uniform(0.1, 1, len(anns)), dtype=torch.float32)
    )
    inst.pred_masks = torch.stack(
        [torch.from_numpy(polygon_mask(a["segmentation"], h, w)) for a in anns]
    )
    return inst


def polygon_mask(polys, h, w):
    from pycocotools import mask as mask_util

    return mask_util.decode(mask_util.merge(mask_util.frPyObjects(polys, h, w))).astype(bool)


# --- running the tools


def run_train_net(*args, timeout=600):
    """``python tools/train_net.py ARGS`` (forked from a warm process: eql.utils.warm_start) in
    the repository; asserts it exits 0 and returns its output."""
    code, output = train_net_process(*args, timeout=timeout)
    assert code == 0, f"exit code {code}:\n" + output[-8000:]
    return output


def train_net_process(*args, timeout=600) -> Tuple[int, str]:
    """``python tools/train_net.py ARGS`` forked from a warm process (eql.utils.warm_start) in
    the repository: (its exit code, its stdout and stderr together)."""
    from eql.utils.warm_start import run_script

    # without the variable pytest changes at each test: one warm process serves all the tests
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env["PYTHONWARNINGS"] = "ignore"
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "train_net.log")
        code = run_script(TRAIN_NET, args, log, cwd=REPO, env=env, timeout=timeout)
        with open(log, errors="replace") as f:
            return code, f.read()


def synthetic_args(tiny_synthetic, out, config=INSTANT_CONFIG):
    opts = {
        "DATASETS.SYNTHETIC.ROOT": tiny_synthetic["root"],
        "DATASETS.SYNTHETIC.PREFIX": "tiny_synthetic",
        "DATASETS.TRAIN": "('tiny_synthetic_train',)",
        "DATASETS.TEST": "('tiny_synthetic_val',)",
        "OUTPUT_DIR": str(out),
    }
    return ["--config-file", config, *[x for kv in opts.items() for x in kv]]


def two_process_args(tiny_synthetic, out, config=INSTANT_CONFIG):
    """train_net arguments for 2 CPU processes over gloo, 2 iterations of 2 images each."""
    return [
        "--num-gpus",
        "2",
        "--dist-url",
        "auto",
        *synthetic_args(tiny_synthetic, out, config),
        "MODEL.DEVICE",
        "cpu",
        "SOLVER.MAX_ITER",
        "2",
        "SOLVER.IMS_PER_BATCH",
        "4",
    ]


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


@contextlib.contextmanager
def environ_kept():
    """os.environ as it was on entry, again on exit (what the code inside set or removed)."""
    env = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(env)


def run_tool(tool: str, argv: List[str]) -> Tuple[int, str, str]:
    """Runs tools/<tool>.py in-process: (exit code, stderr, stdout)."""
    module = __import__(tool)
    err, out = io.StringIO(), io.StringIO()
    with environ_kept(), contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            entry = getattr(module, "cli", None) or module.main
            code = entry(argv)
            code = 0 if code is None or not isinstance(code, int) else code
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    return code, err.getvalue(), out.getvalue()


def once_per_run(tmp_path_factory, name: str, compute: Callable[[], object]):
    """``compute()``'s JSON-able result, computed once a test run: the parallel workers of one
    run (pytest-xdist) share it through ``<name>.json`` in the run's temporary root, the first
    computing it under a lock; without workers, ``compute()``."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return compute()
    root = tmp_path_factory.getbasetemp().parent  # this run's, above each worker's own
    path = root / f"{name}.json"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.is_file():
            return json.loads(path.read_text())
        value = compute()
        path.write_text(json.dumps(value))
        return value
