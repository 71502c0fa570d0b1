"""Guards of a run's OUTPUT_DIR, before any process starts and while the run lasts.

* :func:`check_output_dir`: OUTPUT_DIR is (or can be created as) a directory, files can be
  written in it, and its file system has room for a checkpoint (the model's state and the
  optimizer's, estimated from the config without allocating the model).
* :class:`RunLock`: an exclusive lock per OUTPUT_DIR (``fcntl.flock`` on
  ``OUTPUT_DIR/.eql_run.lock``, held by the launching process until the run ends; the system
  releases it when that process dies, even by kill -9). A second run into the same folder stops at
  once with the first's process id, host, start time and command line.
"""

import contextlib
import datetime
import errno
import json
import os
import shutil
import socket
import sys
from typing import Optional

from ..errors import ConfigError, UserError
from ..modeling.heads import HEAD_KINDS, model_head_kind
from ..utils.paths import cannot_write_in, existing_ancestor

LOCK_FILE = ".eql_run.lock"
MARGIN = 1.1  # room asked for beyond the estimated checkpoint


class OutputDirInUse(UserError):
    """Another run holds OUTPUT_DIR's lock."""


def check_output_dir(output_dir: str, checkpoint_bytes: Optional[int] = None) -> None:
    """Raises ConfigError naming OUTPUT_DIR when the run could not write its files there: a file
    in its place or on its path, a folder where files cannot be created, or less free space than
    ``checkpoint_bytes`` (with a margin). Creates nothing."""
    if not output_dir:
        raise ConfigError("OUTPUT_DIR: empty (the run's folder)")
    where = existing_ancestor(output_dir)
    if not os.path.isdir(where):
        what = "is a file" if where == os.path.abspath(output_dir) else f"is under a file ({where})"
        raise ConfigError(f"OUTPUT_DIR: {output_dir} {what}, not a folder")
    why = cannot_write_in(where)
    if why is not None:
        raise ConfigError(f"OUTPUT_DIR: cannot write in {where} ({why})")
    if checkpoint_bytes:
        free = shutil.disk_usage(where).free
        if free < MARGIN * checkpoint_bytes:
            raise ConfigError(
                f"OUTPUT_DIR: {output_dir} has {free / 2**20:.1f} MiB free, a checkpoint of this "
                f"model needs about {checkpoint_bytes / 2**20:.1f} MiB"
            )


def estimated_checkpoint_bytes(cfg) -> Optional[int]:
    """Bytes of a training checkpoint of ``cfg``'s model: its parameters and buffers plus an
    optimizer state of the parameters' size (SGD's momentum), from a model built on the meta
    device (no memory); None where the model cannot be built there."""
    from detectron2.modeling import build_model

    plain = HEAD_KINDS[model_head_kind(cfg)].baseline
    meta = cfg.clone()
    meta.defrost()
    # the loss's statistics need data (and values) that the meta device does not have; a plain
    # loss of the same head has the same parameters
    meta.MODEL.DEVICE, meta.MODEL.WEIGHTS = "meta", ""
    meta.MODEL.EQL.LOSS, meta.MODEL.EQL.GRADIENT_STATS.PERIOD = plain, 0
    meta.MODEL.ROI_BOX_HEAD.USE_FED_LOSS = False
    return meta_checkpoint_bytes(lambda: build_model(meta))


def meta_checkpoint_bytes(build) -> Optional[int]:
    """Bytes of a training checkpoint of the model ``build()`` makes on the meta device (no
    memory): its state plus an optimizer state of its parameters' size (SGD's momentum); None
    where it cannot be built there."""
    import torch

    try:
        with torch.device("meta"):
            model = build()
    except Exception:  # noqa: BLE001  (an estimate: a model that needs real tensors has none)
        return None
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    state = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    return int(state + params)


class RunLock:
    """Holds OUTPUT_DIR's run lock for a ``with`` block (creating OUTPUT_DIR); raises
    OutputDirInUse naming the run that holds it."""

    def __init__(self, output_dir: str, command: Optional[str] = None):
        self.output_dir = output_dir
        self.path = os.path.join(output_dir, LOCK_FILE)
        self.command = command if command is not None else " ".join(sys.argv)
        self._file = None

    def __enter__(self):
        import fcntl

        os.makedirs(self.output_dir, exist_ok=True)
        f = open(self.path, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            f.seek(0)
            holder = f.read().strip()
            f.close()
            if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            raise OutputDirInUse(
                f"OUTPUT_DIR: {self.output_dir} is in use by another run ({_describe(holder)}); "
                "wait for it to end or choose another OUTPUT_DIR"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "started": datetime.datetime.now().isoformat(timespec="seconds"),
                    "command": self.command,
                }
            )
        )
        f.flush()
        self._file = f
        return self

    def __exit__(self, *exc):
        import fcntl

        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        return False


def _describe(holder: str) -> str:
    try:
        info = json.loads(holder)
        return f"pid {info['pid']} on {info['host']}, started {info['started']}: {info['command']}"
    except (ValueError, KeyError, TypeError):
        return "its details are not readable"
