#!/usr/bin/env bash
# Fills .whl/ (git-ignored) with the wheels a bare GPU machine needs to run eql: python 3.12,
# x86-64, with torch, torchvision, numpy, matplotlib, opencv, pyyaml, tqdm, tabulate, portalocker,
# cloudpickle, tensorboard and Pillow already there, and no network. benchmarks/gpu_evidence.sh
# installs them there with pip --no-index (and eql itself from the
# checkout that travels). Run it here (with .venv set up by scripts/install.sh).
#   detectron2     a pure-python wheel of the detectron2 installed in .venv (no compiled _C: eql
#                  uses none of its ops; the same code scripts/install.sh installs)
#   lvis, pycocotools, faster-coco-eval, fvcore, iopath, yacs, omegaconf, hydra-core,
#   antlr4-python3-runtime, termcolor: from PyPI (cp312 manylinux builds where compiled; the
#                  source-only ones built into py3 wheels here)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$repo/.whl}
vpy=${EQL_VENV:-$repo/.venv}/bin/python
pip=("$vpy" -m pip --disable-pip-version-check -q)
platforms=()
for p in manylinux_2_28 manylinux_2_27 manylinux_2_24 manylinux_2_17 manylinux2014 manylinux1; do
  platforms+=(--platform "${p}_x86_64")
done
binary=(pycocotools==2.0.11 faster-coco-eval==1.8.0 lvis==0.5.3 termcolor==3.3.0 yacs==0.1.8
  omegaconf==2.3.1 hydra-core==1.3.8)
source_only=(iopath==0.1.10 fvcore==0.1.5.post20221221 antlr4-python3-runtime==4.9.3)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/whl"
"${pip[@]}" download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d "$tmp/whl" "${binary[@]}"
"${pip[@]}" wheel --no-deps -w "$tmp/whl" "${source_only[@]}"

# detectron2: its python package as installed in .venv, without compiled extensions
d2=$("$vpy" -c "import detectron2, os; print(os.path.dirname(detectron2.__file__))")
version=$("$vpy" -c "import detectron2; print(detectron2.__version__)")
mkdir -p "$tmp/d2"
cp -r "$d2" "$tmp/d2/detectron2"
find "$tmp/d2" -name '__pycache__' -prune -exec rm -rf {} + -o -name '*.so' -exec rm -f {} +
cat >"$tmp/d2/setup.py" <<PY
from setuptools import find_packages, setup

setup(
    name="detectron2",
    version="$version",
    packages=find_packages(include=["detectron2", "detectron2.*"]),
    package_data={"detectron2": ["model_zoo/configs/**/*.yaml", "model_zoo/configs/**/*.py"]},
)
PY
(cd "$tmp/d2" && "${pip[@]}" wheel --no-deps --no-build-isolation -w "$tmp/whl" .)

rm -rf "$out"
mkdir -p "$out"
cp "$tmp"/whl/*.whl "$out/"
echo "[gpu_wheels] $(ls "$out" | wc -l) wheels, $(du -sh "$out" | cut -f1), in $out:"
ls "$out"
