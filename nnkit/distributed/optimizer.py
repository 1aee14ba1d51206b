"""``DistributedOptimizer``: average the gradients over the ranks, then run the wrapped update.

Horovod's design on nnkit's one gradient entry point: the wrapper is an
instance of a subclass of the wrapped optimizer's own class, with the same
class name, hyper-parameters and state, so ``compile``, ``get_config``,
saving, checkpoints and resume see the optimizer they know.  Only
``apply_gradients`` differs: the gradients are packed, in weight order, into
flat fusion buffers of at most ``fusion_threshold_bytes`` (one dtype per
buffer; a gradient larger than the threshold goes alone; ``0`` = one
all-reduce per gradient), every buffer is all-reduced in place (started
together, waited together), unpacked, and the wrapped update runs on the
averaged gradients.  Clipping therefore acts on the averaged gradient, as in
one process with the global batch.

The learning rate is not scaled: with ``p`` ranks of batch ``b`` the
effective batch is ``p * b``; the usual rule scales the rate by ``p``
(linear scaling) with a few epochs of warm-up (Goyal et al., 2017).
"""
import time

import numpy as np

from nnkit import optimizers as nnoptimizers
from nnkit.tensor import Tensor

from . import comm

__all__ = ["DistributedOptimizer", "is_distributed", "DEFAULT_FUSION_THRESHOLD"]

DEFAULT_FUSION_THRESHOLD = 64 * 2 ** 20
_CLASSES = {}


def _pairs(grads_and_vars):
    """``[(gradient ndarray or None, weight)]`` from ``(grad, weight)`` pairs or weights carrying ``.grad``."""
    out = []
    for item in grads_and_vars:
        g, w = item if isinstance(item, tuple) else (item.grad, item)
        if isinstance(g, Tensor):
            g = g.data
        out.append((None if g is None else np.asarray(g), w))
    return out


def buckets(arrays, threshold):
    """Consecutive groups of array indices: one dtype per group, at most ``threshold`` bytes (0: one each)."""
    groups, current, nbytes = [], [], 0
    for i, a in enumerate(arrays):
        fits = current and arrays[current[0]].dtype == a.dtype and nbytes + a.nbytes <= threshold
        if not fits and current:
            groups.append(current)
            current, nbytes = [], 0
        current.append(i)
        nbytes += a.nbytes
    if current:
        groups.append(current)
    return groups


def reduce_gradients(grads, op="average", threshold=DEFAULT_FUSION_THRESHOLD):
    """All-reduced copies of ``grads`` (ndarrays), fused into buffers of at most ``threshold`` bytes."""
    groups = buckets(grads, threshold)
    buffers = [np.concatenate([grads[i].reshape(-1) for i in group]) if len(group) > 1
               else np.array(grads[group[0]], order="C", copy=True).reshape(-1) for group in groups]
    comm.allreduce_many(buffers, op)
    out = [None] * len(grads)
    for group, buf in zip(groups, buffers):
        offset = 0
        for i in group:
            n = grads[i].size
            out[i] = buf[offset:offset + n].reshape(grads[i].shape)
            offset += n
    return out


class _Distributed:
    """Mixed in before the wrapped optimizer's class (see ``DistributedOptimizer``)."""

    _distributed = True

    comm_seconds = 0.0  # time spent in all-reduces that did not overlap backward (nnkit bench --distributed)
    _overlap = None  # the GradientBuckets of the step in progress, while fit runs backward in its block

    def apply_gradients(self, grads_and_vars):
        pairs = _pairs(grads_and_vars)
        overlap, self._overlap = self._overlap, None
        if overlap is not None:
            matches = overlap.matches([w for _, w in pairs])
            reduced = overlap.finish(pairs if matches else [])  # other weights: drain the buckets, reduce anew
            if matches and reduced is not None:
                super().apply_gradients(list(zip(reduced, (w for _, w in pairs))))
                return
        live = [i for i, (g, _) in enumerate(pairs) if g is not None]
        if comm.size() > 1 and live:
            start = time.perf_counter()
            reduced = reduce_gradients([pairs[i][0] for i in live], self.allreduce_op, self.fusion_threshold_bytes)
            self.comm_seconds += time.perf_counter() - start
            for i, g in zip(live, reduced):
                pairs[i] = (g, pairs[i][1])
        super().apply_gradients(pairs)

    def overlap_step(self, weights):
        """Prepare the buckets for one step over ``weights``; returns the block to run backward in, or
        ``None`` when overlap is off."""
        if not self.overlap or comm.size() == 1:
            return None
        buckets_ = getattr(self, "_buckets", None)
        if buckets_ is None or not buckets_.matches(weights):
            from .overlap import GradientBuckets
            buckets_ = self._buckets = GradientBuckets(weights, self.fusion_threshold_bytes, self.allreduce_op)
        self._overlap = buckets_
        return buckets_.block()

    def end_step(self):
        """Complete buckets a step left in flight (its update was skipped: a non-finite loss)."""
        overlap, self._overlap = self._overlap, None
        if overlap is not None:
            overlap.finish([])


def _distributed_class(cls):
    if cls not in _CLASSES:
        _CLASSES[cls] = type(cls.__name__, (_Distributed, cls),
                             {"__module__": cls.__module__, "__qualname__": cls.__qualname__,
                              "__doc__": f"{cls.__name__} whose gradients are averaged over the MPI ranks."})
    return _CLASSES[cls]


def is_distributed(optimizer):
    return getattr(optimizer, "_distributed", False)


def DistributedOptimizer(optimizer, op="average", fusion_threshold_bytes=DEFAULT_FUSION_THRESHOLD, overlap=True):
    """A copy of ``optimizer`` (an ``Optimizer`` or a name) that all-reduces gradients before each update.

    ``op``: ``'average'`` (default) or ``'sum'``.  ``fusion_threshold_bytes``:
    the largest fused buffer (``0``: one all-reduce per gradient).  ``overlap``:
    in ``fit``, start each buffer's all-reduce during backward, as soon as its
    gradients are final (``nnkit.distributed.overlap``).  The
    result is an instance of the same optimizer class (``isinstance`` and
    the class name hold), with the same hyper-parameters and state.
    """
    optimizer = nnoptimizers.get(optimizer)
    if op not in ("average", "sum"):
        raise ValueError(f"DistributedOptimizer: op must be 'average' or 'sum', got {op!r}")
    if isinstance(fusion_threshold_bytes, bool) or not isinstance(fusion_threshold_bytes, (int, np.integer)) \
            or fusion_threshold_bytes < 0:
        raise ValueError(f"DistributedOptimizer: fusion_threshold_bytes must be an integer >= 0, got "
                         f"{fusion_threshold_bytes!r}")
    base = type(optimizer).__mro__[2] if is_distributed(optimizer) else type(optimizer)  # (class, _Distributed, base)
    wrapped = object.__new__(_distributed_class(base))
    wrapped.__dict__.update(optimizer.__dict__)
    wrapped.allreduce_op, wrapped.fusion_threshold_bytes = op, int(fusion_threshold_bytes)
    wrapped.overlap, wrapped._buckets, wrapped._overlap, wrapped.comm_seconds = bool(overlap), None, None, 0.0
    return wrapped
