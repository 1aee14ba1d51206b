"""Overlap: all-reduce gradient buckets while backward is still running.

Backward produces the gradients of the last layers first.  ``GradientBuckets``
fixes buckets over the trainable weights in reverse order (at most the
fusion threshold each, one dtype each); inside ``on_grad_ready``, each
gradient is copied into its bucket as soon as it is final, and a full bucket
starts its non-blocking ``Iallreduce`` at once, while backward goes on with
the earlier layers.  Every report also lets MPI progress the buckets in
flight (MPICH moves a non-blocking collective forward only inside MPI
calls).  ``finish`` launches what is left, waits, and hands the averaged
gradients to the optimizer.  The ranks run the same graph, so they launch
the buckets in the same order, as MPI requires.
"""
import time

import numpy as np

from nnkit.tensor import on_grad_ready

from . import comm
from .optimizer import buckets

__all__ = ["GradientBuckets"]


class GradientBuckets:
    def __init__(self, weights, threshold, op="average"):
        self.weights = list(weights)
        self.op = op
        order = list(reversed(self.weights))
        self.groups = [[order[i] for i in group] for group in buckets([w.data for w in order], threshold)]
        self.where = {}
        self.buffers = []
        for b, group in enumerate(self.groups):
            offset = 0
            for w in group:
                self.where[id(w)] = (b, offset)
                offset += w.data.size
            self.buffers.append(np.empty(offset, group[0].data.dtype))
        self.exposed_seconds = 0.0  # time finish() waited for communication (what overlap did not hide)
        self.launched_in_backward = 0  # buckets started by a gradient report (so overlapping backward)
        self.begin()

    def matches(self, weights):
        return len(weights) == len(self.weights) and all(a is b for a, b in zip(weights, self.weights))

    def begin(self):
        self.pending = [len(group) for group in self.groups]
        self.requests = [None] * len(self.groups)
        self.copied = {}

    def block(self):
        """The ``on_grad_ready`` block to run backward in."""
        return on_grad_ready(self.ready)

    def _launch(self, b):
        self.requests[b] = comm.comm().Iallreduce(comm._mpi().IN_PLACE, self.buffers[b], op=comm._op(self.op))

    def ready(self, leaf):
        spot = self.where.get(id(leaf))
        if spot is None or leaf.grad is None:
            return
        b, offset = spot
        self.buffers[b][offset:offset + leaf.grad.size] = leaf.grad.reshape(-1)
        self.copied[id(leaf)] = leaf.grad
        self.pending[b] -= 1
        if not self.pending[b]:
            self._launch(b)
            self.launched_in_backward += 1
        for r in self.requests:
            if r is not None:
                r.Test()  # progress for the buckets in flight

    def finish(self, pairs):
        """Averaged gradients for ``pairs`` (``[(grad or None, weight)]`` in ``self.weights`` order), or
        ``None`` when the gradients given are not those backward reported (then the caller reduces them)."""
        for b, group in enumerate(self.groups):
            if self.requests[b] is None:  # some gradient never reported (unused weight): fill from pairs
                grads = {id(w): g for g, w in pairs}
                for w in group:
                    if id(w) not in self.copied:
                        _, offset = self.where[id(w)]
                        g = grads.get(id(w))
                        self.buffers[b][offset:offset + w.data.size] = 0 if g is None else g.reshape(-1)
                self._launch(b)
        start = time.perf_counter()
        for b, r in enumerate(self.requests):
            comm.wait(r, f"allreduce of a {self.buffers[b].nbytes}-byte gradient bucket")
        self.exposed_seconds += time.perf_counter() - start
        stale = any(g is not None and id(w) in self.copied and g is not self.copied[id(w)] for g, w in pairs)
        self.begin()
        if stale:
            return None
        scale = 1.0 / comm.size() if self.op == "average" else None
        out = []
        for g, w in pairs:
            if g is None:
                out.append(None)
                continue
            b, offset = self.where[id(w)]
            reduced = self.buffers[b][offset:offset + w.data.size].reshape(w.data.shape).copy()
            if scale is not None:
                reduced *= scale
            out.append(reduced)
        return out
