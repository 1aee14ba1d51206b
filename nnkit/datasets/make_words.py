"""Rebuild the bundled English/Spanish word sample (data/words-en-es.tsv) from the Debian word lists.

    apt-get install wamerican wspanish
    python -m nnkit.datasets.make_words --out nnkit/datasets/data/words-en-es.tsv

Both lists are free to redistribute (SCOWL's permissive licence; the Spanish list is public domain; see
data/README.md).  Accents are folded to plain letters (``canción`` -> ``cancion``) so that the task is the
spelling patterns of each language, not the presence of an accent.  The draw is seeded: the file is the same
byte for byte on every run.
"""
import argparse
import os
import unicodedata

import numpy as np

SOURCES = {"english": "/usr/share/dict/american-english", "spanish": "/usr/share/dict/spanish"}
PER_LANGUAGE, TEST_PER_LANGUAGE, SEED = 4000, 800, 20261130


def fold(word):
    """Lower case, accents dropped; None unless what is left is 3-16 letters a-z."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", word.lower()) if not unicodedata.combining(c))
    return plain if 3 <= len(plain) <= 16 and plain.isascii() and plain.isalpha() else None


def words(path):
    with open(path, encoding="utf-8") as f:
        raw = [line.strip() for line in f]
    # Proper nouns (capitalised) and English possessives are dropped: they give the answer away.
    return {w for w in (fold(r) for r in raw if r and r[0].islower() and "'" not in r) if w}


def build(sources=SOURCES):
    lists = {lang: words(path) for lang, path in sources.items()}
    shared = set.intersection(*lists.values())  # e.g. "animal", "idea": no language to learn
    rng = np.random.default_rng(SEED)
    rows = []
    for lang in sorted(lists):
        pool = sorted(lists[lang] - shared)
        drawn = rng.choice(len(pool), PER_LANGUAGE, replace=False)
        for i, index in enumerate(drawn):
            rows.append(("test" if i < TEST_PER_LANGUAGE else "train", lang, pool[index]))
    order = rng.permutation(len(rows))
    return [rows[i] for i in order]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    text = "split\tlanguage\tword\n" + "".join("\t".join(row) + "\n" for row in build())
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="ascii", newline="\n") as f:
        f.write(text)
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
