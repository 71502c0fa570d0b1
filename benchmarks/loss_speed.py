#!/usr/bin/env python
"""Forward + backward time and peak memory of eql's losses against detectron2's, in one run.

    python benchmarks/loss_speed.py                 # CPU
    python benchmarks/loss_speed.py --device cuda

Two settings, each against its detectron2 baseline (ratio = loss / baseline):
  ROI head    N = 8192 proposals x C = 1203: detectron2's sigmoid CE (FastRCNNOutputLayers)
              vs eql's sigmoid EQL and EQLv2 (C + 1 logits, statistics updated); targets: EQL
              and EQLv2 <= 1.15.
  ROI softmax N = 8192 x (C + 1 = 1204): detectron2's softmax CE vs eql's softmax EQL (C + 1
              logits) and Seesaw loss (C + 2 logits, counts updated); target <= 1.3.
  segmentation 1M pixels (4 x 512 x 512) x 150 classes: torch's F.cross_entropy vs eql's
              per-pixel softmax CE and Softmax-EQL (statistics updated); target <= 1.3.
  dense head  20,000 anchors x C = 1203: detectron2's RetinaNet loss (fvcore's
              sigmoid_focal_loss_jit on one-hot targets, / normaliser) vs eql's focal loss and
              Equalized Focal Loss (statistics updated); target: EFL <= 1.3.
Times are medians over --repeats runs, rounds interleaved. Peak memory is the memory the
forward + backward adds on top of its inputs: torch.cuda.max_memory_allocated on a GPU; on the
CPU, the rise of the peak resident set size of a fresh process that runs it once.
"""

import argparse
import json
import os
import statistics
import time

import torch
import torch.nn.functional as F

from eql.benchmark.processes import proc_status_mb, run_json_child

ROI_TARGET, DENSE_TARGET, SOFTMAX_TARGET = 1.15, 1.3, 1.3


