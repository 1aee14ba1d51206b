"""Datasets: Fashion-MNIST (full, or the bundled sample), the IDX file format, and two small bundled sequence
datasets: yearly sunspot numbers and English/Spanish words."""
from .download import ChecksumError, cache_dir, fetch, sha256sum
from .fashionmnist import CLASS_NAMES, fashion_mnist
from .idx import idx_memmap, read_idx, read_idx_header, write_idx
from .sunspots import sunspots
from .words import english_spanish_words, encode_words

__all__ = ["fashion_mnist", "CLASS_NAMES", "read_idx", "read_idx_header", "idx_memmap", "write_idx", "fetch",
           "cache_dir", "sha256sum", "ChecksumError", "load", "names", "sunspots", "english_spanish_words",
           "encode_words"]

_LOADERS = {"fashion-mnist": lambda: fashion_mnist(), "fashion-mnist-sample": lambda: fashion_mnist(sample=True)}


def names():
    return sorted(_LOADERS)


def load(name):
    """``(x_train, y_train), (x_test, y_test)`` of a dataset by name (``names()`` lists them)."""
    loader = _LOADERS.get(name)
    if loader is None:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(names())}")
    return loader()
