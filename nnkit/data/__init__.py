"""Data pipeline: in-memory arrays, Python generators and out-of-core chunked sources.

``fit`` accepts arrays, a generator (or a callable returning one) or a
``ChunkedSource``; ``as_source`` turns any of them into a source, and
``make_stream`` cuts a source into the endless batch stream that training
consumes (see ``nnkit.data.stream`` for how epochs, passes and
``steps_per_epoch`` relate).
"""
from .chunked import Chunk, ChunkedSource, idx_chunks, npy_chunks, npz_shards
from .sources import SAMPLING, ArraySource, GeneratorSource, Source, check_finite
from .stream import BatchStream, GeneratorStream, make_stream

__all__ = ["as_source", "Source", "ArraySource", "GeneratorSource", "ChunkedSource", "Chunk",
           "npy_chunks", "npz_shards", "idx_chunks", "BatchStream", "GeneratorStream", "make_stream",
           "check_finite", "SAMPLING"]


def as_source(x, y=None, sample_weight=None, op="fit"):
    """A source for ``x`` (arrays, a Source, a generator, an iterable or a callable)."""
    if isinstance(x, (Source, GeneratorSource)):
        if y is not None or sample_weight is not None:
            raise ValueError(f"{op}: y and sample_weight must come from the {type(x).__name__} itself, not be "
                             f"passed separately")
        return x
    import numpy as np

    from nnkit.tensor import Tensor
    if isinstance(x, (np.ndarray, Tensor, list)) or np.isscalar(x):
        if isinstance(x, list) and x and isinstance(x[0], tuple):  # a list of (x, y) batches
            return GeneratorSource(x, op)
        return ArraySource(x, y, sample_weight, op)
    if y is not None or sample_weight is not None:
        raise ValueError(f"{op}: when x is a generator, it must yield (x, y[, sample_weight]) itself; "
                         f"do not pass y or sample_weight")
    return GeneratorSource(x, op)
