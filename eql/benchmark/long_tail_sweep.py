"""The long-tail benchmark's sweep (``benchmarks/long_tail.py``, also the demo): one LVIS v1-shaped
synthetic set, every loss trained on it with the same config and schedule for several seeds, each
run a ``tools/train_net.py`` process of its own (``<out>/runs/<label>/seed<k>``).

A sweep resumes: a run whose ``metrics.json`` holds its final evaluation is kept; an interrupted
run goes on from its last checkpoint with ``--resume`` (eql's resume is exact: the same weights as
one uninterrupted run, README "Training and evaluation"), and a run folder without a checkpoint is
trained again from its start. ``<out>/sweep.json`` records what the runs depend on (the set, the
config, the schedule, each loss's options); a later call with other values is refused rather than
mixing runs of two settings in one table.
"""

import json
import os
import re
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

from ..data.synthetic.lvis import generate_synthetic_lvis
from ..modeling.heads import HEAD_KINDS
from ..utils.io import read_json, write_json_atomic
from ..utils.warm_start import run_script
from .long_tail_sizes import (  # noqa: F401  (re-exported: the sweep's vocabulary)
    REPO,
    SIZES,
    SetSize,
    base_schedule,
    merged_config_digest,
    schedule_opts,
    trains_masks,
)
from .long_tail_variants import (  # noqa: F401  (re-exported: the sweep's vocabulary)
    FED_CLASS_FRACTION,
    PROTOCOL_STARTS,
    RFS_THRESHOLD_IMAGES,
    SweepError,
    records_gradients,
    variant_opts,
    with_rfs,
)
from .run_summary import Run, RunError, final_metrics, load_run

TRAIN_NET = os.path.join(REPO, "tools", "train_net.py")
PROGRESS_LINE = re.compile(r"eta: (\S+)\s+iter: (\d+)")  # detectron2's CommonMetricPrinter
DATA_PREFIX = "long_tail"  # DATASETS.SYNTHETIC.PREFIX of the configs in configs/LongTail-Synthetic


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
    schedule: int = 1  # multiple of the config's schedule (iterations and steps)
    recipe: str = "protocol"  # benchmarks/long_tail.py --recipe (recorded in sweep.json)

    def __post_init__(self):
        if self.schedule != 1 and self.max_iter:
            raise SweepError("--max-iter and --schedule: give one of them")
        for label in self.labels:
            variant_opts(label, self.size)  # unknown labels fail before anything is written

    @property
    def iterations(self) -> int:
        """SOLVER.MAX_ITER of every run."""
        return self.max_iter or base_schedule(self.size.config)[0] * self.schedule

    @property
    def gradient_period(self) -> int:
        """MODEL.EQL.GRADIENT_STATS.PERIOD: ~20 points of the mean ratios over the run in
        metrics.json (detectron2 writes it every 20 iterations: no shorter period) and the
        per-class statistics at the end."""
        return max(20, self.iterations // 20)

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
            "config_sha256": merged_config_digest(self.size.config),
            "max_iter": self.max_iter,
            "schedule": self.schedule,
            "recipe": self.recipe,
            "start": {
                f"{h} {'sigmoid' if sig else 'softmax'}": [list(kv) for kv in start]
                for (h, sig), start in PROTOCOL_STARTS.items()
                if h == self.size.head
            },
            "extra_opts": list(self.extra_opts),
            # CPU runs' numbers depend on their thread count: a folder keeps one
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", ""),
        }

    def opts(self, label: str, seed: int) -> List[str]:
        opts = [
            "DATASETS.SYNTHETIC.ROOT",
            self.data_root,
            "DATASETS.SYNTHETIC.PREFIX",
            DATA_PREFIX,
            HEAD_KINDS[self.size.head].num_classes_key,
            str(self.size.num_classes),
        ]
        opts += variant_opts(label, self.size)
        opts += schedule_opts(self.size.config, self.schedule)
        if self.max_iter:
            opts += ["SOLVER.MAX_ITER", str(self.max_iter)]
        if self.gradient_stats and records_gradients(label, self.size.head):
            opts += ["MODEL.EQL.GRADIENT_STATS.PERIOD", str(self.gradient_period)]
        opts += list(self.extra_opts)
        return opts + ["SEED", str(seed), "OUTPUT_DIR", self.run_dir(label, seed)]


