#!/usr/bin/env python
"""eql: Equalization Loss for long-tailed detection, as a detectron2 extension.

torch, torchvision and detectron2 are not declared here: users install the builds that match
their CUDA (see README.md). scripts/install.sh does it for a CPU machine.
"""
from setuptools import find_packages, setup

setup(
    name="eql",
    version="0.1.0",
    description="Equalization Loss (EQL, EQLv2, EFL) for long-tailed detection in detectron2",
    packages=find_packages(include=["eql", "eql.*"]),
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
    extras_require={"dev": ["pytest>=7", "pytest-timeout", "black", "isort", "flake8"]},
)
