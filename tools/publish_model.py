#!/usr/bin/env python
"""Prepares a trained checkpoint for the model zoo: strips the training state (optimizer,
scheduler, iteration), writes ``<name>-<sha256[:8]>.pth``, computes its sha256 and adds the entry
to a registry json (default: eql/model_zoo/models.json).

    python tools/publish_model.py output/model_final.pth \
        --name LVISv1-InstanceSegmentation/eql_mask_rcnn_R_50_FPN_1x \
        --config LVISv1-InstanceSegmentation/eql_mask_rcnn_R_50_FPN_1x.yaml \
        --url-prefix https://example.org/eql/ --metrics output/metrics.json --out-dir publish/

Upload the written file to <url-prefix>; the entry's url is <url-prefix><file name>.
"""

import argparse
import json
import os
import sys

import torch


def last_eval_metrics(metrics_json: str) -> dict:
    """The last line of a detectron2 metrics.json that holds evaluation results."""
    found = {}
    with open(metrics_json) as f:
        for line in f:
            row = json.loads(line)
            evals = {k: v for k, v in row.items() if k.startswith(("bbox/", "segm/"))}
            if evals:
                found = evals
    return {k: round(float(v), 3) for k, v in found.items()}


def main(argv=None):
    from eql.model_zoo.download import sha256_of
    from eql.model_zoo.registry import SHIPPED_REGISTRY, ModelEntry, write_registry_entry

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("--name", required=True)
    p.add_argument("--config", required=True, help="config path relative to configs/")
    p.add_argument("--url-prefix", required=True)
    p.add_argument("--out-dir", default="publish")
    p.add_argument("--metrics", help="metrics.json of the run (its last evaluation is recorded)")
    p.add_argument("--registry", default=SHIPPED_REGISTRY)
    a = p.parse_args(argv)
    if not os.path.isfile(a.checkpoint):
        print(f"error: {a.checkpoint} not found", file=sys.stderr)
        return 2
    ckpt = torch.load(a.checkpoint, map_location="cpu", weights_only=False)
    if "model" not in ckpt:
        print(f"error: {a.checkpoint} has no 'model' weights", file=sys.stderr)
        return 2
    os.makedirs(a.out_dir, exist_ok=True)
    tmp = os.path.join(a.out_dir, "publish.tmp")
    torch.save({"model": ckpt["model"]}, tmp)
    digest = sha256_of(tmp)
    file_name = f"{a.name.replace('/', '_')}-{digest[:8]}.pth"
    path = os.path.join(a.out_dir, file_name)
    os.replace(tmp, path)
    entry = ModelEntry(
        name=a.name,
        config=a.config,
        url=a.url_prefix.rstrip("/") + "/" + file_name,
        sha256=digest,
        format="eql",
        metrics=last_eval_metrics(a.metrics) if a.metrics else {},
        source="eql tools/publish_model.py",
    )
    write_registry_entry(a.registry, entry)
    print(f"wrote {path} (sha256 {digest}); registry entry '{a.name}' in {a.registry}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
