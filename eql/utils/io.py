"""Writing files so that a reader never sees a partial one: write a temporary file next to the
target, flush it to disk, then rename it over the target (atomic on POSIX)."""

import json
import os
import re
from contextlib import contextmanager
from typing import IO, Any, Iterator

from ..errors import UserError


@contextmanager
def atomic_write(path: str, mode: str = "w", **open_kwargs) -> Iterator[IO]:
    """``with atomic_write(path) as f: ...``: ``path`` appears complete when the block ends, and
    not at all (the temporary file removed) when it raises."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(tmp, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json_atomic(path: str, data: Any, **dump_kwargs) -> None:
    """json.dump ``data`` to ``path`` atomically."""
    with atomic_write(path) as f:
        json.dump(data, f, **dump_kwargs)


def save_figure_atomic(fig, path: str, dpi: int = 100) -> None:
    """A matplotlib figure to a PNG file, atomically."""
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=dpi)


_TEMPORARY = re.compile(r"^\..+\.(\d+)\.tmp$")


def remove_stale_temporaries(directory: str) -> list:
    """Removes the temporary files of :func:`atomic_write` in ``directory`` whose writing process
    is gone (killed during a write); returns their paths."""
    removed = []
    for name in os.listdir(directory):
        match = _TEMPORARY.match(name)
        if not match or _process_alive(int(match.group(1))):
            continue
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            os.remove(path)
            removed.append(path)
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def json_number(x) -> bool:
    """Whether a parsed json value is a number (json's true / false parse as Python bools, which
    are ints)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def read_json_lines(path: str, error=None):
    """(line number, parsed value) of each non-blank line of a json-lines file (detectron2's
    metrics.json); a line that is not json raises ``error`` (a UserError class) naming the file
    and the line."""
    error = error or UserError
    with open(path, "rb") as f:
        for k, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise error(f"{path}: line {k} is not text (a json-lines file is utf-8)") from None
            if not line.strip():
                continue
            try:
                yield k, json.loads(line)
            except json.JSONDecodeError as e:
                raise error(f"{path}: line {k} is not json ({e.msg})") from None


def read_json(path: str, error=None, name: str = ""):
    """The parsed json at ``path``; a missing file or bad json raises ``error`` (a UserError
    class, default UserError) naming the file (shown as ``name`` when given)."""

    error = error or UserError
    shown = name or path
    if not os.path.isfile(path):
        raise error(f"{shown}: file not found")
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise error(f"{shown}: not valid json ({e})") from None
    except UnicodeDecodeError as e:
        raise error(f"{shown}: not a text (json) file ({e})") from None
