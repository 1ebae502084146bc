"""Cosine ranking of points in embedding space against a vocabulary, with provenance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Sequence

import numpy as np

from tagsight.engine.learned import EXAMPLES_SOURCE, LearnedProjection
from tagsight.engine.projection import ConSE, Projected
from tagsight.engine.vectors import normalize_rows
from tagsight.engine.vocabulary import EmbeddedVocabulary, synonyms


GROUP = 64  # labels per group in the two-level top-k below


def top_k(
    points: np.ndarray,
    label_matrix: np.ndarray,
    k: int,
    chunk: int = 256,
    offsets: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Best `k` labels per point by cosine: (indices (n, k), scores (n, k)), best first.

    `label_matrix` rows must be unit length. `offsets` = (columns (c,), values (n, c)) are added to
    those labels' cosines first (a learned projection's per-label terms). Points go through in chunks
    so the score block stays small (a 10,000 x 20,000 score matrix would be 800 MB).
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
        if offsets is not None:
            block[:, offsets[0]] += offsets[1][start:start + chunk]
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
    """Projection + vocabulary: CNN outputs in, ranked labels with provenance out.

    With a `learned` projection the image's point is moved by its map, the labels are its label
    space over `vocabulary` (its own tags added), and its per-label terms are added to the cosines.
    `version` is the stored projection version it came from (None for ConSE).
    """

    max_sources = 3

    def __init__(
        self,
        projection: ConSE,
        class_names: Sequence[str],
        vocabulary: EmbeddedVocabulary,
        learned: LearnedProjection | None = None,
        version: int | None = None,
    ) -> None:
        self.projection = projection
        self.version = version
        self.class_names = [synonyms(name)[0] for name in class_names]
        self.learned = learned
        self.vocabulary = learned.label_space(vocabulary) if learned is not None else vocabulary
        # The learned per-label terms this vocabulary has: term `term_rows[j]` goes to label column
        # `term_columns[j]` (both empty under ConSE).
        position = {label: i for i, label in enumerate(self.vocabulary.labels)}
        term_labels = learned.labels_ if learned is not None else ()
        self.term_rows = np.array([i for i, label in enumerate(term_labels) if label in position], np.int64)
        self.term_columns = np.array([position[term_labels[i]] for i in self.term_rows], np.int64)
        self._term_of_column = np.full(len(self.vocabulary.labels), -1, np.int64)
        self._term_of_column[self.term_columns] = np.arange(len(self.term_columns))

    def scores(self, logits: np.ndarray, features: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, Projected]:
        """The points to compare with label vectors by cosine, the per-label offsets on top (columns of
        `self.vocabulary` -> values) or None, and ConSE's projection (for provenance)."""
        projected = self.projection.transform(logits)
        if self.learned is None:
            return projected.points, None, projected
        phi = self.learned.features(logits, features)
        points = self.learned.move(normalize_rows(projected.points), phi)
        return points, self.learned.label_terms(phi)[:, self.term_rows], projected

    def rank(
        self,
        logits: np.ndarray,
        features: np.ndarray,
        top: int,
        min_score: float | None = None,
        blocked: Sequence[Collection[str]] | None = None,
    ) -> list[list[LabelScore]]:
        """Per image, the best `top` labels scoring at least `min_score`, leaving out its `blocked` labels."""
        points, terms, projected = self.scores(logits, features)
        offsets = None if terms is None else (self.term_columns, terms)
        extra = max((len(b) for b in blocked), default=0) if blocked else 0
        indices, scores = top_k(points, self.vocabulary.matrix, top + extra, offsets=offsets)
        sources = self.projection.class_vectors_[projected.source_classes]
        contributions = source_contributions(sources, projected.source_weights, self.vocabulary.matrix[indices])
        # Per chosen label, its mixed classes ordered by how much they raised its score.
        source_order = np.argsort(-contributions, axis=2)[:, :, : self.max_sources]
        positive = (np.take_along_axis(contributions, source_order, axis=2) > 0).tolist()
        source_classes = np.take_along_axis(projected.source_classes[:, None, :], source_order, axis=2).tolist()
        boosted = self._boosted(terms, indices).tolist() if terms is not None else None
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
                if boosted is not None and boosted[i][j]:
                    names = (EXAMPLES_SOURCE, *names[: self.max_sources - 1])
                labels.append(LabelScore(label, score, names))
                if len(labels) == top:
                    break
            results.append(labels)
        return results

    def _boosted(self, terms: np.ndarray, indices: np.ndarray) -> np.ndarray:
        """Whether each chosen label is one of the user's tags and was pushed up by its learned term."""
        assert self.learned is not None
        term = self._term_of_column[indices]
        values = np.take_along_axis(terms, np.maximum(term, 0), axis=1) if terms.shape[1] else np.zeros(indices.shape)
        users = len(self.learned.tags_)
        return (term >= 0) & (self.term_rows[np.maximum(term, 0)] < users) & (values > 0)
