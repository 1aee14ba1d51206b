"""Data-parallel training over MPI (mpi4py): launch with ``mpiexec -n 4 python script.py``.

Horovod's design on nnkit's training step: every rank holds the whole model
and trains on its own shard of the data; after backward, the gradients are
averaged over the ranks (fused all-reduce buffers) and every rank applies
the same update, so the weights stay identical.  ``init()`` joins the job;
from then on ``fit`` does the rest itself (sharding, weight broadcast,
optimizer wrapping, rank-0-only files and progress, averaged metrics,
collective stop decisions).  See the README, "Training on several machines".
"""
from . import callbacks
from .broadcast import broadcast_optimizer_state, broadcast_weights
from .comm import (DistributedError, allreduce, barrier, broadcast, broadcast_object, init, is_initialized, is_root,
                   rank, set_timeout, size, timeout)
from .optimizer import DEFAULT_FUSION_THRESHOLD, DistributedOptimizer, is_distributed
from .sharding import shard
from .sync_batch_norm import SyncBatchNormalization

__all__ = ["init", "is_initialized", "rank", "size", "is_root", "barrier", "allreduce", "broadcast",
           "broadcast_object", "broadcast_weights", "broadcast_optimizer_state", "DistributedOptimizer",
           "is_distributed", "DEFAULT_FUSION_THRESHOLD", "shard", "timeout", "set_timeout", "DistributedError",
           "SyncBatchNormalization", "callbacks"]
