#!/usr/bin/env bash
# The long-tail benchmark's GPU evidence in one command that ends within ~9 minutes on a bare GPU
# machine (python 3.12 with torch and torchvision, no detectron2, no network):
#
#   bash benchmarks/gpu_evidence.sh              # on the GPU machine; results into $OUT
#   bash benchmarks/gpu_evidence.sh --dry-run    # the same steps here, on CPU, at a tiny size
#
# 1. installs eql's missing dependencies from the wheels in .whl/ (scripts/gpu_wheels.sh fills it
#    here; --dry-run checks instead that pip can install them on python 3.12 x86-64) and eql
#    itself from this checkout;
# 2. the long-tail benchmark at the demo size with AMP, every run a process of its own and up to
#    EVIDENCE_JOBS of them sharing the GPU: sigmoid CE / EQL / EQLv2 (the protocol's start and
#    EQLv2's official one) at EVIDENCE_SCHEDULE times the demo schedule for EVIDENCE_SEEDS seeds,
#    and beside it RetinaNet focal loss vs EFL;
# 3. benchmarks/train_step.py's timings (Mask R-CNN EQL / EQLv2 / Seesaw vs sigmoid CE, RetinaNet
#    EFL vs focal loss; batch 16, 800-1333 px, with and without AMP) in the time left.
# Each step is bounded by the deadline (EVIDENCE_SECONDS, default 510 s from the start): what did
# not finish in time is left out of the tables and said so in evidence.md. Written to $OUT (else
# output/gpu_evidence): evidence.md (the tables, the timings, the settings), the summaries' and
# the gradient picture's PNGs, evidence.log and runs.tar.gz (every run's config.yaml,
# metrics.json, gradient_stats.json and train.log).
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
dry=0
if [ "${1:-}" = "--dry-run" ]; then
  dry=1
  shift
