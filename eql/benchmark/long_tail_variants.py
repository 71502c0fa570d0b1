"""What the long-tail benchmark trains of each loss: a run's label names a loss and its variant,
``<loss>[_rfs][_fed][_official]``, and :func:`variant_opts` turns it into config options.

**One protocol.** Under the benchmark's protocol every loss of a kind trains from the same start
(:data:`PROTOCOL_STARTS`): the sigmoid losses of the ROI heads (sigmoid CE, EQL, EQLv2, the
federated loss) from the class prior 0.001 of the official EQL code with a linear classifier; the
softmax losses (detectron2's softmax CE, Seesaw, softmax EQL) from zero class biases with a linear
classifier; RetinaNet's losses (focal, EFL) from RetinaNet's prior 0.01. So a difference between
two rows is the loss's, not its start's. A loss's *official recipe* (registry ``recipe``: EQLv2's
zero biases, Seesaw's cosine classifier) is the extra label ``<loss>_official``, offered only where
it differs from the protocol. LVIS's settings are kept as counts (EQL's tail, the RFS threshold in
images, the federated loss's share of the classes).
"""

from dataclasses import dataclass
from typing import Dict, List, Tuple

from ..errors import UserError
from ..modeling.heads import DENSE_HEAD, HEAD_KINDS
from ..modeling.losses import CLASSIFICATION_LOSS_REGISTRY, ROI_HEAD


class SweepError(UserError):
    """A sweep cannot go on (settings changed, a run failed); the message names the file or key."""


# The start of every loss of one kind under the protocol: (head, sigmoid) -> (key, value) pairs.
PROTOCOL_STARTS: Dict[Tuple[str, bool], Tuple[Tuple[str, object], ...]] = {
    # the official EQL code's prior (eql's default), detectron2's linear classifier
    (ROI_HEAD, True): (("MODEL.EQL.PRIOR_PROB", 0.001), ("MODEL.EQL.CLASSIFIER", "linear")),
    # detectron2's softmax predictor: zero biases, linear classifier
    (ROI_HEAD, False): (("MODEL.EQL.PRIOR_PROB", 0.0), ("MODEL.EQL.CLASSIFIER", "linear")),
    # detectron2's RetinaNet head: prior 0.01 for every class (focal loss and EFL)
    (DENSE_HEAD, True): (("MODEL.RETINANET.PRIOR_PROB", 0.01),),
}
START_KEYS = frozenset(k for start in PROTOCOL_STARTS.values() for k, _ in start)
RECIPES = ("protocol", "official", "both")  # benchmarks/long_tail.py --recipe

# detectron2's own softmax predictor, the baseline that is not an eql loss (ROI heads)
DETECTRON2_BASELINES: Dict[str, List[str]] = {
    "softmax_ce": [
        "MODEL.ROI_HEADS.NAME",
        "StandardROIHeads",
        "MODEL.ROI_BOX_HEAD.USE_SIGMOID_CE",
        "False",
    ],
}

# LVIS: RFS threshold 0.001 on ~100k images and the federated loss's 50 of 1,203 classes; the
# benchmark keeps these as image and class counts: 100 images, and 50 / 1,203 of the classes.
RFS_THRESHOLD_IMAGES = 100
FED_CLASS_FRACTION = 50 / 1203
SUFFIXES = ("_official", "_fed", "_rfs")  # in the order they are read off a label's end


@dataclass(frozen=True)
class LossRecipe:
    """One loss of a head as the benchmark trains it."""

    opts: Tuple[str, ...]  # MODEL.EQL.LOSS and the recipe's keys that are not start keys
    sigmoid: bool
    official_start: Tuple[Tuple[str, object], ...]  # the recipe's values of start keys
    federated: bool = False


@dataclass(frozen=True)
class Variant:
    loss: str
    rfs: bool = False
    fed: bool = False
    official: bool = False


def parse_label(label: str) -> Variant:
    """The loss and variant of a label; the suffixes may come in any order, each once."""
    rest, found = label, set()
    while True:
        suffix = next((s for s in SUFFIXES if rest.endswith(s) and s not in found), None)
        if suffix is None or rest == suffix:
            break
        found.add(suffix)
        rest = rest[: -len(suffix)]
    return Variant(rest, "_rfs" in found, "_fed" in found, "_official" in found)


def loss_recipes(head: str = ROI_HEAD) -> Dict[str, LossRecipe]:
    """Every loss of ``head`` in the registry (with detectron2's softmax baseline in the ROI heads),
    by the name the benchmark's labels use."""
    out = {}
    for name, entry in sorted(CLASSIFICATION_LOSS_REGISTRY):
        if head not in entry.heads:
            continue
        own = [(k, v) for k, v in entry.recipe if k not in START_KEYS]
        official = tuple((k, v) for k, v in entry.recipe if k in START_KEYS)
        opts = ("MODEL.EQL.LOSS", name) + tuple(x for k, v in own for x in (k, str(v)))
        out[name] = LossRecipe(opts, entry.sigmoid, official, entry.federated)
    if head == ROI_HEAD:
        for name, opts in DETECTRON2_BASELINES.items():
            out[name] = LossRecipe(tuple(opts), False, ())
    return out


