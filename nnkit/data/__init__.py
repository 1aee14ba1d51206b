"""Data pipeline: in-memory arrays, Python generators and out-of-core chunked sources.

``fit`` accepts arrays (or lists/dicts of arrays for models with several
inputs or outputs), a generator (or a callable returning one), a ``Dataset``
(Keras's ``PyDataset``) or a ``ChunkedSource``; ``as_source`` turns any of
them into a source, and
``make_stream`` cuts a source into the endless batch stream that training
consumes (see ``nnkit.data.stream`` for how epochs, passes and
``steps_per_epoch`` relate).
"""
import numpy as np

from nnkit.tensor import Tensor

from .chunked import Chunk, ChunkedSource, idx_chunks, npy_chunks, npz_shards
from .dataset import Dataset, DatasetSource
from .sources import SAMPLING, ArraySource, GeneratorSource, Source, check_finite
from .stream import BatchStream, GeneratorStream, make_stream
from .structure import is_structure

__all__ = ["as_source", "Source", "ArraySource", "GeneratorSource", "ChunkedSource", "Chunk", "Dataset",
           "DatasetSource", "npy_chunks", "npz_shards", "idx_chunks", "BatchStream", "GeneratorStream",
           "make_stream", "check_finite", "SAMPLING"]


def as_source(x, y=None, sample_weight=None, op="fit"):
    """A source for ``x`` (arrays or structures of them, a Source, a Dataset, a generator, an iterable or a
    callable)."""
    if isinstance(x, (Source, GeneratorSource, Dataset)):
        if y is not None or sample_weight is not None:
            raise ValueError(f"{op}: y and sample_weight must come from the {type(x).__name__} itself, not be "
                             f"passed separately")
        return DatasetSource(x, op) if isinstance(x, Dataset) else x
    if x is None:
        raise ValueError(f"{op}: x is None; pass the input data")
    if isinstance(x, (np.ndarray, Tensor, list, dict)) or np.isscalar(x) or is_structure(x):
        if isinstance(x, list) and x and isinstance(x[0], tuple):  # a list of (x, y) batches
            return GeneratorSource(x, op)
        return ArraySource(x, y, sample_weight, op)
    if y is not None or sample_weight is not None:
        raise ValueError(f"{op}: when x is a generator, it must yield (x, y[, sample_weight]) itself; "
                         f"do not pass y or sample_weight")
    return GeneratorSource(x, op)
