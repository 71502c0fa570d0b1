"""Gradient diagnostics: each class's accumulated positive / negative gradient of the
classification loss during training (MODEL.EQL.GRADIENT_STATS), and its plots."""
