"""Re-ranking cached CNN outputs with another backend: the compute for 10,000 images, in one run.

    python benchmarks/bench_rerank.py [--images 10000] [--vocab default]

Stores 10,000 sets of CNN outputs in a fresh store (logits of generated photos, perturbed so that
every image differs), then times, for the bundled GloVe and for the same vectors re-read as a
word2vec file (a second backend): fetching all outputs from the store, and projecting + ranking them
(top 5 over the vocabulary), best and median of --repeat runs. Backend loading (and the first call,
which loads the ranking kernel) is reported apart: it happens once per backend.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from tagsight.engine.service import TaggingService, TagOptions
from tagsight.engine.vector_io import write_word2vec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--vocab", default="default")
    parser.add_argument("--repeat", type=int, default=5, help="rankings timed per backend (the machine is shared: "
                        "the best run is the compute, the median shows the noise)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        service = TaggingService(db_path=Path(tmp) / "store.db")
        base = rng.normal(0, 2, (64, 3, 224, 224)).astype(np.float32)
        logits, features = service.model.run(base)
        pick = rng.integers(0, len(base), args.images)
        all_logits = logits[pick] + rng.normal(0, 0.5, (args.images, logits.shape[1])).astype(np.float32)
        hashes = [f"{i:064x}" for i in range(args.images)]
        service.store.put_outputs_many(service.model_spec.id, zip(hashes, all_logits, features[pick]))

        glove = service.vectors()
        w2v_file = Path(tmp) / "glove.bin"
        write_word2vec(w2v_file, glove.words, np.asarray(glove.matrix))
        for backend, vectors_file in (("glove", None), ("word2vec", w2v_file)):
            options = TagOptions(vocabulary=args.vocab, backend=backend, vectors_file=vectors_file)
            start = time.perf_counter()
            ranker = service.ranker(options)
            ranker.rank(all_logits[:1], features[:1], 5)  # loads the ranking kernel, once per process
            loaded = time.perf_counter() - start

            start = time.perf_counter()
            outputs = service.store.get_outputs_many(hashes, service.model_spec.id)
            stacked = np.stack([outputs[h][0] for h in hashes])
            features = np.stack([outputs[h][1] for h in hashes])
            fetched = time.perf_counter() - start

            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                ranked = ranker.rank(stacked, features, 5)
                times.append(time.perf_counter() - start)
            print(f"{backend:>8}: {len(ranked)} images x {len(ranker.vocabulary.labels)} labels: "
                  f"project+rank best {min(times):.3f} s, median {statistics.median(times):.3f} s of {args.repeat}; "
                  f"store fetch {fetched:.3f} s (backend load {loaded:.1f} s)")
        service.close()


if __name__ == "__main__":
    main()
