"""Suppression strength of a class as a function of its image frequency f (EQL's T(f)).

For a foreground proposal, EQL scales the negative (1 - y) term of class j by 1 - T(f_j): T = 1
ignores it entirely, T = 0 keeps it. The paper's default is a threshold; its ablation compares
smooth decays in f. The forms implemented here, all equal to 1 at f = 0 and decreasing in f:

    threshold    T(f) = 1 if f < lambda else 0          (strict; the paper's T_lambda)
    exponential  T(f) = exp(-ln(2) * f / lambda)        (T(lambda) = 1/2)
    gompertz     T(f) = 1 - exp(-b * exp(-c * f / lambda))
                 (~1 for f << lambda, -> 0 for f >> lambda; b sets the plateau, c the steepness;
                  the defaults b = 20, c = ln(20 / ln 2) = 3.362 give T(lambda) = 1/2)

lambda is the same MODEL.EQL.EQL.LAMBDA for every form, so a smooth form is centred where the
threshold cuts.
"""

import math
from typing import Callable, Dict, Sequence

import torch

# image classification (eql.classification): tail classes are those with fewer training images
TAIL_IMAGES = 20
GOMPERTZ_DEFAULT_B = 20.0
GOMPERTZ_DEFAULT_C = math.log(GOMPERTZ_DEFAULT_B / math.log(2.0))


def threshold_suppression(frequency: torch.Tensor, lam: float) -> torch.Tensor:
    """T_lambda(f) = 1 if f < lambda else 0 (strict), shape of ``frequency``."""
    return (frequency < lam).to(torch.float32)


def exponential_suppression(frequency: torch.Tensor, lam: float) -> torch.Tensor:
    """T(f) = exp(-ln(2) f / lambda): 1 at f = 0, 1/2 at f = lambda."""
    return torch.exp(-math.log(2.0) * frequency.to(torch.float32) / lam)


def gompertz_suppression(
    frequency: torch.Tensor,
    lam: float,
    b: float = GOMPERTZ_DEFAULT_B,
    c: float = GOMPERTZ_DEFAULT_C,
) -> torch.Tensor:
    """T(f) = 1 - exp(-b exp(-c f / lambda)): a smooth step down around lambda."""
    return 1.0 - torch.exp(-b * torch.exp(-c * frequency.to(torch.float32) / lam))


SUPPRESSION_FUNCTIONS: Dict[str, Callable[..., torch.Tensor]] = {
    "threshold": threshold_suppression,
    "exponential": exponential_suppression,
    "gompertz": gompertz_suppression,
}


def suppression_strength(frequency: torch.Tensor, name: str, lam: float, **params) -> torch.Tensor:
    """T(f) of every class (C,) with the named form; ``params`` are the form's extra arguments."""
    if name not in SUPPRESSION_FUNCTIONS:
        raise ValueError(
            f"unknown suppression function {name!r}; choose one of {sorted(SUPPRESSION_FUNCTIONS)}"
        )
    if lam <= 0:
        raise ValueError(f"lambda must be > 0, got {lam}")
    return SUPPRESSION_FUNCTIONS[name](frequency, lam, **params)


def tail_suppression(train_counts: Sequence[int], tail_images: int = TAIL_IMAGES) -> torch.Tensor:
    """T(f) of the threshold form for image classification: 1 for the classes with fewer than
    ``tail_images`` training images (lambda = tail_images / number of training images), else 0."""
    return (torch.tensor(list(train_counts)) < tail_images).float()