def check_settings(sweep: Sweep) -> None:
    """Writes ``sweep.json`` on the first call; refuses a later call with other settings. Its
    ``loss_opts`` holds each label's config options as trained: a later call may add labels, not
    change the options of one that has runs here."""
    path = os.path.join(sweep.output_dir, "sweep.json")
    wanted = sweep.settings()
    loss_opts = {label: variant_opts(label, sweep.size) for label in sweep.labels}
    if os.path.isfile(path):

        found = read_json(path, SweepError)
        found_opts = found.pop("loss_opts", {})
        changed = sorted(k for k in set(wanted) | set(found) if wanted.get(k) != found.get(k))
        if changed:
            raise SweepError(
                f"{path}: this folder's runs were made with other settings ({', '.join(changed)}: "
                f"{[found.get(k) for k in changed]} there, {[wanted.get(k) for k in changed]} "
                "now); use another --output-dir"
            )
        for label, opts in loss_opts.items():
            if label in found_opts and found_opts[label] != opts:
                raise SweepError(
                    f"{path}: the runs of {label!r} were made with {found_opts[label]}, not "
                    f"{opts} (its options changed since); use another --output-dir"
                )
        if set(loss_opts) - set(found_opts):
            write_json_atomic(path, dict(wanted, loss_opts={**found_opts, **loss_opts}))
        return
    os.makedirs(sweep.output_dir, exist_ok=True)
    write_json_atomic(path, dict(wanted, loss_opts=loss_opts))


def prepare_data(sweep: Sweep, log: Callable[[str], None] = print) -> str:
    """Generates the set once (``<data>/params.json`` marks a finished one)."""

    stamp = os.path.join(sweep.data_root, "params.json")
    params = sweep.size.data_params()
    if os.path.isfile(stamp):
        with open(stamp) as f:
            if json.load(f) == params:
                return sweep.data_root
    log(f"generating the {sweep.size_name} set in {sweep.data_root}")
    shutil.rmtree(sweep.data_root, ignore_errors=True)
    generate_synthetic_lvis(sweep.data_root, progress=False, **params)
    write_json_atomic(stamp, params)
    return sweep.data_root


def is_complete(run_dir: str) -> bool:
    try:
        final_metrics(run_dir)
    except RunError:
        return False
    return True


def _run_train_net(
    args: List[str],
    log_path: str,
    what: str,
    progress: Optional[Callable[[str], None]] = None,
    append: bool = False,
) -> None:
    """``python tools/train_net.py ARGS`` in the repository, a process of its own forked from a
    warm one (eql.utils.warm_start: its imports are paid once a sweep, not once a run), with its
    output in ``log_path`` (its progress lines, "iter 99, eta 0:01:40", to ``progress`` when
    given); a failure raises SweepError with the end of the log."""

    def on_line(line: str) -> None:
        found = PROGRESS_LINE.search(line)
        if found:
            progress(f"iter {found.group(2)}, eta {found.group(1)}")

    returncode = run_script(
        TRAIN_NET, args, log_path, append=append, cwd=REPO, on_line=progress and on_line
    )
    if returncode:
        with open(log_path, errors="replace") as f:
            tail = f.read()[-2000:]
        raise SweepError(f"{what} failed (exit code {returncode}); its log is {log_path}:\n{tail}")


def resumable_checkpoint(run_dir: str) -> str:
    """The checkpoint an interrupted run goes on from ('' when there is none to use)."""
    pointer = os.path.join(run_dir, "last_checkpoint")
    if not os.path.isfile(pointer) or not os.path.isfile(os.path.join(run_dir, "config.yaml")):
        return ""
    with open(pointer) as f:
        name = f.read().strip()
    return name if name and os.path.isfile(os.path.join(run_dir, name)) else ""


def train_run(
    sweep: Sweep,
    label: str,
    seed: int,
    progress: Optional[Callable[[str], None]] = None,
    log: Callable[[str], None] = print,
) -> float:
    """Trains and evaluates one run in a child process: from its last checkpoint when an
    interrupted run left one, else from the start in an emptied folder. Its output goes to
    ``<run>/train.log``. Returns the seconds it took."""
    run_dir = sweep.run_dir(label, seed)
    checkpoint = resumable_checkpoint(run_dir)
    if checkpoint:
        log(f"    resuming from {checkpoint}")
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
        os.makedirs(run_dir)
    args = ["--config-file", os.path.join(REPO, sweep.size.config)]
    args += (["--resume"] if checkpoint else []) + sweep.opts(label, seed)
    start = time.time()
    log_path = os.path.join(run_dir, "train.log")
    _run_train_net(args, log_path, f"run {label} seed {seed}", progress, append=bool(checkpoint))
    if not is_complete(run_dir):
        raise SweepError(f"{run_dir}: the run ended without an evaluation (see {log_path})")
    return time.time() - start


