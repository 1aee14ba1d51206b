"""Data sources: where samples come from.

A *finite* source knows its sample count and serves any set of samples by
index (``take``); one pass over it is an index order drawn by ``pass_order``.
In-memory arrays (``ArraySource``) and out-of-core chunked files
(``nnkit.data.chunked.ChunkedSource``) are finite sources.  A
``GeneratorSource`` yields ready-made batches and has no indices.

A batch is a tuple ``(x, y, sample_weight)``; ``y`` and ``sample_weight``
may be ``None``.  Each of them may be one array or a structure (a list or a
dict of arrays, ``nnkit.data.structure``) for models with several inputs or
outputs; every array in it has the same number of samples.
"""
import numpy as np

from nnkit.tensor import Tensor

from .structure import is_structure, map_structure, paths

__all__ = ["Source", "ArraySource", "GeneratorSource", "check_finite", "SAMPLING"]

SAMPLING = ("without_replacement", "with_replacement")


def _array(a):
    return a.data if isinstance(a, Tensor) else np.asarray(a)


def _as_samples(op, name, a):
    try:
        return _array(a)
    except ValueError:
        raise ValueError(f"{op}: cannot make one array of {name} from a list of differently shaped items; pass an "
                         f"ndarray, or a generator (or callable) yielding batches") from None


