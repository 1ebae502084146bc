"""A simulated user teaches tagsight coarse tags through the CLI (DESIGN.md section 4).

    python benchmarks/sim_user.py [FOLDER] [--coarse FILE] [--share 0.3] [--seed 0] [--db FILE]

1. The coarse tags of `coarse_tags.csv` (dog, bird, vehicle, ...) become the vocabulary file.
2. `tagsight tag FOLDER --vocab coarse.txt`: hit@1 of the coarse tag before learning.
3. `tagsight corrections import`: an `add` of its coarse tag for a random share (seeded) of the images
   whose class has one, except the tags left without any correction (insect, snake, bear, frog, turtle).
4. `tagsight retrain --vocab coarse.txt`, then `tagsight tag` again: hit@1 after, on the other images
   and on the five uncorrected tags. Every step is the real command in a subprocess.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tagsight.engine.evaluation import read_labels

SHARED = Path(__file__).resolve().parents[2] / "shared" / "eval"
UNCORRECTED = ("insect", "snake", "bear", "frog", "turtle")


def tagsight(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "tagsight", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"tagsight {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def top1(folder: Path, vocab: Path, db: Path) -> dict[Path, str]:
    lines = tagsight("tag", str(folder), "--vocab", str(vocab), "--top", "1", "--jsonl", "--db", str(db)).splitlines()
    return {Path(r["path"]).resolve(): r["labels"][0]["label"] for r in map(json.loads, lines) if r.get("labels")}


def hit1(predicted: dict[Path, str], truth: dict[Path, str]) -> float:
    return sum(predicted.get(path) == tag for path, tag in truth.items()) / max(len(truth), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", type=Path, default=SHARED / "imagenet-dev")
    parser.add_argument("--coarse", type=Path, default=SHARED / "coarse_tags.csv")
    parser.add_argument("--share", type=float, default=0.3, help="share of the taggable images corrected")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--db", type=Path, help="store file (default: a temporary one)")
    args = parser.parse_args()

    with open(args.coarse, newline="", encoding="utf-8") as f:
        coarse = {int(row["class_index"]): row["coarse_tag"] for row in csv.DictReader(f)}
    truth = {image.path.resolve(): coarse[image.class_index] for image in read_labels(args.folder)
             if image.class_index in coarse}
    rng = np.random.default_rng(args.seed)
    teachable = sorted(path for path, tag in truth.items() if tag not in UNCORRECTED)
    taught = set(rng.choice(len(teachable), round(args.share * len(teachable)), replace=False).tolist())
    corrected = {teachable[i] for i in taught}
    others = {path: tag for path, tag in truth.items() if path not in corrected}
    uncorrected = {path: tag for path, tag in others.items() if tag in UNCORRECTED}

    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "store.db"
        vocab = Path(tmp) / "coarse.txt"
        vocab.write_text("\n".join(sorted(set(coarse.values()))) + "\n", encoding="utf-8")
        corrections = Path(tmp) / "corrections.csv"
        with open(corrections, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["path", "label", "action"])
            writer.writerows([path, truth[path], "add"] for path in sorted(corrected))

        before = top1(args.folder, vocab, db)
        tagsight("corrections", "import", str(corrections), "--db", str(db))
        start = time.perf_counter()
        report = tagsight("retrain", "--db", str(db), "--vocab", str(vocab))
        retrain_s = time.perf_counter() - start
        after = top1(args.folder, vocab, db)

    print(f"images with a coarse tag: {len(truth)} in {args.folder}; vocabulary: {len(set(coarse.values()))} coarse tags")
    print(f"corrected (add): {len(corrected)} images, seed {args.seed}; no correction for: {', '.join(UNCORRECTED)}")
    print(report.rstrip())
    print(f"tagsight retrain: {retrain_s:.1f} s (process included)")
    print(f"hit@1 on the other {len(others)} images:       before {hit1(before, others):.3f}  after {hit1(after, others):.3f}")
    print(f"hit@1 on the {len(uncorrected)} images of uncorrected tags: "
          f"before {hit1(before, uncorrected):.3f}  after {hit1(after, uncorrected):.3f}")


if __name__ == "__main__":
    main()
