"""Reading, writing and caching word-vector files, checked against real files and gensim."""

from __future__ import annotations

import logging
import os
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from tagsight.engine import vector_io
from tagsight.engine.vector_io import (
    VectorFileError,
    load_vectors_cached,
    read_vectors,
    write_glove,
    write_word2vec,
)

# Quotes, '#', a no-break space and a line separator: none may split a word or a line.
WORDS = ["the", "naïve", "日本", "don't", '"quoted"', "a\u00a0b", "#hash", "x\u2028ray"]


@pytest.fixture(scope="module")
def gensim_kv():
    """gensim's KeyedVectors: the test-time reference (never imported by the engine)."""
    return pytest.importorskip("gensim.models").KeyedVectors


def sample_matrix(n: int = len(WORDS), dim: int = 7, seed: int = 0) -> np.ndarray:
    """float32 values over a wide range, where a careless text format would lose bits."""
    rng = np.random.default_rng(seed)
    scale = 10.0 ** rng.integers(-12, 12, size=(n, dim))
    matrix = (rng.standard_normal((n, dim)) * scale).astype(np.float32)
    matrix[0, :3] = [0.0, -0.0, 1.0]
    matrix[1, :3] = [np.float32(1e-38), np.float32(3.4e38), np.float32(-1.2345678e-7)]
    return matrix


def w2v_binary(words: list[str], rows: list[list[float]], *, count: int | None = None,
               dim: int | None = None, newline: bool = True) -> bytes:
    """A word2vec binary built by hand, independent of the writer under test."""
    dim = len(rows[0]) if dim is None else dim
    out = f"{len(words) if count is None else count} {dim}\n".encode()
    for word, row in zip(words, rows):
        out += word.encode() + b" " + struct.pack(f"<{len(row)}f", *row) + (b"\n" if newline else b"")
    return out


def assert_same(got: tuple[list[str], np.ndarray], words: list[str], matrix: np.ndarray) -> None:
    got_words, got_matrix = got
    assert got_words == list(words)
    assert got_matrix.dtype == np.float32 and got_matrix.shape == matrix.shape
    # Bit-identical, so -0.0 and the last ulp count.
    assert np.array_equal(got_matrix.view(np.uint32), np.asarray(matrix, np.float32).view(np.uint32))


def read_error(path: Path, fmt: str, **kwargs) -> VectorFileError:
    """Read a bad file; check one VectorFileError naming it and that the file is untouched."""
    before, stat = path.read_bytes(), path.stat()
    with pytest.raises(VectorFileError) as info:
        read_vectors(path, fmt, **kwargs)
    assert str(info.value).startswith(f"{path}: ")
    assert info.value.path == path
    assert path.read_bytes() == before and path.stat().st_mtime_ns == stat.st_mtime_ns
    return info.value


# ---------------------------------------------------------------------------------------------
# Good files


def test_glove_text_without_header(tmp_path: Path) -> None:
    path = tmp_path / "glove.txt"
    path.write_bytes("the 0.418 0.24968 -0.41242\n, 0.013441 0.23682 -0.16899\nnaïve 1 -2e-05 3E+2\n".encode())
    assert_same(read_vectors(path, "glove"), ["the", ",", "naïve"],
                np.array([[0.418, 0.24968, -0.41242], [0.013441, 0.23682, -0.16899], [1, -2e-05, 300]],
                         np.float32))


def test_fasttext_vec_with_trailing_spaces_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "wiki.vec"
    path.write_bytes(b"2 3\nthe 0.1 0.2 0.3 \n</s> -1 -2 -3 \n")  # fastText ends lines with a space
    assert_same(read_vectors(path, "word2vec"), ["the", "</s>"],
                np.array([[0.1, 0.2, 0.3], [-1, -2, -3]], np.float32))
    path.write_bytes(b"2 3\r\nthe 0.1 0.2 0.3\r\n</s> -1 -2 -3\r\n")
    assert read_vectors(path, "word2vec", binary=False)[0] == ["the", "</s>"]
    path.write_bytes(b"2 1\nthe 0.1\nbell\x07 2\n")  # a control byte, yet line 2 is plainly text
    assert read_vectors(path, "word2vec")[0] == ["the", "bell\x07"]


