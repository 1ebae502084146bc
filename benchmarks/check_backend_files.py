"""The bundled GloVe vectors, written out by gensim as a word2vec binary and as a GloVe text file, must
tag like the bundled backend, re-ranking from cached CNN outputs.

    python benchmarks/check_backend_files.py [FOLDER]     (default ../shared/eval/imagenet-dev)

Runs `tagsight tag FOLDER --top 5 --jsonl --db DB` with the default backend, then with
`--backend word2vec --vectors FILE.bin` and `--backend glove --vectors FILE.txt` on the same store, and
prints the share of images with identical top-5 labels and the share of lines with "cached": true.
Exit status 0 when both files give >= 99% identical top-5 and every line is cached.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_FOLDER = Path(__file__).resolve().parents[2] / "shared" / "eval" / "imagenet-dev"


def write_with_gensim(folder: Path) -> tuple[Path, Path]:
    from gensim.models import KeyedVectors

    from tagsight.plugins.glove import load_bundled

    glove = load_bundled()
    keyed = KeyedVectors(vector_size=glove.dim)
    keyed.add_vectors(glove.words, glove.matrix)
    binary, text = folder / "glove6b50d.bin", folder / "glove6b50d.txt"
    keyed.save_word2vec_format(str(binary), binary=True)
    keyed.save_word2vec_format(str(text), binary=False, write_header=False)  # GloVe's own layout
    return binary, text


def tag(folder: Path, db: Path, env: dict[str, str], *extra: str) -> tuple[dict[str, list[str]], int, float]:
    command = [sys.executable, "-m", "tagsight", "tag", str(folder), "--top", "5", "--jsonl", "--db", str(db), *extra]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    labels = {line["path"]: [l["label"] for l in line["labels"]] for line in lines if "labels" in line}
    return labels, sum(1 for line in lines if line.get("cached")), elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    args = parser.parse_args(argv)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        env = {**os.environ, "TAGSIGHT_CACHE_DIR": str(tmp_path / "cache"), "TAGSIGHT_DATA_DIR": str(tmp_path)}
        binary, text = write_with_gensim(tmp_path)
        db = tmp_path / "store.db"
        reference, _, seconds = tag(args.folder, db, env)
        print(f"default backend: {len(reference)} images tagged in {seconds:.1f} s")
        for backend, path in (("word2vec", binary), ("glove", text)):
            labels, cached, seconds = tag(args.folder, db, env, "--backend", backend, "--vectors", str(path))
            same = sum(labels.get(p) == top5 for p, top5 in reference.items()) / len(reference)
            print(f"--backend {backend} --vectors {path.name}: identical top-5 {same:.3f}, "
                  f"cached {cached}/{len(labels)} lines, {seconds:.1f} s (first load parses the file)")
            ok &= same >= 0.99 and cached == len(labels) == len(reference)
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
