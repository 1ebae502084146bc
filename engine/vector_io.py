"""Read and write word-vector files: GloVe text, word2vec binary/text, fastText ``.vec``.

Formats (words never contain a space or a newline):

- GloVe text: no header; one ``word v1 ... vdim`` line per word.
- word2vec text and fastText ``.vec``: a ``count dim`` header line, then GloVe-style lines
  (fastText ends every line with a space; trailing whitespace is ignored).
- word2vec binary: the ``count dim`` header, then per word ``word`` + space + ``dim``
  little-endian float32, optionally followed by ``\\n`` (word2vec.c writes one, gensim does not).

Reading is strict: any problem raises one :class:`VectorFileError` naming the file, the line
(text) or vector (binary) and the problem. Decisions, all made for a tagging tool whose words
become labels shown to people and whose vectors feed cosine ranking:

- Duplicate words: the first occurrence is kept and later ones are dropped with a logged
  warning, exactly as gensim does, so both read the same file into the same vectors.
- Invalid UTF-8 in a word is an error (gensim's default ``unicode_errors='strict'``):
  replacing bytes would invent labels and could merge distinct words.
- NaN or infinite values are an error: they poison every cosine score they touch.
- A text file's last line must end with a newline (every tool that writes these files ends it
  so): otherwise a file cut inside a number would pass unnoticed. Trailing blank lines are fine.
- A header's count must match exactly, in both directions (gensim ignores extra text lines).

Text numbers are parsed with pyarrow's CSV reader (a project dependency), about 3.5x faster than
numpy's ``fromstring`` here; any chunk it does not accept is re-parsed by a plain Python parser that
defines the grammar and produces the line-numbered error. Numbers go through float64 and are
then rounded to float32, as gensim does, so both give bit-identical vectors.

Writers are atomic (temporary file in the same folder, then ``os.replace``) and write each
float32 in the shortest decimal form that reads back to the same float32.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np

from tagsight.engine.atomicfile import atomic_open
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

__all__ = [
    "FORMAT_VERSION",
    "VectorFileError",
    "load_vectors_cached",
    "read_vectors",
    "write_glove",
    "write_word2vec",
]

logger = logging.getLogger(__name__)

Format = Literal["glove", "word2vec"]

# Bump when parsing results could change, so older cache entries are never used.
FORMAT_VERSION = 1

_BOM = b"\xef\xbb\xbf"
_TEXT_CHUNK_BYTES = 32 << 20  # text parsed in pieces of about this size: bounded extra memory
_MAX_WORD_BYTES = 1 << 16  # a binary "word" longer than this means garbage or a wrong header
_DETECT_BYTES = 1 << 16
_SCAN_BYTES = 1 << 20  # block size when searching the file for a byte
_BINARY_BLOCK_BYTES = 16 << 20  # binary files are scanned in blocks of at least this size
# Bytes that never occur in text vectors but fill any float32 block (NUL, most C0 controls, DEL).
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NUMBER = re.compile(rb"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|(?i:nan|inf|infinity))")
_LEADING_NEWLINES = re.compile(r"(?:^|(?<= ))\n+")
_GARBAGE_HINT = "not a word2vec binary file, or the header's dimension is wrong"
_LAYOUT_PROBLEM = "line {line} separates its fields by tabs or repeated spaces, not single spaces"
_HEAD_HASH_BYTES = 1 << 20
_WRITE_VALUES = 1 << 22  # values formatted per block by the writers (bounded memory)


class VectorFileError(ValueError):
    """A word-vector file that cannot be read; the message names the file and the problem."""

    def __init__(self, path: Path | str, problem: str, *, line: int | None = None) -> None:
        self.path = Path(path)
        self.problem = problem
        self.line = line
        super().__init__(f"{path}: {problem}")


# ----------------------------------------------------------------------------------------------
# Reading


def read_vectors(
    path: Path, fmt: Format, *, binary: bool | None = None
) -> tuple[list[str], np.ndarray]:
    """Read a vector file into (words, float32 matrix of shape (len(words), dim)).

    ``fmt="glove"`` reads headerless text; ``fmt="word2vec"`` reads word2vec binary or text and
    fastText ``.vec``, telling binary from text by content when ``binary`` is None.
    Raises :class:`VectorFileError` for a malformed file, ``OSError`` when it cannot be opened.
    The file is opened read-only.
    """
    path = Path(path)
    if fmt not in ("glove", "word2vec"):
        raise ValueError(f"unknown vector format {fmt!r}: expected 'glove' or 'word2vec'")
    if fmt == "glove" and binary:
        raise ValueError("GloVe files are text; binary=True only applies to word2vec")
    with open(path, "rb") as f:
        reader = _Reader(path, _FileView(path, f))
        if reader.size == 0:
            raise VectorFileError(path, "the file is empty")
        if fmt == "glove":
            words, matrix, lines = reader.read_glove()
        else:
            words, matrix, lines = reader.read_word2vec(binary)
    return _drop_duplicates(path, words, matrix, lines, "line" if lines is not None else "vector")


class _FileView:
    """Slices and find() on an open file by offset.

    Not mmap: a mapped file that shrinks while it is read (a user replacing it in place) kills the
    process with SIGBUS; here a short read becomes a VectorFileError.
    """

    def __init__(self, path: Path, f: BinaryIO) -> None:
        self.path = path
        self.f = f
        self.size = os.fstat(f.fileno()).st_size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, span: slice) -> bytes:
        start, stop, _ = span.indices(self.size)
        if stop <= start:
            return b""
        self.f.seek(start)
        data = self.f.read(stop - start)
        if len(data) != stop - start:
            raise VectorFileError(self.path, "the file changed while it was being read")
        return data

    def find(self, sub: bytes, start: int, end: int | None = None) -> int:
        """Offset of the first ``sub`` (one byte) in [start, end), or -1; reads in blocks."""
        end = self.size if end is None else min(end, self.size)
        for lo in range(start, end, _SCAN_BYTES):
            i = self[lo : min(lo + _SCAN_BYTES, end)].find(sub)
            if i >= 0:
                return lo + i
        return -1


class _Reader:
    """Parses one file; every check raises a VectorFileError naming the file."""

    def __init__(self, path: Path, buf: _FileView) -> None:
        self.path = path
        self.buf = buf
        self.size = len(buf)

    def fail(self, problem: str, line: int | None = None) -> VectorFileError:
        return VectorFileError(self.path, problem, line=line)

    # -- formats -------------------------------------------------------------------------------

    def read_glove(self) -> tuple[list[str], np.ndarray, int]:
        start = len(_BOM) if self.buf[:3] == _BOM else 0
        end = self.buf.find(b"\n", start)
        first = self.buf[start : end if end >= 0 else self.size].rstrip()
        word, _, rest = first.partition(b" ")
        tokens = rest.split(b" ") if rest else []
        if not first:
            raise self.fail("line 1 is empty", line=1)
        if not word or b"" in tokens or (not tokens and len(first.split()) > 1):
            raise self.fail(_LAYOUT_PROBLEM.format(line=1), line=1)
        if not tokens:
            raise self.fail("line 1 has a word but no values", line=1)
        dim = len(tokens)
        if end >= 0 and _parse_header(first) is not None:
            second_end = self.buf.find(b"\n", end + 1)
            second = self.buf[end + 1 : second_end if second_end >= 0 else self.size].rstrip()
            if second and len(second.split(b" ")) - 1 != dim:
                raise self.fail(
                    f"line 1 looks like a word2vec header ({first.decode(errors='replace')!r}); "
                    "GloVe files have none: read this file as word2vec",
                    line=1,
                )
        words, matrix = self.read_text(start, first_line=1, dim=dim, count=None)
        return words, matrix, 1

    def read_word2vec(self, binary: bool | None) -> tuple[list[str], np.ndarray, int | None]:
        start = len(_BOM) if self.buf[:3] == _BOM else 0
        end = self.buf.find(b"\n", start, start + 4096)
        line = self.buf[start : end if end >= 0 else start + 80]
        header = _parse_header(line.rstrip()) if end >= 0 else None
        if header is None:
            hint = ""
            if end >= 0 and not _CONTROL.search(line) and len(line.split()) > 2:
                hint = " (GloVe files have no header: read this file as glove)"
            raise self.fail(
                f"line 1 should be a header 'count dim', found {_show(line)}{hint}", line=1
            )
        count, dim = header
        if count == 0 or dim == 0:
            raise self.fail(f"the header says {count} vectors of dimension {dim}", line=1)
        data = end + 1
        if binary is None:
            binary = self._looks_binary(data, dim)
        if binary:
            words, matrix = self.read_binary(data, count, dim)
            return words, matrix, None
        words, matrix = self.read_text(data, first_line=2, dim=dim, count=count)
        return words, matrix, 2

    def _looks_binary(self, data: int, dim: int) -> bool:
        """Text if the first entry is a text line; else binary if control bytes show up."""
        end = self.buf.find(b"\n", data, data + _DETECT_BYTES)
        if end >= 0:
            word, _, rest = self.buf[data:end].rstrip(b" \t\r").partition(b" ")
            tokens = rest.split(b" ")
            if word and len(tokens) == dim and all(_NUMBER.fullmatch(t) for t in tokens):
                return False
        # Any float32 block holds NUL or other control bytes; text vectors (almost) never do.
        return _CONTROL.search(self.buf[data : data + _DETECT_BYTES]) is not None

    # -- text ----------------------------------------------------------------------------------

    def read_text(
        self, start: int, *, first_line: int, dim: int, count: int | None
    ) -> tuple[list[str], np.ndarray]:
        last = self._last_content_byte(start)
        if last < start:
            claim = f"the header says {count} vectors but " if count is not None else ""
            raise self.fail(f"{claim}the file holds no vectors")
        complete = self._count_newlines(start, last)
        newline = self.buf.find(b"\n", last)
        if newline < 0:
            line = first_line + complete
            raise self.fail(
                f"line {line} does not end with a newline: the file looks truncated", line=line
            )
        n_rows = complete + 1
        if count is not None and n_rows != count:
            raise self.fail(
                f"the header says {count} vectors but the file has {n_rows} "
                f"(lines {first_line}-{first_line + n_rows - 1})"
                + (": truncated, or a wrong header?" if n_rows < count else ""),
                line=1,
            )
        matrix = np.empty((n_rows, dim), dtype=np.float32)
        words: list[str] = []
        pos, end = start, newline + 1
        while pos < end:
            chunk = self.buf[pos : min(pos + _TEXT_CHUNK_BYTES, end)]
            stop = chunk.rfind(b"\n") + 1
            if stop:
                chunk = chunk[:stop]
            else:  # one line longer than a chunk
                chunk = self.buf[pos : self.buf.find(b"\n", pos + len(chunk)) + 1]
            line0 = first_line + len(words)
            row0 = len(words)
            n = chunk.count(b"\n")
            raw = _parse_text_fast(chunk, n, dim, matrix[row0 : row0 + n])
            if raw is None:
                raw = self._parse_text_slow(chunk, line0, dim, matrix[row0 : row0 + n])
            words.extend(self._decode_words(raw, line0, "line"))
            pos += len(chunk)
        self._check_finite(matrix, first_line, "line", words)
        return words, matrix

    def _parse_text_slow(
        self, chunk: bytes, line0: int, dim: int, out: np.ndarray
    ) -> list[bytes]:
        """The reference grammar, used where the fast parser refuses a chunk: names the bad line."""
        words: list[bytes] = []
        with np.errstate(over="ignore"):  # too large for float32 -> inf, reported later
            for i, line in enumerate(chunk.split(b"\n")[:-1]):
                self._parse_line(line, line0 + i, dim, out[i], words)
        return words

    def _parse_line(self, line: bytes, no: int, dim: int, out: np.ndarray, words: list[bytes]) -> None:
        line = line.rstrip(b" \t\r")  # fastText's trailing space, CRLF
        word, _, rest = line.partition(b" ")
        if not line:
            raise self.fail(f"line {no} is empty", line=no)
        if not word:
            raise self.fail(f"line {no} starts with a space: no word", line=no)
        values = rest.split(b" ") if rest else []
        if len(values) != dim:
            if len(line.split()) - 1 == dim:
                raise self.fail(_LAYOUT_PROBLEM.format(line=no), line=no)
            raise self.fail(f"line {no} has {len(values)} values, expected {dim}", line=no)
        for j, token in enumerate(values):
            try:
                if b"_" in token:  # float() accepts 1_000; no vector file means that
                    raise ValueError
                out[j] = float(token)
            except ValueError:
                raise self.fail(
                    f"line {no} value {j + 1} is not a number: {_show(token)}", line=no
                ) from None
        words.append(word)

    def _last_content_byte(self, start: int) -> int:
        """Index of the last byte that is not whitespace (trailing blank lines are allowed)."""
        pos = self.size
        while pos > start:
            lo = max(start, pos - 4096)
            block = self.buf[lo:pos].rstrip(b" \t\r\n")
            if block:
                return lo + len(block) - 1
            pos = lo
        return start - 1

    def _count_newlines(self, start: int, end: int) -> int:
        return sum(
            self.buf[a : min(a + _TEXT_CHUNK_BYTES, end)].count(b"\n")
            for a in range(start, end, _TEXT_CHUNK_BYTES)
        )

    # -- binary --------------------------------------------------------------------------------

    def read_binary(self, start: int, count: int, dim: int) -> tuple[list[str], np.ndarray]:
        nbytes = 4 * dim
        block_bytes = max(_BINARY_BLOCK_BYTES, 2 * (_MAX_WORD_BYTES + 2 + nbytes))
        raw_words: list[bytes] = []
        blocks: list[bytes] = []
        pos, n = start, 0
        while n < count:
            block = self.buf[pos : pos + block_bytes]
            find, local, limit = block.find, 0, len(block)
            # The cost is this loop: one find and two slices per vector, nothing more.
            while n < count:
                space = find(b" ", local, local + _MAX_WORD_BYTES + 2)  # "\n" + word + " "
                end = space + 1 + nbytes
                if space < 0 or end > limit:
                    break
                raw_words.append(block[local:space])
                blocks.append(block[space + 1 : end])
                local, n = end, n + 1
            pos += local
            if n < count and (local == 0 or pos + limit - local >= self.size):
                problem = self._binary_cut(pos, n, count, dim)
                self._binary_entries(raw_words, blocks, dim)  # garbage earlier is the real story
                raise problem
        words, matrix = self._binary_entries(raw_words, blocks, dim)
        rest = self.buf[pos : pos + 4096].strip(b"\r\n")
        if rest or self.size - pos > 4096:
            raise self.fail(
                f"the header says {count} vectors but more data follows vector {count} "
                f"(byte {pos} of {self.size})"
            )
        return words, matrix

    def _binary_entries(
        self, raw_words: list[bytes], blocks: list[bytes], dim: int
    ) -> tuple[list[str], np.ndarray]:
        """Check and convert the entries read so far; garbage shows up here as bad words."""
        # Words hold no spaces, so all of them are checked and decoded joined, in C.
        try:
            text = b" ".join(raw_words).decode("utf-8")
        except UnicodeDecodeError:
            self._decode_words([w.lstrip(b"\n") for w in raw_words], 1, "vector")  # names it
            raise
        if "\n" in text:  # word2vec.c ends each vector with "\n", which starts the next word
            text = _LEADING_NEWLINES.sub("", text)
        words = text.split(" ")
        if "\n" in text or "" in words:
            i = next(i for i, w in enumerate(words) if not w or "\n" in w)
            raise self.fail(
                f"vector {i + 1} has {'an empty word' if not words[i] else 'a newline in its word'}"
                f": {_GARBAGE_HINT}"
            )
        matrix = np.frombuffer(b"".join(blocks), dtype="<f4").reshape(len(blocks), dim)
        matrix = matrix.astype(np.float32)  # native order, writable, owns its memory
        self._check_finite(matrix, 1, "vector", words)
        return words, matrix

    def _binary_cut(self, pos: int, n: int, count: int, dim: int) -> VectorFileError:
        """The error for binary entry n + 1, at ``pos``, which has no word or too few bytes."""
        head = self.buf[pos : pos + _MAX_WORD_BYTES + 2]
        skipped = len(head) - len(head.lstrip(b"\n"))  # point at the word, not the newline
        pos, head = pos + skipped, head[skipped:]
        if not head.strip(b"\r\n") and pos + len(head) >= self.size:
            return self.fail(
                f"the header says {count} vectors but the file ends after {n}: "
                "truncated, or a wrong header?"
            )
        space = head.find(b" ", 0, _MAX_WORD_BYTES + 1)
        if space >= 0:
            left = self.size - (pos + space + 1)
            return self.fail(
                f"vector {n + 1} ({_show(head[:space])}, byte {pos}) is cut off: needs "
                f"{4 * dim} bytes of values, {left} left: the file looks truncated"
            )
        if self.size - pos <= _MAX_WORD_BYTES:
            return self.fail(
                f"vector {n + 1} (byte {pos}) is cut off before its values: "
                "the file looks truncated"
            )
        return self.fail(
            f"no word found at byte {pos} (vector {n + 1}): {_GARBAGE_HINT}"
        )

    # -- shared checks -------------------------------------------------------------------------

    def _decode_words(self, raw: list[bytes], first: int, unit: str) -> list[str]:
        try:
            return b"\n".join(raw).decode("utf-8").split("\n")
        except UnicodeDecodeError:
            for i, word in enumerate(raw):
                try:
                    word.decode("utf-8")
                except UnicodeDecodeError as e:
                    hint = f" ({_GARBAGE_HINT}?)" if unit == "vector" else ""
                    raise self.fail(
                        f"{unit} {first + i}: the word {_show(word)} is not valid UTF-8 "
                        f"(byte {e.start}){hint}",
                        line=first + i if unit == "line" else None,
                    ) from None
            raise

    def _check_finite(self, matrix: np.ndarray, first: int, unit: str, words: list[str]) -> None:
        finite = np.isfinite(matrix).all(axis=1)
        if not finite.all():
            row = int(np.argmin(finite))
            bad = matrix[row][~np.isfinite(matrix[row])][0]
            hint = f" ({_GARBAGE_HINT}?)" if unit == "vector" else ""
            raise self.fail(
                f"{unit} {first + row} ({words[row]!r}) has a value that is NaN, infinite "
                f"or too large for float32 ({bad}){hint}",
                line=first + row if unit == "line" else None,
            )


_CSV_READ = pa_csv.ReadOptions(autogenerate_column_names=True)
_CSV_PARSE = pa_csv.ParseOptions(
    delimiter=" ",
    quote_char=False,
    escape_char=False,
    double_quote=False,
    newlines_in_values=False,
    ignore_empty_lines=False,
)


def _parse_text_fast(chunk: bytes, n_lines: int, dim: int, out: np.ndarray) -> list[bytes] | None:
    """Parse well-formed lines with pyarrow into ``out``; None when anything is unusual."""
    types = {f"f{j}": pa.float64() for j in range(1, dim + 1)}
    types["f0"] = types[f"f{dim + 1}"] = pa.binary()  # the word; fastText's trailing space
    convert = pa_csv.ConvertOptions(
        column_types=types,
        null_values=[],
        true_values=[],
        false_values=[],
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    try:
        table = pa_csv.read_csv(
            pa.BufferReader(chunk), read_options=_CSV_READ, parse_options=_CSV_PARSE,
            convert_options=convert,
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    # Row count guards against a lone \r (pyarrow ends a row there, the grammar does not).
    if table.num_rows != n_lines or table.num_columns not in (dim + 1, dim + 2):
        return None
    if table.num_columns == dim + 2 and pc.max(pc.binary_length(table.column(dim + 1))).as_py():
        return None
    words = table.column(0).to_pylist()
    if not all(words):  # an empty word: let the slow parser name the line
        return None
    # Contiguous column writes, then one transposing copy: twice as fast as strided writes.
    columns = np.empty((dim, n_lines), dtype=np.float32)
    with np.errstate(over="ignore"):  # too large for float32 -> inf, reported by the caller
        for j in range(dim):
            columns[j] = table.column(j + 1).to_numpy()
    out[:] = columns.T
    return words


def _parse_header(line: bytes) -> tuple[int, int] | None:
    parts = line.split()
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None
    return int(parts[0]), int(parts[1])


def _show(raw: bytes, limit: int = 40) -> str:
    """A short printable rendering of file bytes for error messages."""
    text = raw[:limit].decode("utf-8", errors="backslashreplace")
    return repr(text + ("..." if len(raw) > limit else ""))


def _drop_duplicates(
    path: Path, words: list[str], matrix: np.ndarray, first: int | None, unit: str
) -> tuple[list[str], np.ndarray]:
    """Keep the first occurrence of each word, as gensim does."""
    if len(set(words)) == len(words):
        return words, matrix
    index: dict[str, int] = {}
    for i, word in enumerate(words):
        index.setdefault(word, i)
    keep = np.fromiter(index.values(), dtype=np.intp, count=len(index))
    dropped = np.setdiff1d(np.arange(len(words)), keep)
    example = int(dropped[0])
    base = first if first is not None else 1
    logger.warning(
        "%s: %d duplicate words ignored, keeping each word's first vector (as gensim does); "
        "first: %r at %s %d, already at %s %d",
        path, len(dropped), words[example], unit, base + example, unit,
        base + index[words[example]],
    )
    return list(index), matrix[keep]


# ----------------------------------------------------------------------------------------------
# Writing


def write_word2vec(
    path: Path, words: Sequence[str], matrix: np.ndarray, *, binary: bool = True
) -> None:
    """Write word2vec binary (word2vec.c layout: a newline after each vector) or text, atomically."""
    words, values = _check_for_writing(words, matrix)
    rows = max(1, _WRITE_VALUES // values.shape[1])
    with atomic_open(Path(path), "wb") as f:
        f.write(f"{len(words)} {values.shape[1]}\n".encode())
        for lo in range(0, len(words), rows):
            block, chunk = values[lo : lo + rows], words[lo : lo + rows]
            if binary:
                data = block.astype("<f4", copy=False).tobytes()
                step = 4 * block.shape[1]
                parts: list[bytes] = []
                for i, word in enumerate(chunk):
                    parts += (word.encode("utf-8"), b" ", data[i * step : (i + 1) * step], b"\n")
                f.write(b"".join(parts))
            else:
                f.write(_format_text_rows(chunk, block))


def write_glove(path: Path, words: Sequence[str], matrix: np.ndarray) -> None:
    """Write GloVe text (no header), atomically."""
    words, values = _check_for_writing(words, matrix)
    rows = max(1, _WRITE_VALUES // values.shape[1])
    with atomic_open(Path(path), "wb") as f:
        for lo in range(0, len(words), rows):
            f.write(_format_text_rows(words[lo : lo + rows], values[lo : lo + rows]))


def _check_for_writing(words: Sequence[str], matrix: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Refuse what our reader (or gensim) would refuse or misread; returns words, float32 rows."""
    values = np.asarray(matrix)
    if values.ndim != 2 or values.shape[1] == 0:
        raise ValueError(f"matrix must be 2-D with at least one column, got shape {values.shape}")
    if len(words) != values.shape[0]:
        raise ValueError(f"{len(words)} words but {values.shape[0]} matrix rows")
    if len(words) == 0:
        raise ValueError("no vectors to write")
    if not np.issubdtype(values.dtype, np.floating) and not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"matrix must hold real numbers, got dtype {values.dtype}")
    with np.errstate(over="ignore"):
        values = np.ascontiguousarray(values, dtype=np.float32)
    finite = np.isfinite(values).all(axis=1)
    if not finite.all():
        row = int(np.argmin(finite))
        raise ValueError(f"row {row} ({words[row]!r}) has a value that is not a finite float32")
    words = list(words)
    # One pass over all words joined; find the culprit only when something is wrong.
    if not all(isinstance(w, str) for w in words):
        i = next(i for i, w in enumerate(words) if not isinstance(w, str))
        raise ValueError(f"word {i} is {type(words[i]).__name__}, not str")
    joined = "\n".join(words)
    if " " in joined or "\r" in joined or joined.count("\n") != len(words) - 1 or not all(words):
        i = next(i for i, w in enumerate(words) if not w or any(c in w for c in " \n\r"))
        raise ValueError(f"word {i} ({words[i]!r}) must be non-empty, without spaces or newlines")
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError as e:
        i = joined.count("\n", 0, e.start)
        raise ValueError(f"word {i} ({words[i]!r}) cannot be encoded as UTF-8: {e.reason}") from None
    if len(set(words)) != len(words):
        raise ValueError("duplicate words: readers would keep only the first of each")
    return words, values