def test_word2vec_binary_with_and_without_newlines(tmp_path: Path) -> None:
    rows = [[1.5, -2.0], [0.25, 1e-3], [3.0, 4.0]]
    words = ["a", "über", "c"]
    for newline in (True, False):  # word2vec.c writes "\n" after each vector, gensim does not
        path = tmp_path / f"v{newline}.bin"
        path.write_bytes(w2v_binary(words, rows, newline=newline))
        assert_same(read_vectors(path, "word2vec"), words, np.array(rows, np.float32))
        assert_same(read_vectors(path, "word2vec", binary=True), words, np.array(rows, np.float32))


def test_binary_read_in_many_blocks(tmp_path: Path, monkeypatch) -> None:
    words = [f"w{i}" * (1 + i % 4) for i in range(300)]
    matrix = sample_matrix(300, 5, seed=4)
    path = tmp_path / "blocks.bin"
    write_word2vec(path, words, matrix)
    monkeypatch.setattr(vector_io, "_BINARY_BLOCK_BYTES", 64)  # entries cut at block edges
    monkeypatch.setattr(vector_io, "_MAX_WORD_BYTES", 16)
    assert_same(read_vectors(path, "word2vec"), words, matrix)
    path.write_bytes(path.read_bytes()[:-10])
    assert "vector 300 ('w299w299w299w299', byte" in str(read_error(path, "word2vec"))


def test_file_shrinking_while_read_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "shrinks.txt"
    path.write_bytes(b"a 1 2\n" * 1000)
    with open(path, "rb") as f:
        view = vector_io._FileView(path, f)
        path.write_bytes(b"a 1 2\n")  # truncated in place, as `cp new old` does
        with pytest.raises(VectorFileError, match="the file changed while it was being read"):
            view[0 : view.size]


def test_trailing_blank_lines_and_bom_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "g.txt"
    path.write_bytes(b"\xef\xbb\xbfa 1 2\nb 3 4\n\n\n")
    assert_same(read_vectors(path, "glove"), ["a", "b"], np.array([[1, 2], [3, 4]], np.float32))


def test_many_chunks_and_the_slow_parser_agree(tmp_path: Path, monkeypatch) -> None:
    words = [f"w{i}" for i in range(300)]
    matrix = sample_matrix(300, 5, seed=3)
    path = tmp_path / "many.txt"
    write_glove(path, words, matrix)
    monkeypatch.setattr(vector_io, "_TEXT_CHUNK_BYTES", 256)  # dozens of chunks, lines cut at edges
    assert_same(read_vectors(path, "glove"), words, matrix)
    # Mixed trailing spaces make pyarrow refuse: the reference parser reads the same values.
    lines = path.read_bytes().split(b"\n")
    lines[150] += b"  "
    path.write_bytes(b"\n".join(lines))
    assert_same(read_vectors(path, "glove"), words, matrix)
    lines[250] = lines[250].rsplit(b" ", 1)[0]
    path.write_bytes(b"\n".join(lines))
    assert "line 251 has 4 values, expected 5" in str(read_error(path, "glove"))


def test_duplicates_keep_the_first_like_gensim(tmp_path: Path, caplog, gensim_kv) -> None:
    path = tmp_path / "dups.txt"
    path.write_bytes(b"3 2\na 1 2\nb 3 4\na 5 6\n")
    with caplog.at_level(logging.WARNING, logger="tagsight.engine.vector_io"):
        words, matrix = read_vectors(path, "word2vec")
    assert words == ["a", "b"] and matrix.tolist() == [[1, 2], [3, 4]]
    assert "1 duplicate words ignored" in caplog.text and "'a' at line 4, already at line 2" in caplog.text
    kv = gensim_kv.load_word2vec_format(str(path), binary=False)
    # gensim 4.4 leaves a None key and a zero row for the dropped line; its words agree with ours.
    assert list(kv.key_to_index) == words
    assert np.array_equal(np.stack([kv[w] for w in words]), matrix)
    binary = tmp_path / "dups.bin"
    binary.write_bytes(w2v_binary(["a", "b", "a"], [[1, 2], [3, 4], [5, 6]]))
    assert read_vectors(binary, "word2vec")[1].tolist() == [[1, 2], [3, 4]]


