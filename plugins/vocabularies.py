"""The built-in named vocabularies: `default` (open, visual words) and `imagenet1k` (the 1000 classes)."""

from __future__ import annotations

from tagsight.engine.hookspecs import hookimpl


@hookimpl
def register_vocabularies(register) -> None:
    from tagsight.engine.vocabulary import Vocabulary, default_vocabulary, imagenet_classes

    register("default", default_vocabulary)
    register("imagenet1k", lambda: Vocabulary("imagenet1k", imagenet_classes()))
