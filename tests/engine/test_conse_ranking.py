from __future__ import annotations

import numpy as np
import pytest

from tagsight.engine.projection import ConSE, softmax
from tagsight.engine.ranking import CosineTopK, Ranker
from tagsight.engine.vocabulary import EmbeddedVocabulary, Vocabulary

CLASS_VECTORS = np.array([[2.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], np.float32)  # normalized by fit
LOGITS = np.log(np.array([[0.5, 0.3, 0.2]], np.float32))
FEATURES = np.zeros((1, 4), np.float32)  # ConSE reads only the logits


def test_softmax_matches_probabilities() -> None:
    np.testing.assert_allclose(softmax(LOGITS), [[0.5, 0.3, 0.2]], rtol=1e-6)


def test_conse_hand_computed_example() -> None:
    # Top-2 classes are 0 (p=.5) and 1 (p=.3): weights .5/.8 and .3/.8, mixed unit vectors.
    projected = ConSE(top_t=2).fit(CLASS_VECTORS).transform(LOGITS)
    np.testing.assert_allclose(projected.points, [[0.625, 0.375]], rtol=1e-6)
    assert projected.source_classes.tolist() == [[0, 1]]
    np.testing.assert_allclose(projected.source_weights, [[0.625, 0.375]], rtol=1e-6)


def test_conse_skips_classes_without_vectors_and_not_allowed() -> None:
    vectors = CLASS_VECTORS.copy()
    vectors[0] = 0  # class 0 has no vector: mixing must skip it
    projected = ConSE(top_t=2).fit(vectors).transform(LOGITS)
    assert projected.source_classes.tolist() == [[1, 2]]
    np.testing.assert_allclose(projected.points, [[-0.4, 0.6]], rtol=1e-6)  # (.3*(0,1) + .2*(-1,0)) / .5
    only_two = ConSE(top_t=3, allowed_classes=np.array([2])).fit(CLASS_VECTORS).transform(LOGITS)
    assert only_two.source_classes.tolist() == [[2]]


def test_conse_needs_a_usable_class() -> None:
    with pytest.raises(ValueError):
        ConSE().fit(np.zeros((3, 2), np.float32))


def test_top_k_is_cosine_best_first() -> None:
    labels = np.array([[1, 0], [0, 1], [0.6, 0.8]], np.float32)
    indices, scores = CosineTopK(labels)(np.array([[3.0, 4.0], [1.0, 0.0]], np.float32), 2)
    assert indices.tolist() == [[2, 1], [0, 2]]
    np.testing.assert_allclose(scores, [[1.0, 0.8], [1.0, 0.6]], rtol=1e-6)


def _ranker() -> Ranker:
    labels = np.array([[1, 0], [0, 1], [0.6, 0.8], [-1, 0]], np.float32)
    vocabulary = EmbeddedVocabulary(Vocabulary("t", ("east", "north", "northeast", "west")), "test",
                                    ("east", "north", "northeast", "west"), labels)
    return Ranker(ConSE(top_t=2).fit(CLASS_VECTORS), ["e, east", "n, north", "w, west"], vocabulary)


def test_ranker_labels_scores_and_sources() -> None:
    (labels,) = _ranker().rank(LOGITS, FEATURES, top=3)
    assert [label.label for label in labels] == ["northeast", "east", "north"]
    # point (.625,.375): cos with (0.6,0.8) = (.375+.3)/|p|
    norm = np.hypot(0.625, 0.375)
    assert labels[0].score == pytest.approx((0.625 * 0.6 + 0.375 * 0.8) / norm, abs=1e-4)
    # "east" came from class e only (class n is orthogonal to it); "northeast" from both, e first.
    assert labels[1].sources == ("e",)
    assert labels[0].sources == ("e", "n")


def test_ranker_min_score_and_blocked_labels() -> None:
    ranker = _ranker()
    (labels,) = ranker.rank(LOGITS, FEATURES, top=3, blocked=[{"northeast"}])
    assert [label.label for label in labels] == ["east", "north", "west"]
    (strong,) = ranker.rank(LOGITS, FEATURES, top=4, min_score=0.5)
    assert all(label.score >= 0.5 for label in strong) and "west" not in [label.label for label in strong]


def test_top_k_is_exact_on_a_large_vocabulary() -> None:
    rng = np.random.default_rng(7)
    labels = rng.normal(size=(5000, 16)).astype(np.float32)
    labels /= np.linalg.norm(labels, axis=1, keepdims=True)
    labels[100] = labels[200]  # a tie must not lose labels
    points = rng.normal(size=(300, 16)).astype(np.float32)
    indices, scores = CosineTopK(labels)(points, 7, chunk=64)
    exact = (points / np.linalg.norm(points, axis=1, keepdims=True)) @ labels.T
    np.testing.assert_allclose(scores, -np.sort(-exact, axis=1)[:, :7], rtol=1e-5)
    np.testing.assert_allclose(np.take_along_axis(exact, indices, axis=1), scores, rtol=1e-5)


def test_top_k_adds_offsets_before_choosing() -> None:
    rng = np.random.default_rng(3)
    labels = rng.normal(size=(700, 8)).astype(np.float32)
    labels /= np.linalg.norm(labels, axis=1, keepdims=True)
    points = rng.normal(size=(50, 8)).astype(np.float32)
    columns = np.array([5, 99, 640])
    values = rng.normal(0, 2, (50, 3)).astype(np.float32)
    indices, scores = CosineTopK(labels)(points, 4, offsets=(columns, values), chunk=16)
    exact = (points / np.linalg.norm(points, axis=1, keepdims=True)) @ labels.T
    exact[:, columns] += values
    np.testing.assert_allclose(scores, -np.sort(-exact, axis=1)[:, :4], rtol=1e-5, atol=1e-6)
    assert set(indices.ravel().tolist()) & set(columns.tolist())  # the offsets did change the choice


def test_top_k_with_no_points_and_more_wanted_than_labels() -> None:
    labels = np.eye(3, dtype=np.float32)
    indices, scores = CosineTopK(labels)(np.zeros((0, 3), np.float32), 2)
    assert indices.shape == (0, 2) and scores.shape == (0, 2)
    indices, _ = CosineTopK(labels)(np.array([[0.0, 1.0, 0.5]], np.float32), 10)
    assert indices.tolist() == [[1, 2, 0]]


def test_shipped_ranking_graph_is_what_its_script_builds() -> None:
    pytest.importorskip("onnx")
    import importlib.util
    from importlib.resources import files

    script = files("tagsight.resources").joinpath("models/build_cosine_top_k.py")
    spec = importlib.util.spec_from_file_location("build_cosine_top_k", str(script))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert files("tagsight.resources").joinpath("models/cosine_top_k.onnx").read_bytes() == module.build()
