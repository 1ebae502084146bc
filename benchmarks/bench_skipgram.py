"""Train word vectors with tagsight and with gensim 4 on the same corpus; compare speed and quality.

Corpus: gensim's bundled ``head500.noblanks.cor`` (331k tokens). Parameters, the same for both:
dim 100, window 5, negative 5, epochs 5, min_count 5, sample 1e-3, 2 workers, skip-gram and CBOW.
Each training is a whole process (``python this_file --child ...``), timed by wall clock from start
to exit: imports, vocabulary, training and writing a word2vec binary are all inside.
words/s = epochs x corpus tokens / wall seconds; CPU seconds are shown too (on a loaded machine
wall time grows while CPU time barely does). Runs alternate tagsight, gensim, tagsight, ... so that
both see the same machine load; each repeat uses another seed (1, 2, ...); the speed ratio is the
median of the per-repeat ratios.

Quality: every output file is read back with gensim's ``KeyedVectors.load_word2vec_format`` (so
gensim reading our files is checked on every run) and scored with ``evaluate_word_pairs``
(WordSim353 Spearman) and ``evaluate_word_analogies`` (Google analogies), default arguments;
the means over the seeds are compared: single runs on this small corpus vary by +-0.02 Spearman.

Before the timed runs, one untimed tagsight process fills numba's on-disk cache; its JIT
time is printed (a cold compile happens once per installation, not per run).

    python benchmarks/bench_skipgram.py              # 3 repeats (~2-3 min on 2 cores)
    python benchmarks/bench_skipgram.py --repeats 5 --modes sg

Ratios only mean something within one run: the machine's load drifts between runs.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PARAMS = dict(dim=100, window=5, negative=5, epochs=5, min_count=5, sample=1e-3, workers=2)


def corpus_path() -> Path:
    from gensim.test.utils import datapath

    return Path(datapath("head500.noblanks.cor"))


def child_tagsight(corpus: Path, sg: bool, seed: int, out: Path) -> dict:
    from tagsight.engine.training.skipgram import Word2VecTrainer
    from tagsight.engine.vector_io import write_word2vec

    trainer = Word2VecTrainer(sg=sg, seed=seed, **PARAMS).fit([corpus])
    write_word2vec(out, trainer.words_, trainer.vectors_, binary=True)
    return {"timings": trainer.timings_, "loss": trainer.loss_}


def child_gensim(corpus: Path, sg: bool, seed: int, out: Path) -> dict:
    from gensim.models import Word2Vec
    from gensim.models.word2vec import LineSentence

    p = PARAMS
    model = Word2Vec(
        LineSentence(str(corpus)), sg=int(sg), vector_size=p["dim"], window=p["window"],
        negative=p["negative"], epochs=p["epochs"], min_count=p["min_count"], sample=p["sample"],
        workers=p["workers"], seed=seed,
    )  # fmt: skip
    model.wv.save_word2vec_format(str(out), binary=True)
    return {}


def run_child(tool: str, corpus: Path, sg: bool, seed: int, out: Path) -> tuple[float, float, dict]:
    """(wall seconds, CPU seconds, what the child reported) for one whole training process."""
    # The corpus path is resolved here, so that no child pays for importing gensim's test utilities.
    cmd = [sys.executable, __file__, "--child", tool, "--corpus", str(corpus), "--sg", str(int(sg))]
    cmd += ["--seed", str(seed), "--out", str(out)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{tool} failed:\n{done.stderr}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, json.loads(done.stdout.strip().splitlines()[-1])


def evaluate(path: Path) -> tuple[float, float]:
    from gensim.models import KeyedVectors
    from gensim.test.utils import datapath

    kv = KeyedVectors.load_word2vec_format(str(path), binary=True)
    spearman = kv.evaluate_word_pairs(datapath("wordsim353.tsv"))[1].statistic
    analogies = kv.evaluate_word_analogies(datapath("questions-words.txt"))[0]
    return float(spearman), float(analogies)


def count_tokens(path: Path) -> int:
    with open(path, encoding="utf-8") as handle:
        return sum(len(line.split()) for line in handle)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", nargs="+", choices=["sg", "cbow"], default=["sg", "cbow"])
    parser.add_argument("--child", choices=["tagsight", "gensim"], help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--sg", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child = child_tagsight if args.child == "tagsight" else child_gensim
        print(json.dumps(child(args.corpus, bool(args.sg), args.seed, args.out)))
        return

    corpus = corpus_path()
    words = PARAMS["epochs"] * count_tokens(corpus)
    print(f"corpus {corpus.name}: {words // PARAMS['epochs']:,} tokens; params {PARAMS}")
    ratios: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        warm_wall, _, warm = run_child("tagsight", corpus, True, 0, Path(tmp) / "warm.bin")
        jit = warm["timings"]["jit"]
        print(f"untimed warm-up process: {warm_wall:.2f} s, of which JIT compile or cache load {jit:.2f} s")
        for mode in args.modes:
            sg = mode == "sg"
            speeds: dict[str, list[float]] = {"tagsight": [], "gensim": []}
            scores: dict[str, list[tuple[float, float]]] = {"tagsight": [], "gensim": []}
            print(f"\n{mode}:")
            for seed in range(1, args.repeats + 1):
                for tool in ("tagsight", "gensim"):
                    out = Path(tmp) / f"{tool}-{mode}-{seed}.bin"
                    wall, cpu, info = run_child(tool, corpus, sg, seed, out)
                    speeds[tool].append(words / wall)
                    scores[tool].append(evaluate(out))
                    extra = ""
                    if info:
                        t = info["timings"]
                        extra = f"  (vocab {t['vocabulary']:.2f} s, jit {t['jit']:.2f} s, train {t['training']:.2f} s)"
                    ws, an = scores[tool][-1]
                    print(
                        f"  seed {seed} {tool:<8} {wall:6.2f} s wall {cpu:6.2f} s cpu  {words / wall:9,.0f} words/s  "
                        f"wordsim {ws:.4f}  analogies {an:.4f}{extra}",
                        flush=True,
                    )
            per_run = [o / g for o, g in zip(speeds["tagsight"], speeds["gensim"])]
            ratio = statistics.median(per_run)
            ratios[mode] = ratio
            ws = {t: statistics.mean(s[0] for s in scores[t]) for t in scores}
            an = {t: statistics.mean(s[1] for s in scores[t]) for t in scores}
            print(
                f"  speed tagsight/gensim per repeat: {', '.join(f'{r:.2f}x' for r in per_run)}; median {ratio:.2f}x\n"
                f"  mean wordsim353 spearman: tagsight {ws['tagsight']:.4f} gensim {ws['gensim']:.4f} "
                f"(diff {ws['tagsight'] - ws['gensim']:+.4f})\n"
                f"  mean analogy accuracy:    tagsight {an['tagsight']:.4f} gensim {an['gensim']:.4f} "
                f"(diff {an['tagsight'] - an['gensim']:+.4f})\n"
                f"  gensim read all {args.repeats} tagsight files"
            )
    print("\nsummary: " + ", ".join(f"{m} speed {r:.2f}x gensim" for m, r in ratios.items()))


if __name__ == "__main__":
    main()
