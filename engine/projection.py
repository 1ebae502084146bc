"""Projections from CNN outputs into word-vector space.

ConSE (Norouzi et al. 2014): the image's point is the probability-weighted mean of the label vectors of
its top-T classes, weights renormalized over those T. Estimators follow scikit-learn's shape:
parameters in `__init__`, `fit` learns, fitted attributes end in `_`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tagsight.engine.vectors import normalize_rows


@dataclass(frozen=True)
class Projected:
    """Points in embedding space and, per point, the CNN classes they were mixed from.

    `source_classes[i]` are class indices, best first; `source_weights[i]` their mixing weights (sum 1).
    """

    points: np.ndarray
    source_classes: np.ndarray
    source_weights: np.ndarray


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted, dtype=np.float64)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


class ConSE:
    """Convex combination of the top-T class vectors.

    `allowed_classes` restricts which classes may be mixed (the zero-shot protocol uses only seen
    classes); classes whose label has no vector in the backend are never mixed.
    """

    def __init__(self, top_t: int = 10, allowed_classes: np.ndarray | None = None) -> None:
        if top_t < 1:
            raise ValueError("top_t must be at least 1")
        self.top_t = top_t
        self.allowed_classes = allowed_classes

    def fit(self, class_vectors: np.ndarray) -> "ConSE":
        """`class_vectors`: (classes, dim), a zero row for a class without a vector."""
        self.class_vectors_ = normalize_rows(np.asarray(class_vectors, dtype=np.float32))
        usable = np.linalg.norm(self.class_vectors_, axis=1) > 0
        if self.allowed_classes is not None:
            allowed = np.zeros_like(usable)
            allowed[np.asarray(self.allowed_classes)] = True
            usable &= allowed
        if not usable.any():
            raise ValueError("ConSE has no class with a vector to mix")
        self.usable_ = usable
        return self

    def transform(self, logits: np.ndarray) -> Projected:
        # The weights are the top-T probabilities renormalized over those T, which is a softmax over
        # the top-T logits alone: the full softmax's denominator cancels, so it is never computed.
        logits = np.where(self.usable_, np.asarray(logits, dtype=np.float32), -np.inf)
        t = min(self.top_t, int(self.usable_.sum()))
        top = np.argpartition(logits, logits.shape[1] - t, axis=1)[:, -t:]
        top_logits = np.take_along_axis(logits, top, axis=1)
        order = np.argsort(-top_logits, axis=1)
        top = np.take_along_axis(top, order, axis=1)
        weights = softmax(np.take_along_axis(top_logits, order, axis=1))
        points = np.einsum("nt,ntd->nd", weights, self.class_vectors_[top])
        return Projected(points.astype(np.float32), top, weights)