def baseline_loss(head: str) -> str:
    """The loss every other is compared with in ``head``: sigmoid CE, focal loss."""
    return HEAD_KINDS[head].baseline


def start_of(recipe: LossRecipe, head: str, official: bool) -> Dict[str, object]:
    """The start keys' values of a loss: the protocol's for its kind, or its official recipe's."""
    start = dict(PROTOCOL_STARTS[(head, recipe.sigmoid)])
    if official:
        start.update(recipe.official_start)
    return start


def start_opts(recipe: LossRecipe, head: str, official: bool) -> List[str]:
    return [x for k, v in start_of(recipe, head, official).items() for x in (k, str(v))]


def has_official_recipe(loss: str, head: str = ROI_HEAD) -> bool:
    """Whether ``loss``'s official recipe starts otherwise than the protocol."""
    recipe = loss_recipes(head).get(loss)
    if recipe is None:
        return False
    return start_opts(recipe, head, True) != start_opts(recipe, head, False)


def is_official_start(loss: str, value_of) -> bool:
    """Whether a run of ``loss`` whose config reads ``value_of(key)`` started from the loss's
    official recipe (for a loss whose recipe starts otherwise than the protocol)."""
    for head in (ROI_HEAD, DENSE_HEAD):
        recipe = loss_recipes(head).get(loss)
        if recipe is not None and has_official_recipe(loss, head):
            start = start_of(recipe, head, official=True)
            return all(str(value_of(k)) == str(v) for k, v in start.items())
    return False


def loss_opts(head: str = ROI_HEAD) -> Dict[str, List[str]]:
    """Each plain label (a loss, or "<loss>_fed" for those that take the federated loss) with its
    options under the protocol, for a size of ``num_classes`` classes."""
    out = {}
    for name, recipe in loss_recipes(head).items():
        out[name] = list(recipe.opts) + start_opts(recipe, head, False)
        if recipe.federated:
            out[f"{name}_fed"] = out[name] + ["MODEL.ROI_BOX_HEAD.USE_FED_LOSS", "True"]
    return out


def variant_opts(label: str, size) -> List[str]:
    """The config options of a label on ``size`` (a SetSize): its loss under the protocol (or
    its official recipe), the federated loss's class count, repeat-factor sampling at LVIS's
    threshold in images."""
    v = parse_label(label)
    recipes = loss_recipes(size.head)
    known = sorted(loss_opts(size.head))
    recipe = recipes.get(v.loss)
    if recipe is None or (v.fed and not recipe.federated):
        raise SweepError(f"--losses: unknown loss {label!r}; choose from {known}")
    if v.official and not has_official_recipe(v.loss, size.head):
        raise SweepError(
            f"--losses: {label!r}: {v.loss}'s official recipe starts as the protocol does; "
            f"'{v.loss}' is its run"
        )
    opts = list(recipe.opts) + start_opts(recipe, size.head, v.official)
    if v.fed:
        num = max(1, round(FED_CLASS_FRACTION * size.num_classes))
        opts += ["MODEL.ROI_BOX_HEAD.USE_FED_LOSS", "True"]
        opts += ["MODEL.ROI_BOX_HEAD.FED_LOSS_NUM_CLASSES", str(num)]
    if v.rfs:
        threshold = RFS_THRESHOLD_IMAGES / size.num_train_images
        opts += [
            "DATALOADER.SAMPLER_TRAIN",
            "RepeatFactorTrainingSampler",
            "DATALOADER.REPEAT_THRESHOLD",
            f"{threshold:.6g}",
        ]
    return opts


def records_gradients(label: str, head: str = ROI_HEAD) -> bool:
    """Whether the label's loss records gradient statistics (the sigmoid losses)."""
    recipe = loss_recipes(head).get(parse_label(label).loss)
    return recipe is not None and recipe.sigmoid


def with_rfs(label: str) -> str:
    v = parse_label(label)
    return format_label(Variant(v.loss, True, v.fed, v.official))


def with_official(label: str) -> str:
    v = parse_label(label)
    return format_label(Variant(v.loss, v.rfs, v.fed, True))


def format_label(v: Variant) -> str:
    suffix = ("_rfs" if v.rfs else "") + ("_fed" if v.fed else "")
    return v.loss + suffix + ("_official" if v.official else "")


def labels_of(losses, rfs: str = "off", recipe: str = "protocol", head: str = ROI_HEAD):
    """The labels ``benchmarks/long_tail.py`` trains: each loss under the protocol and / or its
    official recipe (only where that differs), without and / or with repeat-factor sampling."""
    if recipe not in RECIPES:
        raise SweepError(f"--recipe: one of {list(RECIPES)}, got {recipe!r}")
    twice = sorted({x for x in losses if list(losses).count(x) > 1})
    if twice:
        raise SweepError(f"--losses: {twice} given twice")
    out = []
    for loss in losses:
        official = has_official_recipe(parse_label(loss).loss, head)
        recipes = {"protocol": [loss], "official": [with_official(loss) if official else loss]}
        recipes["both"] = [loss] + ([with_official(loss)] if official else [])
        for x in recipes[recipe]:
            out += {"off": [x], "on": [with_rfs(x)], "both": [x, with_rfs(x)]}[rfs]
    return list(dict.fromkeys(out))  # "eqlv2_official" named and made by --recipe both: once
