"""The interface of eql's classification losses.

Every loss is an ``nn.Module`` called as ``loss(logits, gt_classes, context)``:

    logits (N, num_logits): C class logits, then the loss's objectness logits if it has any;
    gt_classes (N,) int64 in [0, C]: C is background;
    context: a :class:`~eql.losses.context.LossContext` (or None).

and returning a scalar. A loss declares

    ``num_extra_logits``: how many objectness logits follow the C class logits: 0 (sigmoid CE,
        EQL, focal losses), 1 (EQLv2: trained with target 1 on background rows), 2 (Seesaw:
        softmax over object / background);
    ``sigmoid``: whether its scores are sigmoids (per-class binary) or a softmax;
    ``probabilities(logits)``: how its logits become the (N, C) class scores used at inference;
    ``state_buffers``: names of its statistics (persistent buffers: in ``state_dict`` and so in
        checkpoints), kept in fp32 whatever the model is cast to.

A loss can also record, for diagnostics, each class's accumulated positive and negative gradient
magnitudes (:meth:`ClassificationLoss.record_gradients`).
"""

import logging
from contextlib import contextmanager
from typing import Optional, Sequence, Tuple

import torch
from torch import nn

from .distributed import all_reduce_sum, world_size

logger = logging.getLogger(__name__)

# added to accumulated negative gradients before dividing (the official EQLv2 / EFL value)
RATIO_EPS = 1e-10


def compute_dtype(logits: torch.Tensor) -> torch.dtype:
    """fp32 for half-precision logits (losses and statistics are computed in fp32), else the
    logits' own dtype (fp32, or fp64 in tests)."""
    return torch.promote_types(logits.dtype, torch.float32)


@contextmanager
def autocast_disabled(device: torch.device):
    """Runs the block without autocast on ``device``'s type (the loss math is in fp32)."""
    with torch.autocast(device_type=device.type, enabled=False):
        yield


