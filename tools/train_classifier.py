#!/usr/bin/env python
"""Long-tailed image classification with eql's losses, in plain torch: trains a CIFAR ResNet with
each loss on the same long-tailed set and prints top-1 accuracy overall and over many-shot
(> 100 training images), medium-shot (20-100) and few-shot (< 20) classes.

    python tools/train_classifier.py                       # generated set, CPU, a few minutes
    python tools/train_classifier.py --dataset cifar100 --cifar-root ~/data \
        --imbalance-ratio 200 --depth 32 --iterations 12800 --device cuda   # the EQL paper's

CIFAR-10/100-LT are cut from a local python-format CIFAR copy (cifar-10-batches-py /
cifar-100-python under --cifar-root) with n_i = n_max IR^(-i / (C - 1)); the generated set needs
nothing. Losses: every loss of eql.losses by its registered name (MODEL.EQL.LOSS's): softmax_ce,
seql (softmax EQL), softmax_eql (gradient-driven Softmax-EQL), seesaw, sigmoid_ce, eql (sigmoid
EQL), eqlv2, focal, efl (the old names ce and sigmoid_eql still work); the frequency-based ones
treat the classes with fewer than 20 training images as the tail.
"""

import argparse
import math
import os
import sys

from eql.errors import UserError, report_user_errors

DEFAULT_LOSSES = ["softmax_ce", "seql", "softmax_eql", "seesaw", "eql", "eqlv2"]


def argument_parser():
    from eql.utils.arguments import count, nonnegative_int, number_type, positive_number

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dataset", choices=["generated", "cifar10", "cifar100"], default="generated")
    p.add_argument("--cifar-root", default=os.path.expanduser("~/datasets"))
    ratio = number_type(float, ">= 1")  # largest class / smallest class
    p.add_argument("--imbalance-ratio", type=ratio, default=None, help="default: 100 / 100 / 200")
    p.add_argument("--num-classes", type=number_type(int, ">= 2"), default=20, help="generated")
    p.add_argument("--max-per-class", type=count, default=200, help="generated set")
    p.add_argument("--losses", nargs="+", default=DEFAULT_LOSSES)
    p.add_argument("--depth", type=number_type(int, ">= 8"), default=None, help="6n + 2; 8, 32")
    p.add_argument("--iterations", type=count, default=None, help="default 300 / 12800")
    p.add_argument("--batch-size", type=count, default=64)
    p.add_argument("--lr", type=positive_number, default=0.1)
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--output", help="write the results as json here")
    return p


def parse_args(argv):
    a = argument_parser().parse_args(argv)
    if a.depth is not None and (a.depth - 2) % 6:
        argument_parser().error(
            f"argument --depth: must be 6n + 2 (8, 14, 20, 32, ...), got {a.depth}"
        )
    return a


def _given(value, default):
    """The option's value when given (0 included), else the default."""
    return default if value is None else value


def format_table(results) -> str:
    def cell(v):
        return "  n/a" if math.isnan(v) else f"{v:5.1f}"

    lines = [
        "| loss | top-1 | many | medium | few | train s |",
        "|------|-------|------|--------|-----|---------|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {cell(r['all'])} | {cell(r['many'])} | {cell(r['medium'])} | "
            f"{cell(r['few'])} | {r['seconds']:.0f} |"
        )
    return "\n".join(lines)


@report_user_errors
def main(argv=None) -> int:
    import torch

    from eql.classification import cifar_long_tailed, generated_long_tailed
    from eql.classification.losses import CLASSIFICATION_LOSSES
    from eql.classification.train import Schedule, train_classifier
    from eql.utils.io import write_json_atomic

    a = parse_args(argv)
    if a.output:
        from eql.utils.paths import check_writable

        check_writable(a.output, "--output", folder=False)
    unknown = [name for name in a.losses if name not in CLASSIFICATION_LOSSES]
    if unknown:
        raise UserError(f"--losses: unknown {unknown}; choose from {sorted(CLASSIFICATION_LOSSES)}")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    if a.dataset == "generated":
        ratio = _given(a.imbalance_ratio, 100.0)
        train, test = generated_long_tailed(a.num_classes, a.max_per_class, ratio, seed=a.seed)
        depth, iterations, crop = _given(a.depth, 8), _given(a.iterations, 300), False
    else:
        classes = 10 if a.dataset == "cifar10" else 100
        ratio = _given(a.imbalance_ratio, 100.0 if classes == 10 else 200.0)
        train, test = cifar_long_tailed(a.cifar_root, classes, ratio, seed=a.seed)
        depth, iterations, crop = _given(a.depth, 32), _given(a.iterations, 12800), True
    print(
        f"{a.dataset}-LT, imbalance {ratio:g}: {len(train.labels)} training images "
        f"({train.train_counts[0]} -> {train.train_counts[-1]} per class), {len(test.labels)} test "
        f"images; ResNet-{depth}, {iterations} iterations of {a.batch_size}",
        flush=True,
    )
    schedule = Schedule(iterations, a.batch_size, a.lr, warmup=min(100, iterations // 10))
    results = {}
    for name in a.losses:
        results[name] = train_classifier(
            name, train, test, schedule, depth, a.seed, crop, a.device, log=print
        )
    print(format_table(results))
    if a.output:
        write_json_atomic(a.output, results, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
