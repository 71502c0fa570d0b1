"""eql's model zoo: checkpoints by name, verified (sha256), cached and usable offline, and the
config files eql ships (inside an installed wheel, or a checkout's configs/).

from eql import model_zoo
model = model_zoo.get("official/eql_rfs_mask_rcnn_R_50_FPN_1x_lvis_v0.5")
cfg_file = model_zoo.get_config_file(name); url = model_zoo.get_checkpoint_url(name)
cfg = model_zoo.get_config("LVISv1-InstanceSegmentation/eql_mask_rcnn_R_50_FPN_1x.yaml")
# in any config:  MODEL.WEIGHTS eql://<name>
"""

from ..checkpoint import EQLCheckpointer
from ..config import load_config
from .config_files import ConfigFileError, config_path, configs_root, is_config_name, list_configs
from .download import ModelZooError, cache_dir, download_verified, sha256_of
from .handler import PREFIX, EQLModelZooHandler, local_checkpoint, register_handler
from .registry import ModelEntry, get_entry, list_models, register_model, write_registry_entry

register_handler()


def get_config_file(name: str) -> str:
    """Absolute path of a config file: of the named model (``list_models()``), or of a config
    named by its path relative to eql's configs folder (``list_configs()``)."""

    return config_path(name if is_config_name(name) else get_entry(name).config)


def get_checkpoint_url(name: str) -> str:
    return get_entry(name).url


def get_config(name: str, trained=None):
    """The config of a model (``list_models()``; MODEL.WEIGHTS is ``eql://<name>`` unless
    ``trained`` is False) or of a config file (``list_configs()``; its own MODEL.WEIGHTS: a config
    file names no trained checkpoint, so ``trained=True`` is refused). A ``.py`` config file is a
    detectron2 LazyConfig (``instantiate(cfg.model)`` builds its model)."""
    import torch
    from detectron2.config import LazyConfig

    config_name = is_config_name(name)
    if trained is None:
        trained = not config_name
    if config_name and trained:
        raise ConfigFileError(
            f"{name}: a config file has no trained checkpoint; get_config(<model name>) for one "
            "of list_models(), or trained=False"
        )
    if name.endswith(".py"):
        return LazyConfig.load(get_config_file(name))
    cfg = load_config(get_config_file(name))
    if not config_name:
        cfg.MODEL.WEIGHTS = PREFIX + name if trained else ""
    if not torch.cuda.is_available():
        cfg.MODEL.DEVICE = "cpu"
    if cfg.MODEL.EQL.FREQUENCY_SOURCE == "dataset":
        # building the model for inference needs no training statistics
        cfg.MODEL.EQL.FREQUENCY_SOURCE = "none"
    return cfg


def get(name: str, trained=None, device=None):
    """A built model (eval mode) with the named model's checkpoint weights, or randomly initialised
    (``trained=False``, or a config file's name); ``name`` as for :func:`get_config`."""
    from detectron2.config import instantiate
    from detectron2.modeling import build_model

    cfg = get_config(name, trained)
    if name.endswith(".py"):
        model = instantiate(cfg.model)
        return model.to(device).eval() if device is not None else model.eval()
    if device is not None:
        cfg.MODEL.DEVICE = str(device)
    model = build_model(cfg)
    if cfg.MODEL.WEIGHTS.startswith(PREFIX):
        EQLCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    return model.eval()
