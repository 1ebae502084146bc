"""Word2VecTrainer: determinism, files gensim reads, quality on a real corpus, vocabulary extension,
bad input, progress and cancellation. Speed against gensim: benchmarks/bench_skipgram.py."""

from __future__ import annotations

import ast
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tagsight.engine.progress import Cancelled
from tagsight.engine.training import corpus as corpus_module
from tagsight.engine.training.corpus import CorpusError, iter_sentences
from tagsight.engine.training.skipgram import Word2VecTrainer
from tagsight.engine.training.vocab import alias_table, keep_thresholds, scan_vocabulary
from tagsight.engine.vector_io import write_word2vec

gensim_utils = pytest.importorskip("gensim.test.utils")
KeyedVectors = pytest.importorskip("gensim.models").KeyedVectors

HEAD500 = Path(gensim_utils.datapath("head500.noblanks.cor"))


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 40 lines (about 50k tokens) of gensim's corpus: fast to train on."""
    path = tmp_path_factory.mktemp("corpus") / "head40.txt"
    with open(HEAD500, encoding="utf-8") as src:
        path.write_text("".join(line for _, line in zip(range(40), src)), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def head500_model() -> Word2VecTrainer:
    # A higher learning rate than gensim's default gets good vectors from this small corpus in 3 epochs.
    return Word2VecTrainer(dim=32, epochs=3, alpha=0.05, workers=2, seed=3).fit([HEAD500])


def small_trainer(**params) -> Word2VecTrainer:
    return Word2VecTrainer(**{"dim": 16, "epochs": 2, "workers": 1, "seed": 5, **params})


def test_the_trainer_never_imports_gensim() -> None:
    """gensim is the test-time reference only; the engine must run without it."""
    for path in (Path(__file__).resolve().parents[2] / "engine" / "training").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        imported += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [name for name in imported if name.split(".")[0] == "gensim"], path.name


# --- determinism -------------------------------------------------------------------------------


def test_one_worker_and_a_seed_give_identical_files(small_corpus: Path, tmp_path: Path) -> None:
    for sg in (True, False):
        files = []
        for run in range(2):
            trainer = small_trainer(sg=sg).fit([small_corpus])
            files.append(tmp_path / f"{sg}-{run}.bin")
            write_word2vec(files[-1], trainer.words_, trainer.vectors_)
        assert files[0].read_bytes() == files[1].read_bytes()
    other = small_trainer(sg=False, seed=6).fit([small_corpus])
    assert not np.array_equal(other.vectors_, trainer.vectors_)


def test_streaming_every_epoch_equals_the_in_memory_replay(small_corpus: Path) -> None:
    cached = small_trainer(chunk_words=3000).fit([small_corpus])
    streamed = small_trainer(chunk_words=3000, cache_words=0).fit([small_corpus])
    assert cached.words_ == streamed.words_
    assert np.array_equal(cached.vectors_, streamed.vectors_)


# --- output files ------------------------------------------------------------------------------


def test_gensim_and_the_word2vec_backend_read_the_output(head500_model: Word2VecTrainer, tmp_path: Path) -> None:
    from tagsight.plugins.word2vec import load

    for binary in (True, False):
        path = tmp_path / ("vectors.bin" if binary else "vectors.txt")
        write_word2vec(path, head500_model.words_, head500_model.vectors_, binary=binary)
        kv = KeyedVectors.load_word2vec_format(str(path), binary=binary)
        assert kv.index_to_key == head500_model.words_
        assert np.array_equal(kv.vectors, head500_model.vectors_)
        ours = load(path)
        assert ours.words == head500_model.words_
        assert np.array_equal(np.asarray(ours.matrix), head500_model.vectors_)


# --- quality -----------------------------------------------------------------------------------


def test_vectors_capture_similarity_and_analogies(head500_model: Word2VecTrainer) -> None:
    m = head500_model
    assert len(m.words_) == len(m.counts_) == m.vectors_.shape[0]
    assert m.vectors_.dtype == np.float32 and m.vectors_.shape[1] == 32
    assert list(m.counts_) == sorted(m.counts_, reverse=True) and m.counts_.min() >= 5
    assert m.loss_[-1] < m.loss_[0]
    kv = KeyedVectors(32)
    kv.add_vectors(m.words_, m.vectors_)
    spearman = kv.evaluate_word_pairs(gensim_utils.datapath("wordsim353.tsv"))[1].statistic
    analogies = kv.evaluate_word_analogies(gensim_utils.datapath("questions-words.txt"))[0]
    # This setup scores about 0.42 / 0.03 (gensim's defaults on 5 epochs: 0.39 / 0.03); chance is 0 / 0.0001.
    assert spearman > 0.3
    assert analogies > 0.015


# --- vocabulary extension ----------------------------------------------------------------------

TOPICS = {
    "animal": "dog cat puppy kitten leash bark fur tail paw vet pet collar kennel bone whisker".split(),
    "vehicle": "car truck engine wheel road drive garage fuel brake tire highway driver parking motor traffic".split(),
    "food": "bread cheese soup salad kitchen cook bake oven recipe butter flour pasta sauce spoon dinner".split(),
    "music": "guitar piano song melody drum concert band singer chord rhythm violin choir tune album stage".split(),
    "weather": "rain snow storm cloud wind sunny thunder forecast cold warm fog frost humid breeze umbrella".split(),
}
FILLER = "the a and with of to in on at is was very".split()


def topic_corpus(path: Path, seed: int, sentences: int, replace: dict[str, str] | None = None) -> Path:
    """Sentences about one topic each; `replace` swaps a word for another in half the sentences."""
    rng = np.random.default_rng(seed)
    topics = list(TOPICS.values())
    lines = []
    for _ in range(sentences):
        topic = topics[rng.integers(len(topics))]
        words = [topic[rng.integers(len(topic))] if rng.random() < 0.6 else FILLER[rng.integers(len(FILLER))]
                 for _ in range(10)]
        if replace and rng.random() < 0.5:
            words = [replace.get(word, word) for word in words]
        lines.append(" ".join(words))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def neighbours(word_vector: np.ndarray, words: list[str], matrix: np.ndarray, k: int) -> list[str]:
    unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    scores = unit @ (word_vector / np.linalg.norm(word_vector))
    return [words[i] for i in np.argsort(-scores)[:k]]


def test_new_words_learned_into_a_frozen_base_space_land_in_their_neighbourhoods(tmp_path: Path) -> None:
    params = dict(dim=24, window=3, epochs=5, min_count=2, sample=0, workers=2)
    base = Word2VecTrainer(seed=1, **params).fit([topic_corpus(tmp_path / "base.txt", 1, 4000)])
    new_text = topic_corpus(tmp_path / "new.txt", 2, 4000, replace={"dog": "blicket", "car": "zorp"})
    extended = Word2VecTrainer(seed=2, init_from=(base.words_, base.vectors_), **params).fit([new_text])

    n = len(base.words_)
    assert extended.words_[:n] == base.words_
    assert sorted(extended.words_[n:]) == ["blicket", "zorp"]
    assert np.array_equal(extended.vectors_[:n], base.vectors_)  # the base space is untouched
    vectors = dict(zip(extended.words_, extended.vectors_))
    for new, old, topic in (("blicket", "dog", "animal"), ("zorp", "car", "vehicle")):
        near = neighbours(vectors[new], base.words_, base.vectors_, 5)
        assert sum(word in TOPICS[topic] for word in near) >= 4, (new, near)
        old_near = set(neighbours(vectors[old], base.words_, base.vectors_, 11)) - {old}
        assert len(old_near & set(near)) >= 2, (new, near, old_near)

    loose = Word2VecTrainer(seed=2, init_from=(base.words_, base.vectors_), freeze_init=False, **params)
    loose.fit([new_text])
    assert not np.array_equal(loose.vectors_[:n], base.vectors_)


def test_new_words_extend_the_bundled_glove_space_next_to_the_words_they_replace(tmp_path: Path) -> None:
    from tagsight.plugins.glove import load_bundled

    glove = load_bundled()  # 400k real GloVe 6B 50d vectors, the default backend
    text = topic_corpus(tmp_path / "new.txt", 3, 4000, replace={"dog": "blicket", "car": "zorp"})
    params = dict(dim=50, window=3, epochs=5, min_count=2, sample=0, workers=2, seed=4)
    extended = Word2VecTrainer(init_from=(glove.words, glove.matrix), **params).fit([text])

    n = len(glove.words)
    assert extended.words_[:n] == glove.words and sorted(extended.words_[n:]) == ["blicket", "zorp"]
    assert np.array_equal(extended.vectors_[:n], glove.matrix)
    vectors = dict(zip(extended.words_[n:], extended.vectors_[n:]))
    # Nearest among all 400k GloVe words: the replaced word itself is in the top 5 (ranks 1-3 seen).
    assert "dog" in [word for word, _ in glove.most_similar(vectors["blicket"], topn=5)]
    assert "car" in [word for word, _ in glove.most_similar(vectors["zorp"], topn=5)]


def test_init_from_vectors_of_another_width_are_refused(small_corpus: Path) -> None:
    with pytest.raises(ValueError, match="pass dim=8"):
        small_trainer(init_from=(["the"], np.zeros((1, 8), np.float32))).fit([small_corpus])


# --- vocabulary and sampling tables ----------------------------------------------------------


def test_vocabulary_and_subsampling_match_gensims_on_its_corpus() -> None:
    from gensim.models import Word2Vec
    from gensim.models.word2vec import LineSentence

    ours = scan_vocabulary([HEAD500], min_count=5)
    reference = Word2Vec(min_count=5, sample=1e-3)
    reference.build_vocab(LineSentence(str(HEAD500)))
    wv = reference.wv
    assert dict(zip(ours.words, ours.counts.tolist())) == {w: wv.get_vecattr(w, "count") for w in wv.index_to_key}
    assert ours.corpus_words == reference.corpus_total_words
    keep = keep_thresholds(ours.counts, 1e-3) / 2**32
    theirs = np.array([wv.get_vecattr(w, "sample_int") for w in ours.words]) / (2**32 - 1)
    assert np.abs(keep - theirs).max() < 1e-8 and keep.min() < 0.7 and keep.max() == 1.0


def test_negative_sampling_table_gives_exactly_unigram_to_the_three_quarters() -> None:
    counts = np.array([1000, 500, 100, 10, 5, 5, 1])
    thresholds, aliases = alias_table(counts)
    n = len(counts)
    implied = np.zeros(n)
    for slot in range(n):  # slot drawn with 1/n; kept with thresholds/2**32, else its alias
        kept = thresholds[slot] / 2**32
        implied[slot] += kept / n
        implied[aliases[slot]] += (1 - kept) / n
    assert np.allclose(implied, counts**0.75 / (counts**0.75).sum(), rtol=0, atol=1e-9)


# --- bad input ---------------------------------------------------------------------------------


def test_binary_files_are_refused_with_their_name(tmp_path: Path) -> None:
    png = tmp_path / "photo.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 10)
    with pytest.raises(CorpusError, match=r"photo\.png: NUL byte at offset 8"):
        small_trainer().fit([png])
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("le café noir\n".encode("latin-1"))
    with pytest.raises(CorpusError, match=r"latin1\.txt: bytes at offset 6 are not UTF-8"):
        small_trainer().fit([latin1])


def test_empty_and_too_rare_corpora_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"empty\.txt: the file holds no words"):
        small_trainer().fit([empty])
    rare = tmp_path / "rare.txt"
    rare.write_text("one two two three\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"no word occurs at least min_count=5 times.*'two' with 2"):
        small_trainer().fit([rare])


# --- tokenization ------------------------------------------------------------------------------


def test_tokenization_rules(tmp_path: Path) -> None:
    path = tmp_path / "text.txt"
    path.write_bytes("\ufeffThe Dog,  barks\r\n\n\tÉLAN vital\n".encode("utf-8") + b"last line")
    assert list(iter_sentences([path])) == [["the", "dog,", "barks"], ["élan", "vital"], ["last", "line"]]
    long_line = tmp_path / "long.txt"
    long_line.write_text(" ".join(["w"] * 25_000), encoding="utf-8")
    assert [len(s) for s in iter_sentences([long_line])] == [10_000, 10_000, 5_000]


def test_block_boundaries_do_not_change_the_sentences(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = [token for sentence in iter_sentences([HEAD500]) for token in sentence][:30_000]
    assert "encyclopædia" in tokens  # a two-byte character that some block cut will split
    short = tmp_path / "short-lines.txt"
    short.write_text("\n".join(" ".join(tokens[i : i + 17]) for i in range(0, len(tokens), 17)), encoding="utf-8")
    one_line = tmp_path / "one-line.txt"
    one_line.write_text(" ".join(tokens), encoding="utf-8")
    whole = list(iter_sentences([short]))
    monkeypatch.setattr(corpus_module, "BLOCK_BYTES", 4093)
    assert list(iter_sentences([short])) == whole
    # A line longer than a block is cut at spaces into several sentences; no token is lost or split.
    pieces = list(iter_sentences([one_line]))
    assert len(pieces) > 10 and [token for piece in pieces for token in piece] == tokens
    one_line.write_bytes(b"x" * 5000)
    with pytest.raises(CorpusError, match="no whitespace in 4093 bytes at offset 0"):
        list(iter_sentences([one_line]))


# --- progress and cancellation -----------------------------------------------------------------


class Recorder:
    """Records reports; once one starts with `stop_at`, asks to cancel (or raises Ctrl+C's exception)."""

    def __init__(self, stop_at: str | None = None, interrupt: bool = False) -> None:
        self.reports: list[tuple[int, int, str]] = []
        self.stop_at = stop_at
        self.interrupt = interrupt
        self.stopping = False

    def report(self, done: int, total: int, message: str = "") -> None:
        self.reports.append((done, total, message))
        self.stopping = self.stopping or (self.stop_at is not None and message.startswith(self.stop_at))
        if self.stopping and self.interrupt:
            raise KeyboardInterrupt  # what Ctrl+C raises in the main thread

    def cancelled(self) -> bool:
        return self.stopping


def trainer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("w2v-")]


def test_progress_reports_words_per_second_and_loss(small_corpus: Path) -> None:
    recorder = Recorder()
    trainer = small_trainer(epochs=3).fit([small_corpus], progress=recorder)
    counting = [r for r in recorder.reports if r[2].startswith("counting words")]
    training = [r for r in recorder.reports if r[2].startswith("epoch")]
    assert len(counting) + len(training) == len(recorder.reports)
    assert counting[-1][:2] == (small_corpus.stat().st_size,) * 2  # bytes read of bytes
    done = [d for d, _, _ in training]
    tokens = sum(len(s) for s in iter_sentences([small_corpus]))
    assert done == sorted(done) and done[-1] == training[-1][1] == 3 * tokens
    assert re.fullmatch(r"epoch 3/3, [\d,]+ words/s, loss \d\.\d{4}", training[-1][2])
    assert len(trainer.loss_) == 3 and trainer.timings_["training"] > 0


@pytest.mark.parametrize("phase", ["counting words", "epoch 1/"])
@pytest.mark.parametrize("interrupt", [False, True], ids=["cancel", "ctrl-c"])
def test_cancelling_stops_promptly_and_keeps_nothing(tmp_path: Path, phase: str, interrupt: bool) -> None:
    out = tmp_path / "vectors.bin"
    trainer = Word2VecTrainer(dim=100, epochs=20, workers=2)
    recorder = Recorder(stop_at=phase, interrupt=interrupt)
    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt if interrupt else Cancelled):
        trainer.fit([HEAD500], progress=recorder)
        write_word2vec(out, trainer.words_, trainer.vectors_)  # the CLI's next step, never reached
    assert time.perf_counter() - started < 15  # 20 epochs would take a minute or more
    last_done, last_total, last_message = recorder.reports[-1]
    assert last_message.startswith(phase) and last_done < last_total
    assert not out.exists() and not hasattr(trainer, "vectors_")
    assert trainer_threads() == []
