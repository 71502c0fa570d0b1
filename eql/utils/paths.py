"""Where a run or a tool will write: checked before any work starts, so that a bad path is one
clear error instead of a traceback after minutes of work (or an input overwritten)."""

import os
import re
import tempfile
from typing import Iterable, Optional

from ..errors import UserError

# a model's name: segments of letters, digits and . _ + - separated by "/", none "." or ".."
_NAME_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def existing_ancestor(path: str) -> str:
    """``path`` itself when it exists, else its nearest existing parent folder."""
    path = os.path.abspath(path)
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def cannot_write_in(folder: str) -> Optional[str]:
    """None when a file can be created (and is removed again) in ``folder``, else why not. A real
    attempt: permission bits do not stop root, a read-only file system does."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".eql_probe_", dir=folder)
    except OSError as e:
        return e.strerror or str(e)
    os.close(fd)
    os.unlink(probe)
    return None


def check_writable(path: str, what: str, folder: bool, inputs: Iterable[str] = ()) -> None:
    """Raises UserError naming ``what`` (an option or key) when ``path`` cannot be written: a
    folder (``folder``) or file whose place holds the other kind, whose parent is a file, in a
    folder where files cannot be created, or that is one of the ``inputs`` (a tool never
    overwrites what it reads). Creates nothing."""
    if not path:
        raise UserError(f"{what}: empty path")
    target = os.path.abspath(path)
    for given in inputs:
        if os.path.exists(given) and os.path.exists(target) and os.path.samefile(given, target):
            raise UserError(f"{what}: {path} is also an input ({given}); it would be overwritten")
    if os.path.exists(target) and os.path.isdir(target) != folder:
        kind = "a folder" if folder else "a file"
        raise UserError(f"{what}: {path} exists and is not {kind}")
    where = existing_ancestor(target if folder else os.path.dirname(target))
    if not os.path.isdir(where):
        raise UserError(f"{what}: {path} is under a file ({where}), not a folder")
    why = cannot_write_in(where)
    if why is not None:
        raise UserError(f"{what}: cannot write in {where} ({why})")


def check_name(name: str, what: str) -> None:
    """Raises UserError naming ``what`` unless ``name`` is a name, not a path: "/"-separated
    segments of letters, digits and ._+- (no empty, "." or ".." segment, no leading "/")."""
    segments = name.split("/") if isinstance(name, str) else [None]
    if not all(s and _NAME_SEGMENT.match(s) and s not in (".", "..") for s in segments):
        raise UserError(
            f"{what}: {name!r} is not a model name (segments of letters, digits and ._+- "
            "separated by '/'; no '..', no absolute path)"
        )
