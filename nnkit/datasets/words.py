"""English or Spanish? 8,000 words from free word lists, bundled: a small real text-classification task.

``english_spanish_words()`` returns ``(x_train, y_train), (x_test, y_test)``: lists of lower-case words of 3-16
letters a-z (accents folded away) and int64 labels, 0 English and 1 Spanish; 3,200 + 3,200 training and 800 + 800
test words, no word in both languages.  ``encode_words`` turns words into padded letter ids for an
``Embedding(mask_zero=True)``.  How the file was made: ``nnkit/datasets/make_words.py`` and data/README.md.
"""
import os

import numpy as np

from . import download as dl

__all__ = ["english_spanish_words", "encode_words", "WORD_CLASSES", "ALPHABET", "WORDS_SHA256"]

PATH = os.path.join(os.path.dirname(__file__), "data", "words-en-es.tsv")
WORDS_SHA256 = "82b0da28866285e46ac5a744a4291e44b1b4fcdd15aa875e807946f2e52e75b9"
WORD_CLASSES = ["english", "spanish"]
ALPHABET = "abcdefghijklmnopqrstuvwxyz"  # letter ids 1..26; 0 is padding


def english_spanish_words(verify=True):
    """``(x_train, y_train), (x_test, y_test)`` (see the module docstring)."""
    if verify:
        dl.check_bundled(PATH, WORDS_SHA256)
    parts = {"train": ([], []), "test": ([], [])}
    with open(PATH, encoding="ascii") as f:
        next(f)
        for line in f:
            split, language, word = line.rstrip("\n").split("\t")
            parts[split][0].append(word)
            parts[split][1].append(WORD_CLASSES.index(language))
    return tuple((words, np.array(labels, np.int64)) for words, labels in (parts["train"], parts["test"]))


def encode_words(words, maxlen=16):
    """Letter ids ``(len(words), maxlen)`` int32, 1..26 for a..z, padded with 0 after the word."""
    out = np.zeros((len(words), maxlen), np.int32)
    for i, word in enumerate(words):
        if len(word) > maxlen or not set(word) <= set(ALPHABET):
            raise ValueError(f"encode_words: expected words of at most {maxlen} letters a-z, got {word!r}")
        out[i, :len(word)] = [ALPHABET.index(c) + 1 for c in word]
    return out
