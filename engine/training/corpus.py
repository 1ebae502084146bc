"""Streaming plain-text corpora as sentences of tokens.

Tokenization rules (deliberately simple, the same as gensim's `LineSentence` plus lowercasing):

- files are UTF-8 (a leading byte-order mark is ignored); each line is one sentence;
- the text is lowercased, then split on runs of whitespace (`str.split()`); punctuation is not
  removed, so "dog," and "dog" are different tokens: pre-tokenize text that needs more care;
- a sentence longer than `MAX_SENTENCE_WORDS` tokens is cut into pieces of that length, and a line
  longer than `BLOCK_BYTES` is cut at its last whitespace inside the block; context windows never
  cross such cuts (gensim does the same at 10,000 tokens);
- a file holding a NUL byte, or bytes that are not UTF-8, is rejected with a `CorpusError` that names
  the file and the byte offset.

Files are read in blocks, so memory use does not depend on the size of a file or of its lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from os import PathLike
from pathlib import Path

MAX_SENTENCE_WORDS = 10_000
BLOCK_BYTES = 1 << 20
_BOM = b"\xef\xbb\xbf"
_WHITESPACE = b" \t\r\n\v\f"

StrPath = str | PathLike[str]


class CorpusError(ValueError):
    """The corpus cannot be used for training: binary data, bad encoding, or too few words."""


def iter_sentences(paths: Iterable[StrPath]) -> Iterator[list[str]]:
    """Yield the sentences (non-empty lists of tokens) of each file in turn."""
    for path in paths:
        for _, sentences in iter_blocks(Path(path)):
            yield from sentences


def iter_blocks(path: Path) -> Iterator[tuple[int, list[list[str]]]]:
    """Yield (bytes of the file read so far, sentences) a block (about `BLOCK_BYTES`) at a time.

    Batching by block keeps the per-sentence Python overhead of callers low.
    """
    offset = 0  # byte offset in the file of the first byte of `pending`
    pending = b""
    with open(path, "rb") as handle:
        first = True
        while True:
            block = handle.read(BLOCK_BYTES)
            if first and block.startswith(_BOM):
                block = block[len(_BOM) :]
                offset = len(_BOM)
            first = False
            if b"\0" in block:
                at = offset + len(pending) + block.index(b"\0")
                raise CorpusError(f"{path}: NUL byte at offset {at}: this is binary data, not a plain-text corpus")
            data = pending + block
            if not block:  # end of file: everything left is the last line
                if data:
                    yield offset + len(data), _sentences(path, data, offset)
                return
            cut = data.rfind(b"\n") + 1
            if cut == 0 and len(data) >= BLOCK_BYTES:  # a line longer than a block: cut it at a space
                cut = _last_whitespace(data) + 1
                if cut == 0:
                    raise CorpusError(
                        f"{path}: no whitespace in {len(data)} bytes at offset {offset}: not a plain-text corpus"
                    )
            if cut == 0:
                pending = data
                continue
            yield offset + cut, _sentences(path, data[:cut], offset)
            pending = data[cut:]
            offset += cut


def _last_whitespace(data: bytes) -> int:
    return max(data.rfind(c) for c in (b" ", b"\t", b"\r", b"\v", b"\f"))


def _sentences(path: Path, data: bytes, offset: int) -> list[list[str]]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise CorpusError(
            f"{path}: bytes at offset {offset + err.start} are not UTF-8 ({err.reason}): "
            "is this a binary file, or text in another encoding?"
        ) from None
    sentences = []
    for line in text.lower().split("\n"):
        tokens = line.split()
        if len(tokens) <= MAX_SENTENCE_WORDS:
            if tokens:
                sentences.append(tokens)
        else:
            sentences.extend(tokens[i : i + MAX_SENTENCE_WORDS] for i in range(0, len(tokens), MAX_SENTENCE_WORDS))
    return sentences
