"""``Input``: the entry point of a functional model."""
import numpy as np

from nnkit import ops
from nnkit.layers.base import Layer, _float_dtype
from nnkit.layers.registry import register
from nnkit.layers.shapes import as_shape
from nnkit.layers.symbolic import Node, SymbolicTensor
from nnkit.tensor import Tensor, get_keras_mask, set_keras_mask


@register
class InputLayer(Layer):
    """The layer behind ``Input``: it has no weights and passes data through.

    ``shape`` excludes the batch axis; ``batch_shape`` includes it.  ``dtype`` is the data's: float32 or
    float64, or an integer or bool dtype for token ids and the like (``Input(..., dtype="int32")`` before an
    ``Embedding``), which reach the next layer exactly, never through a float.
    """

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, batch_shape=None, **kwargs):
        for alias in ("input_shape", "batch_input_shape"):  # Keras 2 spellings
            if alias in kwargs:
                value = kwargs.pop(alias)
                if alias == "input_shape":
                    shape = value
                else:
                    batch_shape = value
        if shape is None and batch_shape is None:
            raise TypeError("Input: give shape= (without the batch axis), e.g. Input(shape=(28, 28, 1))")
        if batch_shape is None:
            shape = (shape,) if isinstance(shape, int) else tuple(shape)
            batch_shape = (batch_size,) + shape
        self.input_dtype = input_dtype(dtype, "Input")
        compute = self.input_dtype if self.input_dtype.kind == "f" else np.dtype(np.float32)
        super().__init__(name=name, dtype=compute, **kwargs)
        batch_shape = as_shape(batch_shape)
        if any(v is not None and v < 1 for v in batch_shape):
            raise self._error(f"sizes must be positive (or None), got shape {batch_shape[1:]}")
        self.batch_shape = batch_shape
        self.built = True
        self._build_shape = batch_shape
        tensor = SymbolicTensor(batch_shape, self.input_dtype)
        node = Node(self, [], True, [tensor])
        tensor.node, tensor.index = node, 0

    def call(self, inputs):
        return inputs

    def _to_tensor(self, value):
        return to_input_dtype(value, self.input_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.pop("trainable", None)
        return {**config, "batch_shape": list(self.batch_shape), "dtype": str(self.input_dtype)}


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None):
    """A symbolic input tensor of ``shape`` (batch axis left out) for the functional API.

    >>> x = Input(shape=(32, 32, 3))
    >>> x.shape
    (None, 32, 32, 3)
    """
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name, batch_shape=batch_shape)
    return layer.output



def input_dtype(dtype, who):
    """An input's data dtype: float32/float64 (the default float32), or an integer or bool dtype."""
    if dtype is None:
        return np.dtype(np.float32)
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{who}: dtype must be float32, float64, an integer dtype or bool, got {dtype!r}") from None
    if dtype.kind in "iub":
        return dtype
    return _float_dtype(dtype, who)


def to_input_dtype(value, dtype):
    """``value`` as a Tensor of an input's ``dtype`` (its mask kept): an exact copy for integer ids."""
    if isinstance(value, Tensor):
        if value.dtype == dtype:
            return value
        cast = ops.cast(value, dtype) if dtype.kind == "f" else Tensor(value.data.astype(dtype), dtype=dtype)
        set_keras_mask(cast, get_keras_mask(value))
        return cast
    return Tensor(np.asarray(value).astype(dtype, copy=False), dtype=dtype)
