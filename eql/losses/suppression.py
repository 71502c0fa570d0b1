"""Suppression strength of a class as a function of its image frequency f (EQL's T(f)).

EQL ignores the negative gradients of a class j for foreground proposals with strength T(f_j) in
[0, 1]: T = 1 removes them entirely, T = 0 keeps them. The paper's default is the threshold
function; its ablation (Fig. 3, Table 3) compares smooth decays of f. The exact forms here:

    threshold:    T(f) = 1 if f < lambda else 0                     (lambda: threshold)
    exponential:  T(f) = exp(-f / lambda)                           (lambda: scale; T(lambda) = 1/e)
    gompertz:     T(f) = 1 - a * exp(-b * exp(-c * f))

The Gompertz curve is 1 - a * exp(-b) at f = 0 and rises towards 1 as f grows, so it is used
mirrored: T(f) = a * exp(-b * exp(-c * (lambda - f))) ... see :func:`gompertz_suppression`.
"""

from typing import Callable, Dict

import torch


def threshold_suppression(frequency: torch.Tensor, threshold: float) -> torch.Tensor:
    """T_lambda(f) = 1 if f < lambda else 0 (strict, as in the paper), shape of ``frequency``."""
    return (frequency < threshold).to(torch.float32)


def exponential_suppression(frequency: torch.Tensor, scale: float) -> torch.Tensor:
    """T(f) = exp(-f / scale): 1 for a class never seen, 1/e at f = scale."""
    if scale <= 0:
        raise ValueError(f"exponential suppression needs scale > 0, got {scale}")
    return torch.exp(-frequency.to(torch.float32) / scale)


def gompertz_suppression(
    frequency: torch.Tensor, threshold: float, a: float = 1.0, b: float = 80.0, c: float = 80.0
) -> torch.Tensor:
    """A Gompertz step at ``threshold``: T(f) = a * exp(-b * exp(-c * (threshold - f) / threshold)).

    T is ~a well below the threshold, a * exp(-b) at f = threshold's far side, and falls
    smoothly around it; b sets where the fall starts (T(threshold) = a * exp(-b)... with the
    defaults the fall is centred slightly below the threshold), c its steepness.
    """
    if threshold <= 0:
        raise ValueError(f"gompertz suppression needs threshold > 0, got {threshold}")
    x = (threshold - frequency.to(torch.float32)) / threshold
    return a * torch.exp(-b * torch.exp(-c * x))


SUPPRESSION_FUNCTIONS: Dict[str, Callable[..., torch.Tensor]] = {
    "threshold": threshold_suppression,
    "exponential": exponential_suppression,
    "gompertz": gompertz_suppression,
}
