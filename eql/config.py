"""eql's config keys, added to a detectron2 config by :func:`add_eql_config`."""

import os

from detectron2.config import CfgNode as CN

# configs/ of a source checkout (the folder next to the package)
REPO_CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


def add_eql_config(cfg):
    """Adds eql's keys to ``cfg`` (a detectron2 CfgNode), in place."""
    _C = cfg
    # LVIS evaluation.
    _C.TEST.LVIS = CN()
    # Cap of detections per image in LVIS evaluation (lvis-api keeps the top-scoring ones
    # across classes); LVIS's protocol uses 300.
    _C.TEST.LVIS.MAX_DETS_PER_IMAGE = 300
    # Synthetic long-tailed dataset, registered as "<PREFIX>_train"/"<PREFIX>_val" when ROOT is
    # set (written by datasets/prepare_synthetic_lvis.py or the demo).
    _C.DATASETS.SYNTHETIC = CN()
    # Folder of the synthetic set; "" registers nothing beyond the default set under
    # $DETECTRON2_DATASETS/synthetic_lvis.
    _C.DATASETS.SYNTHETIC.ROOT = ""
    # Name prefix of the registered splits.
    _C.DATASETS.SYNTHETIC.PREFIX = "synthetic_lvis"
    return cfg


def detectron2_configs_dir() -> str:
    """The folder of detectron2's own config files (shipped in ``detectron2/model_zoo/configs``)."""
    import detectron2.model_zoo

    path = os.path.join(os.path.dirname(detectron2.model_zoo.__file__), "configs")
    if not os.path.isdir(os.path.join(path, "LVISv1-InstanceSegmentation")):
        raise FileNotFoundError(
            f"detectron2's config files are not in {path}: reinstall detectron2 (pip install "
            "'git+https://github.com/facebookresearch/detectron2.git')"
        )
    return path


def link_detectron2_configs(configs_root: str = REPO_CONFIGS) -> str:
    """Points ``configs/detectron2`` at detectron2's installed config files, so that eql's
    configs inherit them with a plain relative ``_BASE_`` (``../detectron2/Base-RCNN-FPN.yaml``)
    and load with detectron2's own ``merge_from_file``. Returns the link's path."""
    link = os.path.join(configs_root, "detectron2")
    target = detectron2_configs_dir()
    if os.path.islink(link) and os.readlink(link) == target:
        return link
    if os.path.lexists(link):
        if not os.path.islink(link):
            raise FileExistsError(f"{link} exists and is not a symlink; remove it")
        os.remove(link)
    os.symlink(target, link)
    return link


def get_eql_cfg():
    """detectron2's default config plus eql's keys."""
    from detectron2.config import get_cfg

    cfg = get_cfg()
    add_eql_config(cfg)
    return cfg


def load_config(config_file: str, opts=()):
    """A config from a yaml file (eql's or detectron2's) and ``KEY VALUE`` overrides."""
    if os.path.abspath(config_file).startswith(os.path.abspath(REPO_CONFIGS)):
        link_detectron2_configs()
    cfg = get_eql_cfg()
    cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts))
    return cfg
