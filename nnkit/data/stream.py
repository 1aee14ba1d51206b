"""Batch streams: the endless sequence of batches that training consumes.

A stream cuts passes over a source into batches: pass 1 in its order, then
pass 2 in a freshly drawn order, and so on; the last batch of a pass may be
smaller (batches never straddle two passes).  An epoch takes
``steps_per_epoch`` batches from the stream, or, by default, the rest of the
current pass.  So with ``steps_per_epoch`` below the batches of a pass the
next epoch continues where the last stopped, and with more the source
repeats; training never ends early by itself.

Pass orders are drawn from ``nnkit.random.get_rng()`` at the moment a pass
starts.  ``get_state``/``set_state`` capture the position exactly (pass
count, position, and the current order), so that with the generator state
(``nnkit.random.get_state``) a run can resume bit for bit.
"""
import math

import numpy as np

from nnkit import random as nnrandom

from .sources import SAMPLING, GeneratorSource

__all__ = ["BatchStream", "GeneratorStream", "make_stream"]


class BatchStream:
    """Batches of ``batch_size`` over a finite source (``ArraySource``, ``ChunkedSource``)."""

    def __init__(self, source, batch_size, shuffle=True, sampling="without_replacement"):
        if sampling not in SAMPLING:
            raise ValueError(f"fit: unknown sampling {sampling!r}; valid choices: {', '.join(SAMPLING)}")
        self.source, self.batch_size = source, int(batch_size)
        self.shuffle, self.sampling = bool(shuffle), sampling
        self.passes, self.position, self.order = 0, 0, None

    @property
    def batches_per_pass(self):
        return math.ceil(self.source.num_samples / self.batch_size)

    def next_batch(self):
        if self.order is None or self.position >= len(self.order):
            self.order = self.source.pass_order(nnrandom.get_rng(), self.shuffle, self.sampling)
            self.passes += 1
            self.position = 0
        idx = self.order[self.position:self.position + self.batch_size]
        self.position += len(idx)
        batch = self.source.take(idx)
        self.source.hint(self.order[self.position:self.position + getattr(self.source, "lookahead", 0)])
        return batch

    def epoch(self, steps=None):
        """The batches of one epoch: ``steps`` batches, or the rest of the current pass."""
        if steps is None:
            left = self.batches_per_pass if self.order is None or self.position >= len(self.order) else \
                math.ceil((len(self.order) - self.position) / self.batch_size)
            steps = left
        for _ in range(steps):
            yield self.next_batch()

    def steps_for_epoch(self, steps=None):
        return steps if steps is not None else self.batches_per_pass

    def get_state(self):
        """``{"passes", "position", "order"}`` — plain ints and an int64 array (or ``None``)."""
        return {"passes": self.passes, "position": self.position,
                "order": None if self.order is None else np.asarray(self.order, np.int64).copy()}

    def set_state(self, state):
        order = state.get("order")
        if order is not None:
            order = np.asarray(order, np.int64)
            if order.size and (order.min() < 0 or order.max() >= self.source.num_samples):
                raise ValueError(f"stream state: the saved order indexes samples outside [0, "
                                 f"{self.source.num_samples}): was it saved for other data?")
        position = int(state.get("position", 0))
        if order is not None and not 0 <= position <= len(order):
            raise ValueError(f"stream state: position {position} is outside the saved order of {len(order)}")
        self.passes, self.position, self.order = int(state.get("passes", 0)), position, order


class GeneratorStream:
    """Batches from a ``GeneratorSource``; an epoch without ``steps`` is one pass of the generator."""

    def __init__(self, source, op="fit"):
        self.source, self.op = source, op
        self.passes, self.position, self._it = 0, 0, None
        self.batches_per_pass = None

    def _pull(self):
        """The next batch of the open pass (opening one if needed), or ``None`` at its end."""
        if self._it is None:
            self._it = self.source.new_pass()
            self.passes += 1
            self.position = 0
        try:
            item = next(self._it)
        except StopIteration:
            empty = self.position == 0
            self._it = None
            if empty:
                raise ValueError(f"{self.op}: the data generator yielded no batch") from None
            return None
        self.position += 1
        return GeneratorSource.unpack(item, self.op)

    def next_batch(self):
        batch = self._pull()
        return batch if batch is not None else self._pull()  # the pass ended: the source repeats

    def epoch(self, steps=None):
        if steps is not None:
            for _ in range(steps):
                yield self.next_batch()
            return
        while (batch := self._pull()) is not None:
            yield batch

    def steps_for_epoch(self, steps=None):
        return steps

    def get_state(self):
        return {"passes": self.passes, "position": self.position, "order": None}

    def set_state(self, state):
        raise ValueError(f"{self.op}: a generator source cannot be restored to a saved position; use in-memory "
                         f"arrays or a chunked source for exact resume")


def make_stream(source, batch_size, shuffle=True, sampling="without_replacement", op="fit"):
    if isinstance(source, GeneratorSource):
        return GeneratorStream(source, op)
    return BatchStream(source, batch_size, shuffle, sampling)
