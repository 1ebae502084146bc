"""`tagsight train-vectors` end to end: train, write, register as a backend, extend a base space."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from tagsight.engine.cli import main
from tagsight.engine.vector_io import read_vectors


def corpus(path: Path, lines: int = 3000, seed: int = 0) -> Path:
    rng = random.Random(seed)
    animals, machines = ["dog", "cat", "horse"], ["car", "truck", "bus"]
    text = []
    for _ in range(lines):
        if rng.random() < 0.5:
            text.append(f"the {rng.choice(animals)} runs and eats food in the field")
        else:
            text.append(f"the {rng.choice(machines)} drives on the road with fuel and wheels")
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path


def test_train_register_and_use_as_a_backend(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "vectors.bin"
    args = ["train-vectors", str(corpus(tmp_path / "c.txt")), "--out", str(out), "--dim", "16", "--min-count", "1",
            "--epochs", "3", "--workers", "1", "--register", "farm"]
    assert main(args) == 0
    words, matrix = read_vectors(out, "word2vec")
    assert matrix.shape == (len(words), 16) and "dog" in words
    capsys.readouterr()
    assert main(["similar", "dog", "--backend", "farm", "--top", "2"]) == 0
    neighbours = {line.split()[1] for line in capsys.readouterr().out.splitlines()}
    assert neighbours & {"cat", "horse"} and not neighbours & {"car", "truck", "bus"}
    assert main(["train-vectors", str(tmp_path / "c.txt"), "--out", str(tmp_path / "t.txt"), "--format",
                 "word2vec-txt", "--dim", "8", "--min-count", "1", "--epochs", "1", "--workers", "1"]) == 0
    assert (tmp_path / "t.txt").read_text().startswith(f"{len(words)} 8\n")


def test_init_from_keeps_the_base_space(tmp_path: Path) -> None:
    base_file = tmp_path / "base.txt"
    base_words = ["the", "dog", "cat", "car"]
    base = np.random.default_rng(0).normal(size=(4, 12)).astype(np.float32)
    base_file.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in zip(base_words, base)), encoding="utf-8")
    text = tmp_path / "c.txt"
    text.write_text("the dog and the blicket run\nthe cat and the blicket run\n" * 500, encoding="utf-8")
    out = tmp_path / "ext.bin"
    assert main(["train-vectors", str(text), "--out", str(out), "--init-from", "glove", "--init-vectors",
                 str(base_file), "--min-count", "1", "--epochs", "2", "--workers", "1"]) == 0
    words, matrix = read_vectors(out, "word2vec")
    assert matrix.shape[1] == 12 and "blicket" in words
    for word, vector in zip(base_words, base):
        np.testing.assert_allclose(matrix[words.index(word)], vector, rtol=1e-6)  # base words stay fixed


def test_bad_corpus_and_dim_mismatch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert main(["train-vectors", str(empty), "--out", str(tmp_path / "o.bin")]) == 2
    assert "empty.txt" in capsys.readouterr().err and not (tmp_path / "o.bin").exists()
    assert main(["train-vectors", str(corpus(tmp_path / "c.txt", 50)), "--out", str(tmp_path / "o.bin"),
                 "--init-from", "glove", "--dim", "100"]) == 2
    assert "differs from glove's 50" in capsys.readouterr().err