def make_inputs(setting: str, n: int, c: int, device, seed=0):
    """(logits (n, C + 1 for the ROI head, C + 2 for its softmax losses, C for the dense head),
    gt_classes in [0, C])."""
    g = torch.Generator().manual_seed(seed)
    if setting == "segmentation":  # n pixels as 4 square images
        side = int((n // 4) ** 0.5)
        logits = torch.randn(4, c, side, side, generator=g)
        targets = torch.randint(0, c, (4, side, side), generator=g)
        targets[:, :, : side // 20] = 255  # some unlabelled pixels
        return logits.to(device), targets.to(device)
    roi = setting.startswith("roi")
    fg = 0.25 if roi else 0.01
    width = {"roi": c + 1, "roi-softmax": c + 2, "dense": c}[setting]
    logits = torch.randn(n, width, generator=g) - (0.0 if roi else 4.0)
    is_fg = torch.rand(n, generator=g) < fg
    gt = torch.where(is_fg, torch.randint(0, c, (n,), generator=g), torch.full((n,), c))
    return logits.to(device), gt.to(device)


def roi_losses(c: int, device):
    """name -> fn(logits (N, C + 1), gt) for the ROI head."""
    from detectron2.layers import ShapeSpec
    from detectron2.modeling.box_regression import Box2BoxTransform
    from detectron2.modeling.roi_heads.fast_rcnn import FastRCNNOutputLayers

    from eql.losses import EQLv2, SigmoidEQL

    head = FastRCNNOutputLayers(
        ShapeSpec(channels=8),
        box2box_transform=Box2BoxTransform((10.0, 10.0, 5.0, 5.0)),
        num_classes=c,
        use_sigmoid_ce=True,
    ).to(device)
    g = torch.Generator().manual_seed(1)
    suppression = (torch.rand(c, generator=g) < 815 / 1203).float()
    eql = SigmoidEQL(suppression).to(device)
    eqlv2 = EQLv2(c).to(device)
    eqlv2.pos_neg.copy_(torch.rand(c, generator=g) * 2)  # weights away from 1, as in training
    return {
        "detectron2 sigmoid CE": head.sigmoid_cross_entropy_loss,
        "eql sigmoid EQL": lambda z, gt: eql(z[:, :c], gt),
        "eql EQLv2": eqlv2,
    }


def roi_softmax_losses(c: int, device):
    """name -> fn(logits (N, C + 2), gt) for softmax losses of the ROI head: detectron2's softmax
    CE reads the first C + 1 columns (classes + background)."""
    from eql.losses import SeesawLoss, SoftmaxEQL

    seql = SoftmaxEQL(
        (torch.rand(c, generator=torch.Generator().manual_seed(5)) < 815 / 1203).float(),
        background=True,
    ).to(device)
    seesaw = SeesawLoss(c).to(device)
    seesaw.cum_samples.copy_(
        torch.randint(1, 10000, (c + 1,), generator=torch.Generator().manual_seed(3))
    )
    return {
        "detectron2 softmax CE": lambda z, gt: F.cross_entropy(z[:, : c + 1], gt),
        "eql softmax EQL (seql)": lambda z, gt: seql(z[:, : c + 1], gt),
        "eql Seesaw": seesaw,
    }


def segmentation_losses(c: int, device):
    """name -> fn(logits (N, C, H, W), targets (N, H, W)) per pixel, ignore label 255."""
    from eql.losses import GradientSoftmaxEQL, SoftmaxCrossEntropy, dense_loss

    eql = GradientSoftmaxEQL(c).to(device)
    eql.pos_grad.copy_(torch.rand(c, generator=torch.Generator().manual_seed(4)) * 10)
    ce = SoftmaxCrossEntropy(c)
    return {
        "torch F.cross_entropy": lambda z, t: F.cross_entropy(z, t, ignore_index=255),
        "eql softmax CE": lambda z, t: dense_loss(ce, z, t),
        "eql Softmax-EQL": lambda z, t: dense_loss(eql, z, t),
    }


def dense_losses(c: int, device):
    """name -> fn(logits (N, C), gt) for the dense head (normaliser 100, as after warm-up)."""
    from fvcore.nn import sigmoid_focal_loss_jit

    from eql.losses import EqualizedFocalLoss, LossContext, SigmoidFocalLoss

    context = LossContext(normalizer=100.0)

    def detectron2_retinanet(z, gt):
        target = F.one_hot(gt, num_classes=c + 1)[:, :-1].to(z.dtype)
        return sigmoid_focal_loss_jit(z, target, alpha=0.25, gamma=2.0, reduction="sum") / 100.0

    focal = SigmoidFocalLoss(c).to(device)
    efl = EqualizedFocalLoss(c).to(device)
    efl.pos_neg.copy_(torch.rand(c, generator=torch.Generator().manual_seed(2)))
    return {
        "detectron2 focal (RetinaNet)": detectron2_retinanet,
        "eql focal": lambda z, gt: focal(z, gt, context),
        "eql EFL": lambda z, gt: efl(z, gt, context),
    }


def losses_of(setting, c, device):
    builders = {
        "roi": roi_losses,
        "roi-softmax": roi_softmax_losses,
        "dense": dense_losses,
        "segmentation": segmentation_losses,
    }
    return builders[setting](c, device)


def time_fwd_bwd(fn, logits, gt, repeats, warmup, device):
    times = []
    for k in range(warmup + repeats):
        x = logits.detach().requires_grad_(True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn(x, gt).backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if k >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure_memory_child(setting, name, n, c) -> None:
    """Run in a fresh process (Linux): prints the MB by which one forward + backward raises the
    peak resident set size above what the process holds before it (the peak is reset first)."""
    device = torch.device("cpu")
    fn = losses_of(setting, c, device)[name]
    logits, gt = make_inputs(setting, n, c, device)
    x = logits.detach().requires_grad_(True)
    small_x, small_gt = make_inputs(setting, 64, c, device, seed=1)
    fn(small_x.requires_grad_(True), small_gt).backward()  # one-time initialisation (jit, ...)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current resident set size
    base = proc_status_mb("VmRSS")
    fn(x, gt).backward()
    print(json.dumps({"peak_mb": proc_status_mb("VmHWM") - base}))


def peak_memory_mb(setting, name, n, c, device) -> float:
    if device.type == "cuda":
        fn = losses_of(setting, c, device)[name]
        logits, gt = make_inputs(setting, n, c, device)
        x = logits.detach().requires_grad_(True)
        fn(x, gt).backward()
        torch.cuda.synchronize()
        x.grad = None
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn(x, gt).backward()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    args = ["--memory-child", setting, name, str(n), str(c)]
    return run_json_child(os.path.abspath(__file__), args, f"{setting} {name} memory")["peak_mb"]


def run_setting(setting, n, c, a, device, repeats=None):
    fns = losses_of(setting, c, device)
    logits, gt = make_inputs(setting, n, c, device)
    names = list(fns)
    times = {name: [] for name in names}
    repeats = repeats or a.repeats
    for _ in range(2):  # interleave rounds so that drift hits every loss alike
        for name in names:
            times[name].append(time_fwd_bwd(fns[name], logits, gt, repeats // 2, a.warmup, device))
    memory = {name: peak_memory_mb(setting, name, n, c, device) for name in names}
    base_t, base_m = statistics.mean(times[names[0]]), memory[names[0]]
    print(f"\n{setting} head: N={n} C={c}")
    print(f"{'loss':30s} {'fwd+bwd ms':>11s} {'ratio':>6s} {'peak MB':>9s} {'ratio':>6s}")
    ratios = {}
    for name in names:
        t = statistics.mean(times[name])
        ratios[name] = t / base_t
        print(
            f"{name:30s} {t * 1e3:11.2f} {t / base_t:6.2f} {memory[name]:9.1f} "
            f"{memory[name] / base_m:6.2f}"
        )
    return ratios, memory


def argument_parser():
    from eql.utils.arguments import count, nonnegative_int

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--num-proposals", type=count, default=8192)
    p.add_argument("--num-anchors", type=count, default=20000)
    p.add_argument("--num-classes", type=count, default=1203)
    p.add_argument("--num-pixels", type=count, default=1 << 20)
    p.add_argument("--segmentation-classes", type=count, default=150)
    p.add_argument("--segmentation-repeats", type=count, default=6)
    p.add_argument("--repeats", type=count, default=20)
    p.add_argument("--warmup", type=nonnegative_int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--memory-child", nargs=4, help=argparse.SUPPRESS)
    return p


def main(argv=None):
    a = argument_parser().parse_args(argv)
    if a.memory_child:
        setting, name, n, c = a.memory_child
        measure_memory_child(setting, name, int(n), int(c))
        return None
    device = torch.device(a.device)
    print(
        f"device {device} | threads {torch.get_num_threads()} | torch {torch.__version__} | "
        f"median of {a.repeats} forward+backward"
    )
    roi, roi_memory = run_setting("roi", a.num_proposals, a.num_classes, a, device)
    softmax, softmax_memory = run_setting("roi-softmax", a.num_proposals, a.num_classes, a, device)
    dense, _ = run_setting("dense", a.num_anchors, a.num_classes, a, device)
    segmentation, _ = run_setting(
        "segmentation", a.num_pixels, a.segmentation_classes, a, device, a.segmentation_repeats
    )
    base = roi_memory["detectron2 sigmoid CE"]
    print(
        f"\npeak memory of each ROI-head loss against detectron2's sigmoid CE (N={a.num_proposals}"
        f", C={a.num_classes}): "
        + ", ".join(f"{k} {v / base:.2f}" for k, v in {**roi_memory, **softmax_memory}.items())
    )
    print(
        f"\nEQL / sigmoid CE {roi['eql sigmoid EQL']:.3f}, EQLv2 / sigmoid CE "
        f"{roi['eql EQLv2']:.3f} (target <= {ROI_TARGET}); EFL / detectron2 focal "
        f"{dense['eql EFL']:.3f} (target <= {DENSE_TARGET}); Seesaw / detectron2 softmax CE "
        f"{softmax['eql Seesaw']:.3f} (target <= {SOFTMAX_TARGET}); Softmax-EQL / F.cross_entropy "
        f"{segmentation['eql Softmax-EQL']:.3f} per pixel (target <= {SOFTMAX_TARGET})"
    )
    return {"roi": roi, "roi-softmax": softmax, "dense": dense, "segmentation": segmentation}


if __name__ == "__main__":
    main()
