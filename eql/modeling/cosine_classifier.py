"""The normalised cosine classifier of the Seesaw loss's LVIS recipe: scores are the cosine of the
feature and the class weight, times a scale (mmdetection's ``NormedLinear``, temperature 20)."""

import torch.nn.functional as F
from torch import nn


class CosineClassifier(nn.Linear):
    """``scale * (x / |x|) . (w_k / |w_k|) + b_k``; weights N(0, 0.01), bias 0."""

    def __init__(self, in_features: int, out_features: int, scale: float = 20.0, eps: float = 1e-6):
        super().__init__(in_features, out_features)
        self.scale, self.eps = float(scale), float(eps)
        nn.init.normal_(self.weight, mean=0, std=0.01)
        nn.init.constant_(self.bias, 0)

    def forward(self, x):
        x = x.flatten(1)
        weight = self.weight / (self.weight.norm(dim=1, keepdim=True) + self.eps)
        x = x / (x.norm(dim=1, keepdim=True) + self.eps) * self.scale
        return F.linear(x, weight, self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, scale={self.scale}"
