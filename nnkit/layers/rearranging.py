"""Permute and RepeatVector: axis reorderings and repeats, without weights."""
import numpy as np

from nnkit import ops
from nnkit.layers.arguments import positive_int
from nnkit.layers.base import Layer
from nnkit.layers.input_spec import InputSpec
from nnkit.layers.registry import register
from nnkit.layers.shapes import format_shape


@register
class Permute(Layer):
    """Reorder the non-batch axes: ``dims`` is a permutation of 1..rank-1
    (``Permute((2, 1))`` swaps the two axes of (batch, a, b) inputs)."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        try:
            dims = tuple(int(d) for d in dims)
        except (TypeError, ValueError):
            dims = None
        if not dims or sorted(dims) != list(range(1, len(dims) + 1)):
            raise self._error(f"dims must be a permutation of 1..{len(dims) if dims else 'n'} (the batch axis "
                              f"0 stays first), got {dims!r}")
        self.dims = dims
        self.input_spec = InputSpec(ndim=len(dims) + 1)

    def call(self, inputs):
        return ops.transpose(inputs, (0,) + self.dims)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}


@register
class RepeatVector(Layer):
    """(batch, features) -> (batch, n, features): the input repeated ``n`` times."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = positive_int(self, "n", n)
        self.input_spec = InputSpec(ndim=2)

    def call(self, inputs):
        return ops.reshape(inputs, (inputs.shape[0], 1, inputs.shape[1])) * \
            np.ones((1, self.n, 1), inputs.dtype)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2:
            raise self._error(f"expected a 2-D input (batch, features), got {format_shape(input_shape)}")
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self):
        return {**super().get_config(), "n": self.n}