def run_sweep(
    sweep: Sweep,
    max_runs: Optional[int] = None,
    log: Callable[[str], None] = print,
    progress: Optional[Callable[[str], None]] = None,
    task: str = "bbox",
    jobs: int = 1,
) -> List[Run]:
    """Trains the runs not done yet (at most ``max_runs`` of them; ``jobs`` at a time, each a
    process of its own: on a GPU they share it) and returns every finished run, each with its
    label and seed read back from its folder and its ``task`` metrics. A failed run stops the
    sweep once the runs under way have ended (they are kept)."""
    check_settings(sweep)
    todo = [
        (label, seed) for label, seed in sweep.runs if not is_complete(sweep.run_dir(label, seed))
    ]
    done_before = len(sweep.runs) - len(todo)
    if done_before:
        log(f"{done_before} of {len(sweep.runs)} runs already done in {sweep.output_dir}")
    todo = todo[:max_runs] if max_runs is not None else todo
    if todo:  # the set is made when a run needs it: the tables of finished runs need none
        prepare_data(sweep, log)

    failed = threading.Event()

    def one(k: int, label: str, seed: int) -> None:
        if failed.is_set():
            return
        log(f"[{done_before + k + 1}/{len(sweep.runs)}] training {label} seed {seed} ...")
        try:
            seconds = train_run(sweep, label, seed, progress if jobs == 1 else None, log)
        except BaseException:
            failed.set()
            raise
        log(f"    done in {seconds:.0f} s: {sweep.run_dir(label, seed)}")

    if jobs == 1:
        for k, (label, seed) in enumerate(todo):
            one(k, label, seed)
    else:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(one, k, label, seed) for k, (label, seed) in enumerate(todo)]
            errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            raise errors[0]
    return finished_runs(sweep, task)


def evaluate_again(
    sweep: Sweep,
    tag: str,
    opts: Sequence[str],
    log: Callable[[str], None] = print,
    task: str = "bbox",
) -> List[Run]:
    """Evaluates every finished run's final model again with other test options (e.g.
    ``TEST.LVIS.AP_FIXED True``) into ``<run>/eval_<tag>`` (kept once done) and returns these
    evaluations as runs. ``<out>/eval_<tag>.json`` holds the options; other ones for the same tag
    are refused."""
    if not tag or not tag.replace("_", "").replace("-", "").isalnum():
        raise SweepError(f"--eval-tag: letters, digits, '-' and '_' only, got {tag!r}")
    path = os.path.join(sweep.output_dir, f"eval_{tag}.json")
    if os.path.isfile(path):

        found = read_json(path, SweepError)
        if found != list(opts):
            raise SweepError(f"{path}: tag {tag!r} was evaluated with {found}, not {list(opts)}")
    else:
        write_json_atomic(path, list(opts))
    out = []
    for run in finished_runs(sweep, task):
        target = os.path.join(run.path, f"eval_{tag}")
        if not is_complete(target):
            prepare_data(sweep, log)
            log(f"evaluating {run.label} seed {run.seed} again ({tag}) ...")
            shutil.rmtree(target, ignore_errors=True)
            os.makedirs(target)
            args = ["--eval-only", "--config-file", os.path.join(run.path, "config.yaml")]
            args += ["MODEL.WEIGHTS", os.path.join(run.path, "model_final.pth")]
            args += ["MODEL.EQL.GRADIENT_STATS.PERIOD", "0", *opts, "OUTPUT_DIR", target]
            what = f"evaluation {tag} of {run.label} seed {run.seed}"
            _run_train_net(args, os.path.join(target, "eval.log"), what)
        if not is_complete(target):
            raise SweepError(f"{target}: the evaluation wrote no metrics (see eval.log there)")
        out.append(Run(run.label, run.seed, final_metrics(target, task), target))
    return out


def finished_runs(sweep: Sweep, task: str = "bbox") -> List[Run]:
    """The sweep's finished runs with their ``task`` ("bbox" or "segm") metrics."""
    out = []
    for label, seed in sweep.runs:
        path = sweep.run_dir(label, seed)
        if is_complete(path):
            run = load_run(f"{label}={path}", task)
            if run.seed != seed:
                raise SweepError(f"{path}/config.yaml: SEED {run.seed}, expected {seed}")
            out.append(run)
    return out
