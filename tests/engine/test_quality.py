"""Tagging quality on the shared ImageNet evaluation images (skipped where they are absent)."""

from __future__ import annotations

from pathlib import Path

from tagsight.engine.evaluation import hit_at, read_labels, shares_word
from tagsight.engine.service import TaggingService, TagOptions


def test_flat_and_open_vocabulary_quality(shared_eval: Path) -> None:
    images = read_labels(shared_eval)
    truth = {image.path: image.names for image in images}
    service = TaggingService()
    flat = {r.path: [l.label for l in r.labels] for r in service.tag(list(truth), TagOptions(vocabulary="imagenet1k"))}
    hit1 = sum(hit_at(flat[p], t, 1) for p, t in truth.items()) / len(truth)
    hit5 = sum(hit_at(flat[p], t, 5) for p, t in truth.items()) / len(truth)
    assert hit1 >= 0.80 and hit5 >= 0.88, (hit1, hit5)
    open_vocab = {r.path: [l.label for l in r.labels] for r in service.tag(list(truth), TagOptions())}
    share = sum(shares_word(open_vocab[p], t) for p, t in truth.items()) / len(truth)
    assert share >= 0.85, share
