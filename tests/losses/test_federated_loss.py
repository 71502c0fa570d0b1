"""The federated loss with eql's predictors: the sampled classes, equality with detectron2's
federated sigmoid CE, and EQL within it."""

import pytest
import torch
from common import PREDICTOR_CLASSES as C
from common import predictor_cfg, random_proposals
from detectron2.layers import ShapeSpec
from detectron2.modeling.roi_heads.fast_rcnn import FastRCNNOutputLayers
from detectron2.utils.events import EventStorage

from eql.losses import FederatedSampler, SigmoidEQL, federated_classes, sigmoid_eql_loss
from eql.modeling import EQLFastRCNNOutputLayers

COUNTS = [1, 5, 30, 2, 60, 8]
FED = ["MODEL.ROI_BOX_HEAD.USE_FED_LOSS", "True", "MODEL.ROI_BOX_HEAD.FED_LOSS_NUM_CLASSES"]


def test_sampled_classes_include_every_present_class():
    weights = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    for seed in range(20):
        torch.manual_seed(seed)
        gt = torch.randint(0, 9, (12,))
        kept = federated_classes(gt, 8, 5, weights)
        present = set(torch.unique(gt).tolist())
        assert present <= set(kept.tolist())
        assert len(kept) == max(5, len(present)) and len(set(kept.tolist())) == len(kept)
    # a class of weight 0 is never sampled
    torch.manual_seed(0)
    kept = federated_classes(torch.tensor([8, 8]), 8, 8, torch.tensor([0.0] + [1.0] * 7))
    assert 0 not in kept.tolist() and sorted(kept.tolist()) == list(range(1, 9))


def test_mask_keeps_the_sampled_classes_only():
    sampler = FederatedSampler(torch.ones(6), num_kept=3)
    torch.manual_seed(1)
    mask = sampler.mask(torch.tensor([2, 6, 6]))  # class 2 and background present: 1 sampled
    assert mask[2] == 1 and mask.sum() == 2 and mask.shape == (6,)


def test_federated_sigmoid_ce_equals_detectron2s(tmp_path):
    cfg = predictor_cfg(
        tmp_path, COUNTS, "MODEL.EQL.LOSS", "sigmoid_ce", "MODEL.EQL.PRIOR_PROB", "0.0", *FED, "3"
    )
    torch.manual_seed(0)
    ours = EQLFastRCNNOutputLayers(cfg, ShapeSpec(channels=16))
    assert ours.cls_loss.federated is not None
    weights = torch.tensor(COUNTS, dtype=torch.float32) ** 0.5
    assert torch.allclose(ours.cls_loss.federated.class_weights, weights)
    theirs = FastRCNNOutputLayers(
        cfg,
        ShapeSpec(channels=16),
        use_sigmoid_ce=True,
        use_fed_loss=True,
        fed_loss_num_classes=3,
        get_fed_loss_cls_weights=lambda: weights,
    )
    theirs.load_state_dict(ours.state_dict(), strict=False)
    x = torch.randn(30, 16)
    proposals = random_proposals([18, 12], seed=4)
    for p in proposals:  # only class 0 and background present: the draw adds one class
        p.gt_classes = torch.where(p.gt_classes % 2 == 0, 0, C)
    results = []
    for head in (ours, theirs):
        torch.manual_seed(5)  # the same class draw
        with EventStorage(0):
            loss = head.losses(head(x), proposals)["loss_cls"]
        loss.backward()
        results.append((loss.item(), head.cls_score.weight.grad.clone()))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-6)
    assert torch.allclose(results[0][1], results[1][1], atol=1e-7)
    # and the mask matters: without it the loss is larger
    plain = EQLFastRCNNOutputLayers(cfg, ShapeSpec(channels=16))
    plain.load_state_dict(ours.state_dict())
    plain.cls_loss.federated = None
    with EventStorage(0):
        assert plain.losses(plain(x), proposals)["loss_cls"].item() > results[0][0]


def test_eql_within_the_federated_loss():
    torch.manual_seed(2)
    z = torch.randn(10, C, dtype=torch.float64)
    gt = torch.tensor([0, 1, 6, 6, 3, 6, 0, 6, 6, 6])
    suppression = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.0, 0.0])
    eql = SigmoidEQL(suppression).use_federated(FederatedSampler(torch.ones(C), num_kept=5))
    torch.manual_seed(9)
    loss = eql(z, gt)
    torch.manual_seed(9)
    mask = FederatedSampler(torch.ones(C), num_kept=5).mask(gt).double()
    assert mask.sum() == 4  # 0, 1, 3 present (+ background) and one sampled
    weights = torch.ones(10, C, dtype=torch.float64)
    fg = gt < C
    weights[fg] = 1 - suppression.double()[None, :]
    weights[fg.nonzero().squeeze(1), gt[fg]] = 1
    y = torch.nn.functional.one_hot(gt, C + 1)[:, :C].double()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(z, y, reduction="none")
    expected = (bce * weights * mask[None, :]).sum() / 10
    assert loss.item() == pytest.approx(expected.item(), rel=1e-12)
    assert loss.item() < sigmoid_eql_loss(z, gt, suppression).item()
