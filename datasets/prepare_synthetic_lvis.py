#!/usr/bin/env python
"""Writes the synthetic long-tailed LVIS-format set (see eql/data/synthetic/lvis.py).

    # -> $DETECTRON2_DATASETS/synthetic_lvis
    python datasets/prepare_synthetic_lvis.py
    python datasets/prepare_synthetic_lvis.py --num-train-images 20000 --num-classes 192 \
        --image-size 256
    # LVIS v1's own bins and counts (rare 1-10, common 11-100, frequent 101-200 images)
    python datasets/prepare_synthetic_lvis.py --profile lvis --num-classes 100 \
        --num-train-images 2100 --max-images-per-class 200
    # the long-tail benchmark's smoke set: every class alike in val
    python datasets/prepare_synthetic_lvis.py --profile lvis --num-classes 50 \
        --num-train-images 1000 --num-val-images 400 --image-size 64 \
        --max-images-per-class 150 --val-class-weights uniform

The default output folder is registered on `import eql` as synthetic_lvis_train and
synthetic_lvis_val; another folder is used with `DATASETS.SYNTHETIC.ROOT <folder>` in
tools/train_net.py.
"""

import argparse
import os
import sys

from eql.data.synthetic.classes import MAX_CLASSES
from eql.data.synthetic.lvis import generate_synthetic_lvis


def argument_parser():
    from eql.utils.arguments import count, nonnegative_int

    root = os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets"))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--output-dir", default=os.path.join(root, "synthetic_lvis"))
    p.add_argument("--num-train-images", type=count, default=300)
    p.add_argument("--num-val-images", type=count, default=100)
    p.add_argument("--num-classes", type=count, default=24, help=f"at most {MAX_CLASSES}")
    p.add_argument("--image-size", type=count, default=128)
    p.add_argument("--max-objects-per-image", type=count, default=3)
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("--profile", choices=["anchored", "lvis"], default="anchored")
    p.add_argument("--max-images-per-class", type=count, default=200, help="--profile lvis")
    p.add_argument(
        "--val-class-weights",
        choices=["sqrt", "uniform"],
        default="sqrt",
        help="val classes drawn by sqrt(training count), or all alike (the long-tail benchmark)",
    )
    return p


def main(argv=None):
    a = argument_parser().parse_args(argv)
    from eql.errors import UserError
    from eql.utils.paths import check_writable

    try:
        check_writable(a.output_dir, "--output-dir", folder=True)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        paths = generate_synthetic_lvis(
            a.output_dir,
            a.num_train_images,
            a.num_val_images,
            a.num_classes,
            a.image_size,
            a.max_objects_per_image,
            a.seed,
            profile=a.profile,
            max_images_per_class=a.max_images_per_class,
            val_class_weights=a.val_class_weights,
        )
    except ValueError as e:  # the arguments cannot make a set: one line, exit 2
        print(f"error: {e}", file=sys.stderr)
        return 2
    for k, v in paths.items():
        print(f"{k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
