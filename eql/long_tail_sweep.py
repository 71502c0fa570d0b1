"""The long-tail benchmark's sweep (``benchmarks/long_tail.py``, also the demo): one LVIS v1-shaped
synthetic set, every loss trained on it with the same config and schedule for several seeds, each
run a ``tools/train_net.py`` process of its own (``<out>/runs/<label>/seed<k>``).

A sweep resumes: a run whose ``metrics.json`` holds its final evaluation is kept; a run folder
without one (an interrupted run) is deleted and trained again from the start, so that every run of
the table is one uninterrupted, seeded training (detectron2's ``--resume`` restarts the data stream
and the random generators: a resumed run is not the run it would have been). ``<out>/sweep.json``
records what the runs depend on (the set, the config, the schedule); a later call with other
values is refused rather than mixing runs of two settings in one table.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

from .errors import UserError
from .io_utils import write_json_atomic
from .run_summary import Run, RunError, final_metrics, load_run

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_NET = os.path.join(REPO, "tools", "train_net.py")
PROGRESS_LINE = re.compile(r"eta: (\S+)\s+iter: (\d+)")  # detectron2's CommonMetricPrinter
DATA_PREFIX = "long_tail"  # DATASETS.SYNTHETIC.PREFIX of the configs in configs/LongTail-Synthetic


class SweepError(UserError):
    """A sweep cannot go on (settings changed, a run failed); the message names the file or key."""


@dataclass(frozen=True)
class SetSize:
    """One size of the benchmark: the generated set and the config trained on it."""

    config: str  # relative to the repository
    num_classes: int
    num_train_images: int
    num_val_images: int
    image_size: int
    max_images_per_class: int  # the most frequent class's training images (LVIS profile)
    data_seed: int = 0

    def data_params(self) -> Dict:
        return {
            "num_classes": self.num_classes,
            "num_train_images": self.num_train_images,
            "num_val_images": self.num_val_images,
            "image_size": self.image_size,
            "max_images_per_class": self.max_images_per_class,
            "seed": self.data_seed,
            "profile": "lvis",
        }


# The benchmark's sizes (benchmarks/long_tail.py --size; the demo trains the smoke size).
SIZES = {
    # 100 classes: 28 rare, 38 common, 34 frequent (6,807 class-images over 3 objects an image
    # need >= 2,269 images); ~2 min a run on 2 CPU cores
    "smoke": SetSize(
        config="configs/LongTail-Synthetic/smoke_faster_rcnn_R_18_FPN.yaml",
        num_classes=100,
        num_train_images=2400,
        num_val_images=600,
        image_size=64,
        max_images_per_class=200,
    ),
    # 300 classes: 84 rare, 115 common, 101 frequent (needs >= 12,677 images)
    "gpu": SetSize(
        config="configs/LongTail-Synthetic/gpu_mask_rcnn_R_50_FPN.yaml",
        num_classes=300,
        num_train_images=13000,
        num_val_images=2000,
        image_size=192,
        max_images_per_class=600,
    ),
}

# Config options of each loss over the size's config (label -> opts). The labels are the ones
# eql.run_summary reads back from a run's config.yaml.
LOSS_OPTS: Dict[str, List[str]] = {
    "sigmoid_ce": ["MODEL.EQL.LOSS", "sigmoid_ce"],
    "eql": ["MODEL.EQL.LOSS", "eql"],
    "eqlv2": ["MODEL.EQL.LOSS", "eqlv2", "MODEL.EQL.PRIOR_PROB", "0.0"],
    "softmax_ce": [  # detectron2's own predictor
        "MODEL.ROI_HEADS.NAME",
        "StandardROIHeads",
        "MODEL.ROI_BOX_HEAD.USE_SIGMOID_CE",
        "False",
    ],
    "seesaw": [
        "MODEL.EQL.LOSS",
        "seesaw",
        "MODEL.EQL.PRIOR_PROB",
        "0.0",
        "MODEL.EQL.CLASSIFIER",
        "cosine",
    ],
    "sigmoid_ce_fed": ["MODEL.EQL.LOSS", "sigmoid_ce", "MODEL.ROI_BOX_HEAD.USE_FED_LOSS", "True"],
}
SIGMOID_LABELS = ("sigmoid_ce", "eql", "eqlv2", "sigmoid_ce_fed")  # they record gradients
# LVIS: RFS threshold 0.001 on ~100k images and the federated loss's 50 of 1,203 classes; the
# benchmark keeps these as image and class counts: 100 images, and 50 / 1,203 of the classes.
RFS_THRESHOLD_IMAGES = 100
FED_CLASS_FRACTION = 50 / 1203


def variant_opts(label: str, size: SetSize) -> List[str]:
    """The config options of a label: a loss of LOSS_OPTS, optionally with "_rfs" (repeat-factor
    sampling at LVIS's threshold in images) inserted before "_fed" or appended."""
    rfs = "_rfs" in label
    loss = label.replace("_rfs", "")
    if loss not in LOSS_OPTS:
        raise SweepError(f"--losses: unknown loss {label!r}; choose from {sorted(LOSS_OPTS)}")
    opts = list(LOSS_OPTS[loss])
    if loss.endswith("_fed"):
        num = max(1, round(FED_CLASS_FRACTION * size.num_classes))
        opts += ["MODEL.ROI_BOX_HEAD.FED_LOSS_NUM_CLASSES", str(num)]
    if rfs:
        threshold = RFS_THRESHOLD_IMAGES / size.num_train_images
        opts += [
            "DATALOADER.SAMPLER_TRAIN",
            "RepeatFactorTrainingSampler",
            "DATALOADER.REPEAT_THRESHOLD",
            f"{threshold:.6g}",
        ]
    return opts


def with_rfs(label: str) -> str:
    return label.replace("_fed", "_rfs_fed") if label.endswith("_fed") else label + "_rfs"


@dataclass
class Sweep:
    """A sweep's settings; ``runs`` lists (label, seed) in the order they are trained."""

    output_dir: str
    size_name: str
    size: SetSize
    labels: Sequence[str]
    seeds: Sequence[int]
    max_iter: Optional[int] = None  # SOLVER.MAX_ITER override (the config's otherwise)
    extra_opts: Sequence[str] = field(default_factory=list)
    gradient_stats: bool = True

    def __post_init__(self):
        for label in self.labels:
            variant_opts(label, self.size)  # unknown labels fail before anything is written

    @property
    def data_root(self) -> str:
        return os.path.join(self.output_dir, "data")

    def run_dir(self, label: str, seed: int) -> str:
        return os.path.join(self.output_dir, "runs", label, f"seed{seed}")

    @property
    def runs(self):
        # seed-major: a sweep stopped half way has every loss at the first seeds
        return [(label, seed) for seed in self.seeds for label in self.labels]

    def settings(self) -> Dict:
        """What every run depends on, besides its loss and seed (stored in sweep.json)."""
        return {
            "size": self.size_name,
            "data": self.size.data_params(),
            "config": self.size.config,
            "max_iter": self.max_iter,
            "extra_opts": list(self.extra_opts),
        }

    def opts(self, label: str, seed: int) -> List[str]:
        opts = [
            "DATASETS.SYNTHETIC.ROOT",
            self.data_root,
            "DATASETS.SYNTHETIC.PREFIX",
            DATA_PREFIX,
            "MODEL.ROI_HEADS.NUM_CLASSES",
            str(self.size.num_classes),
        ]
        opts += variant_opts(label, self.size)
        if self.max_iter:
            opts += ["SOLVER.MAX_ITER", str(self.max_iter)]
        if self.gradient_stats and label.replace("_rfs", "") in SIGMOID_LABELS:
            # written after the last iteration (and every PERIOD before it)
            opts += ["MODEL.EQL.GRADIENT_STATS.PERIOD", str(self.max_iter or 10**9)]
        opts += list(self.extra_opts)
        return opts + ["SEED", str(seed), "OUTPUT_DIR", self.run_dir(label, seed)]


def check_settings(sweep: Sweep) -> None:
    """Writes ``sweep.json`` on the first call; refuses a later call with other settings."""
    path = os.path.join(sweep.output_dir, "sweep.json")
    wanted = sweep.settings()
    if os.path.isfile(path):
        from .io_utils import read_json

        found = read_json(path, SweepError)
        changed = sorted(k for k in set(wanted) | set(found) if wanted.get(k) != found.get(k))
        if changed:
            raise SweepError(
                f"{path}: this folder's runs were made with other settings ({', '.join(changed)}: "
                f"{[found.get(k) for k in changed]} there, {[wanted.get(k) for k in changed]} "
                "now); use another --output-dir"
            )
        return
    os.makedirs(sweep.output_dir, exist_ok=True)
    write_json_atomic(path, wanted)


def prepare_data(sweep: Sweep, log: Callable[[str], None] = print) -> str:
    """Generates the set once (``<data>/params.json`` marks a finished one)."""
    from .data.synthetic import generate_synthetic_lvis

    stamp = os.path.join(sweep.data_root, "params.json")
    params = sweep.size.data_params()
    if os.path.isfile(stamp):
        with open(stamp) as f:
            if json.load(f) == params:
                return sweep.data_root
    log(f"generating the {sweep.size_name} set in {sweep.data_root}")
    shutil.rmtree(sweep.data_root, ignore_errors=True)
    generate_synthetic_lvis(
        sweep.data_root,
        params["num_train_images"],
        params["num_val_images"],
        params["num_classes"],
        image_size=params["image_size"],
        seed=params["seed"],
        progress=False,
        profile="lvis",
        max_images_per_class=params["max_images_per_class"],
    )
    write_json_atomic(stamp, params)
    return sweep.data_root


def is_complete(run_dir: str) -> bool:
    try:
        final_metrics(run_dir)
    except RunError:
        return False
    return True


def _run_child(
    cmd: List[str], log_path: str, what: str, progress: Optional[Callable[[str], None]] = None
) -> None:
    """Runs ``cmd`` with its output in ``log_path`` (its progress lines, "iter 99, eta 0:01:40",
    to ``progress`` when given); a failure raises SweepError with the end of the log."""
    with open(log_path, "w") as log:
        child = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO, text=True
        )
        for line in child.stdout:
            log.write(line)
            found = PROGRESS_LINE.search(line) if progress else None
            if found:
                progress(f"iter {found.group(2)}, eta {found.group(1)}")
        returncode = child.wait()
    if returncode:
        with open(log_path) as f:
            tail = f.read()[-2000:]
        raise SweepError(f"{what} failed (exit code {returncode}); its log is {log_path}:\n{tail}")


