"""The registry of eql's checkpoints: name -> config file, weights URL, sha256, format, metrics.

The shipped entries are in ``models.json`` next to this file; more can be added with
:func:`register_model` or a json file named by $EQL_MODEL_ZOO_REGISTRY (same format), e.g. one
written by tools/publish_model.py.
"""

import json
import math
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from ..errors import UserError
from ..utils.io import atomic_write, json_number, read_json
from ..utils.paths import check_name

SHIPPED_REGISTRY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models.json")
FORMATS = ("eql", "eql.detectron2")


@dataclass
class ModelEntry:
    """One checkpoint.

    Attributes:
        name: e.g. "LVISv1-InstanceSegmentation/eql_mask_rcnn_R_50_FPN_1x".
        config: config file, relative to the repository's configs/.
        url: where the weights are downloaded from.
        sha256: of the file at ``url``; None when unknown (then it cannot be used by name).
        format: "eql" (this project) or "eql.detectron2" (official EQL code: converted on load).
        metrics: reported metrics, e.g. {"segm/AP": 24.0}.
        source: who reported the metrics.
    """

    name: str
    config: str
    url: str
    sha256: Optional[str]
    format: str = "eql"
    metrics: Dict[str, float] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self):
        try:  # a name becomes a folder of the download cache: never a path out of it
            check_name(self.name, "model")
        except UserError as e:
            raise RegistryError(str(e)) from None
        if self.format not in FORMATS:
            raise RegistryError(
                f"model {self.name}: unknown format {self.format!r} (field 'format'); use {FORMATS}"
            )
        if not isinstance(self.metrics, dict):
            raise RegistryError(f"model {self.name}: field 'metrics' is not an object")
        for key, value in self.metrics.items():
            if not json_number(value) or not math.isfinite(value):
                raise RegistryError(
                    f"model {self.name}: metric {key!r} is {value!r} (field 'metrics': each a "
                    "finite number)"
                )


class RegistryError(UserError):
    """A registry file or entry that cannot be used; the message names the file and field."""


_EXTRA: Dict[str, ModelEntry] = {}
_REQUIRED = ("config", "url", "sha256")
_FIELDS = ("config", "url", "sha256", "format", "metrics", "source")


def _load(path: str) -> Dict[str, ModelEntry]:
    data = read_json(path, RegistryError)
    if not isinstance(data, dict) or not isinstance(data.get("models", {}), dict):
        raise RegistryError(f'{path}: expected {{"models": {{name: entry}}}}')
    out = {}
    for name, entry in data.get("models", {}).items():
        if not isinstance(entry, dict):
            raise RegistryError(f"{path}: model {name!r} is not an object")
        missing = [k for k in _REQUIRED if k not in entry]
        unknown = [k for k in entry if k not in _FIELDS]
        if missing or unknown:
            what = f"missing field(s) {missing}" if missing else f"unknown field(s) {unknown}"
            raise RegistryError(f"{path}: model {name!r} has {what}")
        try:
            out[name] = ModelEntry(name=name, **entry)
        except RegistryError as e:
            raise RegistryError(f"{path}: {e}") from None
    return out


def all_models() -> Dict[str, ModelEntry]:
    models = _load(SHIPPED_REGISTRY)
    extra = os.environ.get("EQL_MODEL_ZOO_REGISTRY")
    if extra:
        if not os.path.isfile(extra):
            raise RegistryError(f"{extra}: file not found ($EQL_MODEL_ZOO_REGISTRY)")
        models.update(_load(extra))
    models.update(_EXTRA)
    return models


def list_models() -> List[str]:
    return sorted(all_models())


def get_entry(name: str) -> ModelEntry:
    models = all_models()
    if name not in models:
        raise RegistryError(f"no model named {name!r} in eql's model zoo; known: {sorted(models)}")
    return models[name]


def register_model(entry: ModelEntry) -> None:
    """Adds (or replaces) an entry for this process."""
    _EXTRA[entry.name] = entry


def write_registry_entry(path: str, entry: ModelEntry) -> None:
    """Adds ``entry`` to the registry json at ``path`` (created if missing), atomically."""
    data = {"models": {}}
    if os.path.isfile(path):
        _load(path)  # refuse to extend a broken registry
        with open(path) as f:
            data = json.load(f)
    fields = {k: v for k, v in entry.__dict__.items() if k != "name"}
    data.setdefault("models", {})[entry.name] = fields
    with atomic_write(path) as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
