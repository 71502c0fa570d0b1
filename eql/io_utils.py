"""Writing files so that a reader never sees a partial one: write a temporary file next to the
target, flush it to disk, then rename it over the target (atomic on POSIX)."""

import json
import os
from contextlib import contextmanager
from typing import IO, Any, Iterator


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