def positive_negative_sums(
    values: torch.Tensor, gt_classes: torch.Tensor, num_classes: int
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per class j < ``num_classes``: the sum of ``values[i, j]`` over the rows whose class is j,
    and over the other rows. ``values`` (N, >= num_classes) is not modified."""
    values = values[:, :num_classes]
    rows = (gt_classes < num_classes).nonzero().squeeze(1)
    cols = gt_classes[rows]
    at_target = values[rows, cols]
    pos = torch.zeros(num_classes, dtype=values.dtype, device=values.device)
    pos.index_add_(0, cols, at_target)
    neg = values.sum(0) - pos if rows.numel() == 0 else _sum_without(values, rows, cols)
    return pos, neg


def _sum_without(values: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Column sums of ``values`` with the entries (rows, cols) left out (exact: no subtraction)."""
    kept = values.clone()
    kept[rows, cols] = 0
    return kept.sum(0)


def check_labels(
    name: str,
    labels: torch.Tensor,
    num_classes: int,
    background: bool,
    ignore=None,
    logits: Optional[torch.Tensor] = None,
) -> bool:
    """ValueError naming the range when ``labels`` are not integers in [0, C] (``background``:
    C is the background) or [0, C - 1], ``ignore`` (a segmentation's unlabelled value) aside.
    Returns whether ``logits`` (if given) are all finite: one host copy for both."""
    if labels.dtype == torch.bool or labels.is_floating_point() or labels.is_complex():
        raise ValueError(f"{name}: gt_classes must be an integer tensor, got {labels.dtype}")
    kept = labels if ignore is None else labels[labels != ignore]
    finite = torch.isfinite(logits).all() if logits is not None and logits.numel() else None
    if kept.numel() == 0:
        return True if finite is None else bool(finite)
    parts = [kept.min(), kept.max()] + ([finite.to(kept.dtype)] if finite is not None else [])
    low, high, *rest = torch.stack(parts).tolist()
    top = num_classes if background else num_classes - 1
    if low < 0 or high > top:
        what = f"[0, {top}] ({top}: background)" if background else f"[0, {top}]"
        extra = f" or {ignore} (ignored)" if ignore is not None else ""
        raise ValueError(
            f"{name}: gt_classes must be in {what}{extra} for {num_classes} classes, got values "
            f"in [{low}, {high}]"
        )
    return bool(rest[0]) if rest else True


def finite_statistics(module: nn.Module, finite_input: bool, *sums: torch.Tensor) -> bool:
    """Whether one step's statistics may be added: its inputs were finite (in every process:
    ``finite_input`` as all-reduced by the caller) and so are its sums. If not, counts the
    skipped step on ``module`` (``skipped_nonfinite_steps``) and warns."""
    if finite_input and bool(torch.isfinite(torch.cat([s.reshape(-1) for s in sums])).all()):
        return True
    module.skipped_nonfinite_steps = getattr(module, "skipped_nonfinite_steps", 0) + 1
    logger.warning(
        f"{type(module).__name__}: a step with non-finite logits left the statistics unchanged "
        f"({module.skipped_nonfinite_steps} such steps)"
    )
    return False


def _reduce_step(pos, neg, num_rows: int, finite_input: bool):
    """(pos, neg, rows, finite) summed over processes: one all-reduce."""
    pos, neg = pos.float().clone(), neg.float().clone()
    if world_size() > 1:
        extra = torch.tensor([float(num_rows), float(not finite_input)], device=pos.device)
        all_reduce_sum(pos, neg, extra)
        rows, bad = extra.tolist()
        num_rows, finite_input = int(rows), bad == 0
    return pos, neg, num_rows, finite_input


class Float32Statistics(nn.Module):
    """A module whose ``state_buffers`` stay fp32 when the module is cast (``.half()``, ``.to``)."""

    state_buffers: Tuple[str, ...] = ()

    def _apply(self, fn, *args, **kwargs):
        before = {name: getattr(self, name) for name in self.state_buffers}
        super()._apply(fn, *args, **kwargs)
        for name, old in before.items():
            buf = getattr(self, name)
            if buf is not None and buf.dtype != torch.float32:
                # the cast only: the values of before (no fp16 rounding), where fn put the buffer
                setattr(self, name, old.to(device=buf.device, dtype=torch.float32))
        return self


class GradientRecord(Float32Statistics):
    """Accumulated magnitudes of the gradient of a loss with respect to its C class logits: ``pos``
    over rows of that class, ``neg`` over the other rows; summed across processes at every step
    (so every process, and every checkpoint, holds the totals)."""

    state_buffers = ("pos", "neg")

    def __init__(self, num_classes: int):
        super().__init__()
        self.num_classes = num_classes
        self.register_buffer("pos", torch.zeros(num_classes))
        self.register_buffer("neg", torch.zeros(num_classes))

    @torch.no_grad()
    def add(self, grad: torch.Tensor, gt_classes: torch.Tensor, finite_input: bool = True) -> None:
        """``grad`` (N, >= C): d loss / d logits of one step (the class columns are used)."""
        sums = positive_negative_sums(grad.abs(), gt_classes, self.num_classes)
        self.add_sums(*sums, finite_input=finite_input)

    @torch.no_grad()
    def add_sums(self, pos: torch.Tensor, neg: torch.Tensor, finite_input: bool = True) -> None:
        """Adds one step's per-class sums (C,) of |d loss / d logits| on / off target; a step
        whose logits or sums are not finite (in any process) is skipped and counted."""
        pos, neg, _, finite_input = _reduce_step(pos, neg, 0, finite_input)
        if not finite_statistics(self, finite_input, pos, neg):
            return
        self.pos += pos
        self.neg += neg

    def ratio(self) -> torch.Tensor:
        return self.pos / (self.neg + RATIO_EPS)


class ClassificationLoss(Float32Statistics):
    """Base class; see the module docstring."""

    num_extra_logits = 0
    sigmoid = True
    background = True  # gt_classes may be C (background); False: only the classes [0, C)

    def __init__(self, num_classes: int):
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.gradient_record: Optional[GradientRecord] = None
        self.finite_logits = True  # of the last step (check_inputs)

    @classmethod
    def for_classification(cls, train_counts: Sequence[int]) -> "ClassificationLoss":
        """The loss for image classification (C logits, no background), built from the training
        set's image count per class (eql.classification, tools/train_classifier.py); a loss
        whose constructor needs more than the class count overrides it."""
        return cls(len(train_counts))

    @property
    def num_logits(self) -> int:
        """Logits read per row: C and the objectness logits."""
        return self.num_classes + self.num_extra_logits

    @property
    def objectness(self) -> bool:
        return self.num_extra_logits > 0

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """(N, C) class scores from (N, num_logits) logits: sigmoids of the class logits."""
        return torch.sigmoid(logits[:, : self.num_classes].float())

    def register_gradient_statistics(self, initial_ratio: float) -> None:
        """Adds the fp32 buffers of a gradient-driven loss: ``pos_grad``, ``neg_grad`` (C,)
        accumulated positive / negative gradient magnitudes and ``pos_neg`` (C,) their ratio."""
        self.state_buffers = ("pos_grad", "neg_grad", "pos_neg")
        self.register_buffer("pos_grad", torch.zeros(self.num_classes))
        self.register_buffer("neg_grad", torch.zeros(self.num_classes))
        self.register_buffer("pos_neg", torch.full((self.num_classes,), float(initial_ratio)))

    @torch.no_grad()
    def accumulate_gradient_statistics(
        self, pos: torch.Tensor, neg: torch.Tensor, num_rows: int
    ) -> bool:
        """For stateful losses with ``pos_grad`` / ``neg_grad`` buffers: adds one step's per-class
        gradient magnitudes, summed over processes. Returns False, changing nothing, when no
        process had a row in this step, or when the step's magnitudes are not finite (NaN or
        infinite logits in some process: the step is skipped and counted in
        ``skipped_nonfinite_steps``, so that one bad batch does not poison the statistics for the
        rest of training; the loss value itself stays non-finite, for the caller to see)."""
        pos, neg, num_rows, finite_input = _reduce_step(pos, neg, num_rows, self.finite_logits)
        if num_rows == 0 or not finite_statistics(self, finite_input, pos, neg):
            return False
        self.pos_grad += pos
        self.neg_grad += neg
        return True

    def record_gradients(self) -> "ClassificationLoss":
        """From now on, accumulate per-class gradient magnitudes in ``self.gradient_record``."""
        if not self.sigmoid:
            raise ValueError(f"{type(self).__name__}: gradient records are for sigmoid losses")
        if self.gradient_record is None:
            self.gradient_record = GradientRecord(self.num_classes)
        return self

    def check_inputs(self, logits: torch.Tensor, gt_classes: torch.Tensor) -> None:
        """ValueError naming the expected shapes, dtype or label range (one host copy of the
        labels' range)."""
        name = type(self).__name__
        if logits.dim() != 2 or logits.shape[1] != self.num_logits:
            raise ValueError(
                f"{type(self).__name__}: logits must be (N, {self.num_logits}) for "
                f"{self.num_classes} classes + {self.num_extra_logits} objectness, got "
                f"{tuple(logits.shape)}"
            )
        if gt_classes.shape != logits.shape[:1]:
            raise ValueError(
                f"{type(self).__name__}: gt_classes must be ({logits.shape[0]},), got "
                f"{tuple(gt_classes.shape)}"
            )
        # whether this step's statistics may be kept (accumulate_gradient_statistics)
        self.finite_logits = check_labels(
            name, gt_classes, self.num_classes, self.background, logits=logits
        )

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}"
