"""The `tagsight` command end to end: real model, real vectors, generated images, a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tagsight.engine.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tagsight", *args], capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Nested folder: 3 generated images, one corrupt JPEG, one text file that must be ignored."""
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(root / "b_noise.png")
    Image.new("RGB", (300, 200), (30, 90, 200)).save(root / "a_blue.jpg")
    Image.new("L", (64, 64), 200).save(root / "sub" / "c_grey.bmp")
    (root / "sub" / "d_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "notes.txt").write_text("not an image")
    return root


def test_tag_jsonl_one_object_per_image_sorted_recursive(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["tag", str(folder), "--jsonl", "--top", "3", "--vocab", "imagenet1k"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [Path(line["path"]).name for line in lines] == ["a_blue.jpg", "b_noise.png", "c_grey.bmp", "d_broken.jpg"]
    for line in lines[:3]:
        assert len(line["labels"]) == 3 and line["provider"] == "CPU" and line["cached"] is False
        scores = [label["score"] for label in line["labels"]]
        assert scores == sorted(scores, reverse=True)
        assert all(label["sources"] for label in line["labels"])
    assert set(lines[3]) == {"path", "error"}
    assert "not an image" in lines[3]["error"] or "corrupt" in lines[3]["error"]
    assert status == 1  # one image could not be read


def test_precision_int8_tags_with_the_quantized_model_and_caches_apart(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "store.db")
    image = str(folder / "a_blue.jpg")
    main(["tag", image, "--jsonl", "--db", db])
    main(["tag", image, "--jsonl", "--db", db, "--precision", "int8"])
    main(["tag", image, "--jsonl", "--db", db, "--precision", "int8"])
    fp32, int8, again = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert (fp32["cached"], int8["cached"], again["cached"]) == (False, False, True)  # outputs kept per model
    assert int8["labels"] and again["labels"] == int8["labels"]
    main(["info", "--json", "--precision", "int8"])
    assert json.loads(capsys.readouterr().out)["model"].endswith("-int8")


def test_tag_min_score_and_vocab_file(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vocab = tmp_path / "colours.txt"
    vocab.write_text("red\ngreen\nblue\nsky, blue sky\n", encoding="utf-8")
    main(["tag", str(folder / "a_blue.jpg"), "--jsonl", "--vocab", str(vocab), "--top", "10", "--min-score", "-1"])
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert {label["label"] for label in line["labels"]} == {"red", "green", "blue", "sky, blue sky"}
    main(["tag", str(folder / "a_blue.jpg"), "--jsonl", "--vocab", str(vocab), "--min-score", "0.99"])
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert all(label["score"] >= 0.99 for label in line["labels"])


def test_table_output_is_readable(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["tag", str(folder / "b_noise.png"), "--top", "2"])
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("b_noise.png") and len(out) == 3 and "<-" in out[1]


def test_bad_options_give_one_clear_line(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tag", str(folder), "--vocab", str(tmp_path / "nope.txt")]) == 2
    err = capsys.readouterr().err
    assert "no such vocabulary file" in err and "Traceback" not in err
    assert main(["tag", str(folder), "--backend", "nonesuch"]) == 2
    assert "unknown backend 'nonesuch'" in capsys.readouterr().err
    assert main(["tag", str(tmp_path / "missing-folder"), "--jsonl"]) == 1
    assert "no such file or folder" in capsys.readouterr().err


def test_info_json_reports_model_and_provider(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert Path(info["model_path"]).is_file() and info["provider"] == "CPU"
    assert info["vectors"] == "glove" and info["vectors_dim"] == 50 and info["vocabulary_labels"] > 15000


def test_similar_lists_neighbours(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["similar", "espresso", "--top", "5"]) == 0
    words = [line.split()[1] for line in capsys.readouterr().out.splitlines()]
    assert len(words) == 5 and {"cappuccino", "latte"} <= set(words)


def test_python_dash_m_and_help_work_in_a_real_process(folder: Path) -> None:
    assert "tag" in run_cli("--help").stdout
    done = run_cli("tag", str(folder / "a_blue.jpg"), "--jsonl")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["labels"]
