#!/usr/bin/env bash
# Sets up .venv for eql: torch, torchvision, detectron2 and the project (editable).
# Idempotent: when the stamp matches and the imports work, it returns in seconds.
# Environment knobs:
#   EQL_VENV            where the virtual environment lives (default: <repo>/.venv)
#   EQL_PYTHON          python used to create it (default: python3)
#   EQL_TORCH_SPEC      torch requirement (default: torch==2.14.1 torchvision==0.29.1)
#   EQL_DETECTRON2_GIT  detectron2 git URL tried first
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${EQL_VENV:-$repo/.venv}
python=${EQL_PYTHON:-python3}
torch_spec=${EQL_TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}
d2_git=${EQL_DETECTRON2_GIT:-git+https://github.com/facebookresearch/detectron2.git}
# detectron2's runtime dependencies, needed when it is installed without its own metadata deps.
d2_deps=(fvcore "iopath<0.1.11" pycocotools yacs tabulate cloudpickle termcolor tqdm tensorboard
  "omegaconf<2.4,>=2.1" "hydra-core>=1.1" matplotlib Pillow packaging)

say() { printf '[install] %s\n' "$*"; }
die() { printf '[install] ERROR: %s\n' "$*" >&2; exit 1; }

# every package at the version of scripts/constraints.txt (CPU numbers depend on them)
constraints=$repo/scripts/constraints.txt
stamp_src=$(cat "$repo/scripts/install.sh" "$repo/setup.py" "$constraints" | sha256sum | cut -d' ' -f1)
stamp_file=$venv/.eql-install-stamp
vpy=$venv/bin/python

if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp_src" ] && [ -x "$vpy" ] \
  && "$vpy" -c "import torch, torchvision, detectron2, eql, lvis" 2>/dev/null; then
  say "environment $venv is up to date"
  exit 0
fi

if [ ! -x "$vpy" ]; then
  say "creating virtual environment $venv"
  "$python" -m venv "$venv" || die "could not create a venv with $python (is python3-venv installed?)"
fi
pip=("$vpy" -m pip --disable-pip-version-check -q)

say "pip, setuptools<81 (detectron2.model_zoo imports pkg_resources), wheel, uv"
"${pip[@]}" install --upgrade pip "setuptools<81" wheel || die "could not install pip/setuptools"
# uv (from PyPI) installs the same pinned requirements as pip in about half the time (parallel
# downloads and unpacking: torch with its CUDA libraries is ~3 GB); pip is the fallback when uv
# cannot be installed or fails. No --compile-bytecode (pip's default, not uv's): compiling every
# module of torch and the rest costs ~30 s of a fresh install (117 s against 88 s, an empty uv
# cache), and python compiles what it imports the first time it imports it (~3 s for torch).
uv=()
if "${pip[@]}" install "uv>=0.5" 2>/dev/null && [ -x "$venv/bin/uv" ]; then
  uv=("$venv/bin/uv" pip install -q --python "$vpy")
fi
# pkg_install ARGS...: uv pip install -c constraints ARGS, else (or when it fails) pip install
pkg_install() {
  if [ ${#uv[@]} -gt 0 ] && "${uv[@]}" -c "$constraints" "$@"; then
    return 0
  fi
  "${pip[@]}" install -c "$constraints" "$@"
}

if ! "$vpy" -c "import torch, torchvision" 2>/dev/null; then
  say "installing $torch_spec"
  # shellcheck disable=SC2086
  pkg_install $torch_spec || die "could not install $torch_spec"
else
  say "torch present: $("$vpy" -c 'import torch, torchvision; print(torch.__version__, torchvision.__version__)')"
fi

if ! "$vpy" -c "import detectron2" 2>/dev/null; then
  say "installing detectron2 from $d2_git (official route)"
  if timeout 900 "${pip[@]}" install -c "$constraints" --no-build-isolation "$d2_git" 2>/dev/null; then
    say "detectron2 installed from git"
  else
    say "git route unavailable; offline route: sal-detectron2==0.7.2 (= upstream a59f0563)"
    site=$("$vpy" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    tmp=$(mktemp -d)
    # The wheel is tagged cp310; only its Python code is used (its compiled _C is for 3.10).
    "$vpy" -m pip --disable-pip-version-check -q install --no-deps --only-binary=:all: \
      --python-version 3.10 --target "$tmp" sal-detectron2==0.7.2 \
      || die "could not download sal-detectron2==0.7.2 from PyPI"
    rm -rf "$site/detectron2" "$site"/sal_detectron2-*.dist-info
    # Keep only detectron2 and its metadata: the wheel also ships a top-level 'tools' package.
    cp -r "$tmp/detectron2" "$tmp"/sal_detectron2-*.dist-info "$site/"
    rm -f "$site"/detectron2/_C*.so
    rm -rf "$tmp"
    say "installing detectron2's runtime dependencies"
    pkg_install "${d2_deps[@]}" || die "could not install detectron2's dependencies"
  fi
fi
"$vpy" -c "import detectron2; from detectron2.modeling import build_model" \
  || die "detectron2 does not import in $venv"

say "installing eql (editable) with its dependencies"
pkg_install -e "$repo[dev]" || die "could not install the project (pip install -e .[dev])"
# lvis-api 0.5.3 declares opencv-python (needs libGL) as a dependency; it only needs cv2 to
# import, which opencv-python-headless (a dependency of eql) provides.
pkg_install --no-deps lvis==0.5.3 || die "could not install lvis==0.5.3"
# one process checks the imports and names the versions (each torch import is seconds)
versions=$("$vpy" -c "import torch, torchvision, detectron2, eql, lvis
print('torch', torch.__version__, 'detectron2', detectron2.__version__)") \
  || die "imports failed after install"

echo "$stamp_src" >"$stamp_file"
say "done: $versions"
