"""The `tagsight` command. Each subcommand is one `cmd_*` function over `tagsight.engine.service`.

Heavy imports (onnxruntime, numpy, the engine) happen inside the commands, so `tagsight --help` is fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

EXIT_OK, EXIT_PARTIAL, EXIT_ERROR = 0, 1, 2


class UserError(Exception):
    """A problem the user can fix; printed as one line, exit status 2."""


@dataclass(frozen=True)
class Command:
    """A subcommand offered by a plugin (`register_commands` hook)."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def plugin_commands() -> dict[str, Command]:
    from tagsight.engine.plugins import collect_by_name

    return collect_by_name("register_commands", Command, lambda command: command.name)


def _user_error_types() -> tuple[type[BaseException], ...]:
    from tagsight.engine.backends import BackendError
    from tagsight.engine.learned import ProjectionError
    from tagsight.engine.store import StoreError
    from tagsight.engine.vector_io import VectorFileError
    from tagsight.engine.vocabulary import VocabularyError
    from tagsight.engine.xmp import XmpError

    return (UserError, BackendError, VocabularyError, VectorFileError, StoreError, XmpError, ProjectionError)


def _add_vector_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", default="glove", help="word-vector backend (default: glove; see `tagsight plugins`)")
    parser.add_argument("--vectors", type=Path, metavar="FILE", help="vectors file for the backend")


def _add_tag_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--vocab", default="default", metavar="NAME|FILE",
                        help="vocabulary: default, imagenet1k, or a text file with one label per line")
    _add_vector_options(parser)
    add_precision_option(parser)


def add_precision_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--precision", choices=("fp32", "int8"), default="fp32",
                        help="the bundled model's precision: int8 runs about 1.6x faster on CPU and agrees "
                        "with fp32 within a point of accuracy (default: fp32)")


def _add_projection_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--projection", default="active", metavar="conse|latest|N",
                        help="projection for this run: conse, latest, a version number (default: the backend's "
                        "active version, see `tagsight projection list`)")


def _add_db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, metavar="FILE", help="store file (default: in the user data directory)")


