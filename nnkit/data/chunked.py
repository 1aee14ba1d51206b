"""Out-of-core data: samples read from disk one chunk at a time.

A *chunk* is what is loaded into memory at once (a slice of a ``.npy``
memory map, one ``.npz`` shard, a slice of an uncompressed IDX file); a
*batch* is what the model sees between two loss computations.  They are
independent: batches are cut from a stream of samples that runs across
chunks.

Shuffling is local: each pass visits the chunks in a random order and mixes
the samples within a buffer of ``shuffle_buffer`` consecutive chunks, so at
most about two buffers are in memory.  While a batch is being computed, a
background thread already loads the chunks the next samples need.

With ``shuffle=False`` the samples come in file order, exactly as the same
data in memory would.
"""
import os
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from nnkit.datasets.idx import idx_memmap

from .sources import Source, check_finite

__all__ = ["Chunk", "ChunkedSource", "npy_chunks", "npz_shards", "idx_chunks"]


class Chunk:
    """One loadable piece: ``length`` samples, ``load()`` -> ``(x, y, sample_weight)`` arrays."""

    def __init__(self, length, load, label=""):
        self.length, self._load, self.label = int(length), load, label

    def load(self):
        return self._load()

    def __len__(self):
        return self.length

    def __repr__(self):
        return f"Chunk({self.label or self.length})"


def _slices(n, chunk_size, name):
    if chunk_size is None or int(chunk_size) < 1:
        raise ValueError(f"{name}: chunk_size must be a positive integer, got {chunk_size!r}")
    return [(a, min(a + int(chunk_size), n)) for a in range(0, n, int(chunk_size))]


def _mapped_chunks(x, y, chunk_size, name, label):
    if y is not None and len(y) != len(x):
        raise ValueError(f"{name}: {label} holds {len(x)} inputs but {len(y)} targets")

    def loader(a, b):
        return lambda: (np.array(x[a:b]), None if y is None else np.array(y[a:b]), None)
    return [Chunk(b - a, loader(a, b), f"{label}[{a}:{b}]") for a, b in _slices(len(x), chunk_size, name)]


def npy_chunks(x_path, y_path=None, chunk_size=10_000):
    """Chunks of ``chunk_size`` samples from ``.npy`` files, read through a memory map."""
    x = np.load(os.fspath(x_path), mmap_mode="r")
    y = None if y_path is None else np.load(os.fspath(y_path), mmap_mode="r")
    return _mapped_chunks(x, y, chunk_size, "npy_chunks", os.fspath(x_path))


def idx_chunks(images_path, labels_path=None, chunk_size=10_000):
    """Chunks from uncompressed IDX files (images and labels), read through a memory map."""
    x = idx_memmap(images_path)
    y = None if labels_path is None else idx_memmap(labels_path)
    return _mapped_chunks(x, y, chunk_size, "idx_chunks", os.fspath(images_path))


def _npz_length(path, key):
    """Leading dimension of ``key`` in an ``.npz`` file, read from the header without loading the data."""
    with zipfile.ZipFile(path) as z:
        name = key + ".npy"
        if name not in z.namelist():
            raise ValueError(f"npz_shards: {path} has no array {key!r}; it holds "
                             f"{[n[:-4] for n in z.namelist()]}")
        with z.open(name) as f:
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, _ = read(f)
    if not shape:
        raise ValueError(f"npz_shards: {path}: array {key!r} is a scalar")
    return shape[0]


def npz_shards(paths, x_key="x", y_key="y", weight_key=None):
    """One chunk per ``.npz`` shard holding arrays ``x_key`` (and ``y_key``, ``weight_key``)."""
    chunks = []
    for path in paths:
        path = os.fspath(path)
        n = _npz_length(path, x_key)
        for key in (y_key, weight_key):
            if key is not None and _npz_length(path, key) != n:
                raise ValueError(f"npz_shards: {path}: {x_key!r} has {n} samples but {key!r} has "
                                 f"{_npz_length(path, key)}")

        def load(path=path):
            with np.load(path, allow_pickle=False) as z:
                return (z[x_key], None if y_key is None else z[y_key],
                        None if weight_key is None else z[weight_key])
        chunks.append(Chunk(n, load, path))
    return chunks


