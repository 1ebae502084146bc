"""Compiled inner loops: one call trains one chunk of sentences, without the GIL.

Several Python threads call `train_chunk` at once on the same weight arrays, without locks
("Hogwild"), as word2vec.c and gensim do: an update lost now and then in a race does not hurt SGD.

Everything is float32; scalars are kept float32 explicitly because numba would otherwise promote
to float64 and the loops would no longer vectorize. Random numbers come from xorshift64*, seeded per
chunk, so a run with one worker is reproducible.
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit

# Sigmoid and log-sigmoid tables over [-MAX_EXP, MAX_EXP], as in word2vec.c; outside it the
# sigmoid is clipped to 0 or 1 (a full-size gradient), where gensim skips the example instead
# (clipping keeps training when a frozen base space has large norms). Measured: computing exp()
# exactly made skip-gram about 35% slower, for no quality gain.
MAX_EXP = 6.0
TABLE_SIZE = 1024
_x = (np.arange(TABLE_SIZE, dtype=np.float64) + 0.5) / TABLE_SIZE * 2 * MAX_EXP - MAX_EXP
SIGMOID = (1.0 / (1.0 + np.exp(-_x))).astype(np.float32)
LOG_SIGMOID = (-np.log1p(np.exp(-_x))).astype(np.float32)
_SCALE = np.float32(TABLE_SIZE / (2 * MAX_EXP))
_MAX = np.float32(MAX_EXP)
_ONEF = np.float32(1.0)
_ZEROF = np.float32(0.0)

_M32 = np.uint64(0xFFFFFFFF)
_S12 = np.uint64(12)
_S25 = np.uint64(25)
_S27 = np.uint64(27)
_S32 = np.uint64(32)
_MULT = np.uint64(0x2545F4914F6CDD1D)
_MASK64 = (1 << 64) - 1


def seed_state(seed: int, stream: int) -> np.uint64:
    """splitmix64 of (seed, stream): a well-mixed, non-zero xorshift state for one chunk."""
    z = (seed * 0x9E3779B97F4A7C15 + (stream + 1) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    z ^= z >> 31
    return np.uint64(z or 0x9E3779B97F4A7C15)


@njit(inline="always")
def _next(state):
    # xorshift64*: returns (new state, 64 random bits; the high 32 are the good ones).
    state ^= state >> _S12
    state ^= state << _S25
    state ^= state >> _S27
    return state, state * _MULT


@njit(inline="always")
def _below(bits, n):
    # Uniform integer in [0, n) from the high 32 bits (multiply-shift, no division).
    return np.int64(((bits >> _S32) * np.uint64(n)) >> _S32)


@njit(inline="always")
def _negative(state, thresholds, aliases):
    # One draw from the alias table: the slot from the high 32 bits, the coin from the low 32.
    state, bits = _next(state)
    slot = _below(bits, thresholds.shape[0])
    if np.int64(bits & _M32) < thresholds[slot]:
        return state, slot
    return state, np.int64(aliases[slot])


@njit(inline="always")
def _grad_loss(f, label, alpha, sigmoid, log_sigmoid):
    # (gradient scale, loss) for one logistic example; loss = -log sigmoid(+-f).
    z = f if label > _ZEROF else -f
    if f >= _MAX:
        s = _ONEF
    elif f <= -_MAX:
        s = _ZEROF
    else:
        s = sigmoid[np.int64((f + _MAX) * _SCALE)]
    if z >= _MAX:
        loss = _ZEROF
    elif z <= -_MAX:
        loss = -z
    else:
        loss = -log_sigmoid[np.int64((z + _MAX) * _SCALE)]
    return (label - s) * alpha, loss


@njit(inline="always")
def _train_target(hidden, work, syn1, center, negative, alpha, state, thresholds, aliases, sigmoid, log_sigmoid):
    """Positive example `center` plus `negative` noise words against the input vector `hidden`.

    Accumulates the input-side gradient in `work`, updates output vectors in place.
    """
    dim = hidden.shape[0]
    loss = 0.0
    for d in range(negative + 1):
        if d == 0:
            target = center
            label = _ONEF
        else:
            state, target = _negative(state, thresholds, aliases)
            if target == center:
                continue
            label = _ZEROF
        out = syn1[target]
        f = _ZEROF
        for k in range(dim):
            f += hidden[k] * out[k]
        g, example_loss = _grad_loss(f, label, alpha, sigmoid, log_sigmoid)
        loss += example_loss
        for k in range(dim):
            work[k] += g * out[k]
        for k in range(dim):
            out[k] += g * hidden[k]
    return state, loss


@njit(cache=True, nogil=True, fastmath=True)
def train_chunk(
    ids: np.ndarray,
    ends: np.ndarray,
    syn0: np.ndarray,
    syn1: np.ndarray,
    lockf: np.ndarray,
    keep: np.ndarray,
    thresholds: np.ndarray,
    aliases: np.ndarray,
    sg: bool,
    window: int,
    negative: int,
    alpha_start: float,
    alpha_end: float,
    state: np.uint64,
    sigmoid: np.ndarray,
    log_sigmoid: np.ndarray,
) -> tuple[float, int, int]:
    """Train on the sentences ids[ends[s-1]:ends[s]]; returns (loss sum, examples, words kept).

    Words are first subsampled (kept with probability keep[w] / 2**32), then each kept word gets
    a window shrunk uniformly to 1..window. Skip-gram: each context word's input vector predicts
    the centre word. CBOW: the mean of the context input vectors predicts it, and every context
    vector receives the whole gradient (word2vec.c, gensim cbow_mean=1). The learning rate falls
    linearly from alpha_start to alpha_end across the chunk. lockf[w] scales input-vector updates
    (0 freezes a word).
    """
    dim = syn0.shape[1]
    n = ids.shape[0]
    work = np.empty(dim, np.float32)
    hidden = np.empty(dim, np.float32)
    kept = np.empty(n, np.int64)
    a0 = np.float32(alpha_start)
    da = np.float32(alpha_end) - a0
    loss = 0.0
    examples = 0
    words = 0
    start = 0
    for s in range(ends.shape[0]):
        end = ends[s]
        m = 0
        for p in range(start, end):
            w = ids[p]
            state, bits = _next(state)
            if np.int64(bits >> _S32) < keep[w]:
                kept[m] = w
                m += 1
        words += m
        alpha = a0 + da * np.float32(start / n)
        start = end
        for i in range(m):
            state, bits = _next(state)
            reach = window - _below(bits, window)
            lo = max(0, i - reach)
            hi = min(m, i + reach + 1)
            center = kept[i]
            if sg:
                for j in range(lo, hi):
                    if j == i:
                        continue
                    word = kept[j]
                    vec = syn0[word]
                    work[:] = _ZEROF
                    state, pair_loss = _train_target(
                        vec, work, syn1, center, negative, alpha, state, thresholds, aliases, sigmoid, log_sigmoid
                    )
                    loss += pair_loss
                    examples += 1
                    lock = lockf[word]
                    if lock != _ZEROF:
                        for k in range(dim):
                            vec[k] += lock * work[k]
            else:
                count = hi - lo - 1
                if count == 0:
                    continue
                hidden[:] = _ZEROF
                for j in range(lo, hi):
                    if j != i:
                        vec = syn0[kept[j]]
                        for k in range(dim):
                            hidden[k] += vec[k]
                inv = _ONEF / np.float32(count)
                for k in range(dim):
                    hidden[k] *= inv
                work[:] = _ZEROF
                state, pair_loss = _train_target(
                    hidden, work, syn1, center, negative, alpha, state, thresholds, aliases, sigmoid, log_sigmoid
                )
                loss += pair_loss
                examples += 1
                for j in range(lo, hi):
                    if j != i:
                        word = kept[j]
                        lock = lockf[word]
                        if lock != _ZEROF:
                            vec = syn0[word]
                            for k in range(dim):
                                vec[k] += lock * work[k]
    return loss, examples, words


def warm_up() -> float:
    """Compile the kernels (or load them from numba's on-disk cache); returns the seconds it took."""
    started = time.perf_counter()
    syn = np.zeros((2, 4), np.float32)
    ids = np.zeros(3, np.int32)
    ends = np.array([3], np.int64)
    ones = np.ones(2, np.float32)
    keep = np.full(2, 1 << 32, np.int64)
    for sg in (True, False):
        train_chunk(
            ids, ends, syn, syn.copy(), ones, keep, keep, np.arange(2, dtype=np.int32), sg, 2, 1,
            0.025, 0.025, seed_state(1, 0), SIGMOID, LOG_SIGMOID,
        )  # fmt: skip
    return time.perf_counter() - started
