"""Learned projections: ConSE plus what the user's corrections teach (DESIGN.md sections 1 and 4).

For an image x with unit ConSE point c(x) and reduced CNN outputs phi(x), a label t with unit vector v_t
scores

    s(x, t) = cos(c(x) + M phi(x), v_t)               a DeViSE-style linear map added to ConSE's point
            + b_t + gamma_t * (k_t(x) - tau_t)         for labels with examples

- `M` maps CNN outputs into the embedding space (Frome et al. 2013) and is fitted with the hinge rank
  loss (margin 0.1) on top of ConSE, so M = 0 is ConSE exactly. Its L2 penalty, chosen by
  cross-validation (including "no map"), sets how far the map may move ConSE's point: the blend.
- `k_t(x)` is a soft maximum of the cosine between phi(x) and t's prototypes (its examples, or k-means
  centroids when it has many): "looks like the images tagged t". `tau_t` is what an average library
  image scores, so only images closer than that gain. gamma_t = gamma n_t / (n_t + 3): a label's
  evidence counts more the more images it has; gamma is chosen by cross-validation. `b_t` calibrates
  each label with examples, fitted by the same hinge loss once the rest is fixed.
- The examples of a user's tag are its corrected images. A label without corrections takes as
  examples the library images ConSE ranks it first on by at least the margin: were only corrected tags
  to gain, images of the others (a snake, when only lizards were tagged) would drift to them.
  Cross-validation leaves whole tags out to check that uncorrected tags do no worse than under ConSE.
- A label with no example at all moves only with the shared map.

A user tag that is not a label of the training vocabulary (its own name, like "my-garden") gets a vector
learned from its images, the mean of their ConSE points, and is offered whatever the vocabulary.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from tagsight.engine.progress import NullProgress, Progress, check_cancelled
from tagsight.engine.projection import ConSE
from tagsight.engine.vectors import normalize_rows
from tagsight.engine.vocabulary import EmbeddedVocabulary

FORMAT = 1
# The source shown for one of the user's tags pushed up by its learned term.
EXAMPLES_SOURCE = "your tagged images"


class ProjectionError(ValueError):
    """A projection version that cannot be trained or used here; the message says why."""


@dataclass(frozen=True)
class TrainingSet:
    """Corrections as training data: one row per corrected image with a confirmed tag.

    `positives[i]`: the image's confirmed or added tags; `negatives[i]`: labels it rejected or renamed
    away (hard negatives). `background_*`: CNN outputs of a sample of the library, for centring and the
    reduced feature space (no labels are read from them).
    """

    logits: np.ndarray
    features: np.ndarray
    positives: Sequence[Sequence[str]]
    negatives: Sequence[Sequence[str]]
    background_logits: np.ndarray
    background_features: np.ndarray


class FeatureMap:
    """phi: CNN outputs -> a small centred space shared by the learned map and the prototypes.

    The square root of the pooled features (tempering a few large activations) and the logits are
    each centred on the library and scaled to unit length, concatenated, and reduced by PCA fitted on
    the library; the result is scaled to unit RMS length so penalties mean the same in any library.
    """

    def __init__(self, rank: int = 128, random_state: int = 0) -> None:
        self.rank = rank
        self.random_state = random_state

    def fit(self, logits: np.ndarray, features: np.ndarray) -> "FeatureMap":
        self.feature_mean_ = np.sqrt(np.maximum(features, 0)).mean(axis=0).astype(np.float32)
        self.logit_mean_ = logits.mean(axis=0).astype(np.float32)
        joined = self._joined(logits, features)
        self.mean_ = joined.mean(axis=0)
        self.components_ = _pca(joined - self.mean_, self.rank, self.random_state)
        reduced = (joined - self.mean_) @ self.components_
        self.scale_ = np.float32(np.sqrt(max(float((reduced ** 2).sum(axis=1).mean()), 1e-12)))
        return self

    def transform(self, logits: np.ndarray, features: np.ndarray) -> np.ndarray:
        return ((self._joined(logits, features) - self.mean_) @ self.components_ / self.scale_).astype(np.float32)

    def _joined(self, logits: np.ndarray, features: np.ndarray) -> np.ndarray:
        root = np.sqrt(np.maximum(np.asarray(features, np.float32), 0)) - self.feature_mean_
        centred = np.asarray(logits, np.float32) - self.logit_mean_
        return np.hstack([normalize_rows(root), normalize_rows(centred)])


def _pca(centred: np.ndarray, rank: int, seed: int) -> np.ndarray:
    """Top principal directions (columns) by a randomized range finder (Halko et al. 2011)."""
    n, p = centred.shape
    rank = max(1, min(rank, n - 1, p))
    if n <= 2 * rank:
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        return np.ascontiguousarray(vt[:rank].T, dtype=np.float32)
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(centred @ rng.standard_normal((p, rank + 10)).astype(np.float32))
    for _ in range(2):  # power iterations sharpen the spectrum's tail
        q, _ = np.linalg.qr(centred.T @ q)
        q, _ = np.linalg.qr(centred @ q)
    _, _, vt = np.linalg.svd(q.T @ centred, full_matrices=False)
    return np.ascontiguousarray(vt[:rank].T, dtype=np.float32)


@dataclass(frozen=True)
class Prototypes:
    """Points in phi space (unit rows) standing for labels: `label[j]` owns row j, which stands for
    `count[j]` images; `source[j]` is the training image it is (-1 for a centroid or a library image)."""

    points: np.ndarray
    label: np.ndarray
    count: np.ndarray
    source: np.ndarray

    def weights(self, labels: int, weight: float, shrinkage: float) -> np.ndarray:
        """gamma n / (n + n0) per label: the more images stand behind a label, the more its term counts."""
        sizes = np.bincount(self.label, weights=self.count, minlength=labels)
        return (weight * sizes / (sizes + shrinkage)).astype(np.float32)

    def similarity(self, unit_phi: np.ndarray, labels: int, bandwidth: float, leave_out: np.ndarray | None = None) -> np.ndarray:
        """(n, labels) soft maximum over each label's prototypes: h log(sum_j w_j exp(cos_j / h)), w
        the prototypes' shares of the label's images. NaN where a label has no prototype (or none left
        after leaving out each row's own image, `leave_out[i]`). Prototypes are stored grouped by label."""
        result = np.full((len(unit_phi), labels), np.nan, dtype=np.float32)
        if len(self.points) == 0:
            return result
        # Shifted by the largest possible cosine (1): exp never overflows, and for bandwidths of
        # 0.025 and up never underflows to zero in float32 either.
        mass = np.exp((unit_phi @ self.points.T - 1.0) / np.float32(bandwidth)) * self.count.astype(np.float32)
        counts = np.broadcast_to(self.count.astype(np.float32), mass.shape)
        if leave_out is not None:
            own = self.source[None, :] == leave_out[:, None]
            mass[own] = 0.0
            counts = np.where(own, np.float32(0), counts)
        owners, starts = np.unique(self.label, return_index=True)
        mass, total = np.add.reduceat(mass, starts, axis=1), np.add.reduceat(counts, starts, axis=1)
        ok = (total > 0) & (mass > 0)
        values = np.full(mass.shape, np.nan, dtype=np.float32)
        values[ok] = bandwidth * np.log(mass[ok] / total[ok]) + 1.0
        result[:, owners] = values
        return result


def build_prototypes(unit_phi: np.ndarray, owners: Sequence[Sequence[int]], sources: np.ndarray, labels: int,
                     limit: int, seed: int) -> Prototypes:
    """Each label's points (`owners[i]`: the labels of point i), or `limit` spherical k-means
    centroids when it has more."""
    rng = np.random.default_rng(seed)
    members: list[list[int]] = [[] for _ in range(labels)]
    for point, point_labels in enumerate(owners):
        for label in point_labels:
            members[label].append(point)
    points: list[np.ndarray] = []
    label_of: list[int] = []
    count: list[float] = []
    source: list[int] = []
    for label, rows in enumerate(members):
        if not rows:
            continue
        if len(rows) <= limit:
            chosen, sizes, ids = unit_phi[rows], np.ones(len(rows)), sources[rows]
        else:
            chosen, sizes = _spherical_kmeans(unit_phi[rows], limit, rng)
            ids = np.full(len(chosen), -1)
        points.append(chosen)
        label_of += [label] * len(chosen)
        count += sizes.tolist()
        source += ids.tolist()
    return Prototypes(
        np.vstack(points).astype(np.float32) if points else np.zeros((0, unit_phi.shape[1]), np.float32),
        np.asarray(label_of, dtype=np.int64),
        np.asarray(count, dtype=np.float64),
        np.asarray(source, dtype=np.int64),
    )


def _spherical_kmeans(x: np.ndarray, k: int, rng: np.random.Generator, iterations: int = 10) -> tuple[np.ndarray, np.ndarray]:
    centroids = x[rng.choice(len(x), k, replace=False)]
    for _ in range(iterations):
        assign = np.argmax(x @ centroids.T, axis=1)
        for j in range(k):
            if (assign == j).any():
                centroids[j] = x[assign == j].sum(axis=0)
        centroids = normalize_rows(centroids)
    assign = np.argmax(x @ centroids.T, axis=1)
    sizes = np.bincount(assign, minlength=k).astype(np.float64)
    keep = sizes > 0
    return centroids[keep], sizes[keep]


# -- the hinge rank loss ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rows:
    """One training row per (image, positive label): the image index, the positive's label index,
    and which labels count as negatives for it (every label but the image's positives)."""

    image: np.ndarray
    positive: np.ndarray
    negative: np.ndarray  # (rows, labels) bool

    def subset(self, keep: np.ndarray) -> "_Rows":
        return _Rows(self.image[keep], self.positive[keep], self.negative[keep])

    def __len__(self) -> int:
        return len(self.image)


def _sample(rows: _Rows, limit: int, rng: np.random.Generator) -> _Rows:
    """At most `limit` rows, chosen at random (all of them when there are fewer)."""
    if len(rows) <= limit:
        return rows
    return rows.subset(np.sort(rng.choice(len(rows), limit, replace=False)))


def _hinge_gradient(scores: np.ndarray, rows: _Rows, margin: float) -> np.ndarray:
    """d(loss)/d(scores) of sum over negatives j of max(0, margin - s_pos + s_j), per row."""
    r = np.arange(len(scores))
    positive = scores[r, rows.positive]
    violated = (scores + (margin - positive)[:, None] > 0) & rows.negative
    grad = violated.astype(np.float32)
    grad[r, rows.positive] -= grad.sum(axis=1)
    return grad


def _hit1(scores: np.ndarray, rows: _Rows) -> np.ndarray:
    """Per row: is its positive ranked above every negative?"""
    r = np.arange(len(scores))
    best_negative = np.where(rows.negative, scores, -np.inf).max(axis=1)
    return scores[r, rows.positive] > best_negative


class _Adam:
    def __init__(self, shape: tuple[int, ...], rate: float) -> None:
        self.rate, self.step = rate, 0
        self.m, self.v = np.zeros(shape, np.float32), np.zeros(shape, np.float32)

    def update(self, param: np.ndarray, grad: np.ndarray) -> None:
        self.step += 1
        self.m = 0.9 * self.m + 0.1 * grad
        self.v = 0.999 * self.v + 0.001 * grad * grad
        m_hat = self.m / (1 - 0.9 ** self.step)
        v_hat = self.v / (1 - 0.999 ** self.step)
        param -= self.rate * m_hat / (np.sqrt(v_hat) + 1e-8)


def _cosines(conse: np.ndarray, phi: np.ndarray, weights: np.ndarray | None, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    points = conse if weights is None else conse + phi @ weights
    norms = np.maximum(np.linalg.norm(points, axis=1, keepdims=True), 1e-6)
    unit = points / norms
    return unit @ vectors.T, unit, norms


def fit_map(conse: np.ndarray, phi: np.ndarray, vectors: np.ndarray, rows: _Rows, penalty: float, margin: float,
            iterations: int, batch: int, rng: np.random.Generator, fixed: int = 0, sampled: int = 64) -> np.ndarray:
    """M minimizing the mean hinge rank loss of cos(c + M phi, v) plus penalty/2 ||M||^2 (Adam).

    Each step takes `batch` rows and ranks them against the first `fixed` labels (tags and hard
    negatives) and `sampled` others drawn afresh, as DeViSE samples its negatives.
    """
    weights = np.zeros((phi.shape[1], vectors.shape[1]), np.float32)
    adam = _Adam(weights.shape, 0.02)
    others = len(vectors) - fixed
    for _ in range(iterations):
        take = rng.choice(len(rows), batch, replace=False) if len(rows) > batch else slice(None)
        part = rows.subset(take)
        if others > sampled:
            columns = np.concatenate([np.arange(fixed), fixed + rng.choice(others, sampled, replace=False)])
            part = _Rows(part.image, part.positive, part.negative[:, columns])  # positives are tags: fixed
            step_vectors = vectors[columns]
        else:
            step_vectors = vectors
        c, p = conse[part.image], phi[part.image]
        scores, unit, norms = _cosines(c, p, weights, step_vectors)
        grad = _hinge_gradient(scores, part, margin)
        # d cos(z, v) / dz = (v - cos * z/|z|) / |z|
        d_points = (grad @ step_vectors - (grad * scores).sum(axis=1, keepdims=True) * unit) / norms
        adam.update(weights, p.T @ d_points / len(part) + penalty * weights)
    return weights


def fit_bias(scores: np.ndarray, rows: _Rows, taught: np.ndarray, penalty: float, margin: float,
             iterations: int = 60) -> np.ndarray:
    """Per-label offsets b minimizing the hinge rank loss on fixed scores, for the `taught` labels only
    (those with examples). A label with none would only ever be pushed down, as a violator, and end
    up worse than ConSE wherever it is right."""
    bias = np.zeros(len(taught), np.float32)
    mask = taught.astype(np.float32)
    adam = _Adam(bias.shape, 0.02)
    for _ in range(iterations):
        grad = _hinge_gradient(scores + bias, rows, margin)
        adam.update(bias, (grad.sum(axis=0) / len(rows) + penalty * bias) * mask)
    return bias


# -- the estimator --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Setting:
    map_penalty: float | None  # None: no map (ConSE's point as is)
    prototype_weight: float


@dataclass(frozen=True)
class _Space:
    """The labels training ranks: the user's tags first, then hard negatives, labels ConSE is sure of
    somewhere in the library, and a sample of the vocabulary. `own[t]`: tag t's vector is learned."""

    labels: list[str]
    vectors: np.ndarray
    own: np.ndarray
    fixed: int  # tags and hard negatives: always ranked against

    @property
    def tags(self) -> int:
        return len(self.own)


class LearnedProjection:
    """ConSE plus a map, prototypes and tag offsets learned from corrections (see the module doc).

    `conse` is a fitted ConSE over the CNN's classes. `fit` takes the corrections (`TrainingSet`), the
    vocabulary that supplies word vectors and sampled negatives, and the backend's `label_vector` for
    hard negatives outside it. Each of `map_penalties` x `prototype_weights` is scored by
    cross-validation on the corrections: hit@1 on held-out images of tags that keep examples
    (`folds`-fold), and hit@1 on images of tags left out entirely, which must be no worse than ConSE's.
    Large inputs are sampled: `max_cv_images` for cross-validation, `pca_images` for the feature map,
    `batch` rows per optimizer step.
    """

    def __init__(
        self,
        conse: ConSE,
        *,
        rank: int = 128,
        max_prototypes: int = 32,
        bandwidth: float = 0.05,
        shrinkage: float = 3.0,
        margin: float = 0.1,
        sampled_negatives: int = 256,
        map_penalties: Sequence[float | None] = (None, 0.1, 0.01),
        prototype_weights: Sequence[float] = (1.0, 2.0),
        bias_penalty: float = 0.1,
        folds: int = 4,
        iterations: int = 100,
        batch: int = 1024,
        max_cv_images: int = 600,
        pca_images: int = 1200,
        random_state: int = 0,
    ) -> None:
        self.conse = conse
        self.rank = rank
        self.max_prototypes = max_prototypes
        self.bandwidth = bandwidth
        self.shrinkage = shrinkage
        self.margin = margin
        self.sampled_negatives = sampled_negatives
        self.map_penalties = tuple(map_penalties)
        self.prototype_weights = tuple(prototype_weights)
        self.bias_penalty = bias_penalty
        self.folds = folds
        self.iterations = iterations
        self.batch = batch
        self.max_cv_images = max_cv_images
        self.pca_images = pca_images
        self.random_state = random_state

    # -- fitting ----------------------------------------------------------------------------------

    def fit(
        self,
        data: TrainingSet,
        vocabulary: EmbeddedVocabulary,
        label_vector: Callable[[str], np.ndarray | None],
        progress: Progress | None = None,
    ) -> "LearnedProjection":
        from threadpoolctl import threadpool_limits

        # Thousands of small products: a second BLAS thread gains little alone, and on a busy machine
        # its spin-waits made 10,000 corrections take 81 s instead of 12 s (bench_retrain.py).
        with threadpool_limits(limits=1, user_api="blas"):
            return self._fit(data, vocabulary, label_vector, progress or NullProgress())

    def _fit(self, data, vocabulary, label_vector, progress) -> "LearnedProjection":
        rng = np.random.default_rng(self.random_state)
        keep = [i for i, tags in enumerate(data.positives) if tags]
        if len(keep) < 2:
            raise ProjectionError("retraining needs at least two images with a confirmed or added tag")
        logits = np.asarray(data.logits, np.float32)[keep]
        features = np.asarray(data.features, np.float32)[keep]
        positives = [tuple(dict.fromkeys(data.positives[i])) for i in keep]
        negatives = [tuple(data.negatives[i]) for i in keep]
        background = (np.asarray(data.background_logits, np.float32), np.asarray(data.background_features, np.float32))

        # The reduced space is fitted on a sample of the library and the corrected images.
        fitted_on = rng.permutation(len(background[0]) + len(logits))[: self.pca_images]
        self.feature_map_ = FeatureMap(self.rank, self.random_state).fit(
            np.vstack([background[0], logits])[fitted_on], np.vstack([background[1], features])[fitted_on]
        )
        phi = self.feature_map_.transform(logits, features)
        conse = normalize_rows(self.conse.transform(logits).points)
        background_phi = normalize_rows(self.feature_map_.transform(*background))
        background_conse = normalize_rows(self.conse.transform(background[0]).points) if len(background[0]) else conse[:0]

        sure = self._sure(background_conse, vocabulary)
        space = self._space(positives, negatives, conse, vocabulary, label_vector, [vocabulary.labels[j] for j in sure[1]], rng)
        index = {label: i for i, label in enumerate(space.labels)}
        owners = [[index[t] for t in image_tags] for image_tags in positives]
        rows = self._rows(owners, len(space.labels))
        library = (background_phi[sure[0]], np.asarray([index[vocabulary.labels[j]] for j in sure[1]], np.int64))
        self.own_labels_ = space.own

        settings = [_Setting(p, w) for p in self.map_penalties for w in self.prototype_weights]
        choice, self.metrics_ = self._cross_validate(settings, conse, phi, space, rows, owners, library,
                                                     background_phi, vocabulary, rng, progress)
        check_cancelled(progress)

        labels = len(space.labels)
        prototypes = self._prototypes(normalize_rows(phi), owners, np.arange(len(owners)), library, labels)
        threshold = self._thresholds(prototypes, background_phi, labels)
        self.map_ = (np.zeros((phi.shape[1], space.vectors.shape[1]), np.float32) if choice.map_penalty is None
                     else fit_map(conse, phi, space.vectors, rows, choice.map_penalty, self.margin, self.iterations,
                                  self.batch, rng, space.fixed))
        self.weight_ = float(choice.prototype_weight)
        weights = prototypes.weights(labels, self.weight_, self.shrinkage)
        some = _sample(rows, self.batch, rng)  # a thousand rows pin down one offset per label
        scores = self._scores(conse, phi, space, some, prototypes, threshold, weights, self.map_, leave_out=True)
        has_prototypes = np.bincount(prototypes.label, minlength=labels) > 0
        bias = fit_bias(scores, some, has_prototypes, self.bias_penalty, self.margin)

        # Keep the labels that carry a term: those with prototypes (every tag has some).
        kept = np.flatnonzero(has_prototypes)
        renumber = np.full(labels, -1)
        renumber[kept] = np.arange(len(kept))
        on_kept = np.isin(prototypes.label, kept)
        self.labels_ = tuple(space.labels[i] for i in kept)
        self.tag_vectors_ = space.vectors[: space.tags]
        self.label_bias_ = bias[kept]
        self.label_weight_ = weights[kept]
        self.threshold_ = threshold[kept]
        self.prototypes_ = Prototypes(prototypes.points[on_kept], renumber[prototypes.label[on_kept]],
                                      prototypes.count[on_kept], np.full(int(on_kept.sum()), -1, np.int64))
        self.summary_ = {
            "images": len(keep),
            "pairs": len(rows),
            "hard_negatives": int(sum(len(n) for n in negatives)),
            "library_images": int(len(background_phi)),
            "labels_sure_in_library": int(len(set(library[1].tolist()))),
            "tags": dict(Counter(t for p in positives for t in p)),
            "learned_vectors": [t for t, o in zip(self.tags_, space.own) if o],
            "vocabulary": vocabulary.vocabulary.name,
            "top_t": self.conse.top_t,
        }
        progress.report(1, 1, "done")
        return self

    @property
    def tags_(self) -> tuple[str, ...]:
        """The user's tags, first among `labels_`."""
        return self.labels_[: len(self.own_labels_)]

    def _sure(self, background_conse: np.ndarray, vocabulary: EmbeddedVocabulary) -> tuple[np.ndarray, np.ndarray]:
        """(library image, vocabulary label) pairs where ConSE ranks the label first by at least the
        margin. They stand in for examples of labels without corrections (see `_prototypes`)."""
        if len(background_conse) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        scores = background_conse @ vocabulary.matrix.T
        rows = np.arange(len(scores))
        best = scores.argmax(axis=1)
        first = scores[rows, best]
        scores[rows, best] = -np.inf
        sure = first - scores.max(axis=1) >= self.margin
        return np.flatnonzero(sure), best[sure]

    def _space(self, positives, negatives, conse, vocabulary, label_vector, sure_labels, rng) -> _Space:
        in_vocabulary = {label: i for i, label in enumerate(vocabulary.labels)}
        tags = list(dict.fromkeys(t for p in positives for t in p))
        rows: list[np.ndarray] = []
        own = np.zeros(len(tags), bool)
        for j, tag in enumerate(tags):
            if tag in in_vocabulary:
                rows.append(vocabulary.matrix[in_vocabulary[tag]])
            else:  # the user's own label: the mean ConSE point of its images
                own[j] = True
                rows.append(conse[[i for i, p in enumerate(positives) if tag in p]].mean(axis=0))
        labels = list(tags)
        taken = set(tags)
        hard = list(dict.fromkeys(n for ns in negatives for n in ns))
        hard_set = set(hard)
        fixed = len(tags)
        for label in dict.fromkeys(hard + list(sure_labels)):
            if label in taken:
                continue
            vector = vocabulary.matrix[in_vocabulary[label]] if label in in_vocabulary else label_vector(label)
            if vector is not None:
                labels.append(label)
                rows.append(np.asarray(vector, np.float32))
                taken.add(label)
                fixed += label in hard_set
        others = [i for i, label in enumerate(vocabulary.labels) if label not in taken]
        if len(others) > self.sampled_negatives:
            others = sorted(rng.choice(others, self.sampled_negatives, replace=False).tolist())
        labels += [vocabulary.labels[i] for i in others]
        rows += [vocabulary.matrix[i] for i in others]
        return _Space(labels, normalize_rows(np.vstack(rows).astype(np.float32)), own, fixed)

    @staticmethod
    def _rows(owners: list[list[int]], labels: int) -> _Rows:
        """One row per (image, tag). Hard negatives are labels of the space, so every row ranks its
        positive against them (and against every other label but the image's own tags)."""
        image = np.asarray([i for i, tags in enumerate(owners) for _ in tags], np.int64)
        positive = np.asarray([t for tags in owners for t in tags], np.int64)
        is_positive = np.zeros((len(owners), labels), bool)
        for i, tags in enumerate(owners):
            is_positive[i, tags] = True
        return _Rows(image, positive, ~is_positive[image])

    def _prototypes(self, unit_phi, owners, images, library, labels) -> Prototypes:
        """Prototypes of the tags from `images`, and of every other label from the library images
        ConSE is sure of."""
        taught = {t for i in images for t in owners[i]}
        library_phi, library_labels = library
        use = np.array([label not in taught for label in library_labels], bool)
        points = np.vstack([unit_phi[images], library_phi[use]])
        point_owners = [owners[i] for i in images] + [[int(label)] for label in library_labels[use]]
        sources = np.concatenate([images, np.full(int(use.sum()), -1)]).astype(np.int64)
        return build_prototypes(points, point_owners, sources, labels, self.max_prototypes, self.random_state)

    def _thresholds(self, prototypes: Prototypes, background_phi: np.ndarray, labels: int) -> np.ndarray:
        """tau per label: the mean soft similarity of library images to its prototypes."""
        sims = prototypes.similarity(background_phi, labels, self.bandwidth)
        known = ~np.isnan(sims)
        return (np.where(known, sims, 0).sum(axis=0) / np.maximum(known.sum(axis=0), 1)).astype(np.float32)

    def _scores(self, conse, phi, space, rows, prototypes, threshold, weights, weights_map, leave_out: bool) -> np.ndarray:
        """Scores of each row's image against the label space, without tag offsets. `leave_out`: an
        image is never its own prototype (training rows)."""
        scores, _, _ = _cosines(conse[rows.image], phi[rows.image], weights_map, space.vectors)
        if weights.any():
            sims = prototypes.similarity(normalize_rows(phi[rows.image]), len(space.labels), self.bandwidth,
                                         rows.image if leave_out else None)
            scores += weights * np.nan_to_num(sims - threshold, nan=0.0)
        return scores

    def _cross_validate(self, settings, conse, phi, space, rows, owners, library, background_phi, vocabulary, rng, progress):
        """The setting with the best held-out hit@1 among those no worse than ConSE on left-out tags."""
        images = np.arange(len(owners))
        if len(images) > self.max_cv_images:  # a sample is enough to compare a dozen settings
            images = np.sort(rng.choice(images, self.max_cv_images, replace=False))
        splits = self._splits(images, owners, space, rng)
        penalties = list(dict.fromkeys(s.map_penalty for s in settings))
        labels = len(space.labels)
        unit_phi = normalize_rows(phi)
        seen = np.zeros((len(settings), 2))
        conse_seen = np.zeros(2)
        unseen: dict[int, list[np.ndarray]] = {}
        conse_unseen: dict[int, list[float]] = {}
        total = len(splits) * len(penalties) + 1
        progress.report(0, total, "cross-validating")
        for step, (kind, train, test, hidden) in enumerate(splits):
            in_hidden = np.isin(rows.positive, hidden)
            train_rows = rows.subset(np.isin(rows.image, train))
            test_rows = rows.subset(np.isin(rows.image, test) & (in_hidden if kind == "unseen" else ~in_hidden))
            prototypes = self._prototypes(unit_phi, owners, train, library, labels)
            threshold = self._thresholds(prototypes, background_phi, labels)
            has_prototypes = np.bincount(prototypes.label, minlength=labels) > 0
            bias_rows = _sample(train_rows, self.batch, rng)
            base = _hit1(_cosines(conse[test_rows.image], phi[test_rows.image], None, space.vectors)[0], test_rows)
            results = np.zeros((len(settings), len(test_rows)), bool)
            for p_index, penalty in enumerate(penalties):
                check_cancelled(progress)
                weights_map = None if penalty is None else fit_map(
                    conse, phi, space.vectors, train_rows, penalty, self.margin, self.iterations, self.batch, rng,
                    space.fixed)
                for s_index, setting in enumerate(settings):
                    if setting.map_penalty != penalty:
                        continue
                    weights = prototypes.weights(labels, setting.prototype_weight, self.shrinkage)
                    train_scores = self._scores(conse, phi, space, bias_rows, prototypes, threshold, weights,
                                                weights_map, leave_out=True)
                    bias = fit_bias(train_scores, bias_rows, has_prototypes, self.bias_penalty, self.margin)
                    test_scores = self._scores(conse, phi, space, test_rows, prototypes, threshold, weights,
                                               weights_map, leave_out=False)
                    results[s_index] = _hit1(test_scores + bias, test_rows)
                progress.report(step * len(penalties) + p_index + 1, total, "cross-validating")
            if kind == "seen":
                seen += np.stack([results.sum(axis=1), np.full(len(settings), len(test_rows))], axis=1)
                conse_seen += (base.sum(), len(base))
            else:
                for t in np.unique(test_rows.positive):
                    mine = test_rows.positive == t
                    unseen.setdefault(int(t), []).append(results[:, mine].mean(axis=1))
                    conse_unseen.setdefault(int(t), []).append(float(base[mine].mean()))
        held_out = seen[:, 0] / np.maximum(seen[:, 1], 1)
        if unseen:  # macro average: each left-out tag counts once, however many images it has
            left_out = np.mean([np.mean(unseen[t], axis=0) for t in unseen], axis=0)
            left_out_conse = float(np.mean([np.mean(conse_unseen[t]) for t in unseen]))
            feasible = left_out >= left_out_conse - 1e-9
        else:
            left_out, left_out_conse = np.full(len(settings), np.nan), float("nan")
            feasible = np.ones(len(settings), bool)
        # Feasible first, then held-out hit@1, then left-out hit@1, then the simpler (earlier) setting.
        best = min(range(len(settings)),
                   key=lambda i: (not feasible[i], -held_out[i], -np.nan_to_num(left_out[i]), i))
        metrics = {
            "folds": min(self.folds, len(images)),
            "cv_images": int(len(images)),
            "held_out_hit1": {"conse": _round(conse_seen[0] / max(conse_seen[1], 1)), "learned": _round(held_out[best])},
            "left_out_tags_hit1": {"conse": _round(left_out_conse), "learned": _round(left_out[best])},
            "left_out_tags": len(unseen),
            "left_out_no_worse": bool(feasible[best]),  # False: no setting was; the best held-out one is used
            "map_penalty": settings[best].map_penalty,
            "prototype_weight": settings[best].prototype_weight,
        }
        return settings[best], metrics

    def _splits(self, images, owners, space, rng):
        """(kind, train images, test images, hidden labels): `folds` folds of the images ("seen"), and
        groups of the tags that have word vectors, each left out entirely ("unseen": zero-shot)."""
        splits = []
        for part in np.array_split(rng.permutation(images), min(self.folds, len(images))):
            splits.append(("seen", np.setdiff1d(images, part), np.sort(part), np.zeros(0, np.int64)))
        word_tags = [t for t in range(space.tags) if not space.own[t]]
        if len(word_tags) >= 2:
            for group in np.array_split(rng.permutation(word_tags), min(self.folds, len(word_tags))):
                has = np.array([bool(set(owners[i]) & set(group.tolist())) for i in images])
                splits.append(("unseen", images[~has], images[has], np.sort(group)))
        return splits

    # -- applying ---------------------------------------------------------------------------------

    def features(self, logits: np.ndarray, features: np.ndarray) -> np.ndarray:
        """phi for new images."""
        return self.feature_map_.transform(logits, features)

    def move(self, unit_conse: np.ndarray, phi: np.ndarray) -> np.ndarray:
        """The image's point: ConSE's unit point moved by the learned map."""
        return unit_conse + phi @ self.map_

    def label_terms(self, phi: np.ndarray) -> np.ndarray:
        """(n, len(labels_)): b_t + gamma_t (k_t - tau_t), what each label gets on top of its cosine."""
        terms = np.broadcast_to(self.label_bias_, (len(phi), len(self.labels_))).astype(np.float32)
        if len(self.prototypes_.points):
            sims = self.prototypes_.similarity(normalize_rows(phi), len(self.labels_), self.bandwidth)
            terms = terms + self.label_weight_ * np.nan_to_num(sims - self.threshold_, nan=0.0)
        return terms

    def label_space(self, vocabulary: EmbeddedVocabulary) -> EmbeddedVocabulary:
        """The labels this projection ranks: the vocabulary's, plus its own tags (learned vectors) that
        the vocabulary lacks; an own tag that the vocabulary has keeps its learned vector."""
        own = {t: v for t, v, o in zip(self.tags_, self.tag_vectors_, self.own_labels_) if o}
        if not own:
            return vocabulary
        matrix = vocabulary.matrix.copy()
        position = {label: i for i, label in enumerate(vocabulary.labels)}
        extra = [t for t in own if t not in position]
        for tag in own:
            if tag in position:
                matrix[position[tag]] = own[tag]
        if extra:
            matrix = np.vstack([matrix, np.stack([own[t] for t in extra])]).astype(np.float32)
        return EmbeddedVocabulary(vocabulary.vocabulary, vocabulary.backend, vocabulary.labels + tuple(extra),
                                  matrix, vocabulary.missing)

    # -- storage ----------------------------------------------------------------------------------

    def to_bytes(self, meta: dict[str, Any]) -> bytes:
        """The fitted parameters (np.savez), with `meta` (backend, model, ...) kept alongside."""
        header = dict(meta, format=FORMAT, labels=list(self.labels_), weight=self.weight_, bandwidth=self.bandwidth,
                      top_t=self.conse.top_t, metrics=self.metrics_, summary=self.summary_)
        fm, pr = self.feature_map_, self.prototypes_
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            header=np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8),
            feature_mean=fm.feature_mean_, logit_mean=fm.logit_mean_, mean=fm.mean_,
            components=fm.components_, scale=np.float32(fm.scale_), map=self.map_,
            tag_vectors=self.tag_vectors_, own_labels=self.own_labels_, label_bias=self.label_bias_,
            label_weight=self.label_weight_, threshold=self.threshold_,
            prototypes=pr.points, prototype_labels=pr.label, prototype_counts=pr.count,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes, class_vectors: np.ndarray) -> tuple["LearnedProjection", dict[str, Any]]:
        """A fitted projection and its meta, from `to_bytes`, over a ConSE of `class_vectors` (the
        CNN classes' vectors in the backend it was trained for)."""
        try:
            arrays = np.load(io.BytesIO(blob), allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise ProjectionError(f"unreadable projection parameters ({exc})") from None
        with arrays:
            header = json.loads(arrays["header"].tobytes().decode("utf-8"))
            if header.get("format") != FORMAT:
                raise ProjectionError(f"projection format {header.get('format')} is not supported (expected {FORMAT})")
            self = cls(ConSE(top_t=int(header["top_t"])).fit(class_vectors), bandwidth=float(header["bandwidth"]))
            fm = FeatureMap()
            fm.feature_mean_, fm.logit_mean_, fm.mean_ = arrays["feature_mean"], arrays["logit_mean"], arrays["mean"]
            fm.components_, fm.scale_ = arrays["components"], np.float32(arrays["scale"])
            self.feature_map_ = fm
            self.map_ = arrays["map"]
            self.labels_ = tuple(header["labels"])
            self.tag_vectors_ = arrays["tag_vectors"]
            self.own_labels_ = arrays["own_labels"]
            self.label_bias_ = arrays["label_bias"]
            self.label_weight_ = arrays["label_weight"]
            self.threshold_ = arrays["threshold"]
            labels_of = arrays["prototype_labels"]
            self.prototypes_ = Prototypes(arrays["prototypes"], labels_of, arrays["prototype_counts"],
                                          np.full(len(labels_of), -1, np.int64))
        self.weight_ = float(header["weight"])
        self.metrics_ = header["metrics"]
        self.summary_ = header["summary"]
        return self, header


def _round(value: float) -> float | None:
    return None if value != value else round(float(value), 4)  # NaN -> None (JSON has no NaN)
