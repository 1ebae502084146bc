"""Cosine ranking of points in embedding space against a vocabulary, with provenance."""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources import files
from itertools import compress, starmap
from typing import Collection, Iterator, Sequence

import numpy as np

from tagsight.engine.learned import EXAMPLES_SOURCE, LearnedProjection
from tagsight.engine.projection import ConSE, Projected
from tagsight.engine.vectors import normalize_rows
from tagsight.engine.vocabulary import EmbeddedVocabulary, synonyms


GRAPH = "models/cosine_top_k.onnx"  # built by resources/models/build_cosine_top_k.py


class CosineTopK:
    """Exact best-k labels by cosine for many points at once, plus optional per-label offsets.

    The kernel is a three-node ONNX graph (MatMul, ScatterElements add, TopK) run by onnxruntime:
    its sgemm and TopK use every core, and the (points x labels) score matrix, 800 MB for 10,000
    images against 20,000 labels, is only ever held `chunk` rows at a time inside onnxruntime. That
    is twice as fast as numpy's matmul followed by a partition (benchmarks/bench_rerank.py).
    """

    _session = None
    _session_lock = threading.Lock()

    def __init__(self, label_matrix: np.ndarray) -> None:
        """`label_matrix` (labels, dim): unit rows."""
        self.labels_t = np.ascontiguousarray(np.asarray(label_matrix, dtype=np.float32).T)

    @classmethod
    def _shared_session(cls):  # type: ignore[no-untyped-def]
        """One CPU session per process: the graph holds no weights, labels come in as an input."""
        with cls._session_lock:
            if cls._session is None:
                import onnxruntime as ort

                options = ort.SessionOptions()
                options.log_severity_level = 3
                # Its threads may not spin between runs: in `tag` the CNN's workers need those cores.
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                graph = files("tagsight.resources").joinpath(GRAPH).read_bytes()
                cls._session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
            return cls._session

    def __call__(
        self,
        points: np.ndarray,
        k: int,
        offsets: tuple[np.ndarray, np.ndarray] | None = None,
        chunk: int = 512,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(indices (n, k), scores (n, k)), best first, of the labels nearest each point by cosine.

        `offsets` = (columns (c,), values (n, c)) are added to those labels' cosines before choosing
        (a learned projection's per-label terms).
        """
        n = len(points)
        k = min(k, self.labels_t.shape[1])
        unit = normalize_rows(np.asarray(points, dtype=np.float32))
        columns, values = offsets if offsets is not None else (np.zeros(0, np.int64), np.zeros((n, 0), np.float32))
        columns = np.asarray(columns, dtype=np.int64)
        values = np.asarray(values, dtype=np.float32)
        indices = np.empty((n, k), dtype=np.int64)
        scores = np.empty((n, k), dtype=np.float32)
        session = self._shared_session()
        wanted = np.array([k], np.int64)
        for start in range(0, n, chunk):
            rows = slice(start, min(start + chunk, n))
            scores[rows], indices[rows] = session.run(None, {
                "points": unit[rows],
                "labels_t": self.labels_t,
                "offset_columns": np.ascontiguousarray(np.broadcast_to(columns, (rows.stop - start, len(columns)))),
                "offset_values": np.ascontiguousarray(values[rows]),
                "k": wanted,
            })
        return indices, scores


def source_contributions(
    source_vectors: np.ndarray, source_weights: np.ndarray, label_vectors: np.ndarray
) -> np.ndarray:
    """How much each mixed class pushed each chosen label's score up.

    source_vectors (n, t, d) unit rows, source_weights (n, t), label_vectors (n, k, d) unit rows
    -> (n, k, t): weight x cosine, the terms of the label's (unnormalized) score.
    """
    cosines = np.einsum("nkd,ntd->nkt", label_vectors, source_vectors)
    return cosines * source_weights[:, None, :]


@contextmanager
def _collection_paused() -> Iterator[None]:
    """Build results without Python's cycle collector running meanwhile.

    Results are a few container objects per label (about 250,000 for 10,000 images) and hold no
    reference cycles, so the collections their allocation would trigger free nothing; with a large
    heap (a word2vec backend, a window's models) they cost a third of a 10,000-image ranking.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass(frozen=True, slots=True)
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
        self.top_k = CosineTopK(self.vocabulary.matrix)
        self._label_array = np.array(self.vocabulary.labels, dtype=object)
        self._class_name_array = np.array(self.class_names, dtype=object)

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
        indices, scores = self.top_k(points, top + extra, offsets)
        scores = np.round(scores, 4)
        keep = self._kept(indices, scores, top, min_score, blocked)
        with _collection_paused():
            sources = self._sources(projected, indices, terms)
            labels = self._label_array[indices].tolist()
            return [
                list(starmap(LabelScore, compress(zip(row_labels, row_scores, row_sources), row_keep)))
                for row_labels, row_scores, row_sources, row_keep in zip(labels, scores.tolist(), sources, keep.tolist())
            ]

    def _kept(
        self,
        indices: np.ndarray,
        scores: np.ndarray,
        top: int,
        min_score: float | None,
        blocked: Sequence[Collection[str]] | None,
    ) -> np.ndarray:
        """Which of the candidates are shown: not blocked, at least `min_score`, the first `top` of those."""
        keep = np.ones(indices.shape, dtype=bool) if min_score is None else scores >= min_score
        for i, skip in enumerate(blocked or ()):
            if skip:
                keep[i] &= [self.vocabulary.labels[j] not in skip for j in indices[i]]
        return keep & (np.cumsum(keep, axis=1) <= top)

    def _sources(self, projected: Projected, indices: np.ndarray, terms: np.ndarray | None) -> list[list[tuple[str, ...]]]:
        """Per chosen label, the mixed CNN classes that raised its score, most first (at most
        `max_sources`); a label pushed up by the user's own examples lists EXAMPLES_SOURCE first."""
        sources = self.projection.class_vectors_[projected.source_classes]
        contributions = source_contributions(sources, projected.source_weights, self.vocabulary.matrix[indices])
        order = np.argsort(-contributions, axis=2)[:, :, : self.max_sources]
        counts = (np.take_along_axis(contributions, order, axis=2) > 0).sum(axis=2)  # positives come first
        names = self._class_name_array[np.take_along_axis(projected.source_classes[:, None, :], order, axis=2)].tolist()
        if terms is None:
            return [[tuple(n[:c]) for n, c in zip(row_names, row_counts)]
                    for row_names, row_counts in zip(names, counts.tolist())]
        boosted = self._boosted(terms, indices)
        counts = np.where(boosted, np.minimum(counts, self.max_sources - 1), counts)
        return [[(EXAMPLES_SOURCE, *n[:c]) if b else tuple(n[:c]) for n, c, b in zip(row_names, row_counts, row_boosted)]
                for row_names, row_counts, row_boosted in zip(names, counts.tolist(), boosted.tolist())]

    def _boosted(self, terms: np.ndarray, indices: np.ndarray) -> np.ndarray:
        """Whether each chosen label is one of the user's tags and was pushed up by its learned term."""
        assert self.learned is not None
        term = self._term_of_column[indices]
        values = np.take_along_axis(terms, np.maximum(term, 0), axis=1) if terms.shape[1] else np.zeros(indices.shape)
        users = len(self.learned.tags_)
        return (term >= 0) & (self.term_rows[np.maximum(term, 0)] < users) & (values > 0)
