"""Cosine ranking of points in embedding space against a vocabulary, with provenance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Sequence

import numpy as np

from tagsight.engine.projection import ConSE
from tagsight.engine.vectors import normalize_rows
from tagsight.engine.vocabulary import EmbeddedVocabulary, synonyms


def top_k(
    points: np.ndarray, label_matrix: np.ndarray, k: int, chunk: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Best `k` labels per point by cosine: (indices (n, k), scores (n, k)), best first.

    `label_matrix` rows must be unit length. Points go through in chunks so the score block stays
    small (a 10,000 x 20,000 score matrix would be 800 MB).
    """
    n, m = len(points), label_matrix.shape[0]
    k = min(k, m)
    indices = np.empty((n, k), dtype=np.int64)
    scores = np.empty((n, k), dtype=np.float32)
    unit = normalize_rows(np.asarray(points, dtype=np.float32))
    for start in range(0, n, chunk):
        block = unit[start:start + chunk] @ label_matrix.T
        indices[start:start + chunk], scores[start:start + chunk] = _block_top_k(block, k)
    return indices, scores


def _block_top_k(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of each row without partitioning whole rows (the slow part at 20k labels).

    The k-th largest score of a strided sample of columns is at most the row's true k-th largest,
    so every column scoring at least that is a candidate and the true top k are among them; only
    those few (about k x stride per row) are sorted.
    """
    rows_n, m = block.shape
    stride = max(1, m // (256 * k))
    sample = block[:, ::stride]
    threshold = np.partition(sample, sample.shape[1] - k, axis=1)[:, -k]
    rows, cols = np.nonzero(block >= threshold[:, None])
    values = block[rows, cols]
    order = np.lexsort((-values, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    take = np.searchsorted(rows, np.arange(rows_n))[:, None] + np.arange(k)
    return cols[take], values[take]


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
        results: list[list[LabelScore]] = []
        for i in range(len(indices)):
            skip = blocked[i] if blocked else ()
            labels: list[LabelScore] = []
            for j, (label_index, score) in enumerate(zip(indices[i], scores[i])):
                label = self.vocabulary.labels[label_index]
                if label in skip or (min_score is not None and score < min_score):
                    continue
                order = np.argsort(-contributions[i, j])[: self.max_sources]
                names = tuple(
                    self.class_names[projected.source_classes[i, t]] for t in order if contributions[i, j, t] > 0
                )
                labels.append(LabelScore(label, round(float(score), 4), names))
                if len(labels) == top:
                    break
            results.append(labels)
        return results