class ChunkedSource(Source):
    """A finite source over ``chunks`` (see ``npy_chunks``, ``npz_shards``, ``idx_chunks`` or build ``Chunk``s).

    Parameters
    ----------
    chunks : list of Chunk
    shuffle_buffer : int
        How many chunks are mixed together when shuffling.
    prefetch : bool
        Load upcoming chunks in a background thread.
    """

    def __init__(self, chunks, shuffle_buffer=2, prefetch=True, check=True):
        self.chunks = list(chunks)
        if not self.chunks:
            raise ValueError("ChunkedSource: no chunks given")
        if int(shuffle_buffer) < 1:
            raise ValueError(f"ChunkedSource: shuffle_buffer must be a positive integer, got {shuffle_buffer!r}")
        self.shuffle_buffer = int(shuffle_buffer)
        lengths = np.array([len(c) for c in self.chunks], np.int64)
        if (lengths <= 0).any():
            raise ValueError(f"ChunkedSource: chunk {int(np.argmax(lengths <= 0))} is empty")
        self.offsets = np.r_[0, np.cumsum(lengths)]
        self.num_samples = int(self.offsets[-1])
        self.lookahead = int(lengths.max()) * self.shuffle_buffer
        self.check = check
        self._cache, self._pending = {}, {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nnkit-chunk") if prefetch else None
        self._has_y = None
        self.loads = 0  # how many chunk loads happened (for tests and diagnostics)

    # -- order -------------------------------------------------------------------------------------------
    def pass_order(self, rng, shuffle=True, sampling="without_replacement"):
        ids = rng.permutation(len(self.chunks)) if shuffle else np.arange(len(self.chunks))
        parts = []
        for start in range(0, len(ids), self.shuffle_buffer):
            group = np.concatenate([np.arange(self.offsets[c], self.offsets[c + 1]) for c in ids[start:start +
                                                                                                self.shuffle_buffer]])
            if shuffle and sampling == "with_replacement":
                group = group[rng.integers(0, len(group), len(group))]
            elif shuffle:
                group = group[rng.permutation(len(group))]
            parts.append(group)
        return np.concatenate(parts)

    # -- loading -------------------------------------------------------------------------------------------
    def _load(self, c):
        x, y, w = self.chunks[c].load()
        x = np.asarray(x)
        if len(x) != len(self.chunks[c]):
            raise ValueError(f"ChunkedSource: chunk {self.chunks[c]!r} declared {len(self.chunks[c])} samples but "
                             f"loaded {len(x)}")
        if self.check:
            check_finite("ChunkedSource", "x", x, f" of chunk {self.chunks[c]!r}")
            check_finite("ChunkedSource", "y", None if y is None else np.asarray(y), f" of chunk {self.chunks[c]!r}")
        self.loads += 1
        return x, None if y is None else np.asarray(y), None if w is None else np.asarray(w)

    def _get(self, c):
        with self._lock:
            if c in self._cache:
                return self._cache[c]
            future = self._pending.pop(c, None)
        data = future.result() if future is not None else self._load(c)
        with self._lock:
            self._cache[c] = data
        return data

    def _chunk_ids(self, indices):
        return np.searchsorted(self.offsets, indices, side="right") - 1

    def take(self, indices):
        indices = np.asarray(indices, np.int64)
        cids = self._chunk_ids(indices)
        needed = np.unique(cids)
        loaded = {int(c): self._get(int(c)) for c in needed}
        first = loaded[int(needed[0])]
        out = [None if a is None else np.empty((len(indices),) + a.shape[1:], a.dtype) for a in first]
        for c, data in loaded.items():
            sel = cids == c
            local = indices[sel] - self.offsets[c]
            for o, a in zip(out, data):
                if o is not None:
                    o[sel] = a[local]
        self._keep(set(loaded))
        return tuple(out)

    def hint(self, upcoming):
        if self._pool is None or len(upcoming) == 0:
            return
        wanted = [int(c) for c in dict.fromkeys(self._chunk_ids(np.asarray(upcoming)).tolist())]
        with self._lock:
            for c in wanted:
                if c not in self._cache and c not in self._pending:
                    self._pending[c] = self._pool.submit(self._load, c)
            self._keep_locked(set(wanted) | self._recent)

    def _keep(self, in_use):
        with self._lock:
            self._recent = in_use
            self._keep_locked(in_use | set(self._pending))

    def _keep_locked(self, keep):
        for c in [c for c in self._cache if c not in keep]:
            del self._cache[c]

    _recent = frozenset()

    @property
    def has_targets(self):
        if self._has_y is None:
            self._has_y = self._get(0)[1] is not None
        return self._has_y

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._cache.clear()
        self._pending.clear()