def check_finite(op, name, a, where=""):
    """Raise if a float array holds NaN or infinity, naming the first bad sample.

    Scans in blocks of rows, so a memory-mapped array larger than memory is
    checked without a full-size temporary.
    """
    if a is None or a.dtype.kind not in "fc" or a.size == 0:  # nothing to check (reshape(0, -1) is ambiguous)
        return
    rows = a.reshape(len(a), -1) if a.ndim else a.reshape(1, 1)
    step = max(1, (1 << 22) // max(1, rows.shape[1]))
    first, count = None, 0
    for start in range(0, len(rows), step):
        ok = np.isfinite(rows[start:start + step]).all(axis=1)
        if not ok.all():
            count += int((~ok).sum())
            first = start + int(np.argmin(ok)) if first is None else first
    if count:
        raise ValueError(f"{op}: {name} contains NaN or infinite values in {count} sample(s){where}, "
                         f"the first at index {first}; clean or impute the data before training")


class Source:
    """Base class of finite sources."""

    num_samples = None

    def pass_order(self, rng, shuffle=True, sampling="without_replacement"):
        """The sample indices of one pass, in the order they are to be served."""
        n = self.num_samples
        if sampling == "with_replacement":
            return rng.integers(0, n, n) if shuffle else np.arange(n)
        return rng.permutation(n) if shuffle else np.arange(n)

    def take(self, indices):
        """``(x, y, sample_weight)`` for the samples at ``indices``."""
        raise NotImplementedError

    def hint(self, upcoming):
        """Indices that will be served next (a source may load them ahead of time)."""

    @property
    def has_targets(self):
        return True

    def close(self):
        pass


def _samples(op, name, value):
    """``value`` (an array or a structure of them) with every leaf an ndarray."""
    if value is None:
        return None
    if isinstance(value, dict) and not value:
        raise ValueError(f"{op}: {name} is an empty dict")
    return map_structure(lambda a: _as_samples(op, name, a), value)


def check_lengths(op, x, y=None, sample_weight=None):
    """The common sample count of every array in ``x``, ``y`` and ``sample_weight``; raise naming the odd one."""
    arrays = paths(x, "x") + paths(y, "y") + paths(sample_weight, "sample_weight")
    first, a0 = arrays[0]
    if a0.ndim == 0:
        raise ValueError(f"{op}: {first} must have a leading sample axis, got a scalar")
    n = len(a0)
    for name, a in arrays[1:]:
        if a.ndim == 0 or len(a) != n:
            got = "a scalar" if a.ndim == 0 else f"{len(a)} samples (shape {a.shape})"
            raise ValueError(f"{op}: {first} has {n} samples (shape {a0.shape}) but {name} has {got}")
    return n


class ArraySource(Source):
    """Samples held in memory: ``x`` (N, ...), optional ``y`` (N, ...) and ``sample_weight`` (N,),
    each an array or a list/dict of arrays (several model inputs or outputs)."""

    def __init__(self, x, y=None, sample_weight=None, op="fit", check=True):
        self.x, self.y, self.sample_weight = (_samples(op, name, a) for name, a in
                                              (("x", x), ("y", y), ("sample_weight", sample_weight)))
        n = check_lengths(op, self.x, self.y, self.sample_weight)
        if n == 0:
            raise ValueError(f"{op}: x has no samples")
        for name, w in paths(self.sample_weight, "sample_weight"):
            if w.size and (not np.all(np.isfinite(w)) or w.min() < 0):
                raise ValueError(f"{op}: {name} must be finite and non-negative")
        if check:
            for name, a in paths(self.x, "x") + paths(self.y, "y"):
                check_finite(op, name, a)
        self.num_samples = n

    def take(self, indices):
        def pick(value):
            return map_structure(lambda a: a[indices], value)
        return pick(self.x), pick(self.y), pick(self.sample_weight)

    @property
    def has_targets(self):
        return self.y is not None

    def split(self, fraction, op="fit"):
        """``(first, last)``: the last ``fraction`` of the samples held out (before any shuffling, as Keras)."""
        if not 0 < fraction < 1:
            raise ValueError(f"{op}: validation_split must be in (0, 1), got {fraction}")
        n_val = int(round(self.num_samples * fraction))
        if n_val == 0 or n_val == self.num_samples:
            raise ValueError(f"{op}: validation_split={fraction} of {self.num_samples} samples leaves "
                             f"{self.num_samples - n_val} for training and {n_val} for validation; both need some")
        cut = self.num_samples - n_val

        def part(s):
            return [map_structure(lambda a: a[s], v) for v in (self.x, self.y, self.sample_weight)]
        return (ArraySource(*part(slice(None, cut)), op, check=False),
                ArraySource(*part(slice(cut, None)), op, check=False))


class GeneratorSource:
    """Batches from a Python generator, an iterable or a callable returning one.

    Each item is ``x``, ``(x, y)`` or ``(x, y, sample_weight)``.  A callable or
    a re-iterable object (a list, a Sequence) starts afresh for every pass; a
    one-shot generator feeds a single pass.
    """

    num_samples = None

    def __init__(self, data, op="fit"):
        self.op = op
        if callable(data) and not hasattr(data, "__next__"):
            self._make = data
            self.repeatable = True
        elif hasattr(data, "__next__"):
            self._make, self._once = None, data
            self.repeatable = False
        elif hasattr(data, "__iter__"):
            self._make = lambda: iter(data)
            self.repeatable = True
        else:
            raise TypeError(f"{op}: cannot read batches from {type(data).__name__}")
        self._used = False

    def new_pass(self):
        """An iterator over one pass."""
        if self._make is not None:
            return iter(self._make())
        if self._used:
            raise RuntimeError(f"{self.op}: the generator is exhausted and cannot start another pass; pass a "
                               f"callable that returns a fresh generator (or a list / Sequence) to train for more "
                               f"than one pass")
        self._used = True
        return self._once

    @staticmethod
    def unpack(item, op):
        """A batch ``(x, y, sample_weight)`` from an item ``x``, ``(x, y)`` or ``(x, y, sample_weight)``:
        a tuple is that triple (as in Keras), a list or dict is the inputs of a multi-input model."""
        if isinstance(item, tuple):
            if not 1 <= len(item) <= 3:
                raise ValueError(f"{op}: a generator item must be x, (x, y) or (x, y, sample_weight), "
                                 f"got a tuple of {len(item)}")
            x, y, w = (tuple(map_structure(_array, a) for a in item) + (None, None))[:3]
        else:
            x, y, w = map_structure(_array, item), None, None
        n = check_lengths(op + " (a generated batch)", x, y, w)
        if n == 0:
            raise ValueError(f"{op}: the data generator yielded an empty batch (0 samples)")
        for name, a in paths(x, "x") + paths(y, "y"):
            check_finite(op, name, a, " of a generated batch")
        return x, y, w

    def close(self):
        pass
