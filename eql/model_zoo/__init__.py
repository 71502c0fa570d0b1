"""eql's model zoo: checkpoints by name, verified (sha256), cached and usable offline.

from eql import model_zoo
model = model_zoo.get("official/eql_rfs_mask_rcnn_R_50_FPN_1x_lvis_v0.5")
cfg_file = model_zoo.get_config_file(name); url = model_zoo.get_checkpoint_url(name)
# in any config:  MODEL.WEIGHTS eql://<name>
"""

from ..checkpoint import EQLCheckpointer
from ..config import load_config, repo_config_path
from .download import ModelZooError, cache_dir, download_verified, sha256_of
from .handler import PREFIX, EQLModelZooHandler, local_checkpoint, register_handler
from .registry import ModelEntry, get_entry, list_models, register_model, write_registry_entry

register_handler()


def get_config_file(name: str) -> str:
    """Absolute path of the named model's config file (in the repository's configs/)."""

    return repo_config_path(get_entry(name).config)


def get_checkpoint_url(name: str) -> str:
    return get_entry(name).url


def get_config(name: str, trained: bool = True):
    """The named model's config; MODEL.WEIGHTS is ``eql://<name>`` when ``trained``."""
    import torch

    cfg = load_config(get_config_file(name))
    cfg.MODEL.WEIGHTS = PREFIX + name if trained else ""
    if not torch.cuda.is_available():
        cfg.MODEL.DEVICE = "cpu"
    if cfg.MODEL.EQL.FREQUENCY_SOURCE == "dataset":
        # building the model for inference needs no training statistics
        cfg.MODEL.EQL.FREQUENCY_SOURCE = "none"
    return cfg


def get(name: str, trained: bool = True, device=None):
    """A built model (eval mode) with the named checkpoint's weights (``trained``) or the config's
    initial weights."""
    from detectron2.modeling import build_model

    cfg = get_config(name, trained)
    if device is not None:
        cfg.MODEL.DEVICE = str(device)
    model = build_model(cfg)
    if trained:
        EQLCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    return model.eval()