def _format_text_rows(words: list[str], block: np.ndarray) -> pa.Buffer:
    """``word v1 ... vdim\\n`` lines; each value in the shortest form that reads back exactly."""
    columns = []
    for j in range(block.shape[1]):
        column = np.ascontiguousarray(block[:, j])
        columns.append(_exact_decimals(pc.cast(pa.array(column), pa.string()), column))
    lines = pc.binary_join_element_wise(pa.array(words, pa.string()), *columns, " ")
    lines = pc.binary_join_element_wise(lines, pa.scalar(""), "\n")  # "line" + "\n" + ""
    # The rows lie back to back in the data buffer: exactly the text to write.
    _, offsets, data = lines.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int32)[[lines.offset, lines.offset + len(lines)]]
    return data.slice(int(bounds[0]), int(bounds[1] - bounds[0]))


def _exact_decimals(text: pa.Array, column: np.ndarray) -> pa.Array:
    """``text`` (Arrow's shortest float32 forms), with any that does not read back exactly fixed.

    Readers (ours, gensim) parse to float64 and then round to float32; a shortest form could in
    theory be hit by that double rounding, so each value is checked and, if needed, written
    with 9 significant digits, which always survive it.
    """
    back = pc.cast(text, pa.float64()).to_numpy().astype(np.float32)
    wrong = np.flatnonzero(back.view(np.uint32) != column.view(np.uint32))
    if not len(wrong):
        return text
    fixed = text.to_pylist()
    for i in wrong:
        fixed[i] = "%.9g" % column[i]
    return pa.array(fixed, pa.string())


