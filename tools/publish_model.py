#!/usr/bin/env python
"""Prepares a trained checkpoint for the model zoo: strips the training state (optimizer,
scheduler, iteration), writes ``<name>-<sha256[:8]>.pth``, computes its sha256 and adds the entry
to a registry json (default: <out-dir>/models.json; the package's own registry only when named
with --registry).

    python tools/publish_model.py output/model_final.pth \
        --name LVISv1-InstanceSegmentation/eql_mask_rcnn_R_50_FPN_1x \
        --config LVISv1-InstanceSegmentation/eql_mask_rcnn_R_50_FPN_1x.yaml \
        --url-prefix https://example.org/eql/ --metrics output/metrics.json --out-dir publish/

Upload the written file to <url-prefix>; the entry's url is <url-prefix><file name>.
"""

import argparse
import hashlib
import io
import math
import os
import sys

import torch

from eql.errors import report_user_errors


def last_eval_metrics(metrics_json: str):
    """The evaluation results on the last line of a detectron2 metrics.json that holds any:
    ({name: value rounded to 3 places}, [names left out as NaN: not measured, e.g. APr of a set
    with no rare class])."""
    from eql.errors import UserError
    from eql.utils.io import json_number, read_json_lines

    if not os.path.isfile(metrics_json):
        raise UserError(f"{metrics_json}: file not found (--metrics)")
    found, line = {}, 0
    for n, row in read_json_lines(metrics_json):
        if not isinstance(row, dict):
            raise UserError(f"{metrics_json}: line {n} is not an object (--metrics)")
        evals = {k: v for k, v in row.items() if k.startswith(("bbox/", "segm/"))}
        if evals:
            found, line = evals, n
    for k, v in found.items():
        if not json_number(v) or math.isinf(v):
            raise UserError(f"{metrics_json}: line {line}: {k} is {v!r}, not a number (--metrics)")
    kept = {k: round(float(v), 3) for k, v in found.items() if not math.isnan(v)}
    return kept, sorted(set(found) - set(kept))


def argument_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("--name", required=True)
    p.add_argument("--config", required=True, help="config path relative to configs/")
    p.add_argument("--url-prefix", required=True)
    p.add_argument("--out-dir", default="publish")
    p.add_argument("--metrics", help="metrics.json of the run (its last evaluation is recorded)")
    p.add_argument(
        "--registry", help="registry json to add the entry to (default: <out-dir>/models.json)"
    )
    return p


@report_user_errors
def main(argv=None):
    from eql.checkpoint import EQLCheckpointer
    from eql.errors import UserError
    from eql.model_zoo import config_path
    from eql.model_zoo.registry import ModelEntry, write_registry_entry
    from eql.utils.io import atomic_write
    from eql.utils.paths import check_name, check_writable

    a = argument_parser().parse_args(argv)
    registry = a.registry or os.path.join(a.out_dir, "models.json")
    # every input is checked before anything is written
    check_name(a.name, "--name")
    if not os.path.isfile(a.checkpoint):
        raise UserError(f"{a.checkpoint}: file not found")
    check_writable(a.out_dir, "--out-dir", folder=True)
    check_writable(registry, "--registry", folder=False, inputs=[a.checkpoint])
    ckpt = EQLCheckpointer(torch.nn.Module())._torch_load(a.checkpoint)
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise UserError(f"{a.checkpoint}: no 'model' weights in the checkpoint")
    try:
        config_path(a.config)
    except UserError as e:
        raise UserError(f"--config: {e}") from None
    metrics, not_measured = last_eval_metrics(a.metrics) if a.metrics else ({}, [])
    buffer = io.BytesIO()
    torch.save({"model": ckpt["model"]}, buffer)
    digest = hashlib.sha256(buffer.getvalue()).hexdigest()
    file_name = f"{a.name.replace('/', '_')}-{digest[:8]}.pth"
    entry = ModelEntry(
        name=a.name,
        config=a.config,
        url=a.url_prefix.rstrip("/") + "/" + file_name,
        sha256=digest,
        format="eql",
        metrics=metrics,
        source="eql tools/publish_model.py",
    )
    path = os.path.join(a.out_dir, file_name)
    check_writable(path, "--out-dir", folder=False, inputs=[a.checkpoint])
    with atomic_write(path, "wb") as f:
        f.write(buffer.getvalue())
    try:
        write_registry_entry(registry, entry)
    except BaseException:
        os.remove(path)  # no checkpoint without its entry
        raise
    print(f"wrote {path} (sha256 {digest}); registry entry '{a.name}' in {registry}")
    if not_measured:
        print(f"left out of its metrics (NaN in {a.metrics}: not measured): {not_measured}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
