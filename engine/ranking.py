"""Cosine ranking of points in embedding space against a vocabulary, with provenance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Sequence

import numpy as np

from tagsight.engine.projection import ConSE
from tagsight.engine.vectors import normalize_rows
from tagsight.engine.vocabulary import EmbeddedVocabulary, synonyms


GROUP = 64  # labels per group in the two-level top-k below


def top_k(
    points: np.ndarray, label_matrix: np.ndarray, k: int, chunk: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Best `k` labels per point by cosine: (indices (n, k), scores (n, k)), best first.

    `label_matrix` rows must be unit length. Points go through in chunks so the score block stays
    small (a 10,000 x 20,000 score matrix would be 800 MB).
    """
    n, m = len(points), label_matrix.shape[0]
    k = min(k, m)
    padded = -(-m // GROUP) * GROUP
    labels_t = np.zeros((label_matrix.shape[1], padded), dtype=np.float32)
    labels_t[:, :m] = label_matrix.T
    indices = np.empty((n, k), dtype=np.int64)
    scores = np.empty((n, k), dtype=np.float32)
    unit = normalize_rows(np.asarray(points, dtype=np.float32))
    for start in range(0, n, chunk):
        block = unit[start:start + chunk] @ labels_t
        block[:, m:] = -np.inf
        indices[start:start + chunk], scores[start:start + chunk] = _block_top_k(block, k)
    return indices, scores


def _block_top_k(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of each row without partitioning whole rows (the slow part at 20k labels).

    Columns are taken in groups of GROUP. A group holding one of the row's k best labels has a
    maximum at least the k-th best score, so those groups are among the k groups with the largest
    maxima: only those k x GROUP candidates are partitioned.
    """
    rows = block.shape[0]
    groups = block.reshape(rows, -1, GROUP)
    g = min(k, groups.shape[1])
    best_groups = np.argpartition(groups.max(axis=2), groups.shape[1] - g, axis=1)[:, -g:]
    candidates = np.take_along_axis(groups, best_groups[:, :, None], axis=1).reshape(rows, -1)
    columns = (best_groups[:, :, None] * GROUP + np.arange(GROUP)).reshape(rows, -1)
    top = np.argpartition(candidates, candidates.shape[1] - k, axis=1)[:, -k:]
    top_scores = np.take_along_axis(candidates, top, axis=1)
    order = np.argsort(-top_scores, axis=1, kind="stable")
    return (np.take_along_axis(np.take_along_axis(columns, top, axis=1), order, axis=1),
            np.take_along_axis(top_scores, order, axis=1))


def source_contributions(
    source_vectors: np.ndarray, source_weights: np.ndarray, label_vectors: np.ndarray
) -> np.ndarray:
    """How much each mixed class pushed each chosen label's score up.

    source_vectors (n, t, d) unit rows, source_weights (n, t), label_vectors (n, k, d) unit rows
    -> (n, k, t): weight x cosine, the terms of the label's (unnormalized) score.
    """
    cosines = np.einsum("nkd,ntd->nkt", label_vectors, source_vectors)
    return cosines * source_weights[:, None, :]


@dataclass(frozen=True)
class LabelScore:
    """One suggested label: cosine score, and the CNN classes that pushed it up most, best first."""

    label: str
    score: float
    sources: tuple[str, ...]


class Ranker:
    """Projection + vocabulary: CNN outputs in, ranked labels with provenance out."""

    max_sources = 3

    def __init__(self, projection: ConSE, class_names: Sequence[str], vocabulary: EmbeddedVocabulary) -> None:
        self.projection = projection
        self.class_names = [synonyms(name)[0] for name in class_names]
        self.vocabulary = vocabulary

    def rank(
        self,
        logits: np.ndarray,
        top: int,
        min_score: float | None = None,
        blocked: Sequence[Collection[str]] | None = None,
    ) -> list[list[LabelScore]]:
        """Per image, the best `top` labels scoring at least `min_score`, leaving out its `blocked` labels."""
        projected = self.projection.transform(logits)
        extra = max((len(b) for b in blocked), default=0) if blocked else 0
        indices, scores = top_k(projected.points, self.vocabulary.matrix, top + extra)
        sources = self.projection.class_vectors_[projected.source_classes]
        contributions = source_contributions(sources, projected.source_weights, self.vocabulary.matrix[indices])
        # Per chosen label, its mixed classes ordered by how much they raised its score.
        source_order = np.argsort(-contributions, axis=2)[:, :, : self.max_sources]
        positive = (np.take_along_axis(contributions, source_order, axis=2) > 0).tolist()
        source_classes = np.take_along_axis(projected.source_classes[:, None, :], source_order, axis=2).tolist()
        all_indices, all_scores = indices.tolist(), np.round(scores, 4).tolist()
        results: list[list[LabelScore]] = []
        for i, (row_indices, row_scores) in enumerate(zip(all_indices, all_scores)):
            skip = blocked[i] if blocked else ()
            labels: list[LabelScore] = []
            for j, (label_index, score) in enumerate(zip(row_indices, row_scores)):
                label = self.vocabulary.labels[label_index]
                if label in skip or (min_score is not None and score < min_score):
                    continue
                names = tuple(self.class_names[c] for c, keep in zip(source_classes[i][j], positive[i][j]) if keep)
                labels.append(LabelScore(label, score, names))
                if len(labels) == top:
                    break
            results.append(labels)
        return results
