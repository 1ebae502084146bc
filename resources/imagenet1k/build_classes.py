#!/usr/bin/env python3
"""Build resources/imagenet1k/classes.tsv, the ImageNet-1k class list.

Source: two text files inside the ``timm`` wheel (Apache-2.0), read straight
from the wheel with zipfile, so timm need not be installed:

* ``timm/data/_info/imagenet_synsets.txt``: the 1000 WordNet ids (wnid) in the
  standard ILSVRC-2012 class order (sorted wnids, index 0 = n01440764 tench);
* ``timm/data/_info/imagenet_synset_to_lemma.txt``: ``wnid<TAB>lemmas``, the
  WordNet synonyms joined by ", " (e.g. ``n02123045<TAB>tabby, tabby cat``).

Usage (standard library only)::

    pip download --no-deps timm==1.0.31 -d /tmp/timm
    python resources/imagenet1k/build_classes.py --timm-wheel /tmp/timm/timm-1.0.31-py3-none-any.whl
    # optional cross-checks against label files that hold index/wnid/names:
    python resources/imagenet1k/build_classes.py --timm-wheel ... \
        --check /work/shared/eval/imagenet-dev/labels.csv --check /work/shared/eval/coarse_tags.csv

Output: ``classes.tsv`` (UTF-8, LF) with header ``index<TAB>wnid<TAB>names`` and
1000 rows. ``--check`` files are CSVs with a ``class_index`` column and a
``names`` or ``class_names`` column (and optionally ``wnid``); every row must
agree exactly with the table, otherwise the script exits non-zero.
"""

from __future__ import annotations

import argparse
import csv
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SYNSETS = "timm/data/_info/imagenet_synsets.txt"
LEMMAS = "timm/data/_info/imagenet_synset_to_lemma.txt"


def read_member(wheel: Path, name: str) -> str:
    with zipfile.ZipFile(wheel) as z:
        return z.read(name).decode("utf-8")


def build(wheel: Path) -> list[tuple[int, str, str]]:
    wnids = [ln.strip() for ln in read_member(wheel, SYNSETS).splitlines() if ln.strip()]
    if len(wnids) != 1000 or len(set(wnids)) != 1000:
        sys.exit(f"expected 1000 distinct wnids, got {len(wnids)} ({len(set(wnids))} distinct)")
    if wnids != sorted(wnids):
        sys.exit("imagenet_synsets.txt is not in the standard (sorted wnid) order")
    lemma: dict[str, str] = {}
    for ln in read_member(wheel, LEMMAS).splitlines():
        if ln.strip():
            wnid, names = ln.split("\t", 1)
            lemma[wnid.strip()] = names.strip()
    missing = [w for w in wnids if w not in lemma]
    if missing:
        sys.exit(f"no lemmas for {missing[:10]}...")
    rows = [(i, w, lemma[w]) for i, w in enumerate(wnids)]
    for _, w, names in rows:
        if "\t" in names or "\n" in names or not names:
            sys.exit(f"bad names for {w}: {names!r}")
    return rows


def write(rows: list[tuple[int, str, str]], out: Path) -> None:
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        f.write("index\twnid\tnames\n")
        for i, w, names in rows:
            f.write(f"{i}\t{w}\t{names}\n")


def check(rows: list[tuple[int, str, str]], csv_path: Path) -> int:
    """Compare a label CSV with the table; return the number of rows checked."""
    by_index = {i: (w, n) for i, w, n in rows}
    n_rows = 0
    bad = []
    with open(csv_path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            n_rows += 1
            i = int(r["class_index"])
            wnid, names = by_index[i]
            got_names = r.get("names", r.get("class_names"))
            if got_names is None:
                sys.exit(f"{csv_path}: no names/class_names column")
            if got_names != names or ("wnid" in r and r["wnid"] != wnid):
                bad.append((i, r.get("wnid"), got_names, wnid, names))
    if bad:
        for b in bad[:20]:
            print(f"MISMATCH {csv_path.name}: index {b[0]}: file ({b[1]}, {b[2]!r}) vs table ({b[3]}, {b[4]!r})")
        sys.exit(f"{len(bad)} mismatching rows in {csv_path}")
    print(f"{csv_path}: all {n_rows} rows match (index, wnid, names)")
    return n_rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--timm-wheel", type=Path, required=True, help="path to a downloaded timm wheel")
    ap.add_argument("--out", type=Path, default=HERE / "classes.tsv")
    ap.add_argument("--check", type=Path, action="append", default=[], help="label CSV to compare with")
    args = ap.parse_args()
    rows = build(args.timm_wheel)
    write(rows, args.out)
    print(f"wrote {args.out}: {len(rows)} classes; e.g. {rows[0]}, {rows[281]}")
    for p in args.check:
        check(rows, p)


if __name__ == "__main__":
    main()
