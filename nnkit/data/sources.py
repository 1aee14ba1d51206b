"""Data sources: where samples come from.

A *finite* source knows its sample count and serves any set of samples by
index (``take``); one pass over it is an index order drawn by ``pass_order``.
In-memory arrays (``ArraySource``) and out-of-core chunked files
(``nnkit.data.chunked.ChunkedSource``) are finite sources.  A
``GeneratorSource`` yields ready-made batches and has no indices.

A batch is a tuple ``(x, y, sample_weight)``; ``y`` and ``sample_weight``
may be ``None``.
"""
import numpy as np

from nnkit.tensor import Tensor

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
    if a is None or a.dtype.kind not in "fc":
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


class ArraySource(Source):
    """Samples held in memory: ``x`` (N, ...), optional ``y`` (N, ...) and ``sample_weight`` (N,)."""

    def __init__(self, x, y=None, sample_weight=None, op="fit", check=True):
        self.x, self.y, self.sample_weight = (None if a is None else _as_samples(op, name, a) for name, a in
                                              (("x", x), ("y", y), ("sample_weight", sample_weight)))
        if self.x.ndim == 0:
            raise ValueError(f"{op}: x must have a leading sample axis, got a scalar")
        n = len(self.x)
        for name, a in (("y", self.y), ("sample_weight", self.sample_weight)):
            if a is not None and (a.ndim == 0 or len(a) != n):
                got = "a scalar" if a.ndim == 0 else f"{len(a)} samples (shape {a.shape})"
                raise ValueError(f"{op}: x has {n} samples (shape {self.x.shape}) but {name} has {got}")
        if n == 0:
            raise ValueError(f"{op}: x has no samples (shape {self.x.shape})")
        if self.sample_weight is not None and self.sample_weight.size and (
                not np.all(np.isfinite(self.sample_weight)) or self.sample_weight.min() < 0):
            raise ValueError(f"{op}: sample_weight must be finite and non-negative")
        if check:
            check_finite(op, "x", self.x)
            check_finite(op, "y", self.y)
        self.num_samples = n

    def take(self, indices):
        pick = (lambda a: None if a is None else a[indices])
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
        part = lambda a, s: None if a is None else a[s]  # noqa: E731
        head = ArraySource(part(self.x, slice(None, cut)), part(self.y, slice(None, cut)),
                           part(self.sample_weight, slice(None, cut)), op, check=False)
        tail = ArraySource(part(self.x, slice(cut, None)), part(self.y, slice(cut, None)),
                           part(self.sample_weight, slice(cut, None)), op, check=False)
        return head, tail


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
        if isinstance(item, tuple):
            if not 1 <= len(item) <= 3:
                raise ValueError(f"{op}: a generator item must be x, (x, y) or (x, y, sample_weight), "
                                 f"got a tuple of {len(item)}")
            x, y, w = (tuple(_array(a) if a is not None else None for a in item) + (None, None))[:3]
        else:
            x, y, w = _array(item), None, None
        for name, a in (("y", y), ("sample_weight", w)):
            if a is not None and len(a) != len(x):
                raise ValueError(f"{op}: a generated batch has {len(x)} samples in x but {len(a)} in {name}")
        check_finite(op, "x", x, " of a generated batch")
        check_finite(op, "y", y, " of a generated batch")
        return x, y, w

    def close(self):
        pass
