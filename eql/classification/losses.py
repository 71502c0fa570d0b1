"""The losses of tools/train_classifier.py: every loss of eql.losses (``eql.losses.LOSSES``, by its
registered name), each built for image classification from the training set's class counts by its
class's ``for_classification`` (no background: C logits; the frequency-based losses treat the
classes with fewer than ``TAIL_IMAGES`` training images as the tail)."""

from typing import Iterator, Mapping, Sequence

from ..errors import UserError
from ..losses import LOSSES, ClassificationLoss
from ..losses.suppression import TAIL_IMAGES, tail_suppression  # noqa: F401  (re-exported)

# names the tool used before it took the registered names
OLD_NAMES = {"ce": "softmax_ce", "sigmoid_eql": "eql"}


class _ClassificationLosses(Mapping):
    """name -> factory(train_counts) for every registered loss (and the old names), read from the
    registry when asked, so that a loss registered later is listed too."""

    def __getitem__(self, name: str):
        return LOSSES[OLD_NAMES.get(name, name)].for_classification

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(LOSSES))

    def __len__(self) -> int:
        return len(LOSSES)

    def __contains__(self, name) -> bool:
        return OLD_NAMES.get(name, name) in LOSSES


CLASSIFICATION_LOSSES = _ClassificationLosses()


def build_classification_loss(name: str, train_counts: Sequence[int]) -> ClassificationLoss:
    if name not in CLASSIFICATION_LOSSES:
        raise UserError(
            f"--losses: unknown loss {name!r}; choose from {sorted(CLASSIFICATION_LOSSES)}"
        )
    return CLASSIFICATION_LOSSES[name](train_counts)
