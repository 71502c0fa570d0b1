"""The package as users install it: a wheel and an sdist built from the repository carry the
configs (copied from the top-level configs/) and the model-zoo registry, and the model-zoo API
works from an installed wheel in another working directory."""

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest
from common import REPO

import eql
from eql import model_zoo
from eql.errors import UserError

SOURCES = ("setup.py", "pyproject.toml", "MANIFEST.in", "README.md", "eql", "configs")


def repo_configs():
    root = os.path.join(REPO, "configs")
    return sorted(
        os.path.relpath(os.path.join(d, f), root).replace(os.sep, "/")
        for d, _, files in os.walk(root)
        if "__pycache__" not in d
        for f in files
        if f.endswith((".yaml", ".py"))
    )


def pip(*args, cwd):
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args]
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A wheel and an sdist built (offline) from a copy of the repository's sources."""
    tmp = tmp_path_factory.mktemp("packaging")
    src = tmp / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        path = os.path.join(REPO, name)
        if os.path.isdir(path):
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            shutil.copy(path, src / name)
    pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), ".", cwd=src)
    sdist = subprocess.run(
        [sys.executable, "setup.py", "-q", "sdist", "-d", str(tmp / "sdist")],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert sdist.returncode == 0, sdist.stderr[-3000:]
    (wheel,) = (tmp / "dist").iterdir()
    (tarball,) = (tmp / "sdist").iterdir()
    return {"tmp": tmp, "wheel": wheel, "sdist": tarball}


def test_the_wheel_carries_every_config_and_the_registry_under_the_single_version(built):
    assert built["wheel"].name == f"eql-{eql.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(built["wheel"]) as z:
        names = set(z.namelist())
        packaged = sorted(
            n[len("eql/model_zoo/configs/") :]
            for n in names
            if n.startswith("eql/model_zoo/configs/")
        )
        registry = json.loads(z.read("eql/model_zoo/models.json"))
        metadata = z.read(f"eql-{eql.__version__}.dist-info/METADATA").decode()
    assert packaged == repo_configs() and len(packaged) > 100
    with open(os.path.join(REPO, "eql", "model_zoo", "models.json")) as f:
        assert registry == json.load(f)
    assert re.search(rf"^Version: {re.escape(eql.__version__)}$", metadata, re.M)
    assert not [n for n in names if "__pycache__" in n or n.startswith(("tests/", "tools/"))]


def test_the_sdist_carries_the_configs_and_builds_the_same_wheel(built):
    prefix = f"eql-{eql.__version__}/"
    with tarfile.open(built["sdist"]) as t:
        names = [m.name[len(prefix) :] for m in t.getmembers() if m.isfile()]
    assert sorted(n[len("configs/") :] for n in names if n.startswith("configs/")) == (
        repo_configs()
    )
    assert "eql/model_zoo/models.json" in names and "setup.py" in names
    out = built["tmp"] / "from_sdist"
    pip(
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        str(out),
        str(built["sdist"]),
        cwd=out.parent,
    )
    (wheel,) = out.iterdir()
    with zipfile.ZipFile(wheel) as a, zipfile.ZipFile(built["wheel"]) as b:
        assert sorted(a.namelist()) == sorted(b.namelist())


INSTALLED_CHECK = r"""
import json, os, sys
import eql
from eql import model_zoo
assert eql.__file__.startswith(sys.argv[1] + os.sep), eql.__file__
names = model_zoo.list_configs()
for name in names:
    path = model_zoo.get_config_file(name)
    assert path.startswith(sys.argv[1] + os.sep) and os.path.isfile(path), path
    cfg = model_zoo.get_config(name)  # yaml: read and validated (eql.config.load_config)
    assert name.endswith(".yaml") or "model" in cfg or "dataloader" in cfg  # a LazyConfig
models = model_zoo.list_models()
for name in models:
    assert model_zoo.get_config_file(name).startswith(sys.argv[1] + os.sep)
    assert model_zoo.get_checkpoint_url(name).startswith("https://")
model = model_zoo.get(models[0], trained=False)
params = sum(p.numel() for p in model.parameters())
print(json.dumps({"configs": names, "models": models, "cwd": os.getcwd(), "params": params,
                  "training": model.training}))
"""


def test_the_model_zoo_works_from_an_installed_wheel_in_another_directory(built):
    target, elsewhere = built["tmp"] / "site", built["tmp"] / "elsewhere"
    elsewhere.mkdir()
    pip("install", "--no-deps", "--target", str(target), str(built["wheel"]), cwd=elsewhere)
    env = dict(os.environ, PYTHONPATH=str(target), PYTHONWARNINGS="ignore")
    out = subprocess.run(
        [sys.executable, "-c", INSTALLED_CHECK, str(target)],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["configs"] == repo_configs()
    with open(os.path.join(REPO, "eql", "model_zoo", "models.json")) as f:
        assert result["models"] == sorted(json.load(f)["models"])  # the shipped registry
    assert result["cwd"] == str(elsewhere) and not result["training"]
    assert result["params"] > 40_000_000  # an R-50 Mask R-CNN of LVIS v0.5's 1,230 classes


def test_config_names_and_model_names_in_the_model_zoo_api():
    name = "quick_schedules/synthetic_mask_rcnn_R_18_FPN_instant_test.yaml"
    assert name in model_zoo.list_configs()
    assert model_zoo.get_config_file(name) == os.path.join(REPO, "configs", *name.split("/"))
    assert model_zoo.get_config(name).MODEL.RESNETS.DEPTH == 18
    with pytest.raises(UserError, match="has no trained checkpoint"):
        model_zoo.get_config(name, trained=True)
    for bad in ("../setup.py", "/etc/passwd.yaml", "quick_schedules/nope.yaml", "x.txt"):
        with pytest.raises(UserError, match=re.escape(repr(bad))):
            model_zoo.get_config_file(bad)
    official = model_zoo.list_models()[0]
    assert model_zoo.get_config(official).MODEL.WEIGHTS == "eql://" + official
    assert model_zoo.get_config(official, trained=False).MODEL.WEIGHTS == ""
