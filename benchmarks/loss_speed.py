#!/usr/bin/env python
"""Forward + backward time of sigmoid EQL against detectron2's sigmoid cross-entropy, in one run.

    python benchmarks/loss_speed.py                 # CPU, N=8192 proposals, C=1203 classes
    python benchmarks/loss_speed.py --device cuda

Prints the median time of each loss over --repeats runs and the ratio EQL / detectron2 (the
acceptance target is <= 1.15 on CPU). The "naive" row is a line-by-line transcription of eq. (7)
with autograd, for reference.
"""

import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def detectron2_sigmoid_ce(num_classes, device):
    from detectron2.layers import ShapeSpec
    from detectron2.modeling.box_regression import Box2BoxTransform
    from detectron2.modeling.roi_heads.fast_rcnn import FastRCNNOutputLayers

    head = FastRCNNOutputLayers(
        ShapeSpec(channels=8),
        box2box_transform=Box2BoxTransform((10.0, 10.0, 5.0, 5.0)),
        num_classes=num_classes,
        use_sigmoid_ce=True,
    ).to(device)
    return head.sigmoid_cross_entropy_loss  # (logits (N, C+1), gt_classes (N,)) -> scalar


def eql_on_predictor_logits(num_classes, suppression):
    from eql.losses import sigmoid_eql_loss

    def loss(logits, gt_classes):  # as the EQL predictor calls it: the C class columns
        return sigmoid_eql_loss(logits[:, :num_classes], gt_classes, suppression)

    return loss


def naive_eql(num_classes, suppression):
    def loss(logits, gt_classes):
        n = logits.shape[0]
        target = logits.new_zeros(n, num_classes + 1)
        target[torch.arange(n), gt_classes] = 1
        target = target[:, :num_classes]
        is_fg = (gt_classes < num_classes).float()[:, None]
        w = 1 - is_fg * suppression[None, :] * (1 - target)
        bce = F.binary_cross_entropy_with_logits(logits[:, :num_classes], target, reduction="none")
        return (bce * w).sum() / n

    return loss


def time_fwd_bwd(fn, logits, gt_classes, repeats, warmup, device):
    times = []
    for k in range(warmup + repeats):
        x = logits.detach().requires_grad_(True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn(x, gt_classes).backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if k >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--num-proposals", type=int, default=8192)
    p.add_argument("--num-classes", type=int, default=1203)
    p.add_argument("--fg-fraction", type=float, default=0.25)
    p.add_argument("--tail-fraction", type=float, default=815 / 1203)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--device", default="cpu")
    a = p.parse_args(argv)
    device = torch.device(a.device)
    g = torch.Generator().manual_seed(0)
    n, c = a.num_proposals, a.num_classes
    logits = torch.randn(n, c + 1, generator=g).to(device)
    is_fg = torch.rand(n, generator=g) < a.fg_fraction
    gt = torch.where(is_fg, torch.randint(0, c, (n,), generator=g), torch.full((n,), c))
    gt = gt.to(device)
    suppression = (torch.rand(c, generator=g) < a.tail_fraction).float().to(device)

    losses = {
        "detectron2 sigmoid CE": detectron2_sigmoid_ce(c, device),
        "eql sigmoid EQL": eql_on_predictor_logits(c, suppression),
        "naive EQL (autograd)": naive_eql(c, suppression),
    }
    # the naive and the fast EQL agree
    x1, x2 = logits.clone().requires_grad_(True), logits.clone().requires_grad_(True)
    l1, l2 = losses["eql sigmoid EQL"](x1, gt), losses["naive EQL (autograd)"](x2, gt)
    l1.backward(), l2.backward()
    assert torch.allclose(l1, l2, rtol=1e-5) and torch.allclose(x1.grad, x2.grad, atol=1e-7)

    print(
        f"device {device} | N={n} C={c} | threads {torch.get_num_threads()} | "
        f"median of {a.repeats} forward+backward"
    )
    times = {}
    for _ in range(2):  # interleave rounds so that drift hits every loss alike
        for name, fn in losses.items():
            t = time_fwd_bwd(fn, logits, gt, a.repeats // 2, a.warmup, device)
            times.setdefault(name, []).append(t)
    base = statistics.mean(times["detectron2 sigmoid CE"])
    for name, ts in times.items():
        t = statistics.mean(ts)
        print(f"{name:24s} {t * 1e3:9.2f} ms   ratio {t / base:5.2f}")
    ratio = statistics.mean(times["eql sigmoid EQL"]) / base
    print(f"EQL / detectron2 sigmoid CE: {ratio:.3f} (target <= 1.15)")
    return ratio


if __name__ == "__main__":
    main()