def build_parser() -> argparse.ArgumentParser:
    from tagsight import __version__

    parser = argparse.ArgumentParser(
        prog="tagsight",
        description="Tag images with ranked, open-vocabulary word labels.",
    )
    parser.add_argument("--version", action="version", version=f"tagsight {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail to stderr")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    tag = commands.add_parser("tag", help="tag image files and folders", description="Tag image files and folders (recursive).")
    tag.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    tag.add_argument("--top", type=int, default=5, metavar="K", help="labels per image (default 5)")
    tag.add_argument("--min-score", type=float, metavar="S", help="hide labels scoring below S (cosine, -1..1)")
    tag.add_argument("--jsonl", action="store_true", help="one JSON object per image on stdout")
    tag.add_argument("--db", type=Path, metavar="FILE", help="store file (default: in the user data directory)")
    _add_tag_options(tag)
    _add_projection_option(tag)
    tag.set_defaults(func=cmd_tag)

    retrain = commands.add_parser(
        "retrain",
        help="learn a new projection from your corrections",
        description="Fit a new projection version on the correction log and the cached CNN outputs "
        "(confirmed and added tags are positives, rejected ones hard negatives; --vocab supplies word "
        "vectors and sampled negatives), choose its blend with ConSE by cross-validation on the "
        "corrections, store it and make it active for the backend.",
    )
    retrain.add_argument("--dry-run", action="store_true", help="train and report, store nothing")
    retrain.add_argument("--json", action="store_true", help="print the report as JSON")
    _add_db_option(retrain)
    _add_tag_options(retrain)
    retrain.set_defaults(func=cmd_retrain)

    projection = commands.add_parser(
        "projection",
        help="list learned projection versions, or choose the one tagging uses",
        description="Learned projection versions are kept per backend; `tag` uses the active one.",
    )
    projection_actions = projection.add_subparsers(dest="projection_command", metavar="ACTION", required=True)
    listing = projection_actions.add_parser("list", help="versions with their training data and validation metrics")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=cmd_projection_list)
    use = projection_actions.add_parser("use", help="make a version (N, latest) or conse what tagging uses")
    use.add_argument("version", metavar="N|latest|conse")
    _add_vector_options(use)
    use.set_defaults(func=cmd_projection_use)
    for sub in projection_actions.choices.values():
        _add_db_option(sub)

    review = commands.add_parser(
        "review-queue",
        help="images whose correction would teach the most, first",
        description="Unreviewed images with cached outputs, ordered by how much a correction would teach: "
        "a small margin between the two best suggestions, and disagreement between ConSE and the learned "
        "projection. The desktop's next-to-review follows the same order.",
    )
    review.add_argument("--limit", type=int, default=20, metavar="N", help="how many (default 20)")
    review.add_argument("--jsonl", action="store_true", help="one JSON object per image")
    _add_db_option(review)
    _add_tag_options(review)
    _add_projection_option(review)
    review.set_defaults(func=cmd_review_queue)

    export_model = commands.add_parser(
        "export-model",
        help="write the whole tagger (CNN + projection + vocabulary) as one ONNX graph",
        description="One ONNX graph from a preprocessed image tensor to a score per label: the CNN, the "
        "projection (ConSE or the learned one) and the vocabulary's vectors. The label names are in the "
        "model's metadata (`labels`, JSON).",
    )
    export_model.add_argument("file", type=Path, metavar="FILE.onnx")
    _add_db_option(export_model)
    _add_tag_options(export_model)
    _add_projection_option(export_model)
    export_model.set_defaults(func=cmd_export_model)

    info = commands.add_parser("info", help="versions, model, vectors, vocabulary and the provider in use")
    info.add_argument("--json", action="store_true", help="print JSON")
    _add_tag_options(info)
    info.set_defaults(func=cmd_info)

    plugins = commands.add_parser("plugins", help="list installed plugins")
    plugins.add_argument("--json", action="store_true", help="print JSON")
    plugins.set_defaults(func=cmd_plugins)

    corrections = commands.add_parser(
        "corrections",
        help="import, export, undo and redo corrections",
        description="The log of what was accepted, rejected, added and renamed, kept in the store.",
    )
    actions = corrections.add_subparsers(dest="corrections_command", metavar="ACTION", required=True)
    imp = actions.add_parser(
        "import",
        help="import corrections from a CSV (path,label,action[,previous,...]) or an exported log",
        description="Import corrections. Bad rows are reported with their line numbers and skipped; "
        "the good rows are saved (one undo step). Exit status 1 if any row was bad.",
    )
    imp.add_argument("file", type=Path, metavar="FILE.csv", help="CSV with a header naming path,label,action (or .jsonl)")
    imp.add_argument("--base", type=Path, metavar="DIR", help="folder relative paths start from (default: the file's)")
    imp.set_defaults(func=cmd_corrections_import)
    exp = actions.add_parser("export", help="write the whole correction log (import it elsewhere to reproduce it)")
    exp.add_argument("--format", choices=("csv", "jsonl"), default="csv", help="csv (default) or jsonl")
    exp.add_argument("--out", type=Path, metavar="FILE", help="file to write (default: stdout)")
    exp.set_defaults(func=cmd_corrections_export)
    for name, func, verb in (("undo", cmd_corrections_undo, "undo"), ("redo", cmd_corrections_redo, "redo")):
        step = actions.add_parser(name, help=f"{verb} the last N actions (a bulk action or an import counts as one)")
        step.add_argument("n", nargs="?", type=int, default=1, metavar="N", help="how many (default 1)")
        step.set_defaults(func=func)
    for sub in actions.choices.values():
        sub.add_argument("--db", type=Path, metavar="FILE", help="store file (default: in the user data directory)")

    export = commands.add_parser(
        "export",
        help="export confirmed tags: jsonl, csv or XMP sidecars",
        description="Export confirmed tags (and predictions with --with-predictions). XMP: a sidecar "
        "NAME.xmp per image, merged into an existing one, next to the image or mirrored under --out.",
    )
    export.add_argument("--format", default="jsonl", metavar="FORMAT", help="jsonl (default), csv, xmp, or a plugin's")
    export.add_argument("--out", type=Path, metavar="DIR", help="output folder (default: stdout; xmp: next to images)")
    export.add_argument("--with-predictions", action="store_true", help="add each image's latest predictions")
    export.add_argument("--min-score", type=float, metavar="S", help="with --with-predictions: only scores >= S")
    export.add_argument("--db", type=Path, metavar="FILE", help="store file (default: in the user data directory)")
    export.set_defaults(func=cmd_export)

    similar = commands.add_parser("similar", help="nearest words of a word in a backend")
    similar.add_argument("word")
    similar.add_argument("--top", type=int, default=10, metavar="K")
    _add_vector_options(similar)
    similar.set_defaults(func=cmd_similar)

    train = commands.add_parser(
        "train-vectors",
        help="train word vectors (skip-gram or CBOW, negative sampling) from text",
        description="Train word vectors from plain-text corpora, as gensim's Word2Vec does (same options "
        "and defaults). Corpora are streamed: UTF-8, one sentence per line, lower-cased, split on "
        "whitespace. The output is a word2vec file the word2vec backend (and gensim) reads.",
    )
    train.add_argument("corpus", nargs="+", type=Path, metavar="CORPUS")
    train.add_argument("--out", type=Path, required=True, metavar="FILE", help="vectors file to write")
    model = train.add_mutually_exclusive_group()
    model.add_argument("--sg", dest="sg", action="store_true", default=True, help="skip-gram (default)")
    model.add_argument("--cbow", dest="sg", action="store_false", help="CBOW: predict a word from the mean of its context")
    train.add_argument("--dim", type=int, metavar="N", help="vector size (default 100; with --init-from, the base's)")
    train.add_argument("--window", type=int, default=5, metavar="N", help="max distance to a context word (default 5)")
    train.add_argument("--negative", type=int, default=5, metavar="N", help="negative samples per word (default 5)")
    train.add_argument("--epochs", type=int, default=5, metavar="N", help="passes over the corpus (default 5)")
    train.add_argument("--min-count", type=int, default=5, metavar="N", help="ignore rarer words (default 5)")
    train.add_argument("--sample", type=float, default=1e-3, metavar="T", help="down-sampling of frequent words (default 1e-3)")
    train.add_argument("--alpha", type=float, default=0.025, metavar="A", help="initial learning rate (default 0.025)")
    train.add_argument("--min-alpha", type=float, default=0.0001, metavar="A", help="final learning rate (default 0.0001)")
    train.add_argument("--workers", type=int, default=3, metavar="N", help="training threads (default 3)")
    train.add_argument("--seed", type=int, default=1, metavar="S", help="random seed (default 1; one worker is deterministic)")
    train.add_argument("--format", choices=("word2vec-bin", "word2vec-txt"), default="word2vec-bin",
                       help="output format (default word2vec-bin)")
    train.add_argument("--init-from", metavar="BACKEND",
                       help="start from BACKEND's vectors and keep them fixed: new words are learned in its space")
    train.add_argument("--init-vectors", type=Path, metavar="FILE", help="vectors file for --init-from")
    train.add_argument("--register", metavar="NAME", help="also make the result available as --backend NAME")
    train.set_defaults(func=cmd_train_vectors)

    for command in plugin_commands().values():
        sub = commands.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(sub)
        sub.set_defaults(func=command.run)
    return parser


