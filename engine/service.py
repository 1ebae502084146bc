"""The one door into the engine for the CLI and the GUI: dataclasses in, dataclasses out."""

from __future__ import annotations

import hashlib
import io
import os
import platform
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence, TextIO

import numpy as np

from tagsight.engine.backends import DEFAULT_BACKEND, get_backend
from tagsight.engine.model import ImageModel, ModelSpec, default_model_spec
from tagsight.engine.preprocess import ImageDecodeError, is_image_path, load_tensor
from tagsight.engine.progress import NullProgress, Progress, check_cancelled
from tagsight.engine.projection import ConSE
from tagsight.engine.ranking import LabelScore, Ranker
from tagsight.engine.vectors import WordVectors
from tagsight.engine.vocabulary import embed, label_vector, load_vocabulary

if TYPE_CHECKING:
    from tagsight.engine.export import Exporter, ExportSummary
    from tagsight.engine.store import CorrectionEvent, ImportReport, Store


@dataclass(frozen=True)
class TagOptions:
    top: int = 5
    vocabulary: str = "default"
    backend: str = DEFAULT_BACKEND
    vectors_file: Path | None = None
    min_score: float | None = None
    top_t: int = 10
    batch_size: int = 16


@dataclass(frozen=True)
class ImageResult:
    """Tags for one image, or the reason it could not be read (`error`)."""

    path: Path
    labels: tuple[LabelScore, ...] = ()
    error: str | None = None
    cached: bool = False
    provider: str | None = None

    def to_json(self) -> dict[str, Any]:
        if self.error is not None:
            return {"path": str(self.path), "error": self.error}
        return {
            "path": str(self.path),
            "labels": [
                {"label": label.label, "score": label.score, "sources": list(label.sources)}
                for label in self.labels
            ],
            "provider": self.provider,
            "cached": self.cached,
        }


@dataclass(frozen=True)
class ScanResult:
    """Image files found under the given paths (sorted, recursive), and paths that were not usable."""

    files: list[Path]
    errors: list[tuple[Path, str]] = field(default_factory=list)


def scan(paths: Iterable[Path]) -> ScanResult:
    files: list[Path] = []
    errors: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                Path(root) / name
                for root, _dirs, names in os.walk(path)
                for name in names
                if is_image_path(Path(name))
            )
            files.extend(found)
        elif path.is_file():
            if is_image_path(path):
                files.append(path)
            else:
                errors.append((path, f"not an image file extension ({path.suffix or 'none'})"))
        else:
            errors.append((path, "no such file or folder"))
    return ScanResult(files, errors)


@dataclass
class _Decoded:
    path: Path
    tensor: np.ndarray | None = None
    sha256: str | None = None
    error: str | None = None


class TaggingService:
    """Holds the model, backends and vocabularies, each loaded once and reused across calls."""

    def __init__(self, model_spec: ModelSpec | None = None, decode_workers: int | None = None) -> None:
        self.model_spec = model_spec or default_model_spec()
        self.decode_workers = decode_workers or max(1, (os.cpu_count() or 1))
        self._lock = threading.Lock()
        self._vectors: dict[tuple[str, Path | None], WordVectors] = {}
        self._rankers: dict[tuple[Any, ...], Ranker] = {}

    @property
    def model(self) -> ImageModel:
        return ImageModel.shared(self.model_spec)

    def vectors(self, backend: str = DEFAULT_BACKEND, vectors_file: Path | None = None) -> WordVectors:
        key = (backend, vectors_file)
        with self._lock:
            if key not in self._vectors:
                self._vectors[key] = get_backend(backend).load(vectors_file)
            return self._vectors[key]

    def ranker(self, options: TagOptions) -> Ranker:
        key = (options.backend, options.vectors_file, options.vocabulary, options.top_t)
        vectors = self.vectors(options.backend, options.vectors_file)
        with self._lock:
            if key not in self._rankers:
                class_names = load_vocabulary(self.model_spec.classes).labels
                class_vectors = np.zeros((len(class_names), vectors.dim), dtype=np.float32)
                for i, name in enumerate(class_names):
                    vector = label_vector(vectors, name)
                    if vector is not None:
                        class_vectors[i] = vector
                projection = ConSE(top_t=options.top_t).fit(class_vectors)
                vocabulary = embed(load_vocabulary(options.vocabulary), vectors)
                self._rankers[key] = Ranker(projection, class_names, vocabulary)
            return self._rankers[key]

    def tag(
        self, files: Sequence[Path], options: TagOptions = TagOptions(), progress: Progress | None = None
    ) -> Iterator[ImageResult]:
        """Tag `files` in order, yielding one result per file as soon as its batch is done.

        Decoding runs in a thread pool ahead of inference; a file that cannot be read yields a
        result with `error` set and never stops the run.
        """
        progress = progress or NullProgress()
        ranker = self.ranker(options)
        model = self.model
        done = 0
        progress.report(0, len(files))
        with ThreadPoolExecutor(self.decode_workers, thread_name_prefix="decode") as pool:
            for batch in _batched(self._decode_ahead(pool, files, options.batch_size * 2), options.batch_size):
                check_cancelled(progress)
                good = [d for d in batch if d.tensor is not None]
                labels: dict[Path, list[LabelScore]] = {}
                if good:
                    logits, _features = model.run(np.stack([d.tensor for d in good]))
                    ranked = ranker.rank(logits, options.top, options.min_score)
                    labels = {d.path: r for d, r in zip(good, ranked)}
                for decoded in batch:
                    if decoded.error is not None:
                        yield ImageResult(decoded.path, error=decoded.error)
                    else:
                        yield ImageResult(decoded.path, tuple(labels[decoded.path]), provider=model.provider)
                done += len(batch)
                progress.report(done, len(files))

    def _decode_ahead(self, pool: ThreadPoolExecutor, files: Sequence[Path], window: int) -> Iterator[_Decoded]:
        pending: deque[Future[_Decoded]] = deque()
        spec = self.model_spec.preprocess
        for path in files:
            pending.append(pool.submit(_decode, path, spec))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def similar(
        self, word: str, backend: str = DEFAULT_BACKEND, vectors_file: Path | None = None, top: int = 10
    ) -> list[tuple[str, float]]:
        return self.vectors(backend, vectors_file).most_similar(word, top)

    def info(self, options: TagOptions = TagOptions()) -> dict[str, Any]:
        import onnxruntime as ort

        from tagsight import __version__

        vectors = self.vectors(options.backend, options.vectors_file)
        ranker = self.ranker(options)
        return {
            "tagsight": __version__,
            "python": platform.python_version(),
            "onnxruntime": ort.__version__,
            "available_providers": ort.get_available_providers(),
            "provider": self.model.provider,
            "providers": self.model.providers,
            "model": self.model_spec.id,
            "model_path": str(self.model_spec.path),
            "model_sha256": self.model_spec.sha256,
            "backend": options.backend,
            "vectors": vectors.name,
            "vectors_words": len(vectors),
            "vectors_dim": vectors.dim,
            "vocabulary": options.vocabulary,
            "vocabulary_labels": len(ranker.vocabulary.labels),
            "vocabulary_missing": len(ranker.vocabulary.missing),
        }