# ----------------------------------------------------------------------------------------------
# Cache


def load_vectors_cached(path: Path, fmt: Format, cache_dir: Path) -> tuple[list[str], np.ndarray]:
    """:func:`read_vectors`, remembered in ``cache_dir``; the matrix comes back memory-mapped.

    The cache key hashes the resolved path, size, mtime_ns, a SHA-256 of the first MiB, the
    format and :data:`FORMAT_VERSION`, so a changed file is never served from the cache (short
    of a same-size rewrite past the first MiB that also restores mtime_ns). Entries are written
    as ``<key>.npy`` + ``<key>.words`` and only ever replaced whole (``os.replace``), so a
    mapping of an older entry stays valid. The returned matrix is read-only. A cache that cannot
    be written only costs speed. Raises as :func:`read_vectors` does.
    """
    path, cache_dir = Path(path), Path(cache_dir)
    state = _file_state(path)
    prefix, key = _cache_key(path.resolve(), fmt, state)
    matrix_file = cache_dir / f"{key}.npy"
    words_file = cache_dir / f"{key}.words"
    cached = _load_cache(matrix_file, words_file)
    if cached is not None:
        return cached
    words, matrix = read_vectors(path, fmt)
    if _file_state(path) != state:
        logger.warning("%s changed while it was read; not caching it", path)
        return words, matrix
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        # The words file first: the matrix file appearing marks a complete entry.
        with atomic_open(words_file, "wb") as f:
            f.write("".join(w + "\n" for w in words).encode("utf-8"))
        with atomic_open(matrix_file, "wb") as f:
            np.save(f, matrix, allow_pickle=False)
    except OSError as e:
        logger.warning("could not cache %s in %s: %s", path, cache_dir, e)
        return words, matrix
    _remove_stale(cache_dir, prefix, key)
    return words, np.load(matrix_file, mmap_mode="r", allow_pickle=False)


