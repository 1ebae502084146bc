"""Vector files written by gensim drive the `word2vec` and `glove` backends; bad files fail cleanly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tagsight.engine.cli import main

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "check_backend_files.py"


def test_gensim_written_glove_tags_like_the_bundled_vectors_from_cache(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    done = subprocess.run([sys.executable, str(SCRIPT), str(folder)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "word2vec --vectors glove6b50d.bin: identical top-5 1.000, cached 6/6" in done.stdout
    assert "glove --vectors glove6b50d.txt: identical top-5 1.000, cached 6/6" in done.stdout


BAD_FILES = {
    "truncated.bin": b"3 4\nfoo " + np.ones(4, "<f4").tobytes() + b"\nbar " + np.ones(2, "<f4").tobytes(),
    "wrong-dim.txt": b"2 3\nfoo 1 2 3\nbar 1 2\n",
    "garbage.bin": bytes(range(256)) * 8,
    "empty.txt": b"",
    "lying-header.txt": b"5 2\nfoo 1 2\nbar 3 4\n",
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_vector_files_give_one_clear_line(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / name
    path.write_bytes(BAD_FILES[name])
    image = tmp_path / "a.png"
    Image.new("RGB", (32, 32)).save(image)
    assert main(["tag", str(image), "--backend", "word2vec", "--vectors", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and name in err[0] and err[0].startswith("tagsight: error:"), err
    assert path.read_bytes() == BAD_FILES[name]  # never modified


def test_missing_vectors_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["similar", "cat", "--backend", "glove", "--vectors", str(tmp_path / "none.txt")]) == 2
    assert "none.txt: no such vectors file" in capsys.readouterr().err
