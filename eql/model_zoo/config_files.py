"""Where eql's config files are: in an installed package, ``eql/model_zoo/configs`` (the build
copies the repository's top-level ``configs/`` there, as detectron2 does); in a source checkout,
that ``configs/`` folder itself."""

import os
from typing import List

from .registry import RegistryError

PACKAGED_CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
CHECKOUT_CONFIGS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "configs"
)
CONFIG_SUFFIXES = (".yaml", ".py")


class ConfigFileError(RegistryError):
    """A config of the model zoo that is not there; the message names it and where it looked."""


def configs_root() -> str:
    """The folder the model zoo's config names are relative to."""
    for root in (PACKAGED_CONFIGS, CHECKOUT_CONFIGS):
        if os.path.isdir(root):
            return root
    raise ConfigFileError(
        f"eql's configs are in neither {PACKAGED_CONFIGS} (an installed wheel) nor "
        f"{CHECKOUT_CONFIGS} (a source checkout): reinstall eql"
    )


def is_config_name(name: str) -> bool:
    """A config file's name (relative to configs/) rather than a model's name."""
    return name.endswith(CONFIG_SUFFIXES)


def config_path(relative: str) -> str:
    """Absolute path of the config file ``relative`` to eql's configs folder."""
    root = configs_root()
    parts = relative.replace("\\", "/").split("/")
    if os.path.isabs(relative) or ".." in parts or not is_config_name(relative):
        raise ConfigFileError(
            f"config {relative!r}: a name relative to eql's configs folder ending in "
            f"{' or '.join(CONFIG_SUFFIXES)}, e.g. 'LVISv1-InstanceSegmentation/"
            "eql_mask_rcnn_R_50_FPN_1x.yaml' (list_configs() lists them)"
        )
    path = os.path.join(root, *parts)
    if not os.path.isfile(path):
        raise ConfigFileError(f"config {relative!r} not found under {root} (see list_configs())")
    return path


def list_configs() -> List[str]:
    """Every config file eql ships, relative to its configs folder ('/'-separated), sorted."""
    root = configs_root()
    names = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for f in files:
            if is_config_name(f):
                rel = os.path.relpath(os.path.join(folder, f), root)
                names.append(rel.replace(os.sep, "/"))
    return sorted(names)
