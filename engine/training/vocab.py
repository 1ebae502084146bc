"""Vocabulary, frequent-word subsampling thresholds and the negative-sampling table."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tagsight.engine.progress import NullProgress, Progress, check_cancelled
from tagsight.engine.training.corpus import CorpusError, StrPath, iter_blocks

# Thresholds are compared with the top 32 bits of a random 64-bit number.
_ONE = 1 << 32


@dataclass(frozen=True)
class Vocabulary:
    words: list[str]  # most frequent first; ties keep first-seen order
    counts: np.ndarray  # int64, aligned with `words`
    index: dict[str, int]
    corpus_words: int  # every token in the corpus, rare words included: the unit of progress


def scan_vocabulary(paths: Iterable[StrPath], min_count: int, progress: Progress | None = None) -> Vocabulary:
    """Count the tokens of all files and keep the words seen at least `min_count` times.

    Reports bytes read to `progress` and raises `Cancelled` between blocks when asked to stop.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise CorpusError("no corpus files given")
    progress = progress or NullProgress()
    total_bytes = sum(path.stat().st_size for path in paths)
    counter: Counter[str] = Counter()
    total = 0
    bytes_before = 0  # bytes of the files already counted
    for path in paths:
        file_total = 0
        for read, sentences in iter_blocks(path):
            for tokens in sentences:
                counter.update(tokens)
                file_total += len(tokens)
            check_cancelled(progress)
            progress.report(bytes_before + read, total_bytes, f"counting words: {total + file_total:,} so far")
        if file_total == 0:
            raise CorpusError(f"{path}: the file holds no words")
        total += file_total
        bytes_before += path.stat().st_size
    kept = [(word, n) for word, n in counter.items() if n >= min_count]
    if not kept:
        top, top_n = counter.most_common(1)[0]
        raise CorpusError(
            f"no word occurs at least min_count={min_count} times in the corpus "
            f"({len(counter)} distinct words, the most frequent is {top!r} with {top_n}): "
            "lower min_count or give more text"
        )
    kept.sort(key=lambda item: -item[1])  # stable: ties keep first-seen order
    words = [word for word, _ in kept]
    counts = np.fromiter((n for _, n in kept), dtype=np.int64, count=len(kept))
    return Vocabulary(words, counts, {word: i for i, word in enumerate(words)}, total)


def keep_thresholds(counts: np.ndarray, sample: float) -> np.ndarray:
    """Per word, P(keep) * 2**32 (int64) for frequent-word subsampling, with gensim's formula.

    A word of frequency f (relative to the kept vocabulary) is kept with probability
    (sqrt(f / sample) + 1) * sample / f, capped at 1; `sample` >= 1 is an absolute count, 0 disables.
    """
    counts = counts.astype(np.float64)
    retained = counts.sum()
    if not sample:
        return np.full(len(counts), _ONE, dtype=np.int64)
    threshold = sample * retained if sample < 1.0 else sample * (3 + np.sqrt(5)) / 2
    prob = np.minimum((np.sqrt(counts / threshold) + 1) * (threshold / counts), 1.0)
    return np.round(prob * _ONE).astype(np.int64)


def alias_table(counts: np.ndarray, power: float = 0.75) -> tuple[np.ndarray, np.ndarray]:
    """Walker/Vose alias table for drawing word i with probability counts[i]**power / sum.

    Returns (thresholds, aliases): draw a uniform slot i and a uniform 32-bit u; the word is i
    when u < thresholds[i], else aliases[i]. O(1) per draw and exact, unlike word2vec.c's 1e8-slot
    table, and it stays small (8 bytes a word) so it lives in cache.
    """
    weights = counts.astype(np.float64) ** power
    n = len(weights)
    scaled = (weights * (n / weights.sum())).tolist()  # Python floats: this loop is ~5x faster on lists
    thresholds = [_ONE] * n
    aliases = list(range(n))
    small = [i for i in range(n) if scaled[i] < 1.0]
    large = [i for i in range(n) if scaled[i] >= 1.0]
    while small and large:
        s, g = small.pop(), large.pop()
        thresholds[s] = int(scaled[s] * _ONE)
        aliases[s] = g
        scaled[g] -= 1.0 - scaled[s]
        (small if scaled[g] < 1.0 else large).append(g)
    # Whatever is left is 1 up to rounding: always itself.
    return np.array(thresholds, dtype=np.int64), np.array(aliases, dtype=np.int32)
