"""Classification losses for long-tailed detection, in pure torch."""

from .sigmoid_eql import (
    SigmoidCrossEntropy,
    SigmoidEQL,
    eql_weights,
    sigmoid_eql_loss,
    weighted_sigmoid_cross_entropy,
)
from .suppression import SUPPRESSION_FUNCTIONS, suppression_strength
