#!/usr/bin/env python
"""Converts an eql.detectron2 checkpoint (the official EQL code, detectron2 v0.1; C class logits)
into eql's layout (C + 1 logits with a dummy background), so that the official weights can be
evaluated with eql's evaluator:

    CFG=configs/LVISv0.5-InstanceSegmentation/official_eql_rfs_mask_rcnn_R_50_FPN_1x.yaml
    python tools/convert_official_checkpoint.py model_final.pth eql_r50.pth --config-file $CFG
    python tools/train_net.py --eval-only --config-file $CFG MODEL.WEIGHTS eql_r50.pth

The number of classes and the prior probability come from the config. The converted checkpoint is
checked by loading it into the config's model (every weight must be used).
"""

import argparse
import os
import sys

import torch

from eql.errors import report_user_errors
from eql.utils.io import atomic_write


def argument_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("input", help="eql.detectron2 model_final.pth")
    p.add_argument("output", help="where the converted checkpoint goes")
    p.add_argument("--config-file", required=True, help="the eql config the weights are for")
    p.add_argument("--no-check", action="store_true", help="skip loading into the model")
    p.add_argument("--opts", nargs="*", default=[], help="config overrides, KEY VALUE ...")
    return p


@report_user_errors
def main(argv=None):
    a = argument_parser().parse_args(argv)

    import eql  # noqa: F401
    from eql.config import load_config
    from eql.model_zoo.convert import convert_official_checkpoint
    from eql.utils.paths import check_writable

    if not os.path.isfile(a.input):
        print(f"error: {a.input} not found", file=sys.stderr)
        return 2
    check_writable(a.output, "output", folder=False, inputs=[a.input, a.config_file])
    cfg = load_config(a.config_file, a.opts)
    from eql.checkpoint import EQLCheckpointer

    ckpt = EQLCheckpointer(torch.nn.Module())._torch_load(a.input)
    out = convert_official_checkpoint(
        ckpt, cfg.MODEL.ROI_HEADS.NUM_CLASSES, cfg.MODEL.EQL.PRIOR_PROB
    )
    if not a.no_check:
        from detectron2.modeling import build_model

        cfg.defrost()
        cfg.MODEL.DEVICE = "cpu"
        cfg.MODEL.EQL.FREQUENCY_SOURCE = "none"
        model = build_model(cfg)
        expected = model.state_dict()
        missing = [k for k in expected if k not in out["model"]]
        unused = [k for k in out["model"] if k not in expected]
        wrong = [
            k
            for k in expected
            if k in out["model"] and tuple(out["model"][k].shape) != tuple(expected[k].shape)
        ]
        if missing or unused or wrong:
            print(
                f"error: {a.input} does not fit {a.config_file}: missing {missing[:5]}, unused "
                f"{unused[:5]}, shape mismatch {wrong[:5]}",
                file=sys.stderr,
            )
            return 1
    with atomic_write(a.output, "wb") as f:
        torch.save(out, f)
    print(f"wrote {a.output} ({len(out['model'])} tensors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
