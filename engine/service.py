"""The one door into the engine for the CLI and the GUI: dataclasses in, dataclasses out."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import platform
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence, TextIO

import numpy as np

from tagsight.engine.backends import DEFAULT_BACKEND, BackendError, get_backend
from tagsight.engine.learned import LearnedProjection, ProjectionError, TrainingSet
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
    from tagsight.engine.store import Action, CorrectionEvent, ImportReport, ProjectionVersionInfo, Source, Store, TagState

log = logging.getLogger(__name__)

# The review queue compares the top 5 suggestions, and margins with the hinge loss's.
REVIEW_TOP = 5
REVIEW_MARGIN = 0.1
# Library images whose cached outputs a retraining reads for centring and self-labelling.
BACKGROUND_IMAGES = 2000


@dataclass(frozen=True)
class TagOptions:
    top: int = 5
    vocabulary: str = "default"
    backend: str = DEFAULT_BACKEND
    vectors_file: Path | None = None
    min_score: float | None = None
    top_t: int = 10
    # Images per CNN run, worker task and store commit. 1-8 run much slower (benchmarks/
    # bench_tag_pipeline.py --tables batch); 32 tagged 1,000 images about 5% faster than 16 once, but
    # onnxruntime's arena holds each concurrent run's activations: 32 put a whole `tag` process at
    # 1.0 GB RSS, 16 at about 0.7 GB (benchmarks/check_memory.py).
    batch_size: int = 16
    # "active" (the backend's active learned version, else ConSE), "conse", "latest" or a version number.
    projection: str = "active"


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
class RetrainReport:
    """A retraining: the stored version (None for a dry run), what it learned from, and its
    cross-validated hit@1 next to ConSE's."""

    version: int | None
    backend: str
    summary: dict[str, Any]
    metrics: dict[str, Any]


