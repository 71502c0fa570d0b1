#!/usr/bin/env python
"""Tail classes and Tail Ratio TR(lambda) of a training set for a range of lambda (EQL paper:
TR(lambda) = sum_j T(f_j) N_j / sum_j N_j, N_j the image count of class j, T(f) = 1 if f < lambda).

    python tools/tail_ratio.py --dataset lvis_v1_train
    python tools/tail_ratio.py --json datasets/lvis/lvis_v0.5_train.json --lambdas 0.001 0.00177
    python tools/tail_ratio.py --json counts.json     # {"categories": [{"id", "image_count"}],
                                                      #  "num_images_with_annotations": N}
"""

import argparse
import sys

from eql.errors import report_user_errors

DEFAULT_LAMBDAS = (
    0.0001,
    0.0003,
    0.0005,
    0.0008,
    0.001,
    0.0011,
    0.0015,
    0.00177,
    0.002,
    0.003,
    0.005,
    0.01,
)


def tail_table(stats, lambdas):
    """Rows (lambda, number of tail classes, tail ratio, tail classes per r/c/f bin)."""
    from eql.data.category_stats import tail_ratio

    rows = []
    for lam in lambdas:
        tail = stats.tail_classes(lam)
        bins = {b: sum(1 for j in tail if stats.frequency[j] == b) for b in "rcf"}
        tr = tail_ratio(stats.image_count, stats.num_images_with_annotations, lam)
        rows.append((lam, len(tail), tr, bins))
    return rows


def argument_parser():
    from eql.utils.arguments import number_type

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", help="a registered dataset name, e.g. lvis_v1_train")
    src.add_argument("--json", help="an LVIS-format json or a category-count json")
    lam = number_type(float, "(0, 1]")  # EQL's lambda: a class frequency threshold
    p.add_argument("--lambdas", type=lam, nargs="+", default=list(DEFAULT_LAMBDAS))
    return p


@report_user_errors
def main(argv=None):
    a = argument_parser().parse_args(argv)

    if a.dataset:
        import eql  # noqa: F401  (registers datasets)
        from eql.data import get_category_stats

        stats = get_category_stats(a.dataset)
    else:
        from eql.data.category_stats import load_stats_file

        stats = load_stats_file(a.json)
    m = stats.num_images_with_annotations
    print(f"{stats.source or a.dataset}: {stats.num_classes} classes, {m} annotated images")
    print(f"{'lambda':>10} {'images <':>9} {'tail':>6} {'TR':>8}   tail by bin (r / c / f)")
    for lam, n, tr, bins in tail_table(stats, a.lambdas):
        print(
            f"{lam:>10.6g} {lam * m:>9.1f} {n:>6d} {tr:>8.4f}   {bins['r']} / {bins['c']} / "
            f"{bins['f']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
