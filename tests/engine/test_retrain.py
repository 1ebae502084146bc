"""Learning from corrections end to end: generated images, the real model and GloVe, a real store.

One scenario is built once per module: 32 generated images of four kinds are tagged, half of three kinds
get `add` corrections ("tomato" for red blobs, "ocean" for blue stripes, and "qzxv-set", a tag GloVe has
no vector for, for green checks), and `tagsight retrain` fits version 1. Tests that change the store
work on a copy.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tagsight.engine.cli import main
from tagsight.engine.learned import EXAMPLES_SOURCE, LearnedProjection
from tagsight.engine.progress import Cancelled
from tagsight.engine.service import REVIEW_MARGIN, TaggingService, TagOptions, scan

KINDS = {"red": "tomato", "blue": "ocean", "green": "qzxv-set", "noise": None}
VOCABULARY = ["tomato", "ocean", "piano", "car", "dog", "book", "mountain"]
PER_KIND = 8
TAUGHT = 4  # images of each kind given a correction; the other four are held out


def _image(kind: str, i: int) -> Image.Image:
    rng = np.random.default_rng([list(KINDS).index(kind), i])
    w, h = 160, 120
    if kind == "red":
        img = Image.new("RGB", (w, h), (200 + int(rng.integers(0, 55)), 30, 30))
        draw = ImageDraw.Draw(img)
        for _ in range(6):
            x, y, r = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(5, 25))
            draw.ellipse([x - r, y - r, x + r, y + r], fill=(120, int(rng.integers(0, 40)), 20))
        return img
    a = np.zeros((h, w, 3), np.uint8)
    yy, xx = np.mgrid[:h, :w]
    if kind == "blue":
        stripe = (yy // int(rng.integers(6, 16))) % 2 == 0
        a[stripe], a[~stripe] = (20, 60, 200 + int(rng.integers(0, 55))), (235, 240, 255)
    elif kind == "green":
        size = int(rng.integers(8, 20))
        check = ((yy // size + xx // size) % 2) == 0
        a[check], a[~check] = (30, 150 + int(rng.integers(0, 80)), 40), (240, 230, 90)
    else:
        a = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    return Image.fromarray(a)


@dataclass(frozen=True)
class Scenario:
    root: Path
    db: Path
    vocab: Path
    held_out: dict[Path, str]  # image -> the tag it should get
    before: dict[str, list[dict]]  # `tag --jsonl` lines by path, before retraining

    def copy_db(self, to: Path) -> Path:
        """A consistent copy of the store (WAL included) for a test that changes it."""
        target = to / "copy.db"
        with sqlite3.connect(self.db) as source, sqlite3.connect(target) as copy:
            source.backup(copy)
        return target


def tag_jsonl(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, list[dict]]:
    status = main(["tag", *args, "--jsonl", "--top", "3"])
    assert status == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return {line["path"]: line["labels"] for line in lines}


def hits(results: dict[str, list[dict]], truth: dict[Path, str]) -> int:
    return sum(results[str(path)][0]["label"] == tag for path, tag in truth.items())


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory, session_cache: Path) -> Scenario:
    with pytest.MonkeyPatch.context() as mp:
        base = tmp_path_factory.mktemp("retrain")
        mp.setenv("TAGSIGHT_DATA_DIR", str(base / "data"))
        mp.setenv("TAGSIGHT_CACHE_DIR", str(session_cache))
        root = base / "photos"
        root.mkdir()
        for kind in KINDS:
            for i in range(PER_KIND):
                _image(kind, i).save(root / f"{kind}_{i}.png")
        vocab = base / "vocab.txt"
        vocab.write_text("\n".join(VOCABULARY) + "\n", encoding="utf-8")
        db = base / "store.db"
        options = TagOptions(vocabulary=str(vocab), top=3)
        with TaggingService(db_path=db) as service:
            before = {str(r.path): r.to_json()["labels"] for r in service.tag(scan([root]).files, options)}
        corrections = base / "corrections.csv"
        held_out: dict[Path, str] = {}
        with open(corrections, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["path", "label", "action"])
            for kind, tag in KINDS.items():
                for i in range(PER_KIND):
                    path = root / f"{kind}_{i}.png"
                    if tag is not None and i < TAUGHT:
                        # A hierarchical tag teaches its leaf.
                        writer.writerow([path, f"food|{tag}" if (kind, i) == ("red", 0) else tag, "add"])
                    elif tag is not None:
                        held_out[path] = tag
            writer.writerow([root / "blue_0.png", "piano", "reject"])
        assert main(["corrections", "import", str(corrections), "--db", str(db)]) == 0
        assert main(["retrain", "--db", str(db), "--vocab", str(vocab)]) == 0
        return Scenario(root, db, vocab, held_out, before)


# -- learning -------------------------------------------------------------------------------------


def test_retraining_moves_held_out_images_to_the_corrected_tags(scenario: Scenario, capsys: pytest.CaptureFixture[str]) -> None:
    after = tag_jsonl(capsys, str(scenario.root), "--db", str(scenario.db), "--vocab", str(scenario.vocab))
    n = len(scenario.held_out)
    before_hits, after_hits = hits(scenario.before, scenario.held_out), hits(after, scenario.held_out)
    assert before_hits <= n // 4 and after_hits >= 3 * n // 4, (before_hits, after_hits)
    # The learned tags say where they come from.
    red = after[str(scenario.root / "red_6.png")][0]
    assert red["label"] == "tomato" and red["sources"][0] == EXAMPLES_SOURCE


def test_a_tag_without_a_word_vector_is_learned_from_its_images(scenario: Scenario, capsys: pytest.CaptureFixture[str]) -> None:
    service = TaggingService(db_path=scenario.db)
    assert service.vectors().phrase_vector("qzxv-set").vector is None
    (version,) = service.projections()
    assert version.training_summary["learned_vectors"] == ["qzxv-set"]
    # Offered whatever the vocabulary, since no vocabulary can name it: here with imagenet1k.
    after = tag_jsonl(capsys, str(scenario.root / "green_7.png"), "--db", str(scenario.db), "--vocab", "imagenet1k")
    assert after[str(scenario.root / "green_7.png")][0]["label"] == "qzxv-set"
    service.close()


def test_version_records_its_data_and_cross_validation(scenario: Scenario, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["projection", "list", "--db", str(scenario.db), "--json"]) == 0
    (version,) = json.loads(capsys.readouterr().out)
    assert version["active"] and version["backend"] == "glove"
    summary, metrics = version["training_summary"], version["metrics"]
    assert summary["images"] == 3 * TAUGHT and summary["hard_negatives"] == 1
    assert summary["tags"] == {"tomato": TAUGHT, "ocean": TAUGHT, "qzxv-set": TAUGHT}
    assert summary["library_images"] == len(KINDS) * PER_KIND - 3 * TAUGHT
    held = metrics["held_out_hit1"]
    assert held["learned"] > held["conse"]  # cross-validation on the corrections sees the gain too


def test_parameters_round_trip(scenario: Scenario) -> None:
    service = TaggingService(db_path=scenario.db)
    (version,) = service.projections()
    vectors = service.vectors()
    learned, meta = LearnedProjection.from_bytes(version.params, service.class_vectors(vectors))
    again, _ = LearnedProjection.from_bytes(learned.to_bytes(meta), service.class_vectors(vectors))
    phi = np.random.default_rng(0).normal(size=(5, learned.map_.shape[0])).astype(np.float32)
    np.testing.assert_array_equal(learned.label_terms(phi), again.label_terms(phi))
    assert meta["backend"] == "glove" and meta["model"] == service.model_spec.id and meta["dim"] == vectors.dim
    service.close()


# -- versions -------------------------------------------------------------------------------------


def test_use_latest_and_conse_select_the_projection(scenario: Scenario, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = scenario.copy_db(tmp_path)
    args = [str(scenario.root), "--db", str(db), "--vocab", str(scenario.vocab)]
    # --projection conse is ConSE exactly, scores included, as before any retraining.
    assert tag_jsonl(capsys, *args, "--projection", "conse") == scenario.before
    learned_1 = tag_jsonl(capsys, *args)
    assert main(["retrain", "--db", str(db), "--vocab", str(scenario.vocab)]) == 0
    capsys.readouterr()
    assert [v.id for v in TaggingService(db_path=db).projections() if v.active] == [2]
    assert tag_jsonl(capsys, *args, "--projection", "1") == learned_1
    assert tag_jsonl(capsys, *args, "--projection", "latest") == tag_jsonl(capsys, *args, "--projection", "2")
    assert main(["projection", "use", "1", "--db", str(db)]) == 0
    assert capsys.readouterr().out == "tagging with backend glove now uses projection version 1\n"
    assert tag_jsonl(capsys, *args) == learned_1
    assert main(["projection", "use", "conse", "--db", str(db)]) == 0
    capsys.readouterr()
    assert tag_jsonl(capsys, *args) == scenario.before
    runs = [TaggingService(db_path=db).store.run(i) for i in range(1, 20)]
    assert {(r.projection, r.projection_version_id) for r in runs if r} >= {("conse", None), ("learned", 1), ("learned", 2)}


def test_a_version_is_never_applied_to_another_backend(scenario: Scenario, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tagsight.engine.vector_io import write_word2vec

    glove = TaggingService().vectors()
    words = [w for w in glove.words[:30000]]
    vectors_file = tmp_path / "small.bin"
    write_word2vec(vectors_file, words, np.asarray(glove.matrix[:30000]))
    db = scenario.copy_db(tmp_path)
    image = str(scenario.root / "red_7.png")
    other = ["--db", str(db), "--vocab", str(scenario.vocab), "--backend", "word2vec", "--vectors", str(vectors_file)]
    assert main(["tag", image, *other, "--projection", "1", "--jsonl"]) == 2
    err = capsys.readouterr().err
    assert "trained for backend 'glove'" in err and "Traceback" not in err
    # The glove version is not this backend's: its active projection is ConSE.
    result = tag_jsonl(capsys, image, *other)
    assert all(EXAMPLES_SOURCE not in label["sources"] for label in result[image])
    assert main(["tag", image, "--db", str(db), "--projection", "nine", "--jsonl"]) == 2
    assert "unknown projection 'nine'" in capsys.readouterr().err


# -- review queue, export, cancellation ----------------------------------------------------------


def test_review_queue_orders_by_what_a_correction_would_teach(scenario: Scenario, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["review-queue", "--db", str(scenario.db), "--vocab", str(scenario.vocab), "--limit", "100", "--jsonl"]) == 0
    items = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    corrected = {str(scenario.root / f"{k}_{i}.png") for k in ("red", "blue", "green") for i in range(TAUGHT)}
    assert len(items) == len(KINDS) * PER_KIND - len(corrected) and not corrected & {i["path"] for i in items}
    priorities = [item["priority"] for item in items]
    assert priorities == sorted(priorities, reverse=True)
    for item in items:
        expected = max(0.0, 1 - item["margin"] / REVIEW_MARGIN) + item["disagreement"]
        assert item["priority"] == pytest.approx(expected, abs=1e-3)
    # Noise images, which no correction covers, are less certain than held-out images of taught kinds.
    rank = {item["path"]: n for n, item in enumerate(items)}
    noise = np.mean([rank[p] for p in rank if "noise_" in p])
    taught = np.mean([rank[str(p)] for p in scenario.held_out])
    assert noise < taught
    service = TaggingService(db_path=scenario.db)
    assert [i.path for i in service.review_queue(TagOptions(vocabulary=str(scenario.vocab)), limit=3)] == \
        [Path(i["path"]) for i in items[:3]]
    service.close()


def test_exported_onnx_scores_equal_the_python_path(scenario: Scenario, tmp_path: Path) -> None:
    import onnxruntime as ort

    from tagsight.engine.preprocess import load_tensor
    from tagsight.engine.vectors import normalize_rows

    file = tmp_path / "tagger.onnx"
    assert main(["export-model", str(file), "--db", str(scenario.db), "--vocab", str(scenario.vocab)]) == 0
    service = TaggingService(db_path=scenario.db)
    ranker = service.ranker(TagOptions(vocabulary=str(scenario.vocab)))
    assert ranker.learned is not None
    files = [scenario.root / f"{kind}_{i}.png" for kind in KINDS for i in (5, 6)]
    batch = np.stack([load_tensor(f, service.model_spec.preprocess) for f in files])
    points, terms, _ = ranker.scores(*service.model.run(batch))
    expected = normalize_rows(points) @ ranker.vocabulary.matrix.T
    expected[:, ranker.term_columns] += terms
    session = ort.InferenceSession(str(file), providers=["CPUExecutionProvider"])
    (scores,) = session.run(["scores"], {service.model_spec.input_name: batch})
    np.testing.assert_allclose(scores, expected, atol=1e-4)
    labels = json.loads(session.get_modelmeta().custom_metadata_map["labels"])
    assert labels == list(ranker.vocabulary.labels) and "qzxv-set" in labels
    service.close()


class _CancelAfter:
    def __init__(self, reports: int) -> None:
        self.left = reports

    def report(self, done: int, total: int, message: str = "") -> None:
        self.left -= 1

    def cancelled(self) -> bool:
        return self.left <= 0


def test_cancelled_retraining_stores_nothing(scenario: Scenario, tmp_path: Path) -> None:
    db = scenario.copy_db(tmp_path)
    service = TaggingService(db_path=db)
    with pytest.raises(Cancelled):
        service.retrain(TagOptions(vocabulary=str(scenario.vocab)), progress=_CancelAfter(2))
    assert [v.id for v in service.projections()] == [1]
    report = service.retrain(TagOptions(vocabulary=str(scenario.vocab)), dry_run=True)
    assert report.version is None and [v.id for v in service.projections()] == [1]
    service.close()


def test_retraining_needs_confirmed_tags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["retrain", "--db", str(tmp_path / "empty.db")]) == 2
    assert "at least two" in capsys.readouterr().err
