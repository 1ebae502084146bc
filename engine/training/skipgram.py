"""Word2VecTrainer: skip-gram and CBOW with negative sampling, trained from streamed text files.

Parameters mean what they mean in gensim 4's `Word2Vec` (except that skip-gram is the default).
The main thread reads the corpus and hands chunks of about `chunk_words` tokens, encoded as int32
ids, to `workers` threads running the compiled kernel on shared weights (Hogwild). The learning rate
falls linearly from `alpha` to `min_alpha` over all epochs, by position of the chunk in the stream.

The encoded corpus (4 bytes a token, before subsampling, which the kernel does per epoch) is kept in
memory for the later epochs when it holds at most `cache_words` tokens; beyond that every epoch
streams the files again, so a corpus larger than memory trains in bounded memory.

Each chunk draws its random numbers from a stream seeded by (seed, chunk number), so with one worker
a seed gives identical vectors run after run. With several workers thread timing still varies the
result slightly, as in gensim.
"""

from __future__ import annotations

import numbers
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from tagsight.engine.progress import NullProgress, Progress, check_cancelled
from tagsight.engine.training import kernels
from tagsight.engine.training.corpus import StrPath, iter_blocks
from tagsight.engine.training.vocab import Vocabulary, alias_table, keep_thresholds, scan_vocabulary

Chunk = tuple[np.ndarray, np.ndarray, int]  # (ids, sentence ends, corpus tokens it covers)
Job = tuple[int, Chunk, float, float, np.uint64]  # (epoch, chunk, alpha at start, at end, random state)
_REPORT_SECONDS = 0.25