def _decode(path: Path, spec: Any) -> _Decoded:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return _Decoded(path, error=f"cannot read file: {exc.strerror or exc}")
    try:
        tensor = load_tensor(io.BytesIO(data), spec)  # type: ignore[arg-type]
    except ImageDecodeError as exc:
        return _Decoded(path, error=str(exc))
    return _Decoded(path, tensor, hashlib.sha256(data).hexdigest())


def _batched(items: Iterable[_Decoded], size: int) -> Iterator[list[_Decoded]]:
    batch: list[_Decoded] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# -- the store: corrections and export -------------------------------------------------------------
# Module functions, each opening the store for one command and closing it; the GUI keeps one
# `Store` open instead (`open_store`). Imports are lazy so `tagsight tag` without a store stays light.


def open_store(db: Path | None = None) -> Store:
    """The store at `db`, or the default one in the user data directory."""
    from tagsight.engine.paths import default_db_path
    from tagsight.engine.store import Store

    return Store.open(db if db is not None else default_db_path())


def import_corrections(file: Path, db: Path | None = None, base_dir: Path | None = None) -> ImportReport:
    """Import a CSV (path,label,action[,previous,time,source,...]) or .jsonl of corrections."""
    with open_store(db) as store:
        return store.import_corrections(file, base_dir=base_dir)


def export_corrections(out: Path | TextIO, fmt: str = "csv", db: Path | None = None) -> int:
    """Write the whole correction log; importing it elsewhere reproduces the same events."""
    with open_store(db) as store:
        return store.export_corrections(out, fmt)


def undo_corrections(n: int = 1, db: Path | None = None, source: str = "cli") -> list[CorrectionEvent]:
    """Undo the last `n` user actions (a bulk action or an import is one); returns the undo events."""
    with open_store(db) as store:
        return store.undo(n, source=source)


def redo_corrections(n: int = 1, db: Path | None = None, source: str = "cli") -> list[CorrectionEvent]:
    with open_store(db) as store:
        return store.redo(n, source=source)


def exporters() -> dict[str, Exporter]:
    """Export formats by name, from the `register_exporters` plugin hook. Until the built-in
    exporter plugin is registered, the built-in exporters are offered directly."""
    from tagsight.engine.export import BUILTIN_EXPORTERS
    from tagsight.engine.plugins import collect

    found = {exporter.name: exporter for _plugin, exporter in collect("register_exporters")}
    return found or {exporter.name: exporter for exporter in BUILTIN_EXPORTERS}


def export_tags(
    fmt: str,
    out: Path | None = None,
    db: Path | None = None,
    with_predictions: bool = False,
    min_score: float | None = None,
) -> ExportSummary:
    """Export confirmed tags (and, if asked, predictions scoring at least `min_score`)."""
    available = exporters()
    if fmt not in available:
        raise ValueError(f"unknown export format {fmt!r} (available: {', '.join(sorted(available))})")
    with open_store(db) as store:
        records = store.export_records(with_predictions=with_predictions, min_score=min_score)
    return available[fmt].write(records, out)
