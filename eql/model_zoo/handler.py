"""``eql://<model name>`` paths for detectron2's PathManager: ``MODEL.WEIGHTS eql://<name>``
downloads (once, verified) and, for official checkpoints, converts the named model's weights."""

import os
from urllib.parse import urlparse

import torch
from iopath.common.file_io import PathHandler

from ..config import load_config
from ..utils.io import atomic_write
from .config_files import config_path
from .convert import convert_official_checkpoint
from .download import ModelZooError, cache_dir, download_verified
from .registry import get_entry

PREFIX = "eql://"


def local_checkpoint(name: str, progress: bool = True) -> str:
    """Path of the named model's weights in the cache (downloaded and verified; converted to eql's
    layout for official checkpoints)."""
    entry = get_entry(name)
    if not entry.sha256:
        raise ModelZooError(
            f"model {name!r}: no sha256 is recorded for {entry.url} (the file could not be "
            "fetched where the registry was written), so it is not used unverified. Download it, "
            "check it, and convert it with tools/convert_official_checkpoint.py; or add its entry "
            "with the sha256 to a registry json named by $EQL_MODEL_ZOO_REGISTRY."
        )
    file_name = os.path.basename(urlparse(entry.url).path) or "model.pth"
    if entry.sha256:
        file_name = f"{entry.sha256[:12]}_{file_name}"
    destination = os.path.join(cache_dir(), *name.split("/"), file_name)
    inside = os.path.realpath(destination).startswith(os.path.realpath(cache_dir()) + os.sep)
    if not inside:  # names are checked (registry.ModelEntry); this is the last line of defence
        raise ModelZooError(f"model {name!r}: {destination} is outside the cache {cache_dir()}")
    path = download_verified(entry.url, entry.sha256, destination, progress)
    if entry.format == "eql.detectron2":
        converted = path[: -len(".pth")] + "_eql.pth" if path.endswith(".pth") else path + ".eql"
        if not os.path.isfile(converted) or os.path.getmtime(converted) < os.path.getmtime(path):

            cfg = load_config(config_path(entry.config))
            ckpt = torch.load(path, map_location="cpu", weights_only=False)
            out = convert_official_checkpoint(
                ckpt, cfg.MODEL.ROI_HEADS.NUM_CLASSES, cfg.MODEL.EQL.PRIOR_PROB
            )
            with atomic_write(converted, "wb") as f:
                torch.save(out, f)
        path = converted
    return path


class EQLModelZooHandler(PathHandler):
    """Resolves ``eql://<name>`` to the cached, verified checkpoint of that model."""

    def _get_supported_prefixes(self):
        return [PREFIX]

    def _get_local_path(self, path: str, **kwargs) -> str:
        return local_checkpoint(path[len(PREFIX) :])

    def _open(self, path: str, mode: str = "r", **kwargs):
        return open(self._get_local_path(path), mode)

    def _isfile(self, path: str, **kwargs) -> bool:
        return False  # resolved through get_local_path


def register_handler() -> None:
    """Registers the handler on detectron2's PathManager (idempotent)."""
    from detectron2.utils.file_io import PathManager

    if PREFIX not in PathManager._path_handlers:
        PathManager.register_handler(EQLModelZooHandler())
