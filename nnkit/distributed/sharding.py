"""Which samples each rank trains on: PyTorch ``DistributedSampler`` semantics.

Each pass (epoch) has one order, the same on every rank: ``arange(n)``, or
with ``shuffle`` a permutation drawn from ``seed + epoch``.  It is padded by
wrapping around to a multiple of ``size`` (so every rank gets as many
samples and takes as many steps: the collectives stay in step), or
truncated to one with ``drop_last``; rank ``r`` takes ``order[r::size]``.
"""
import math

import numpy as np

from nnkit.data.stream import BatchStream

from . import comm

__all__ = ["shard", "shard_length", "ShardedStream"]


def _count(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"shard: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def shard_length(n, size, drop_last=False):
    """Samples per rank for ``n`` samples over ``size`` ranks."""
    return n // size if drop_last else math.ceil(n / size)


def shard(n, shuffle=False, seed=0, epoch=0, drop_last=False, rank=None, size=None):
    """This rank's sample indices (int64) for one epoch over ``n`` samples.

    ``rank``/``size`` default to this process's (``nnkit.distributed.init()``).
    """
    n = _count("n", n, 1)
    seed, epoch = _count("seed", seed, 0), _count("epoch", epoch, 0)
    size = comm.size() if size is None else _count("size", size, 1)
    rank = comm.rank() if rank is None else _count("rank", rank, 0)
    if rank >= size:
        raise ValueError(f"shard: rank must be in [0, size={size}), got {rank}")
    if drop_last and n < size:
        raise ValueError(f"shard: drop_last with {n} samples over {size} ranks leaves no sample for any rank")
    order = np.random.default_rng(seed + epoch).permutation(n) if shuffle else np.arange(n, dtype=np.int64)
    return _stride(order, rank, size, drop_last)


def _stride(order, rank, size, drop_last):
    """Rank ``rank``'s part of one pass ``order``: padded by wrapping (or truncated), then ``[rank::size]``."""
    n = len(order)
    total = shard_length(n, size, drop_last) * size
    if total > n:
        order = np.resize(order, total)  # wraps around: the pad repeats the pass's first indices
    return np.asarray(order[rank:total:size], dtype=np.int64)


class ShardedStream(BatchStream):
    """A ``BatchStream`` over one rank's shard of a finite source.

    Pass ``k``'s order is the source's own ``pass_order`` drawn from
    ``default_rng(seed + k)`` on every rank, then strided as ``shard`` does:
    for arrays exactly ``shard(n, shuffle, seed, k)``; a chunked source keeps
    its chunk-local order, so the ranks read the same few chunks at a time.
    The seed is part of the state, so a resumed run draws the same later
    passes as an uninterrupted one.
    """

    def __init__(self, source, batch_size, shuffle=True, seed=0, drop_last=False):
        super().__init__(source, batch_size, shuffle)
        self.seed, self.drop_last = int(seed), bool(drop_last)

    @property
    def batches_per_pass(self):
        return math.ceil(shard_length(self.source.num_samples, comm.size(), self.drop_last) / self.batch_size)

    def _pass(self, k):
        order = self.source.pass_order(np.random.default_rng(self.seed + k), self.shuffle)
        return _stride(np.asarray(order, np.int64), comm.rank(), comm.size(), self.drop_last)

    def next_batch(self):
        if self.order is None or self.position >= len(self.order):
            self.order = self._pass(self.passes)
            self.passes += 1
            self.position = 0
        return super().next_batch()

    def get_state(self):
        return {**super().get_state(), "seed": self.seed}

    def set_state(self, state):
        """Restore a position; the order is recomputed for this rank (a checkpoint holds rank 0's)."""
        super().set_state(state)
        self.seed = int(state.get("seed", self.seed))
        if self.passes > 0 and self.order is not None:
            self.order = self._pass(self.passes - 1)