# ---------------------------------------------------------------------------------------------
# Bad files: one clear error each, the file left as it was


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    for fmt in ("glove", "word2vec"):
        assert read_error(path, fmt).problem == "the file is empty"


def test_wrong_dimension_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "vectors.txt"
    lines = [f"w{i} " + " ".join(["0.5"] * 50) for i in range(20)]
    lines[16] = "w16 " + " ".join(["0.5"] * 49)
    path.write_text("\n".join(lines) + "\n")
    error = read_error(path, "glove")
    assert str(error) == f"{path}: line 17 has 49 values, expected 50" and error.line == 17
    path.write_text(f"20 50\n" + "\n".join(lines) + "\n")  # the header is line 1
    assert "line 18 has 49 values, expected 50" in str(read_error(path, "word2vec"))


def test_text_cut_mid_line(tmp_path: Path) -> None:
    path = tmp_path / "cut.txt"
    path.write_bytes(b"a 1.5 2.5\nb 3.5 4.")  # cut inside a number: the count alone looks fine
    assert "line 2 does not end with a newline: the file looks truncated" in str(read_error(path, "glove"))
    path.write_bytes(b"2 2\na 1.5 2.5\nb 3.5")
    assert "line 3 does not end with a newline" in str(read_error(path, "word2vec"))


def test_binary_cut_mid_vector_and_mid_word(tmp_path: Path) -> None:
    full = w2v_binary(["alpha", "beta"], [[1, 2, 3], [4, 5, 6]])
    path = tmp_path / "cut.bin"
    path.write_bytes(full[:-7])
    assert "vector 2 ('beta', byte 23) is cut off: needs 12 bytes of values, 6 left" in str(
        read_error(path, "word2vec"))
    path.write_bytes(full[: full.index(b"beta") + 2])
    assert "vector 2 (byte 23) is cut off before its values" in str(read_error(path, "word2vec"))


def test_header_lies_about_the_count(tmp_path: Path) -> None:
    rows = [[1.0, 2.0]] * 3
    path = tmp_path / "lies.bin"
    path.write_bytes(w2v_binary(["a", "b", "c"], rows, count=4))
    assert "the header says 4 vectors but the file ends after 3" in str(read_error(path, "word2vec"))
    path.write_bytes(w2v_binary(["a", "b", "c"], rows, count=2))
    assert "the header says 2 vectors but more data follows vector 2" in str(read_error(path, "word2vec"))
    text = tmp_path / "lies.txt"
    text.write_bytes(b"4 2\na 1 2\nb 1 2\nc 1 2\n")
    assert "the header says 4 vectors but the file has 3 (lines 2-4)" in str(read_error(text, "word2vec"))
    text.write_bytes(b"2 2\na 1 2\nb 1 2\nc 1 2\n")
    assert "the header says 2 vectors but the file has 3" in str(read_error(text, "word2vec"))
    text.write_bytes(b"2 2\n")
    assert "the header says 2 vectors but the file holds no vectors" in str(read_error(text, "word2vec"))


@pytest.mark.parametrize("header", [b"abc def", b"3", b"3 x", b"3 5 7", b"-3 5", b"3.0 5"])
def test_header_that_is_not_two_integers(tmp_path: Path, header: bytes) -> None:
    path = tmp_path / "bad-header.txt"
    path.write_bytes(header + b"\na 1 2\n")
    assert "line 1 should be a header 'count dim'" in str(read_error(path, "word2vec"))


