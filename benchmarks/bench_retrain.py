"""Time `tagsight retrain` on 10,000 corrections (target: under 10 s on 2 cores).

    python benchmarks/bench_retrain.py [--corrections N] [--tags T] [--library M]

A store is filled with N corrected images and M more library images. Their CNN outputs are real
outputs of the bundled model on 64 random tensors, mixed per tag and perturbed per image, so each of T
tags (words of the default vocabulary) has its own cluster. One correction in ten is a rejection.
Prints the retraining time, split into reading the store and fitting, measured in one run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from tagsight.engine.service import TaggingService, TagOptions
from tagsight.engine.store import ImageFile
from tagsight.engine.vocabulary import load_vocabulary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corrections", type=int, default=10_000)
    parser.add_argument("--tags", type=int, default=50)
    parser.add_argument("--library", type=int, default=5_000)
    parser.add_argument("--profile", action="store_true", help="print where the time goes")
    parser.add_argument("--profile-sort", default="cumulative", help="pstats sort key (default cumulative)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        service = TaggingService(db_path=Path(tmp) / "store.db")
        logits, features = service.model.run(rng.normal(0, 2, (64, 3, 224, 224)).astype(np.float32))
        words = [w for w in load_vocabulary("default").labels if w.isalpha()][:2000]
        tags = list(rng.choice(words, args.tags, replace=False))
        mix = rng.dirichlet(np.full(64, 0.2), args.tags)  # each tag: its own blend of the 64 outputs
        rejections = args.corrections // 10  # one correction in ten rejects another tag on a tagged image
        corrected = args.corrections - rejections
        images = corrected + args.library
        owner = rng.integers(0, args.tags, images)
        weights = mix[owner] + rng.dirichlet(np.full(64, 0.2), images) * 0.5
        weights /= weights.sum(axis=1, keepdims=True)
        all_logits = (weights @ logits + rng.normal(0, 0.3, (images, logits.shape[1]))).astype(np.float32)
        all_features = np.maximum(weights @ features + rng.normal(0, 0.05, (images, features.shape[1])), 0).astype(np.float32)
        hashes = [f"{i:064x}" for i in range(images)]
        files = [ImageFile(Path(tmp) / f"img{i:06d}.jpg", 1000 + i, i, hashes[i]) for i in range(images)]
        store = service.store
        store.upsert_images(files)
        store.put_outputs_many(service.model_spec.id, zip(hashes, all_logits, all_features))
        items = [(files[i].path, tags[owner[i]], "add") for i in range(corrected)]
        items += [(files[i].path, tags[(owner[i] + 1) % args.tags], "reject") for i in range(rejections)]
        store.add_corrections(items, source="import")
        options = TagOptions()
        service.ranker(options)  # load vectors and the vocabulary before timing

        start, cpu = time.perf_counter(), time.process_time()
        if args.profile:
            import cProfile
            import pstats

            with cProfile.Profile() as profile:
                report = service.retrain(options)
            pstats.Stats(profile).sort_stats(args.profile_sort).print_stats(25)
        else:
            report = service.retrain(options)
        total, cpu = time.perf_counter() - start, time.process_time() - cpu
        summary, metrics = report.summary, report.metrics
        print(f"{len(items)} corrections ({summary['pairs']} tags given, {summary['hard_negatives']} rejected) on "
              f"{summary['images']} images, {len(summary['tags'])} tags, {summary['library_images']} library images")
        print(f"retrain: {total:.2f} s wall, {cpu:.2f} s CPU (target < 10 s); cross-validated on {metrics['cv_images']} images, "
              f"held-out hit@1 {metrics['held_out_hit1']['learned']} (ConSE {metrics['held_out_hit1']['conse']})")
        service.close()


if __name__ == "__main__":
    main()
