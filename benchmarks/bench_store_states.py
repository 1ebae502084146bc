"""How long the store takes to save a correction and to answer "what is the state of these images?", as
the correction log grows.

The window saves each correction (one image, or every selected image as one undo step) and then asks for
the state of the images it touched; when a folder opens it asks for every image in it. Builds a store of N
corrected images (two corrections each: an accept and a reject), then times, for 1 image, a page of 40 and
all N: saving one correction of them as one step, and `tag_states`.

    python benchmarks/bench_store_states.py [--images 20000] [--repeat 3]

Figures drift run to run with the machine's load: compare within one run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tagsight.engine.service import TaggingService


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tagsight-states-") as scratch:
        folder = Path(scratch)
        paths = [folder / f"img{i:06d}.jpg" for i in range(args.images)]
        for path in paths:  # the store reads each new image once (size, hash): any bytes do
            path.write_bytes(path.name.encode())
        with TaggingService(db_path=folder / "tagsight.db") as service:
            started = time.perf_counter()
            for start in range(0, len(paths), 5000):
                service.record_correction(paths[start : start + 5000], "dog", "accept", source="cli")
                service.record_correction(paths[start : start + 5000], "cat", "reject", source="cli")
            print(f"store: {args.images} images, {2 * args.images} corrections, built in {time.perf_counter() - started:.1f} s")
            for name, asked in [("1 image", paths[:1]), ("40 images", paths[100:140]), ("every image", paths)]:
                saving, asking = [], []
                for i in range(args.repeat):
                    started = time.perf_counter()
                    service.record_correction(asked, f"tag{i}", "add", source="gui")
                    saving.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    found = service.tag_states(asked)
                    asking.append(time.perf_counter() - started)
                assert len(found) == len(asked)
                print(f"{name:12s} save one correction {min(saving) * 1000:9.1f} ms,"
                      f" tag_states {min(asking) * 1000:9.1f} ms (best of {args.repeat})")


if __name__ == "__main__":
    main()
