"""Verified, cached downloads of checkpoints: a progress bar, an atomic write (temporary file, then
rename), sha256 checked before use, the iopath cache directory ($FVCORE_CACHE, else
~/.torch/iopath_cache), and one clear error when offline."""

import hashlib
import logging
import os
import urllib.error
import urllib.request
from typing import Optional

from ..utils.io import atomic_write

logger = logging.getLogger(__name__)

CHUNK = 1 << 20


class ModelZooError(RuntimeError):
    """A checkpoint could not be had: the message says which URL, why, and what to do."""


def cache_dir() -> str:
    """The folder eql's checkpoints are cached in: <iopath cache>/eql_model_zoo."""
    from iopath.common.file_io import get_cache_dir

    return os.path.join(get_cache_dir(), "eql_model_zoo")


def sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def download_verified(
    url: str, sha256: Optional[str], destination: str, progress: bool = True, timeout: float = 60.0
) -> str:
    """``destination`` holding the file at ``url`` whose sha256 is ``sha256``.

    A file already at ``destination`` with the right hash is used as is (cache hit); one with
    another hash is deleted and fetched again. The download goes to a temporary file next to
    ``destination`` (eql.utils.io.atomic_write) and is renamed only once its hash matches; a
    mismatch deletes it and raises.
    """
    if not sha256:
        raise ModelZooError(f"no sha256 is recorded for {url}: refusing to use an unverified file")
    sha256 = sha256.lower()
    if os.path.isfile(destination):
        found = sha256_of(destination)
        if found == sha256:
            logger.info(f"Using cached {destination}")
            return destination
        logger.warning(
            f"{destination} has sha256 {found}, expected {sha256}: deleting it and "
            "downloading again"
        )
        os.remove(destination)
    h = hashlib.sha256()
    try:
        with atomic_write(destination, "wb") as out, urllib.request.urlopen(
            url, timeout=timeout
        ) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            bar = None
            if progress:
                from tqdm import tqdm

                bar = tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=os.path.basename(destination),
                    mininterval=0.5,
                )
            for block in iter(lambda: response.read(CHUNK), b""):
                out.write(block)
                h.update(block)
                if bar is not None:
                    bar.update(len(block))
            if bar is not None:
                bar.close()
            found = h.hexdigest()
            if found != sha256:  # raised inside: the temporary file is removed, nothing renamed
                raise ModelZooError(
                    f"sha256 mismatch for {url}: expected {sha256}, got {found}. The downloaded "
                    "file was deleted."
                )
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise ModelZooError(
            f"could not download {url} ({reason}). If this machine is offline, download the file "
            f"elsewhere and put it at {destination} (sha256 {sha256})."
        ) from None
    logger.info(f"Downloaded {url} to {destination}")
    return destination
