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

from tagsight.engine.backends import DEFAULT_BACKEND, BackendError, get_backend
from tagsight.engine.model import ImageModel, ModelSpec, default_model_spec
from tagsight.engine.paths import default_db_path
from tagsight.engine.preprocess import ImageDecodeError, PreprocessSpec, is_image_path, load_tensor
from tagsight.engine.progress import NullProgress, Progress, check_cancelled
from tagsight.engine.projection import ConSE
from tagsight.engine.ranking import LabelScore, Ranker
from tagsight.engine.vectors import WordVectors
from tagsight.engine.vocabulary import embed, label_vector, load_vocabulary

if TYPE_CHECKING:
    from tagsight.engine.export import ExportSummary
    from tagsight.engine.store import Action, CorrectionEvent, ImportReport, Source, Store, TagState


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
class _Item:
    """One file on its way through `tag`: cached outputs, or a decoded tensor for the CNN, or an error."""

    path: Path  # absolute and normalized, as the store keys images
    given: Path  # as the caller named it, for the results
    size: int = 0
    mtime_ns: int = 0
    sha256: str | None = None
    outputs: tuple[np.ndarray, np.ndarray] | None = None
    cached: bool = False
    tensor: np.ndarray | None = None
    error: str | None = None


class TaggingService:
    """Holds the model, backends, vocabularies and the store, each opened once and reused across calls.

    The store opens on first use, so commands that need none (`info`, `similar`) never touch it.
    """

    def __init__(
        self,
        db_path: Path | None = None,
        model_spec: ModelSpec | None = None,
        decode_workers: int | None = None,
    ) -> None:
        self.db_path = db_path if db_path is not None else default_db_path()
        self.model_spec = model_spec or default_model_spec()
        self.decode_workers = decode_workers or max(1, (os.cpu_count() or 1))
        self._lock = threading.Lock()
        self._store: Store | None = None
        self._vectors: dict[tuple[str, Path | None], WordVectors] = {}
        self._rankers: dict[tuple[Any, ...], Ranker] = {}

    # -- resources ------------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                from tagsight.engine.store import Store

                self._store = Store.open(self.db_path)
            return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def __enter__(self) -> "TaggingService":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def model(self) -> ImageModel:
        return ImageModel.shared(self.model_spec)

    def vectors(self, backend: str = DEFAULT_BACKEND, vectors_file: Path | None = None) -> WordVectors:
        if vectors_file is not None and not vectors_file.is_file():
            raise BackendError(f"{vectors_file}: no such vectors file")
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

    # -- tagging --------------------------------------------------------------------------------

    def tag(
        self, files: Sequence[Path], options: TagOptions = TagOptions(), progress: Progress | None = None
    ) -> Iterator[ImageResult]:
        """Tag `files` in order, yielding one result per file as soon as its batch is committed.

        CNN outputs come from the store when a file is unchanged (size and mtime) or its content is
        known (hash: moved and copied files); only the rest is decoded, in a thread pool ahead of
        inference, and run through the CNN. Each batch's outputs and labels are committed before its
        results are yielded, so whatever a caller has shown survives a crash. Labels the user
        rejected for an image are never suggested for it again. A file that cannot be read yields a
        result with `error` set and never stops the run.
        """
        from tagsight.engine.store import ImageFile, TaggedImage

        progress = progress or NullProgress()
        ranker = self.ranker(options)
        model_id = self.model_spec.id
        store = self.store
        blocked = {path: state.blocked for path, state in store.tag_states(files).items()}
        run_id = store.start_run(model_id, ranker.vocabulary.backend, options.vocabulary, "conse")
        done = 0
        progress.report(0, len(files))
        try:
            with ThreadPoolExecutor(self.decode_workers, thread_name_prefix="decode") as pool:
                for batch in self._prepared(pool, files, options.batch_size):
                    check_cancelled(progress)
                    self._run_model(batch)
                    ready = [item for item in batch if item.outputs is not None]
                    labels: dict[Path, tuple[LabelScore, ...]] = {}
                    if ready:
                        ranked = ranker.rank(
                            np.stack([item.outputs[0] for item in ready]),
                            options.top,
                            options.min_score,
                            [blocked.get(item.path, frozenset()) for item in ready],
                        )
                        labels = {item.path: tuple(r) for item, r in zip(ready, ranked)}
                        store.record_batch(run_id, model_id, [
                            TaggedImage(
                                ImageFile(item.path, item.size, item.mtime_ns, item.sha256 or ""),
                                [(label.label, label.score, rank) for rank, label in enumerate(labels[item.path], 1)],
                                None if item.cached else item.outputs,
                            )
                            for item in ready
                        ])
                    for item in batch:
                        if item.error is not None:
                            yield ImageResult(item.given, error=item.error)
                        else:
                            yield ImageResult(item.given, labels[item.path], cached=item.cached,
                                              provider=self.model.provider)
                    done += len(batch)
                    progress.report(done, len(files))
        finally:
            store.finish_run(run_id)

    def _prepared(self, pool: ThreadPoolExecutor, files: Sequence[Path], size: int) -> Iterator[list[_Item]]:
        """Batches of items with cached outputs filled in and the rest decoding in `pool`, two
        batches ahead of the one being yielded so the CNN never waits for the decoder."""
        pending: deque[tuple[list[_Item], list[Future[_Item]]]] = deque()
        spec = self.model_spec.preprocess
        for start in range(0, len(files), size):
            items = self._from_cache(files[start:start + size])
            pending.append((items, [pool.submit(_decode, item, spec) for item in items if _needs_decoding(item)]))
            if len(pending) > 2:
                yield self._collect(*pending.popleft())
        while pending:
            yield self._collect(*pending.popleft())

    def _from_cache(self, paths: Sequence[Path]) -> list[_Item]:
        from tagsight.engine.store import normalize_path

        items = []
        for given in paths:
            item = _Item(normalize_path(given), given)
            try:
                stat = item.path.stat()
                item.size, item.mtime_ns = stat.st_size, stat.st_mtime_ns
            except OSError as exc:
                item.error = f"cannot read file: {exc.strerror or exc}"
            items.append(item)
        known = self.store.find_unchanged_many((i.path, i.size, i.mtime_ns) for i in items if i.error is None)
        for item in items:
            if item.path in known:
                item.sha256 = known[item.path].sha256
        self._fill_outputs(items)
        return items

    def _collect(self, items: list[_Item], decoding: list[Future[_Item]]) -> list[_Item]:
        for future in decoding:
            future.result()  # _decode fills the item in place and never raises
        self._fill_outputs([item for item in items if item.tensor is not None])  # moved or copied files
        return items

    def _fill_outputs(self, items: Sequence[_Item]) -> None:
        hashes = [item.sha256 for item in items if item.sha256 and item.outputs is None]
        cached = self.store.get_outputs_many(hashes, self.model_spec.id) if hashes else {}
        for item in items:
            if item.sha256 in cached and item.outputs is None:
                item.outputs, item.cached, item.tensor = cached[item.sha256], True, None

    def _run_model(self, batch: Sequence[_Item]) -> None:
        todo = [item for item in batch if item.tensor is not None]
        if not todo:
            return
        logits, features = self.model.run(np.stack([item.tensor for item in todo]))
        for item, row_logits, row_features in zip(todo, logits, features):
            item.outputs, item.tensor = (row_logits, row_features), None

    # -- corrections ----------------------------------------------------------------------------

    def record_correction(
        self,
        paths: Sequence[Path],
        label: str,
        action: Action,
        previous: str | None = None,
        source: Source = "gui",
    ) -> list[CorrectionEvent]:
        """One user action on one or more images: committed before this returns, one undo step."""
        return self.store.add_corrections([(path, label, action, previous) for path in paths], source=source)

    def undo(self, n: int = 1, source: Source = "gui") -> list[CorrectionEvent]:
        """Undo the last `n` user actions (a bulk action or an import is one); returns the undo events."""
        return self.store.undo(n, source=source)

    def redo(self, n: int = 1, source: Source = "gui") -> list[CorrectionEvent]:
        return self.store.redo(n, source=source)

    def tag_states(self, paths: Iterable[Path] | None = None) -> dict[Path, TagState]:
        """Folded corrections per image (confirmed tags, blocked labels, review mark); an image
        missing from the result was never corrected."""
        return self.store.tag_states(paths)

    def corrections(self, path: Path | None = None) -> list[CorrectionEvent]:
        """The correction log in order, all of it or one image's."""
        return self.store.corrections(path)

    def import_corrections(self, file: Path, base_dir: Path | None = None) -> ImportReport:
        """Import a CSV (path,label,action[,previous,time,source,...]) or .jsonl of corrections."""
        return self.store.import_corrections(file, base_dir=base_dir)

    def export_corrections(self, out: Path | TextIO, fmt: str = "csv") -> int:
        """Write the whole correction log; importing it elsewhere reproduces the same events."""
        return self.store.export_corrections(out, fmt)

    def export_tags(
        self,
        fmt: str,
        out: Path | None = None,
        with_predictions: bool = False,
        min_score: float | None = None,
    ) -> ExportSummary:
        """Export confirmed tags (and, if asked, predictions scoring at least `min_score`)."""
        from tagsight.engine.export import get_exporter

        exporter = get_exporter(fmt)
        records = self.store.export_records(with_predictions=with_predictions, min_score=min_score)
        return exporter.write(records, out)

    # -- inspection -----------------------------------------------------------------------------

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
            "db_path": str(self.db_path),
        }


def _needs_decoding(item: _Item) -> bool:
    return item.error is None and item.outputs is None


def _decode(item: _Item, spec: PreprocessSpec) -> _Item:
    """Read the file once: hash its bytes and decode them. Fills `item` in place; never raises."""
    try:
        data = item.path.read_bytes()
    except OSError as exc:
        item.error = f"cannot read file: {exc.strerror or exc}"
        return item
    item.sha256 = hashlib.sha256(data).hexdigest()
    try:
        item.tensor = load_tensor(io.BytesIO(data), spec)
    except ImageDecodeError as exc:
        item.error = str(exc)
    return item