def _service(args: argparse.Namespace) -> Any:
    """The engine's service over the store named by --db (opened on first use, closed by `with`)."""
    from tagsight.engine.model import default_model_spec
    from tagsight.engine.service import TaggingService

    return TaggingService(db_path=getattr(args, "db", None), model_spec=default_model_spec(getattr(args, "precision", "fp32")))


def _tag_options(args: argparse.Namespace, **extra: Any) -> Any:
    from tagsight.engine.service import TagOptions

    if "projection" in args:
        extra.setdefault("projection", args.projection)
    return TagOptions(vocabulary=args.vocab, backend=args.backend, vectors_file=args.vectors, **extra)


def cmd_tag(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from tagsight.engine.service import scan

    if args.top < 1:
        raise UserError("--top must be at least 1")
    found = scan(args.paths)
    for path, reason in found.errors:
        print(f"tagsight: {path}: {reason}", file=sys.stderr)
    options = _tag_options(args, top=args.top, min_score=args.min_score)
    failures = len(found.errors)
    bar = tqdm(total=len(found.files), unit="img", file=sys.stderr, disable=None, leave=False)
    with _service(args) as service:
        service.ranker(options)  # fail on a bad backend or vocabulary before any work
        failures += _print_results(service.tag(found.files, options), args.jsonl, bar)
    if failures:
        print(f"tagsight: {failures} input(s) could not be tagged (reported above)", file=sys.stderr)
    return EXIT_PARTIAL if failures else EXIT_OK


def _print_results(results: Any, jsonl: bool, bar: Any) -> int:
    """Print each result as it comes (it is already committed); returns how many were errors."""
    failures = 0
    try:
        for result in results:
            bar.update(1)
            if result.error is not None:
                failures += 1
            if jsonl:
                print(json.dumps(result.to_json(), ensure_ascii=False), flush=True)
            else:
                bar.clear()
                _print_result(result)
    finally:
        bar.close()
    return failures


def _print_result(result: Any) -> None:
    print(result.path)
    if result.error is not None:
        print(f"  error: {result.error}")
        return
    width = max((len(label.label) for label in result.labels), default=0)
    for label in result.labels:
        sources = ", ".join(label.sources)
        print(f"  {label.score:6.3f}  {label.label:<{width}}  <- {sources}")


def cmd_info(args: argparse.Namespace) -> int:
    info = _service(args).info(_tag_options(args))
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        width = max(len(key) for key in info)
        for key, value in info.items():
            shown = ", ".join(value) if isinstance(value, list) else value
            print(f"{key:<{width}}  {shown}")
    return EXIT_OK


def cmd_plugins(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from tagsight.engine.plugins import plugin_infos

    infos = plugin_infos()
    if args.json:
        print(json.dumps([asdict(info) for info in infos], indent=2))
        return EXIT_OK
    for info in infos:
        status = f"  DISABLED: {info.error}" if info.error else ""
        print(f"{info.name} {info.version or ''} ({info.source}): {', '.join(info.hooks) or '-'}{status}")
    return EXIT_OK


def cmd_corrections_import(args: argparse.Namespace) -> int:
    with _service(args) as service:
        report = service.import_corrections(args.file, args.base)
    for error in report.errors:
        print(f"tagsight: {args.file}:{error.line}: {error.message}", file=sys.stderr)
    summary = f"imported {report.imported} correction(s)"
    if report.duplicates:
        summary += f", {report.duplicates} already present"
    if report.errors:
        summary += f"; {len(report.errors)} bad row(s) skipped (reported above)"
    print(summary)
    if report.errors:
        return EXIT_PARTIAL if report.imported or report.duplicates else EXIT_ERROR
    return EXIT_OK


def cmd_corrections_export(args: argparse.Namespace) -> int:
    with _service(args) as service:
        count = service.export_corrections(args.out if args.out is not None else sys.stdout, args.format)
    if args.out is not None:
        print(f"wrote {count} correction(s) to {args.out}", file=sys.stderr)
    return EXIT_OK


def _print_steps(events: list[Any], verb: str) -> int:
    if not events:
        print(f"nothing to {verb}")
        return EXIT_OK
    for event in events:
        renamed = f" (renamed from {event.previous})" if event.previous else ""
        print(f"{verb}: {event.path}: {event.label}{renamed}")
    return EXIT_OK


def cmd_corrections_undo(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise UserError("N must be at least 1")
    with _service(args) as service:
        return _print_steps(service.undo(args.n, source="cli"), "undo")


def cmd_corrections_redo(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise UserError("N must be at least 1")
    with _service(args) as service:
        return _print_steps(service.redo(args.n, source="cli"), "redo")


def cmd_export(args: argparse.Namespace) -> int:
    if args.min_score is not None and not args.with_predictions:
        raise UserError("--min-score applies to predictions: add --with-predictions")
    with _service(args) as service:
        try:
            summary = service.export_tags(args.format, args.out, args.with_predictions, args.min_score)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    for path, reason in summary.errors:
        print(f"tagsight: {path}: {reason}", file=sys.stderr)
    for note in summary.notes:
        print(f"tagsight: {note}", file=sys.stderr)
    if summary.written:
        print(f"exported {summary.images} image(s) to {len(summary.written)} file(s)", file=sys.stderr)
    return EXIT_PARTIAL if summary.errors else EXIT_OK


def cmd_retrain(args: argparse.Namespace) -> int:
    progress = _BarProgress("step")
    try:
        with _service(args) as service:
            report = service.retrain(_tag_options(args), dry_run=args.dry_run, progress=progress)
    finally:
        progress.close()
    if args.json:
        print(json.dumps({"version": report.version, "backend": report.backend, "summary": report.summary,
                          "metrics": report.metrics}, indent=2))
        return EXIT_OK
    summary, metrics = report.summary, report.metrics
    print(f"learned from {summary['images']} image(s): {summary['pairs']} tag(s) given, "
          f"{summary['hard_negatives']} rejected; {len(summary['tags'])} tag(s), "
          f"{summary['library_images']} library image(s)")
    if summary["learned_vectors"]:
        print(f"vectors learned from images for: {', '.join(summary['learned_vectors'])}")
    skipped = summary["corrected_images_without_outputs"]
    if skipped:
        print(f"skipped {skipped} corrected image(s) never tagged (no cached CNN outputs)")
    print(_cv_line(metrics))
    if report.version is None:
        print("dry run: nothing stored")
    else:
        print(f"projection version {report.version} ({report.backend}) is now active; "
              "`tagsight projection use conse` goes back to ConSE")
    return EXIT_OK


def _cv_line(metrics: dict[str, Any]) -> str:
    held, left = metrics["held_out_hit1"], metrics["left_out_tags_hit1"]

    def pair(values: dict[str, Any]) -> str:
        return "n/a" if values["learned"] is None else f"{values['learned']:.3f} (ConSE {values['conse']:.3f})"

    penalty = metrics["map_penalty"]
    blend = "no map" if penalty is None else f"map penalty {penalty}"
    caveat = "" if metrics.get("left_out_no_worse", True) else " (no setting matched ConSE on left-out tags)"
    return (f"cross-validated hit@1: held-out images {pair(held)}, left-out tags {pair(left)}{caveat}; "
            f"chosen: {blend}, prototype weight {metrics['prototype_weight']}")


def cmd_projection_list(args: argparse.Namespace) -> int:
    with _service(args) as service:
        versions = service.projections()
    if args.json:
        print(json.dumps([{"version": v.id, "backend": v.backend, "created": v.created.isoformat(), "active": v.active,
                           "training_summary": v.training_summary, "metrics": v.metrics} for v in versions], indent=2))
        return EXIT_OK
    if not versions:
        print("no learned projection yet: tagging uses ConSE (`tagsight retrain` learns one)")
        return EXIT_OK
    for v in versions:
        mark = "*" if v.active else " "
        summary = v.training_summary
        print(f"{mark} {v.id:>3}  {v.backend}  {v.created:%Y-%m-%d %H:%M}  {summary.get('images', '?')} images, "
              f"{len(summary.get('tags', {}))} tags, vocabulary {summary.get('vocabulary', '?')}")
        if v.metrics:
            print(f"        {_cv_line(v.metrics)}")
    print("* active for its backend; other backends use ConSE unless they have an active version")
    return EXIT_OK


def cmd_projection_use(args: argparse.Namespace) -> int:
    from tagsight.engine.service import TagOptions

    with _service(args) as service:
        version = service.use_projection(args.version, TagOptions(backend=args.backend, vectors_file=args.vectors))
    if version is None:
        print(f"tagging with backend {args.backend} now uses ConSE")
    else:
        print(f"tagging with backend {version.backend} now uses projection version {version.id}")
    return EXIT_OK


def cmd_review_queue(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise UserError("--limit must be at least 1")
    with _service(args) as service:
        items = service.review_queue(_tag_options(args), limit=args.limit)
    for item in items:
        if args.jsonl:
            print(json.dumps({"path": str(item.path), "priority": round(item.priority, 4), "margin": round(item.margin, 4),
                              "disagreement": item.disagreement, "labels": [l.label for l in item.labels]},
                             ensure_ascii=False))
        else:
            shown = ", ".join(label.label for label in item.labels[:3])
            print(f"{item.priority:5.2f}  margin {item.margin:5.3f}  disagree {item.disagreement:.1f}  {item.path}  [{shown}]")
    if not items and not args.jsonl:
        print("nothing to review: every tagged image has been reviewed")
    return EXIT_OK


def cmd_export_model(args: argparse.Namespace) -> int:
    try:
        import onnx  # noqa: F401  (only this command needs it)
    except ImportError:
        raise UserError("export-model needs the onnx package: pip install 'tagsight[export]'") from None
    with _service(args) as service:
        labels = service.export_model(args.file, _tag_options(args))
    print(f"wrote {args.file}: image tensor -> scores for {labels} labels", file=sys.stderr)
    return EXIT_OK


class _BarProgress:
    """The engine's progress protocol drawn as a tqdm bar; the message goes in the postfix."""

    def __init__(self, unit: str) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=0, unit=unit, unit_scale=True, file=sys.stderr, disable=None)

    def report(self, done: int, total: int, message: str = "") -> None:
        self.bar.total = total
        self.bar.n = done
        self.bar.set_postfix_str(message, refresh=False)
        self.bar.refresh()

    def cancelled(self) -> bool:
        return False  # Ctrl+C interrupts the job directly

    def close(self) -> None:
        self.bar.close()


def cmd_train_vectors(args: argparse.Namespace) -> int:
    from tagsight.engine.training.corpus import CorpusError
    from tagsight.engine.training.skipgram import Word2VecTrainer
    from tagsight.engine.user_backends import register_backend
    from tagsight.engine.vector_io import write_word2vec

    init = None
    if args.init_from:
        from tagsight.engine.service import TaggingService

        base = TaggingService().vectors(args.init_from, args.init_vectors)
        init = (base.words, base.matrix)
        if args.dim is not None and args.dim != base.dim:
            raise UserError(f"--dim {args.dim} differs from {base.name}'s {base.dim}: new words must live in its space")
    dim = args.dim if args.dim is not None else (init[1].shape[1] if init else 100)
    trainer = Word2VecTrainer(
        sg=args.sg, dim=dim, window=args.window, negative=args.negative, epochs=args.epochs,
        min_count=args.min_count, sample=args.sample, alpha=args.alpha, min_alpha=args.min_alpha,
        workers=args.workers, seed=args.seed, init_from=init,
    )
    progress = _BarProgress("word")
    try:
        trainer.fit(args.corpus, progress)
    except (CorpusError, ValueError) as exc:
        raise UserError(str(exc)) from None
    finally:
        progress.close()
    write_word2vec(args.out, trainer.words_, trainer.vectors_, binary=args.format == "word2vec-bin")
    print(f"wrote {len(trainer.words_)} vectors of dimension {dim} to {args.out}", file=sys.stderr)
    if args.register:
        try:
            register_backend(args.register, args.out)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        print(f"registered as --backend {args.register}", file=sys.stderr)
    return EXIT_OK


def cmd_similar(args: argparse.Namespace) -> int:
    from tagsight.engine.service import TaggingService

    try:
        neighbours = TaggingService().similar(args.word, args.backend, args.vectors, args.top)
    except KeyError as exc:
        raise UserError(exc.args[0]) from None
    for word, score in neighbours:
        print(f"{score:6.3f}  {word}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="tagsight: %(message)s",
        stream=sys.stderr,
    )
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        if "gui" not in plugin_commands():
            parser.print_help()
            return EXIT_OK
        args = parser.parse_args(["gui"])  # plain `tagsight` opens the window
        func = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        print("tagsight: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        sys.stderr.close()  # e.g. `tagsight tag ... | head`: stop quietly
        return EXIT_OK
    except _user_error_types() as exc:
        print(f"tagsight: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