def _file_state(path: Path) -> tuple[int, int, str]:
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        head = hashlib.sha256(f.read(_HEAD_HASH_BYTES)).hexdigest()
    return st.st_size, st.st_mtime_ns, head


def _cache_key(resolved: Path, fmt: str, state: tuple[int, int, str]) -> tuple[str, str]:
    """(prefix, key): the prefix names the file, so stale entries of that file can be removed."""
    prefix = hashlib.sha256(f"{resolved}\0{fmt}".encode("utf-8", "surrogateescape")).hexdigest()[:16]
    size, mtime_ns, head = state
    full = f"{resolved}\0{size}\0{mtime_ns}\0{head}\0{fmt}\0{FORMAT_VERSION}"
    digest = hashlib.sha256(full.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return prefix, f"{prefix}-{digest}"


def _load_cache(matrix_file: Path, words_file: Path) -> tuple[list[str], np.ndarray] | None:
    if not matrix_file.exists():
        return None
    try:
        matrix = np.load(matrix_file, mmap_mode="r", allow_pickle=False)
        words = words_file.read_bytes().decode("utf-8").split("\n")
    except (OSError, ValueError) as e:  # UnicodeDecodeError is a ValueError
        logger.warning("ignoring unreadable cache entry %s: %s", matrix_file, e)
        return None
    if words.pop() != "" or matrix.dtype != np.float32 or matrix.ndim != 2 or len(words) != len(matrix):
        logger.warning("ignoring inconsistent cache entry %s", matrix_file)
        return None
    return words, matrix


def _remove_stale(cache_dir: Path, prefix: str, key: str) -> None:
    """Delete older entries for the same file; they can never be used again."""
    for old in cache_dir.glob(f"{prefix}-*"):
        if not old.name.startswith(key + "."):
            try:
                old.unlink()
            except OSError:  # e.g. still mapped on Windows; harmless
                pass