@dataclass(frozen=True)
class ReviewItem:
    """An image to review, with why: `margin` between its two best suggestions, and `disagreement`,
    the share of the learned projection's top 5 that ConSE would not suggest."""

    path: Path
    priority: float
    margin: float
    disagreement: float
    labels: tuple[LabelScore, ...]


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
        workers: int | None = None,
    ) -> None:
        self.db_path = db_path if db_path is not None else default_db_path()
        self.model_spec = model_spec or default_model_spec()
        self.workers = workers or max(1, (os.cpu_count() or 1))
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

    def class_vectors(self, vectors: WordVectors) -> np.ndarray:
        """(classes, dim): the CNN classes' label vectors in a backend, zero rows for classes without one."""
        classes = load_vocabulary(self.model_spec.classes)
        embedded = embed(classes, vectors)  # cached per (labels, vectors): no word index to build
        rows = dict(zip(embedded.labels, embedded.matrix))
        missing = np.zeros(vectors.dim, dtype=np.float32)
        return np.stack([rows.get(name, missing) for name in classes.labels]).astype(np.float32)

    def ranker(self, options: TagOptions) -> Ranker:
        """ConSE, or the learned projection `options.projection` selects, over the options' vocabulary."""
        vectors = self.vectors(options.backend, options.vectors_file)
        version = self.projection_version(options.projection, vectors)
        key = (options.backend, options.vectors_file, options.vocabulary, options.top_t,
               version.id if version is not None else None)
        with self._lock:
            if key not in self._rankers:
                class_names = load_vocabulary(self.model_spec.classes).labels
                class_vectors = self.class_vectors(vectors)
                vocabulary = embed(load_vocabulary(options.vocabulary), vectors)
                learned = None
                if version is not None:
                    try:
                        learned = self._load_projection(version, class_vectors, vectors)
                    except ProjectionError as exc:
                        if options.projection != "active":
                            raise
                        log.warning("%s; using ConSE (see `tagsight projection list`)", exc)
                projection = learned.conse if learned is not None else ConSE(top_t=options.top_t).fit(class_vectors)
                self._rankers[key] = Ranker(projection, class_names, vocabulary, learned,
                                            version.id if learned is not None and version is not None else None)
            return self._rankers[key]

    # -- projections ----------------------------------------------------------------------------

    def projection_version(self, selection: str, vectors: WordVectors) -> ProjectionVersionInfo | None:
        """The learned version `selection` names for this backend: "active" (None when there is none),
        "conse" (None), "latest" or a version number. A version of another backend is refused."""
        if selection == "conse":
            return None
        if selection == "active":
            if self._store is None and not self.db_path.exists():
                return None  # no store yet, so nothing learned (and `info` creates no file)
            return self.store.active_projection_version(vectors.name)
        versions = self.store.projection_versions()
        if selection == "latest":
            mine = [v for v in versions if v.backend == vectors.name]
            if not mine:
                raise ProjectionError(f"no learned projection for backend {vectors.name!r} yet (run `tagsight retrain`)")
            return mine[-1]
        if not selection.isdigit():
            raise ProjectionError(f"unknown projection {selection!r} (expected active, conse, latest or a version number)")
        found = next((v for v in versions if v.id == int(selection)), None)
        if found is None:
            raise ProjectionError(f"no projection version {selection} (see `tagsight projection list`)")
        if found.backend != vectors.name:
            raise ProjectionError(
                f"projection version {found.id} was trained for backend {found.backend!r}, not {vectors.name!r}: "
                "choose another version or --projection conse"
            )
        return found

    def _load_projection(self, version: ProjectionVersionInfo, class_vectors: np.ndarray, vectors: WordVectors) -> LearnedProjection:
        learned, meta = LearnedProjection.from_bytes(version.params, class_vectors)
        problems = [
            f"{what} {meta.get(key)!r}, not {want!r}"
            for what, key, want in (("backend", "backend", vectors.name), ("model", "model", self.model_spec.id),
                                    ("vector dimension", "dim", vectors.dim))
            if meta.get(key) != want
        ]
        if problems:
            raise ProjectionError(f"projection version {version.id} was trained for {'; '.join(problems)}")
        return learned

    def projections(self) -> list[ProjectionVersionInfo]:
        """Every stored projection version, oldest first."""
        return self.store.projection_versions()

    def use_projection(self, selection: str, options: TagOptions = TagOptions()) -> ProjectionVersionInfo | None:
        """Make `selection` (a version number, "latest" or "conse") what `tag` uses for the options'
        backend from now on; returns the version, or None for ConSE."""
        vectors = self.vectors(options.backend, options.vectors_file)
        if selection == "conse":
            self.store.deactivate_projection(vectors.name)
            return None
        if selection == "active":
            raise ProjectionError("choose a version number, latest or conse")
        version = self.projection_version(selection, vectors)
        assert version is not None
        self.store.activate_projection_version(version.id)
        return version

    def retrain(
        self, options: TagOptions = TagOptions(), dry_run: bool = False, progress: Progress | None = None
    ) -> RetrainReport:
        """Fit a learned projection on the correction log and the cached CNN outputs, and store it as a
        new version, active for the backend (unless `dry_run`).

        Confirmed and added tags are positives, rejected and renamed-away labels hard negatives; a
        hierarchical tag "animal|dog" teaches its leaf "dog". Corrected images without cached outputs
        (never tagged) are skipped and counted. Cancelling stores nothing.
        """
        from tagsight.engine.store import TAG_SEPARATOR

        progress = progress or NullProgress()
        vectors = self.vectors(options.backend, options.vectors_file)
        vocabulary = embed(load_vocabulary(options.vocabulary), vectors)
        store = self.store
        images = {row.path: row for row in store.images()}
        states = store.tag_states()
        corrected = [path for path, state in states.items() if state.tags and path in images]
        outputs = store.get_outputs_many([images[p].sha256 for p in corrected], self.model_spec.id)
        usable = [p for p in corrected if images[p].sha256 in outputs]

        def leaf(label: str) -> str:
            return label.rsplit(TAG_SEPARATOR, 1)[-1].strip()

        if len(usable) < 2:
            missing = len(corrected) - len(usable)
            missing = f"; {missing} have no cached CNN outputs (run `tagsight tag` on them)" if missing else ""
            raise ProjectionError(f"retraining needs at least two tagged images with a confirmed or added tag{missing}")
        positives = [tuple(dict.fromkeys(leaf(t) for t in states[p].tags)) for p in usable]
        negatives = [tuple(sorted({leaf(t) for t in states[p].blocked} - set(pos))) for p, pos in zip(usable, positives)]
        logits = np.stack([outputs[images[p].sha256][0] for p in usable])
        features = np.stack([outputs[images[p].sha256][1] for p in usable])
        background = self._background(images, set(usable))
        data = TrainingSet(
            logits, features, positives, negatives,
            np.stack([b[0] for b in background]) if background else logits[:0],
            np.stack([b[1] for b in background]) if background else features[:0],
        )
        conse = ConSE(top_t=options.top_t).fit(self.class_vectors(vectors))
        learned = LearnedProjection(conse).fit(data, vocabulary, lambda label: label_vector(vectors, label), progress)
        summary = dict(learned.summary_, corrected_images_without_outputs=len(corrected) - len(usable),
                       images_with_only_rejections=sum(1 for s in states.values() if not s.tags and s.blocked))
        version = None
        if not dry_run:
            check_cancelled(progress)
            params = learned.to_bytes({"backend": vectors.name, "model": self.model_spec.id, "dim": vectors.dim})
            version = store.add_projection_version(vectors.name, params, training_summary=summary,
                                                   metrics=learned.metrics_, activate=True)
        return RetrainReport(version, vectors.name, summary, learned.metrics_)

    def _background(self, images: dict[Path, Any], exclude: set[Path]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Cached outputs of up to BACKGROUND_IMAGES other library images (a fixed-seed sample)."""
        shas = sorted({row.sha256 for path, row in images.items() if path not in exclude})
        if len(shas) > BACKGROUND_IMAGES:
            shas = sorted(np.random.default_rng(0).choice(shas, BACKGROUND_IMAGES, replace=False).tolist())
        found = self.store.get_outputs_many(shas, self.model_spec.id)
        return [found[h] for h in sorted(found)]

    # -- tagging --------------------------------------------------------------------------------

    def tag(
        self, files: Sequence[Path], options: TagOptions = TagOptions(), progress: Progress | None = None
    ) -> Iterator[ImageResult]:
        """Tag `files` in order, yielding one result per file as soon as its batch is committed.

        CNN outputs come from the store when a file is unchanged (size and mtime) or its content is
        known (hash: moved and copied files); only the rest is decoded and run through the CNN, a
        whole batch per worker thread (see `_computed`). Each batch's outputs and labels are
        committed before its results are yielded, so whatever a caller has shown survives a crash.
        Labels the user rejected for an image are never suggested for it again. A file that cannot
        be read yields a result with `error` set and never stops the run.
        """
        from tagsight.engine.store import ImageFile, TaggedImage

        progress = progress or NullProgress()
        ranker = self.ranker(options)
        model_id = self.model_spec.id
        store = self.store
        blocked = {path: state.blocked for path, state in store.tag_states(files).items()}
        run_id = store.start_run(model_id, ranker.vocabulary.backend, options.vocabulary,
                                 "conse" if ranker.version is None else "learned", ranker.version)
        done = 0
        progress.report(0, len(files))
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="tag")
        pool.submit(lambda: self.model)  # load it while the first batch decodes
        try:
            for batch in self._computed(pool, files, self._batch_size(len(files), options.batch_size)):
                check_cancelled(progress)
                ready = [item for item in batch if item.outputs is not None]
                labels: dict[Path, tuple[LabelScore, ...]] = {}
                if ready:
                    ranked = ranker.rank(
                        np.stack([item.outputs[0] for item in ready]),
                        np.stack([item.outputs[1] for item in ready]),
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
            pool.shutdown(cancel_futures=True)  # a cancelled run waits for the running batches only
            store.finish_run(run_id)

    def _batch_size(self, files: int, wanted: int) -> int:
        """`wanted`, or less when that would leave a worker (a core) without a batch."""
        return max(1, min(wanted, -(-files // self.workers)))

    def _computed(self, pool: ThreadPoolExecutor, files: Sequence[Path], size: int) -> Iterator[list[_Item]]:
        """Batches in order, every item with its CNN outputs (from the store, or computed) or an error.

        Each worker decodes a whole batch and runs the CNN on it with one core (the model runs one
        thread per call): no two threads wait on each other inside a batch, and one more batch is
        queued than there are workers, so none idles while this thread ranks and commits
        (benchmarks/bench_tag_pipeline.py measures this against a decoding pool feeding a CNN that
        uses every core itself, threads or processes).
        """
        pending: deque[Future[list[_Item]]] = deque()
        for start in range(0, len(files), size):
            pending.append(pool.submit(self._compute, self._from_cache(files[start:start + size])))
            if len(pending) > self.workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def _compute(self, items: list[_Item]) -> list[_Item]:
        """Decode what the store does not know, then run the CNN on it (in a worker thread)."""
        spec = self.model_spec.preprocess
        for item in items:
            if _needs_decoding(item):
                _decode(item, spec)
        self._fill_outputs([item for item in items if item.tensor is not None])  # moved or copied files
        self._run_model(items)
        return items

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

    # -- what to review next --------------------------------------------------------------------

    def review_queue(
        self, options: TagOptions = TagOptions(), limit: int | None = None, paths: Iterable[Path] | None = None
    ) -> list[ReviewItem]:
        """Unreviewed images with cached outputs (all known, or those of `paths`), the ones whose
        correction would teach the most first.

        priority = (1 - margin / 0.1, at least 0) + disagreement. The margin between the two best
        suggestions is measured against the hinge loss's margin (0.1): below it, a correction changes
        the training loss (uncertainty sampling). Disagreement is the share of the learned top 5 that
        ConSE would not suggest, a committee of two (query by committee); it is 0 under ConSE alone.
        """
        from tagsight.engine.store import normalize_path

        ranker = self.ranker(options)
        conse = self.ranker(replace(options, projection="conse")) if ranker.learned is not None else None
        rows = self.store.images()
        if paths is not None:
            wanted = {normalize_path(p) for p in paths}
            rows = [row for row in rows if row.path in wanted]
        states = self.store.tag_states()
        rows = [row for row in rows if states.get(row.path) is None or states[row.path].review == "unreviewed"]
        outputs = self.store.get_outputs_many([row.sha256 for row in rows], self.model_spec.id)
        rows = [row for row in rows if row.sha256 in outputs]
        if not rows:
            return []
        logits = np.stack([outputs[row.sha256][0] for row in rows])
        features = np.stack([outputs[row.sha256][1] for row in rows])
        ranked = ranker.rank(logits, features, REVIEW_TOP)
        plain = conse.rank(logits, features, REVIEW_TOP) if conse is not None else ranked
        items = []
        for row, labels, other in zip(rows, ranked, plain):
            margin = labels[0].score - labels[1].score if len(labels) > 1 else 1.0
            names = {label.label for label in labels}
            disagreement = len(names - {label.label for label in other}) / max(len(names), 1)
            priority = max(0.0, 1.0 - margin / REVIEW_MARGIN) + disagreement
            items.append(ReviewItem(row.path, priority, margin, disagreement, tuple(labels)))
        items.sort(key=lambda item: (-item.priority, item.margin, str(item.path)))
        return items[:limit] if limit is not None else items

    def export_model(self, file: Path, options: TagOptions = TagOptions()) -> int:
        """Write CNN + projection + vocabulary as one ONNX graph (see `onnx_export`); returns the
        number of labels it scores."""
        from tagsight.engine.onnx_export import export_tagger

        ranker = self.ranker(options)
        export_tagger(self.model_spec, ranker, file)
        return len(ranker.vocabulary.labels)

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
            "projection": "conse" if ranker.version is None else f"learned version {ranker.version}",
            "vocabulary_labels": len(ranker.vocabulary.labels),
            "vocabulary_missing": len(ranker.vocabulary.missing),
            "db_path": str(self.db_path),
        }


def _needs_decoding(item: _Item) -> bool:
    return item.error is None and item.outputs is None


def _decode(item: _Item, spec: PreprocessSpec) -> None:
    """Fill in `item`'s hash and tensor, or its error."""
    item.sha256, item.tensor, item.error = read_and_decode(item.path, spec)


def read_and_decode(path: Path, spec: PreprocessSpec) -> tuple[str | None, np.ndarray | None, str | None]:
    """Read a file once: (sha256 of its bytes, model input, None) or (sha256 or None, None, why it
    cannot be read). Never raises; a plain function, so a process pool can run it too."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, None, f"cannot read file: {exc.strerror or exc}"
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        return sha256, load_tensor(io.BytesIO(data), spec), None
    except ImageDecodeError as exc:
        return sha256, None, str(exc)