def test_non_numeric_value(tmp_path: Path) -> None:
    path = tmp_path / "nan.txt"
    path.write_bytes(b"a 1 2\nb 3 x4\nc 5 6\n")
    assert "line 2 value 2 is not a number: 'x4'" in str(read_error(path, "glove"))
    path.write_bytes(b"a 1 2\nb 3 1_000\n")
    assert "line 2 value 2 is not a number" in str(read_error(path, "glove"))
    path.write_bytes(b"a 1 2\nb nan 4\n")
    assert "line 2 ('b') has a value that is NaN, infinite or too large" in str(read_error(path, "glove"))
    path.write_bytes(b"a 1 2\nb 1e39 4\n")
    assert "line 2 ('b') has a value that is NaN" in str(read_error(path, "glove"))


def test_layout_problems(tmp_path: Path) -> None:
    path = tmp_path / "layout.txt"
    path.write_bytes(b"a\t1\t2\nb\t3\t4\n")
    assert "line 1 separates its fields by tabs or repeated spaces" in str(read_error(path, "glove"))
    path.write_bytes(b"a 1 2\nb  3 4\n")
    assert "line 2 separates its fields" in str(read_error(path, "glove"))
    path.write_bytes(b"a 1 2\n 3 4\n")
    assert "line 2 starts with a space: no word" in str(read_error(path, "glove"))
    path.write_bytes(b"a 1 2\n\nb 3 4\n")
    assert "line 2 is empty" in str(read_error(path, "glove"))


def test_wrong_format_gets_a_hint(tmp_path: Path) -> None:
    glove = tmp_path / "glove.txt"
    glove.write_bytes(b"the 0.1 0.2 0.3\nof 0.4 0.5 0.6\n")
    assert "GloVe files have no header: read this file as glove" in str(read_error(glove, "word2vec"))
    w2v = tmp_path / "w2v.txt"
    w2v.write_bytes(b"2 3\nthe 0.1 0.2 0.3\nof 0.4 0.5 0.6\n")
    assert "looks like a word2vec header" in str(read_error(w2v, "glove"))


