"""The bundled sequence datasets: sunspots and English/Spanish words."""
import importlib
import os

import numpy as np
import pytest

from nnkit import datasets
from nnkit.datasets import download as dl


def test_sunspots_is_the_yearly_series_1700_2008():
    years, counts = datasets.sunspots()
    assert years.dtype == np.int64 and counts.dtype == np.float64
    np.testing.assert_array_equal(years, np.arange(1700, 2009))
    assert counts[:3].tolist() == [5.0, 11.0, 16.0] and counts[-1] == 2.9
    assert counts.min() >= 0 and counts.max() == pytest.approx(190.2)


def test_words_split_balanced_and_disjoint():
    (x_train, y_train), (x_test, y_test) = datasets.english_spanish_words()
    assert len(x_train) == 6400 and len(x_test) == 1600
    assert y_train.tolist().count(1) == 3200 and y_test.tolist().count(0) == 800
    assert not set(x_train) & set(x_test)
    assert all(3 <= len(w) <= 16 and w.isalpha() and w.isascii() and w.islower() for w in x_train + x_test)
    languages = {}
    for w, y in zip(x_train + x_test, np.concatenate([y_train, y_test])):
        languages.setdefault(w, set()).add(int(y))
    assert all(len(v) == 1 for v in languages.values())  # no word labelled both ways


def test_bundled_sequence_files_stay_small():
    for name in ("sunspots", "words"):
        assert os.path.getsize(importlib.import_module(f"nnkit.datasets.{name}").PATH) <= 256 * 2 ** 10


def test_encode_words_pads_after_the_word_with_zero():
    ids = datasets.encode_words(["abz", "ba"], maxlen=4)
    np.testing.assert_array_equal(ids, [[1, 2, 26, 0], [2, 1, 0, 0]])
    assert ids.dtype == np.int32
    with pytest.raises(ValueError, match="encode_words: expected words of at most 4 letters a-z, got 'abcde'"):
        datasets.encode_words(["abcde"], maxlen=4)
    with pytest.raises(ValueError, match="got 'Ab'"):
        datasets.encode_words(["Ab"])


@pytest.mark.parametrize("module, loader", [("sunspots", "sunspots"), ("words", "english_spanish_words")])
def test_a_damaged_bundled_file_is_refused(tmp_path, monkeypatch, module, loader):
    module = importlib.import_module(f"nnkit.datasets.{module}")
    damaged = tmp_path / "damaged"
    damaged.write_bytes(open(module.PATH, "rb").read()[:-2])
    monkeypatch.setattr(module, "PATH", str(damaged))
    with pytest.raises(dl.ChecksumError, match="damaged"):
        getattr(module, loader)()
