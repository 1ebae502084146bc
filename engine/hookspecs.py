"""Every hook a tagsight plugin can implement, in one place.

A plugin is a module (or object) with functions marked `@hookimpl`, registered under the entry-point
group ``tagsight``. Registration hooks receive a ``register`` callback and call it once per thing they
offer, as simonw/llm's ``register_embedding_models(register)`` does; tagsight validates what it gets.
"""

from __future__ import annotations

from typing import Callable

import pluggy

PROJECT = "tagsight"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_backends(register: Callable[..., None]) -> None:
    """Offer word-vector backends.

    Call ``register(backend)`` with a :class:`tagsight.engine.backends.EmbeddingBackend` for each:
    its ``name`` (what ``--backend`` selects), a one-line ``description``, and ``load(vectors_file)``
    returning :class:`tagsight.engine.vectors.WordVectors` (``vectors_file`` is ``None`` for the
    backend's own default vectors).

    :param register: callback taking one ``EmbeddingBackend``.
    """


@hookspec
def register_vocabularies(register: Callable[..., None]) -> None:
    """Offer named vocabularies (label sets).

    Call ``register(name, load)`` where ``load()`` returns a :class:`tagsight.engine.vocabulary.Vocabulary`.
    The name is what ``--vocab NAME`` selects.

    :param register: callback taking ``(name: str, load: Callable[[], Vocabulary])``.
    """


@hookspec
def register_exporters(register: Callable[..., None]) -> None:
    """Offer export formats for confirmed tags and predictions.

    Call ``register(exporter)`` with a :class:`tagsight.engine.export.Exporter`: its ``name`` (what
    ``tagsight export --format NAME`` selects), a ``description``, and ``write(records, out)``.

    :param register: callback taking one ``Exporter``.
    """


@hookspec
def register_image_models(register: Callable[..., None]) -> None:
    """Offer image models (an ONNX backbone with its preprocessing and class names).

    Call ``register(spec)`` with a :class:`tagsight.engine.model.ModelSpec`, typically built with
    ``ModelSpec.from_manifest(path_to_json)``; the manifest names the ONNX file, input size, resize,
    mean/std, output names and the class list.

    :param register: callback taking one ``ModelSpec``.
    """


@hookspec
def register_commands(register: Callable[..., None]) -> None:
    """Offer ``tagsight`` subcommands.

    Call ``register(command)`` with a :class:`tagsight.engine.cli.Command`: its ``name`` (the
    subcommand), a one-line ``help``, ``add_arguments(parser)`` adding its options to an
    ``argparse.ArgumentParser``, and ``run(args)`` returning the exit status. The built-in ``gui``
    command is offered this way, which keeps the engine free of Qt.

    :param register: callback taking one ``Command``.
    """
