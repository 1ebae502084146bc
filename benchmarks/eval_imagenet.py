"""Tagging quality of `tagsight tag` on a labelled ImageNet folder (DESIGN.md section 4).

    python benchmarks/eval_imagenet.py [FOLDER] [--db FILE]

FOLDER (default ../shared/eval/imagenet-dev) holds images and labels.csv (file, class_index, wnid, names).
Runs exactly `tagsight tag FOLDER --vocab imagenet1k --top 5 --jsonl`, then the same with the default
vocabulary, and prints flat hit@1/hit@5 and the share of images whose top 5 shares a word with the class.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from tagsight.engine.evaluation import hit_at, read_labels, shares_word

DEFAULT_FOLDER = Path(__file__).resolve().parents[2] / "shared" / "eval" / "imagenet-dev"


def tag(folder: Path, vocab: str, db: Path) -> dict[Path, list[str]]:
    command = [sys.executable, "-m", "tagsight", "tag", str(folder), "--vocab", vocab, "--top", "5", "--jsonl",
               "--db", str(db)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    return {Path(line["path"]).resolve(): [l["label"] for l in line.get("labels", [])] for line in lines}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--db", type=Path, help="store file (default: a temporary one)")
    args = parser.parse_args()
    images = read_labels(args.folder)
    truth = {image.path.resolve(): image.names for image in images}
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "eval.db"
        flat = tag(args.folder, "imagenet1k", db)
        open_vocab = tag(args.folder, "default", db)
    n = len(truth)
    hit1 = sum(hit_at(flat.get(p, []), t, 1) for p, t in truth.items()) / n
    hit5 = sum(hit_at(flat.get(p, []), t, 5) for p, t in truth.items()) / n
    share = sum(shares_word(open_vocab.get(p, []), t) for p, t in truth.items()) / n
    print(f"images: {n} in {args.folder}")
    print(f"--vocab imagenet1k: hit@1 {hit1:.3f}  hit@5 {hit5:.3f}")
    print(f"--vocab default:    top-5 label shares a word with the class: {share:.3f}")


if __name__ == "__main__":
    main()