class Word2VecTrainer:
    """Learn word vectors from plain-text files (see `training.corpus` for the tokenization).

    `init_from=(words, vectors)` extends an existing space: words it knows start from its vectors and
    do not move when `freeze_init` is true (they move freely otherwise), new words are learned around
    them. The result then holds every base word, in base order, followed by the new corpus words.
    `vectors.shape[1]` must equal `dim`.

    Fitted attributes: `words_` (list[str]), `vectors_` (float32, one row a word), `counts_` (corpus
    counts, 0 for base words absent from the corpus), `loss_` (mean loss per training example, one
    value an epoch), `timings_` (seconds: vocabulary, jit, training).
    """

    def __init__(
        self,
        *,
        sg: bool = True,
        dim: int = 100,
        window: int = 5,
        negative: int = 5,
        epochs: int = 5,
        min_count: int = 5,
        sample: float = 1e-3,
        alpha: float = 0.025,
        min_alpha: float = 0.0001,
        workers: int = 3,
        seed: int = 1,
        init_from: tuple[Sequence[str], np.ndarray] | None = None,
        freeze_init: bool = True,
        chunk_words: int = 10_000,
        cache_words: int = 50_000_000,
    ) -> None:
        self.sg = sg
        self.dim = dim
        self.window = window
        self.negative = negative
        self.epochs = epochs
        self.min_count = min_count
        self.sample = sample
        self.alpha = alpha
        self.min_alpha = min_alpha
        self.workers = workers
        self.seed = seed
        self.init_from = init_from
        self.freeze_init = freeze_init
        self.chunk_words = chunk_words
        self.cache_words = cache_words

    def fit(self, corpus_paths: Sequence[StrPath], progress: Progress | None = None) -> Word2VecTrainer:
        """Train on the files; raises `CorpusError` for unusable input, `Cancelled` when cancelled."""
        self._check_params()
        progress = progress or NullProgress()
        paths = [Path(p) for p in corpus_paths]
        started = time.perf_counter()
        vocab = scan_vocabulary(paths, self.min_count, progress)
        scanned = time.perf_counter()
        jit_seconds = kernels.warm_up()
        syn0, lockf = self._initial_vectors(vocab)
        syn1 = np.zeros_like(syn0)
        losses = self._train(paths, vocab, syn0, syn1, lockf, progress)
        self._set_fitted(vocab, syn0)
        self.loss_ = losses
        self.timings_ = {
            "vocabulary": scanned - started,
            "jit": jit_seconds,
            "training": time.perf_counter() - scanned - jit_seconds,
        }
        return self

    def _check_params(self) -> None:
        for name in ("dim", "window", "negative", "epochs", "min_count", "workers", "chunk_words"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if self.sample < 0 or self.alpha <= 0 or self.min_alpha < 0:
            raise ValueError("sample and min_alpha must be >= 0, alpha > 0")
        if self.init_from is not None:
            words, vectors = self.init_from
            if vectors.ndim != 2 or vectors.shape[0] != len(words):
                raise ValueError(f"init_from: {len(words)} words but vectors of shape {vectors.shape}")
            if vectors.shape[1] != self.dim:
                raise ValueError(f"init_from vectors are {vectors.shape[1]}-d: pass dim={vectors.shape[1]}")

    def _initial_vectors(self, vocab: Vocabulary) -> tuple[np.ndarray, np.ndarray]:
        # Input vectors uniform in +-1/dim as in gensim 4 (word2vec.c: +-0.5/dim, which scored about
        # 0.025 lower WordSim353 Spearman on head500.noblanks.cor); output vectors zero.
        rng = np.random.default_rng(self.seed)
        syn0 = ((rng.random((len(vocab.words), self.dim), dtype=np.float32) * 2 - 1) / self.dim).astype(np.float32)
        lockf = np.ones(len(vocab.words), np.float32)
        if self.init_from is not None:
            base_words, base_vectors = self.init_from
            base_index = {word: i for i, word in enumerate(base_words)}
            rows = np.array([base_index.get(word, -1) for word in vocab.words], dtype=np.int64)
            known = rows >= 0
            syn0[known] = np.asarray(base_vectors, dtype=np.float32)[rows[known]]
            if self.freeze_init:
                lockf[known] = 0.0
        return syn0, lockf

    def _set_fitted(self, vocab: Vocabulary, syn0: np.ndarray) -> None:
        if self.init_from is None:
            self.words_ = list(vocab.words)
            self.vectors_ = syn0
            self.counts_ = vocab.counts.copy()
            return
        base_words, base_vectors = self.init_from
        base_index = {word: i for i, word in enumerate(base_words)}
        vectors = np.asarray(base_vectors, dtype=np.float32).copy()
        counts = np.zeros(len(base_words), np.int64)
        new = []
        for i, word in enumerate(vocab.words):
            row = base_index.get(word)
            if row is None:
                new.append(i)
            else:
                vectors[row] = syn0[i]
                counts[row] = vocab.counts[i]
        self.words_ = list(base_words) + [vocab.words[i] for i in new]
        self.vectors_ = np.concatenate([vectors, syn0[new]])
        self.counts_ = np.concatenate([counts, vocab.counts[new]])

    def _chunks(self, paths: list[Path], vocab: Vocabulary) -> Iterator[Chunk]:
        """Encode the corpus as chunks of int32 ids (rare words dropped), sentence by sentence."""
        get = vocab.index.get
        flat: list[int] = []
        raw_ends: list[int] = []
        for path in paths:
            for _, sentences in iter_blocks(path):
                for tokens in sentences:
                    flat.extend([get(token, -1) for token in tokens])
                    raw_ends.append(len(flat))
                    if len(flat) >= self.chunk_words:
                        yield _encode(flat, raw_ends)
                        flat, raw_ends = [], []
        if flat:
            yield _encode(flat, raw_ends)

    def _jobs(self, paths: list[Path], vocab: Vocabulary) -> Iterator[Job]:
        """Every chunk of every epoch, with its learning-rate range and its random stream."""
        total = self.epochs * vocab.corpus_words
        pushed = 0
        chunk_no = 0
        cache: list[Chunk] | None = []  # epoch 0's chunks, replayed later while they fit
        cached_words = 0
        for epoch in range(self.epochs):
            source = self._chunks(paths, vocab) if epoch == 0 or cache is None else iter(cache)
            for chunk in source:
                if epoch == 0 and cache is not None:
                    cache.append(chunk)
                    cached_words += len(chunk[0])
                    if cached_words > self.cache_words:
                        cache = None
                a0 = self.alpha - (self.alpha - self.min_alpha) * pushed / total
                pushed += chunk[2]
                a1 = self.alpha - (self.alpha - self.min_alpha) * pushed / total
                yield epoch, chunk, a0, a1, kernels.seed_state(self.seed, chunk_no)
                chunk_no += 1

    def _train(
        self,
        paths: list[Path],
        vocab: Vocabulary,
        syn0: np.ndarray,
        syn1: np.ndarray,
        lockf: np.ndarray,
        progress: Progress,
    ) -> list[float]:
        """Feed the jobs to worker threads; returns the mean loss per example of each epoch."""
        keep = keep_thresholds(vocab.counts, self.sample)
        thresholds, aliases = alias_table(vocab.counts)
        jobs: queue.Queue[Job | None] = queue.Queue(maxsize=2 * self.workers)
        stop = threading.Event()
        done = np.zeros(self.workers, np.int64)  # corpus tokens trained, one slot a worker
        stats = np.zeros((self.workers, self.epochs, 2))  # (loss sum, examples)
        errors: list[BaseException] = []

        # Exact argument types: any other type would make numba compile (and cache) another kernel.
        sg, window, negative = bool(self.sg), int(self.window), int(self.negative)

        def work(slot: int) -> None:
            while (job := jobs.get()) is not None:
                if stop.is_set():
                    continue  # drain quickly after a cancel or an error
                epoch, (ids, ends, raw), a0, a1, state = job
                try:
                    loss, examples, _ = kernels.train_chunk(
                        ids, ends, syn0, syn1, lockf, keep, thresholds, aliases, sg, window, negative,
                        float(a0), float(a1), state, kernels.SIGMOID, kernels.LOG_SIGMOID,
                    )  # fmt: skip
                except BaseException as err:  # noqa: BLE001 - re-raised by the main thread
                    errors.append(err)
                    stop.set()
                    continue
                stats[slot, epoch] += (loss, examples)
                done[slot] += raw

        threads = [threading.Thread(target=work, args=(i,), daemon=True, name=f"w2v-{i}") for i in range(self.workers)]
        for thread in threads:
            thread.start()
        reporter = _Reporter(progress, self.epochs * vocab.corpus_words, self.epochs, done, stats)
        try:
            for job in self._jobs(paths, vocab):
                while True:  # wait for room in the queue, staying responsive to errors and cancels
                    if errors:
                        raise errors[0]
                    check_cancelled(progress)
                    reporter.maybe_report(job[0])
                    try:
                        jobs.put(job, timeout=0.05)
                        break
                    except queue.Full:
                        pass
        except BaseException:
            stop.set()
            raise
        finally:
            for _ in threads:
                jobs.put(None)
            while any(thread.is_alive() for thread in threads):
                for thread in threads:
                    thread.join(timeout=0.05)
                if not stop.is_set():
                    reporter.maybe_report(self.epochs - 1)
        if errors:
            raise errors[0]
        reporter.report(self.epochs - 1)
        return [float(loss / max(n, 1)) for loss, n in stats.sum(axis=0)]


def _encode(flat: list[int], raw_ends: list[int]) -> Chunk:
    ids = np.array(flat, dtype=np.int32)
    known = ids >= 0
    # Sentence ends counted in kept ids: windows then span the dropped rare words, as in gensim.
    ends = np.cumsum(known)[np.array(raw_ends) - 1]
    return ids[known], ends.astype(np.int64), len(flat)


class _Reporter:
    """Turns the workers' counters into `progress.report` calls, at most every `_REPORT_SECONDS`.

    The loss shown is the mean over the examples trained since the previous report that had any.
    """

    def __init__(self, progress: Progress, total: int, epochs: int, done: np.ndarray, stats: np.ndarray) -> None:
        self.progress = progress
        self.total = total
        self.epochs = epochs
        self.done = done
        self.stats = stats
        self.start = self.last = time.perf_counter()
        self.seen = np.zeros(2)  # (loss sum, examples) at the last loss shown
        self.loss = float("nan")

    def maybe_report(self, epoch: int) -> None:
        if time.perf_counter() - self.last >= _REPORT_SECONDS:
            self.report(epoch)

    def report(self, epoch: int) -> None:
        now = time.perf_counter()
        done = int(self.done.sum())
        totals = self.stats.sum(axis=(0, 1))
        loss_sum, examples = totals - self.seen
        if examples:
            self.loss = loss_sum / examples
            self.seen = totals
        speed = done / max(now - self.start, 1e-9)
        message = f"epoch {epoch + 1}/{self.epochs}, {speed:,.0f} words/s, loss {self.loss:.4f}"
        self.progress.report(done, self.total, message)
        self.last = now
