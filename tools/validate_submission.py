#!/usr/bin/env python
"""Checks an LVIS results file before submission and lists every problem.

    python tools/validate_submission.py \
        output/inference/lvis_v1_test_dev/lvis_instances_results.json \
        datasets/lvis/lvis_v1_image_info_test_dev.json [--segm] [--ap-fixed]

Exit status 0 when the file is valid, 1 otherwise (problems are printed by kind, with counts and
examples), 2 when a file cannot be read.
"""

import argparse
import sys
from collections import Counter

from eql.errors import report_user_errors
from eql.evaluation.submission import (
    check_image_info,
    shifted_category_ids,
    validate_submission,
)
from eql.utils.io import read_json


def argument_parser():
    from eql.utils.arguments import count

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("results", help="the results json (a list of detections)")
    p.add_argument("image_info", help="the dataset json: test-dev image info, or val")
    p.add_argument("--segm", action="store_true", help="require RLE segmentations")
    p.add_argument("--max-dets-per-image", type=count, default=300)
    p.add_argument(
        "--ap-fixed",
        action="store_true",
        help="AP^Fixed submission: no per-image cap, at most --dets-per-class per class",
    )
    p.add_argument("--dets-per-class", type=count, default=10000)
    return p


@report_user_errors
def main(argv=None):
    a = argument_parser().parse_args(argv)
    results = read_json(a.results, name=f"results file {a.results}")
    info = read_json(a.image_info, name=f"image info json {a.image_info}")
    check_image_info(info, a.image_info)
    problems = validate_submission(
        results,
        info,
        max_dets_per_image=None if a.ap_fixed else a.max_dets_per_image,
        dets_per_class=a.dets_per_class if a.ap_fixed else None,
        require_segmentation=a.segm,
    )
    if problems:
        print(f"{a.results}: {len(problems)} kind(s) of problem")
        for line in problems:
            print(f"  - {line}")
        return 1
    warning = shifted_category_ids(results, info)
    if warning:
        print(f"warning: {a.results}: {warning}", file=sys.stderr)
    n_images = len(Counter(r["image_id"] for r in results))
    print(
        f"{a.results}: OK ({len(results)} detections on {n_images} of "
        f"{len(info['images'])} images)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