def train_run(
    sweep: Sweep, label: str, seed: int, progress: Optional[Callable[[str], None]] = None
) -> float:
    """Trains and evaluates one run in a child process (an unfinished folder is started over);
    its output goes to ``<run>/train.log``. Returns the seconds it took."""
    run_dir = sweep.run_dir(label, seed)
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(run_dir)
    cmd = [sys.executable, TRAIN_NET, "--config-file", os.path.join(REPO, sweep.size.config)]
    cmd += sweep.opts(label, seed)
    start = time.time()
    log_path = os.path.join(run_dir, "train.log")
    _run_child(cmd, log_path, f"run {label} seed {seed}", progress)
    if not is_complete(run_dir):
        raise SweepError(f"{run_dir}: the run ended without an evaluation (see {log_path})")
    return time.time() - start


def run_sweep(
    sweep: Sweep,
    max_runs: Optional[int] = None,
    log: Callable[[str], None] = print,
    progress: Optional[Callable[[str], None]] = None,
) -> List[Run]:
    """Trains the runs not done yet (at most ``max_runs`` of them) and returns every finished
    run, each with its label and seed read back from its folder."""
    check_settings(sweep)
    prepare_data(sweep, log)
    todo = [
        (label, seed) for label, seed in sweep.runs if not is_complete(sweep.run_dir(label, seed))
    ]
    done_before = len(sweep.runs) - len(todo)
    if done_before:
        log(f"{done_before} of {len(sweep.runs)} runs already done in {sweep.output_dir}")
    for k, (label, seed) in enumerate(todo[:max_runs] if max_runs is not None else todo):
        log(f"[{done_before + k + 1}/{len(sweep.runs)}] training {label} seed {seed} ...")
        seconds = train_run(sweep, label, seed, progress)
        log(f"    done in {seconds:.0f} s: {sweep.run_dir(label, seed)}")
    return finished_runs(sweep)


