"""How ``fit`` trains data-parallel once ``init()`` found several ranks.

``init()`` installs a ``DistributedFit`` on ``Trainer`` (the training core
calls it at three points and knows nothing of MPI):

- the data stream: each rank takes its shard of a finite source (arrays,
  chunked sources) with ``DistributedSampler`` semantics, one shuffle seed
  agreed from rank 0 (``sharding``), or of a ``Dataset``'s batches (batch
  ``i`` for ``i`` in ``shard(len(dataset))``); a plain generator is left
  alone (each rank's generator must yield that rank's batches);
- the callbacks: on ranks other than 0, ``ModelCheckpoint``,
  ``BackupAndRestore`` and ``CSVLogger`` are muted and there is no progress
  output; one callback placed first averages the epoch logs over the ranks
  (so every rank's ``EarlyStopping``/``ReduceLROnPlateau`` sees the same
  values and decides alike) and makes ``stop_training`` collective; one
  placed last, after a ``BackupAndRestore`` restore, gives every rank rank
  0's weights, optimizer state and resume point and wraps the optimizer in
  ``DistributedOptimizer`` if it is not already;
- the loss: whether a step's loss is finite is decided together, so a NaN
  on one rank is a NaN on all (``TerminateOnNaN`` stops every rank at the
  same step; without it every rank applies the same update).
"""
import math

import numpy as np

from nnkit import data as nndata
from nnkit import random as nnrandom
from nnkit.callbacks.base import Callback
from nnkit.callbacks.checkpoint import ModelCheckpoint
from nnkit.callbacks.csv_logger import CSVLogger

from . import comm
from .broadcast import broadcast_optimizer_state, broadcast_weights
from .optimizer import DistributedOptimizer, is_distributed
from .sharding import ShardedStream, shard

__all__ = ["DistributedFit", "install", "uninstall"]

ROOT_ONLY = (ModelCheckpoint, CSVLogger)  # BackupAndRestore is a ModelCheckpoint


class _ShardedDataset(nndata.GeneratorSource):
    """This rank's batches of a ``Dataset`` (Keras's ``PyDataset``): batch indices ``shard(len(dataset))``,
    the same every pass (``fit`` does not reorder a Dataset's batches, as in Keras)."""

    def __init__(self, source):
        dataset, indices = source.dataset, shard(len(source.dataset))
        super().__init__(lambda: (dataset[int(i)] for i in indices), source.op)
        self.batches_per_pass = len(indices)


class _Muted(Callback):
    """Stands in for a callback that only rank 0 runs (keeps the callback list the same length)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def get_state(self):
        return self.inner.get_state()

    def set_state(self, state):
        self.inner.set_state(state)


class _AgreeFirst(Callback):
    """First in the list: every rank sees the same logs and the same stop decision."""

    def __init__(self, dist):
        super().__init__()
        self.dist = dist
        self._block = None

    def on_train_batch_begin(self, batch, logs=None):
        optimizer = self.model.optimizer
        if is_distributed(optimizer):  # backward runs in the block: buckets all-reduce as gradients arrive
            self._block = optimizer.overlap_step(self.model.trainable_weights)
            if self._block is not None:
                self._block.__enter__()

    def _close_block(self):
        if self._block is not None:
            self._block.__exit__(None, None, None)
            self._block = None
            self.model.optimizer.end_step()

    def on_train_end(self, logs=None):
        self._close_block()

    def on_train_batch_end(self, batch, logs=None):
        self._close_block()
        if logs is not None and self.dist.nonfinite and math.isfinite(logs.get("loss", math.nan)):
            logs["loss"] = math.nan  # another rank's loss was not finite: this step's global loss is not

    def on_epoch_end(self, epoch, logs=None):
        if logs:
            keys = sorted(k for k, v in logs.items() if isinstance(v, (int, float, np.floating)))
            mean = comm.allreduce(np.array([float(logs[k]) for k in keys]), "average")
            logs.update(zip(keys, map(float, mean)))


class _AgreeLast(Callback):
    """Last in the list: rank 0's state after any restore, and ``stop_training`` as one decision."""

    def on_train_begin(self, logs=None):
        model = self.model
        model._resume = comm.broadcast_object(model._resume)
        if not is_distributed(model.optimizer):
            model.optimizer = DistributedOptimizer(model.optimizer)
        broadcast_weights(model)
        broadcast_optimizer_state(model.optimizer)

    def _agree_stop(self):
        self.model.stop_training = bool(comm.allreduce(np.array([int(bool(self.model.stop_training))]), "max")[0])

    def on_train_batch_end(self, batch, logs=None):
        self._agree_stop()

    def on_epoch_end(self, epoch, logs=None):
        self._agree_stop()


class DistributedFit:
    """The hooks ``Trainer.fit`` calls when training over several ranks."""

    def __init__(self):
        self.nonfinite = False

    def stream(self, source, stream, batch_size, shuffle, sampling):
        """This rank's batch stream over ``source``."""
        if isinstance(source, nndata.DatasetSource):
            return nndata.GeneratorStream(_ShardedDataset(source))
        if isinstance(source, nndata.GeneratorSource):
            return stream  # batches come ready-made: each rank's generator must yield its own part
        if sampling != "without_replacement":
            raise ValueError(f"fit: sampling={sampling!r} is not supported when training on several ranks")
        seed = np.array([nnrandom.get_rng().integers(2 ** 62) if shuffle and comm.is_root() else 0], np.int64)
        seed = int(comm.broadcast(seed)[0])
        return ShardedStream(source, batch_size, shuffle, seed)

    def callbacks(self, user):
        """The callbacks this rank runs, in place of ``user`` (``model._callbacks`` stays ``user``)."""
        mine = [cb if comm.is_root() or not isinstance(cb, ROOT_ONLY) else _Muted(cb) for cb in user]
        return [_AgreeFirst(self)] + mine + [_AgreeLast()]

    def verbose(self, verbose):
        return verbose if comm.is_root() else 0

    def agree_loss(self, value):
        """``value``, or NaN when the loss of this step was not finite on some rank."""
        bad = comm.allreduce(np.array([0 if np.isfinite(value) else 1], np.int64), "max")[0]
        self.nonfinite = bool(bad)
        return math.nan if bad and np.isfinite(value) else value


def install():
    from nnkit.training.trainer import Trainer
    Trainer._distributed = DistributedFit()


def uninstall():
    from nnkit.training.trainer import Trainer
    Trainer._distributed = None
