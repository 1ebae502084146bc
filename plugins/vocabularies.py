"""The built-in named vocabularies: `default` (open, visual words) and `imagenet1k` (the 1000 classes)."""

from __future__ import annotations

from tagsight.engine.hookspecs import hookimpl
from tagsight.engine.vocabulary import Vocabulary, default_vocabulary, imagenet_classes


def imagenet1k() -> Vocabulary:
    return Vocabulary("imagenet1k", imagenet_classes())


@hookimpl
def register_vocabularies(register) -> None:
    register("default", default_vocabulary)
    register("imagenet1k", imagenet1k)