fi
[ $# -eq 0 ] || { echo "usage: $0 [--dry-run]" >&2; exit 2; }
out=${OUT:-$repo/output/gpu_evidence}
wheels=${EQL_WHEELS:-$repo/.whl}
seeds=${EVIDENCE_SEEDS:-$([ $dry -eq 1 ] && echo 1 || echo 5)}
schedule=${EVIDENCE_SCHEDULE:-2}
jobs=${EVIDENCE_JOBS:-$([ $dry -eq 1 ] && echo 2 || echo 8)}
start=$(date +%s)
deadline=$((start + ${EVIDENCE_SECONDS:-510}))
mkdir -p "$out" || exit 2
work=$(mktemp -d)
logf=$out/evidence.log
: >"$logf"
say() { echo "[gpu_evidence +$(($(date +%s) - start))s] $*" | tee -a "$logf"; }
left() { echo $((deadline - $(date +%s))); }
die() { say "error: $*"; exit 1; }

# the packages eql needs beyond what the bare machine has (scripts/gpu_wheels.sh builds them)
needed=(detectron2 lvis pycocotools faster-coco-eval fvcore iopath yacs omegaconf hydra-core
  antlr4-python3-runtime termcolor)

# 1. install ------------------------------------------------------------------------------------
[ -d "$wheels" ] || die "$wheels: no wheel folder (run scripts/gpu_wheels.sh here first)"
if [ $dry -eq 1 ]; then
  py=${EQL_VENV:-$repo/.venv}/bin/python
  [ -x "$py" ] || py=python3
  platforms=()
  for p in manylinux_2_28 manylinux_2_27 manylinux_2_17 manylinux2014; do
    platforms+=(--platform "${p}_x86_64")
  done
  say "dry run: checking that $wheels installs on python 3.12 x86-64 (pip --dry-run)"
  "$py" -m pip --disable-pip-version-check install -q --dry-run --no-index --no-deps \
    --only-binary=:all: --python-version 3.12 --implementation cp "${platforms[@]}" \
    --target "$work/site" --find-links "$wheels" "${needed[@]}" >>"$logf" 2>&1 \
    || die "the wheels in $wheels do not cover ${needed[*]} for python 3.12 (see $logf)"
  device=(MODEL.DEVICE cpu SOLVER.AMP.ENABLED False)
  size=tiny
  retina=tiny_retinanet
  limit=(--max-iter 4)
  train_step=(--device cpu --batch 1 --min-size 64 --max-size 96 --iters 1 --warmup 0
    --infer-images 1 --detections 20 --no-amp
    --rows "RetinaNet focal (detectron2)" "RetinaNet EFL")
else
  py=python3
  say "installing ${needed[*]} from $wheels, and eql from $repo"
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$work/site" "$wheels"/*.whl >>"$logf" 2>&1 || die "installing the wheels failed"
  export PYTHONPATH=$work/site
  "$py" -m pip install -q --no-index --no-deps --no-build-isolation --no-compile \
    --target "$work/site" "$repo" >>"$logf" 2>&1 || die "installing eql from $repo failed"
  device=(MODEL.DEVICE cuda SOLVER.AMP.ENABLED True)
  size=demo
  retina=demo_retinanet
  limit=(--schedule "$schedule")
  train_step=(--iters 3 --warmup 1 --infer-images 2)
fi
# one process (each torch import is seconds): eql imports from outside the checkout, and the device
(cd "$work" && "$py" -c "import detectron2, lvis, pycocotools, faster_coco_eval, eql, torch
print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
      torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu')" 2>>"$logf") \
  | tee -a "$logf" || die "eql does not import after the install (see $logf)"

# 2. the long-tail benchmark: two-stage and one-stage sweeps side by side (one CPU thread a run:
# the 16 cores are shared by up to ~1.5 x EVIDENCE_JOBS processes) ----------------------------
export OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
bench=("$py" "$repo/benchmarks/long_tail.py" --seeds "$seeds" "${limit[@]}")
rcnn=("${bench[@]}" --size "$size" --losses sigmoid_ce eql eqlv2 --recipe both --jobs "$jobs"
  --output-dir "$work/rcnn")
one=("${bench[@]}" --size "$retina" --jobs $(((jobs + 1) / 2)) --output-dir "$work/retinanet")
# the summaries and the timings keep ~3.5 minutes (12 processes, each an LVIS-size model)
budget=$(($(left) - 210))
[ $dry -eq 1 ] && budget=$(($(left) - 60))
[ "$budget" -ge 1 ] || budget=1
say "long-tail sweeps for ${budget}s: ${rcnn[*]:1} ${device[*]}; ${one[*]:1} ${device[*]}"
timeout "$budget" "${rcnn[@]}" "${device[@]}" >"$work/rcnn.log" 2>&1 &
first=$!
timeout "$budget" "${one[@]}" "${device[@]}" >"$work/retinanet.log" 2>&1 &
second=$!
wait $first
rc_rcnn=$?
wait $second
rc_one=$?
say "sweeps ended: R-CNN exit $rc_rcnn, RetinaNet exit $rc_one (124: stopped at the deadline)"
# the tables: a finished sweep printed its own; one stopped at the deadline gets the table of the
# runs it finished (--max-runs 0: no training). summary PART EXIT_CODE SWEEP_COMMAND...
summary() {
  local part=$1 rc=$2
  shift 2
  if [ "$rc" -eq 0 ]; then cp "$work/$part.log" "$work/${part}_summary.log"; else
    "$@" --max-runs 0 "${device[@]}" >"$work/${part}_summary.log" 2>&1; fi
}
summary rcnn $rc_rcnn "${rcnn[@]}"
summary retinanet $rc_one "${one[@]}"

# 3. training-step timings --------------------------------------------------------------------
budget=$(($(left) - 10))
if [ "$budget" -gt 30 ]; then
  say "training-step timings for ${budget}s"
  timeout "$budget" "$py" "$repo/benchmarks/train_step.py" "${train_step[@]}" \
    >"$work/train_step.log" 2>&1
  say "timings ended: exit $?"
else
  say "no time left for the training-step timings"
  echo "(not run: no time left)" >"$work/train_step.log"
fi

# 4. what comes back ----------------------------------------------------------------------------
{
  echo "# GPU evidence, $(date -u +%Y-%m-%d) ($([ $dry -eq 1 ] && echo 'dry run on CPU' || echo GPU))"
  echo
  echo "seeds $seeds, ${limit[*]}, jobs $jobs, ${device[*]}; $(($(date +%s) - start)) s in all"
  for part in rcnn retinanet; do
    echo
    echo "## $part ($( [ $part = rcnn ] && echo "$size" || echo "$retina"))"
    echo
    # the table, or (no run finished) the sweep's last line, which says so
    log=$work/${part}_summary.log
    if grep -q "val split" "$log"; then sed -n '/val split/,$p' "$log"; else
      grep -v "[Ww]arn" "$log" | tail -n 1; fi
  done
  echo
  echo "## training-step timings (benchmarks/train_step.py ${train_step[*]})"
  echo
  grep -v "^\[" "$work/train_step.log" | grep -v "[Ww]arn" | tail -n 20
} >"$out/evidence.md"
for f in rcnn/summary.png retinanet/summary.png rcnn/gradient_ratio_over_iterations.png; do
  [ -f "$work/$f" ] && cp "$work/$f" "$out/$(dirname "$f")_$(basename "$f")"
done
(cd "$work" && find rcnn retinanet \( -name metrics.json -o -name config.yaml \
  -o -name gradient_stats.json -o -name train.log -o -name 'summary*' -o -name sweep.json \) \
  -print0 2>/dev/null | tar -czf "$out/runs.tar.gz" --null -T - *.log 2>/dev/null)
rm -rf "$work"
say "wrote $out: $(ls "$out" | tr '\n' ' ')"