def test_binary_garbage(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    path = tmp_path / "garbage.bin"
    path.write_bytes(rng.bytes(5000))
    assert "line 1 should be a header" in str(read_error(path, "word2vec"))
    for seed in range(5):  # a valid header over garbage: said so, not "truncated at vector 48"
        path.write_bytes(b"100 50\n" + np.random.default_rng(seed).bytes(20_000))
        assert "not a word2vec binary file" in str(read_error(path, "word2vec"))
    path.write_bytes(b"2 2\n" + b"a " + struct.pack("<2f", 1, 2) + b"b " + struct.pack("<2f", np.nan, 2))
    assert "vector 2 ('b') has a value that is NaN" in str(read_error(path, "word2vec"))


def test_invalid_utf8_word_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.bin"
    path.write_bytes(b"2 1\n" + b"ok " + struct.pack("<f", 1) + b"caf\xe9 " + struct.pack("<f", 2))
    assert "vector 2: the word 'caf\\\\xe9' is not valid UTF-8 (byte 3)" in str(read_error(path, "word2vec"))
    text = tmp_path / "latin1.txt"
    text.write_bytes(b"ok 1\ncaf\xe9 2\n")
    assert "line 2: the word" in str(read_error(text, "glove"))


def test_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_vectors(tmp_path / "nope.txt", "glove")


# ---------------------------------------------------------------------------------------------
# Writers, and gensim in both directions


def test_our_files_read_back_bit_identical(tmp_path: Path) -> None:
    matrix = sample_matrix()
    write_glove(tmp_path / "g.txt", WORDS, matrix)
    write_word2vec(tmp_path / "w.bin", WORDS, matrix)
    write_word2vec(tmp_path / "w.txt", WORDS, matrix, binary=False)
    assert_same(read_vectors(tmp_path / "g.txt", "glove"), WORDS, matrix)
    assert_same(read_vectors(tmp_path / "w.bin", "word2vec"), WORDS, matrix)
    assert_same(read_vectors(tmp_path / "w.txt", "word2vec"), WORDS, matrix)
    first = (tmp_path / "g.txt").read_text(encoding="utf-8").splitlines()[0]
    assert first == "the 0 -0 1 " + " ".join(first.split()[4:])  # shortest forms, no padding
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.txt", "w.bin", "w.txt"]  # no temp files


def test_gensim_reads_our_files(tmp_path: Path, gensim_kv) -> None:
    matrix = sample_matrix()
    write_word2vec(tmp_path / "w.bin", WORDS, matrix)
    write_word2vec(tmp_path / "w.txt", WORDS, matrix, binary=False)
    write_glove(tmp_path / "g.txt", WORDS, matrix)
    for kv in (
        gensim_kv.load_word2vec_format(str(tmp_path / "w.bin"), binary=True),
        gensim_kv.load_word2vec_format(str(tmp_path / "w.txt"), binary=False),
        gensim_kv.load_word2vec_format(str(tmp_path / "g.txt"), binary=False, no_header=True),
    ):
        assert_same((kv.index_to_key, kv.vectors), WORDS, matrix)


def test_we_read_gensim_files(tmp_path: Path, gensim_kv) -> None:
    matrix = sample_matrix(seed=1)
    kv = gensim_kv(matrix.shape[1])
    kv.add_vectors(WORDS, matrix)
    kv.save_word2vec_format(str(tmp_path / "g.bin"), binary=True)
    kv.save_word2vec_format(str(tmp_path / "g.txt"), binary=False)
    kv.save_word2vec_format(str(tmp_path / "glove.txt"), binary=False, write_header=False)
    assert_same(read_vectors(tmp_path / "g.bin", "word2vec"), WORDS, matrix)
    assert_same(read_vectors(tmp_path / "g.txt", "word2vec"), WORDS, matrix)
    assert_same(read_vectors(tmp_path / "glove.txt", "glove"), WORDS, matrix)


def test_inexact_decimals_are_rewritten_with_nine_digits() -> None:
    pa = pytest.importorskip("pyarrow")
    column = sample_matrix(8, 7).ravel()
    rounded = pa.array(["%.3g" % v for v in column], pa.string())  # too few digits to read back
    fixed = vector_io._exact_decimals(rounded, column)
    back = np.array([float(t) for t in fixed.to_pylist()]).astype(np.float32)
    assert np.array_equal(back.view(np.uint32), column.view(np.uint32))
    assert fixed.to_pylist()[0] == "0"  # values that were already exact are left alone


def test_writers_refuse_what_readers_would_misread(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    path.write_bytes(b"old contents\n")
    good = np.ones((2, 3), np.float32)
    bad_calls = [
        (["a b", "c"], good, "without spaces or newlines"),
        (["a\nb", "c"], good, "without spaces or newlines"),
        (["", "c"], good, "must be non-empty"),
        (["a", "a"], good, "duplicate words"),
        (["a", "\ud800"], good, "cannot be encoded as UTF-8"),
        (["a", "b"], np.array([[1, 2, np.nan], [1, 2, 3]]), "row 0 ('a') has a value"),
        (["a", "b"], np.full((2, 3), 1e39), "not a finite float32"),
        (["a"], good, "1 words but 2 matrix rows"),
    ]
    for words, matrix, message in bad_calls:
        for write in (write_glove, write_word2vec):
            with pytest.raises(ValueError, match=re.escape(message)):
                write(path, words, matrix)
    assert path.read_bytes() == b"old contents\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_writer_replaces_atomically_with_normal_permissions(tmp_path: Path) -> None:
    path = tmp_path / "v.bin"
    path.write_bytes(b"old")
    write_word2vec(path, ["a"], np.array([[1.0, 2.0]]))
    assert path.read_bytes() == b"1 2\na " + struct.pack("<2f", 1, 2) + b"\n"
    umask = os.umask(0o022)
    os.umask(umask)
    fresh = tmp_path / "fresh.txt"
    write_glove(fresh, ["a"], np.array([[1.0]]))
    assert (fresh.stat().st_mode & 0o777) == (0o666 & ~umask)
    path.chmod(0o600)  # a private file stays private
    write_word2vec(path, ["b"], np.array([[3.0, 4.0]]))
    assert (path.stat().st_mode & 0o777) == 0o600 and path.read_bytes().startswith(b"1 2\nb ")


# ---------------------------------------------------------------------------------------------
# Cache


def entries(cache: Path) -> list[str]:
    return sorted(p.suffix for p in cache.iterdir())


def test_cache_hit_is_memory_mapped(tmp_path: Path) -> None:
    words, matrix = [f"w{i}" for i in range(50)] + WORDS, sample_matrix(58, 6, seed=2)
    path, cache = tmp_path / "v.txt", tmp_path / "cache"
    write_glove(path, words, matrix)
    assert_same(load_vectors_cached(path, "glove", cache), words, matrix)
    assert entries(cache) == [".npy", ".words"]
    npy = next(cache.glob("*.npy"))
    assert (cache / (npy.stem + ".words")).read_text(encoding="utf-8") == "".join(w + "\n" for w in words)
    inode = npy.stat().st_ino
    got_words, got_matrix = load_vectors_cached(path, "glove", cache)
    assert npy.stat().st_ino == inode  # served, not rewritten
    assert isinstance(got_matrix, np.memmap) and Path(got_matrix.filename) == npy
    assert not got_matrix.flags.writeable
    assert_same((got_words, got_matrix), words, matrix)


def test_stale_cache_is_never_used(tmp_path: Path) -> None:
    path, cache = tmp_path / "v.txt", tmp_path / "cache"
    path.write_bytes(b"a 1 2\nb 3 4\n")
    load_vectors_cached(path, "glove", cache)
    stat = path.stat()
    path.write_bytes(b"a 1 2\nb 3 5\n")  # same size; same mtime too: the head hash sees it
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert load_vectors_cached(path, "glove", cache)[1].tolist() == [[1, 2], [3, 5]]
    assert entries(cache) == [".npy", ".words"]  # the stale entry was removed

    # A change past the hashed first MiB is caught by size and mtime.
    big = tmp_path / "big.txt"
    lines = [f"{i:0100d} 0.25 0.5\n" for i in range(10_000)]  # long words: few lines to parse
    big.write_text("".join(lines))
    assert big.stat().st_size > 1 << 20
    load_vectors_cached(big, "glove", cache)
    lines[-1] = lines[-1].replace("0.5", "0.7")
    big.write_text("".join(lines))
    os.utime(big, ns=(stat.st_atime_ns, big.stat().st_mtime_ns + 1_000_000))
    assert load_vectors_cached(big, "glove", cache)[1][-1].tolist() == [0.25, np.float32(0.7)]


def test_corrupt_or_unwritable_cache_only_costs_speed(tmp_path: Path) -> None:
    path, cache = tmp_path / "v.txt", tmp_path / "cache"
    path.write_bytes(b"a 1 2\nb 3 4\n")
    load_vectors_cached(path, "glove", cache)
    npy = next(cache.glob("*.npy"))
    npy.write_bytes(b"not numpy")
    assert load_vectors_cached(path, "glove", cache)[1].tolist() == [[1, 2], [3, 4]]
    assert np.load(npy).tolist() == [[1, 2], [3, 4]]  # rewritten
    blocked = tmp_path / "a-file"
    blocked.write_bytes(b"")
    words, matrix = load_vectors_cached(path, "glove", blocked / "cache")
    assert words == ["a", "b"] and matrix.tolist() == [[1, 2], [3, 4]]


def test_cached_bad_file_still_raises(tmp_path: Path) -> None:
    path, cache = tmp_path / "bad.txt", tmp_path / "cache"
    path.write_bytes(b"a 1 2\nb 3\n")
    with pytest.raises(VectorFileError, match="line 2 has 1 values, expected 2"):
        load_vectors_cached(path, "glove", cache)
    assert not cache.exists() or not any(cache.iterdir())
