#!/usr/bin/env python
"""eql: Equalization Loss for long-tailed detection, as a detectron2 extension.

torch, torchvision and detectron2 are not declared here: users install the builds that match
their CUDA (see README.md). scripts/install.sh does it for a CPU machine.

The repository's top-level configs/ is where users browse the configs; a build (wheel, or a wheel
from the sdist) copies it into the package as eql/model_zoo/configs, where eql.model_zoo finds it
once installed. The version is the one in eql/__init__.py.
"""
import os
import re
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def version() -> str:
    with open(os.path.join(HERE, "eql", "__init__.py")) as f:
        match = re.search(r'^__version__ = "([^"]+)"$', f.read(), re.M)
    if not match:
        raise RuntimeError("eql/__init__.py: no __version__ line")
    return match.group(1)


class BuildPyWithConfigs(build_py):
    """build_py, plus configs/ copied to eql/model_zoo/configs of the build (not of the source
    tree: an editable install reads configs/ where it is)."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        source = os.path.join(HERE, "configs")
        if not os.path.isdir(source):
            raise RuntimeError(f"{source}: eql's configs are missing from the source tree")
        target = os.path.join(self.build_lib, "eql", "model_zoo", "configs")
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.py[co]"))


setup(
    name="eql",
    version=version(),
    description="Equalization Loss (EQL, EQLv2, EFL) for long-tailed detection in detectron2",
    packages=find_packages(include=["eql", "eql.*"]),
    package_data={"eql.model_zoo": ["models.json"]},
    cmdclass={"build_py": BuildPyWithConfigs},
    python_requires=">=3.9",
    install_requires=[
        "numpy",
        "Pillow",
        "pycocotools>=2.0.2",
        # lvis-api imports cv2; the headless build needs no libGL.
        "opencv-python-headless",
        "tqdm",
        "matplotlib",
        # LVIS evaluation engine (C++); lvis-api is installed by scripts/install.sh
        "faster-coco-eval>=1.8,<2",
    ],
    extras_require={
        "dev": ["pytest>=7", "pytest-timeout", "pytest-xdist>=3.2", "black", "isort", "flake8"]
    },
)
