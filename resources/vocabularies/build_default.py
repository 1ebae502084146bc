"""Build `default.txt`, the open vocabulary of visual words used when no --vocab is given.

Run from the repository root with the project installed: `python resources/vocabularies/build_default.py`.

Contents, in this order, duplicates dropped:
1. every ImageNet-1k class label, with its synonyms ("tabby, tabby cat"), so every class can be named;
2. the most frequent GloVe 6B words (the vectors' rank order is frequency order) up to FREQUENT_WORDS,
   kept only when they are plain lower-case alphabetic words of 3+ letters and not stop-words, so
   punctuation, numbers, markup debris and function words never become tags.
"""

from __future__ import annotations

from pathlib import Path

from tagsight.engine.vocabulary import imagenet_classes
from tagsight.plugins.glove import load_bundled

FREQUENT_WORDS = 20_000

# English function words and other words that never describe what an image shows.
STOP_WORDS = frozenset("""
a about above after again against all almost also although always am among an and another any anyone
anything are around as at be became because become been before being below between both but by can
cannot could did do does doing done down during each either else enough etc even ever every few for from
further get gets getting got had has have having he her here hers herself him himself his how however i if
in into is it its itself just least less let like many may me might mine more most much must my myself
neither no nor not nothing now of off often on once one only or other others otherwise our ours ourselves
out over own per perhaps quite rather really said same say says see seen shall she should since so some
something still such than that the their theirs them themselves then there these they this those though
through thus to too toward towards under until up upon us very via was we well were what whatever when
whenever where whether which while who whom whose why will with within without would yet you your yours
yourself yourselves also already among amongst anyway became becomes beside besides cannot could couldn
didn doesn don hadn hasn haven isn mightn mustn needn shan shouldn wasn weren won wouldn ain aren wouldn
one two three four five six seven eight nine ten first second third last next new old many much more
mr mrs ms dr jr sr inc ltd corp co http https www com org net html
""".split())


def build() -> list[str]:
    labels: dict[str, None] = dict.fromkeys(imagenet_classes())
    taken: set[str] = set()
    for label in labels:
        taken.update(s.strip().lower() for s in label.split(","))
    vectors = load_bundled()
    added = 0
    for word in vectors.words:
        if added == FREQUENT_WORDS:
            break
        if len(word) < 3 or not word.isascii() or not word.isalpha() or not word.islower():
            continue
        if word in STOP_WORDS or word in taken:
            continue
        labels[word] = None
        added += 1
    return list(labels)


def main() -> None:
    out = Path(__file__).with_name("default.txt")
    labels = build()
    header = "# tagsight default vocabulary: built by build_default.py (see its docstring); one label per line\n"
    out.write_text(header + "\n".join(labels) + "\n", encoding="utf-8")
    print(f"{out}: {len(labels)} labels")


if __name__ == "__main__":
    main()
