from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tagsight.engine.vectors import WordVectors
from tagsight.engine.vocabulary import VocabularyError, embed, label_vector, load_vocabulary, imagenet_classes


@pytest.fixture
def tiny() -> WordVectors:
    words = ["tabby", "cat", "dog", "jack", "lantern", "o"]
    matrix = np.array([[1, 0], [0, 1], [-1, 0], [1, 1], [2, 2], [0, 3]], np.float32)
    return WordVectors("tiny", words, matrix)


def test_phrase_vector_is_token_mean_and_reports_missing(tiny: WordVectors) -> None:
    phrase = tiny.phrase_vector("Tabby cat zzyzx")
    np.testing.assert_allclose(phrase.vector, [0.5, 0.5])
    assert phrase.missing == ("zzyzx",)
    assert tiny.phrase_vector("zzyzx").vector is None


def test_hyphenated_tokens_fall_back_to_their_parts(tiny: WordVectors) -> None:
    np.testing.assert_allclose(tiny.phrase_vector("jack-o'-lantern").vector, [1, 2])


def test_label_vector_is_mean_over_synonyms_of_token_means(tiny: WordVectors) -> None:
    # "tabby, tabby cat": mean of (1,0) and mean((1,0),(0,1)) = ((1,0)+(.5,.5))/2
    np.testing.assert_allclose(label_vector(tiny, "tabby, tabby cat"), [0.75, 0.25])


def test_most_similar_excludes_the_query(tiny: WordVectors) -> None:
    words = [w for w, _ in tiny.most_similar("tabby", topn=2)]
    assert "tabby" not in words and words[0] == "jack"


def test_embed_drops_labels_without_vectors(tiny: WordVectors, tmp_path: Path) -> None:
    path = tmp_path / "labels.txt"
    path.write_text("# my labels\ncat\nzzyzx  # unknown word\ndog\ncat\n\n", encoding="utf-8")
    vocabulary = load_vocabulary(str(path))
    assert vocabulary.labels == ("cat", "zzyzx", "dog")
    embedded = embed(vocabulary, tiny)
    assert embedded.labels == ("cat", "dog") and embedded.missing == ("zzyzx",)
    np.testing.assert_allclose(np.linalg.norm(embedded.matrix, axis=1), 1.0, rtol=1e-6)


def test_vocabulary_errors_are_specific(tiny: WordVectors, tmp_path: Path) -> None:
    with pytest.raises(VocabularyError, match="no such vocabulary file"):
        load_vocabulary(str(tmp_path / "missing.txt"))
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(VocabularyError, match="not a UTF-8"):
        load_vocabulary(str(binary))
    unknown = tmp_path / "unknown.txt"
    unknown.write_text("zzyzx\nqqqq\n", encoding="utf-8")
    with pytest.raises(VocabularyError, match="none of its 2 labels"):
        embed(load_vocabulary(str(unknown)), tiny)


def test_builtin_vocabularies() -> None:
    classes = imagenet_classes()
    assert len(classes) == 1000 and classes[0] == "tench, Tinca tinca" and classes[281] == "tabby, tabby cat"
    default = load_vocabulary("default")
    assert len(default) > 15000
    assert set(classes) <= set(default.labels)  # every class can be named
    assert not {"the", "and", "of", ",", "2009"} & set(default.labels)


def test_bundled_glove_loads_and_knows_words() -> None:
    from tagsight.plugins.glove import load_bundled

    glove = load_bundled()
    assert len(glove) == 400_000 and glove.dim == 50
    assert isinstance(glove.matrix, np.memmap)  # memory-mapped, not read into memory
    neighbours = [w for w, _ in glove.most_similar("cat", topn=10)]
    assert "dog" in neighbours


def test_embedding_is_cached_per_vocabulary_and_vectors(tiny: WordVectors, tmp_path: Path) -> None:
    from tagsight.engine.vocabulary import Vocabulary

    vocabulary = Vocabulary("t", ("cat", "dog", "zzyzx"))
    first = embed(vocabulary, tiny)
    again = embed(vocabulary, tiny)  # from the cache file
    assert again.labels == first.labels and again.missing == first.missing
    np.testing.assert_array_equal(again.matrix, first.matrix)
    changed = WordVectors("tiny", tiny.words, tiny.matrix * 2 + 1)  # same name, other vectors
    assert not np.allclose(embed(vocabulary, changed).matrix, first.matrix)