def evaluate_again(
    sweep: Sweep, tag: str, opts: Sequence[str], log: Callable[[str], None] = print
) -> List[Run]:
    """Evaluates every finished run's final model again with other test options (e.g.
    ``TEST.LVIS.AP_FIXED True``) into ``<run>/eval_<tag>`` (kept once done) and returns these
    evaluations as runs. ``<out>/eval_<tag>.json`` holds the options; other ones for the same tag
    are refused."""
    if not tag or not tag.replace("_", "").replace("-", "").isalnum():
        raise SweepError(f"--eval-tag: letters, digits, '-' and '_' only, got {tag!r}")
    path = os.path.join(sweep.output_dir, f"eval_{tag}.json")
    if os.path.isfile(path):
        from .io_utils import read_json

        found = read_json(path, SweepError)
        if found != list(opts):
            raise SweepError(f"{path}: tag {tag!r} was evaluated with {found}, not {list(opts)}")
    else:
        write_json_atomic(path, list(opts))
    out = []
    for run in finished_runs(sweep):
        target = os.path.join(run.path, f"eval_{tag}")
        if not is_complete(target):
            log(f"evaluating {run.label} seed {run.seed} again ({tag}) ...")
            shutil.rmtree(target, ignore_errors=True)
            os.makedirs(target)
            cmd = [sys.executable, TRAIN_NET, "--eval-only"]
            cmd += ["--config-file", os.path.join(run.path, "config.yaml")]
            cmd += ["MODEL.WEIGHTS", os.path.join(run.path, "model_final.pth")]
            cmd += ["MODEL.EQL.GRADIENT_STATS.PERIOD", "0", *opts, "OUTPUT_DIR", target]
            what = f"evaluation {tag} of {run.label} seed {run.seed}"
            _run_child(cmd, os.path.join(target, "eval.log"), what)
        if not is_complete(target):
            raise SweepError(f"{target}: the evaluation wrote no metrics (see eval.log there)")
        out.append(Run(run.label, run.seed, final_metrics(target), target))
    return out


def finished_runs(sweep: Sweep) -> List[Run]:
    out = []
    for label, seed in sweep.runs:
        path = sweep.run_dir(label, seed)
        if is_complete(path):
            run = load_run(f"{label}={path}")
            if run.seed != seed:
                raise SweepError(f"{path}/config.yaml: SEED {run.seed}, expected {seed}")
            out.append(run)
    return out
