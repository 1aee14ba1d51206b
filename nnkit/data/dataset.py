"""``Dataset``: Keras's ``PyDataset`` — a sequence of ready-made batches that ``fit`` indexes.

Subclass it with ``__len__`` (the number of batches) and ``__getitem__(i)``
(batch ``i``: ``x``, ``(x, y)`` or ``(x, y, sample_weight)``, each an array
or a list/dict of arrays).  ``fit`` serves batches ``0 .. len-1`` in order
each epoch and calls ``on_epoch_end()`` after every epoch (shuffle there,
as Keras users do); ``on_epoch_begin()`` before it.  ``shuffle`` in ``fit``
does not apply: the dataset decides its order.

``workers``, ``use_multiprocessing`` and ``max_queue_size`` are accepted for
Keras compatibility; batches are produced in the training thread.
"""
from .sources import GeneratorSource

__all__ = ["Dataset", "DatasetSource"]


class Dataset:
    """Base class of indexable batch sequences (Keras's ``PyDataset``)."""

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self.workers, self.use_multiprocessing, self.max_queue_size = workers, use_multiprocessing, max_queue_size

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__}: a Dataset must define __len__ (the number of batches)")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__}: a Dataset must define __getitem__(index) -> batch")

    @property
    def num_batches(self):
        return len(self)

    def on_epoch_begin(self):
        """Called by ``fit`` before each epoch."""

    def on_epoch_end(self):
        """Called by ``fit`` after each epoch."""


class DatasetSource(GeneratorSource):
    """A ``Dataset`` as a repeatable batch source: one pass is batches ``0 .. len-1``."""

    def __init__(self, dataset, op="fit"):
        n = len(dataset)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"{op}: {type(dataset).__name__} has len() == {n!r}; a Dataset needs at least one "
                             f"batch")
        self.dataset = dataset
        super().__init__(lambda: (dataset[i] for i in range(len(dataset))), op)
        self.batches_per_pass = n

    def on_epoch_begin(self):
        self.dataset.on_epoch_begin()

    def on_epoch_end(self):
        self.dataset.on_epoch_end()
