"""``Input``: the entry point of a functional model."""
from nnkit.layers.base import Layer, _float_dtype
from nnkit.layers.registry import register
from nnkit.layers.shapes import as_shape
from nnkit.layers.symbolic import Node, SymbolicTensor


@register
class InputLayer(Layer):
    """The layer behind ``Input``: it has no weights and passes data through.

    ``shape`` excludes the batch axis; ``batch_shape`` includes it.
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
        super().__init__(name=name, dtype=dtype if dtype is not None else "float32", **kwargs)
        batch_shape = as_shape(batch_shape)
        if any(v is not None and v < 1 for v in batch_shape):
            raise self._error(f"sizes must be positive (or None), got shape {batch_shape[1:]}")
        self.batch_shape = batch_shape
        self.built = True
        self._build_shape = batch_shape
        tensor = SymbolicTensor(batch_shape, self.dtype)
        node = Node(self, [], True, [tensor])
        tensor.node, tensor.index = node, 0

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.pop("trainable", None)
        return {**config, "batch_shape": list(self.batch_shape)}


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None):
    """A symbolic input tensor of ``shape`` (batch axis left out) for the functional API.

    >>> x = Input(shape=(32, 32, 3))
    >>> x.shape
    (None, 32, 32, 3)
    """
    if dtype is not None:
        _float_dtype(dtype, "Input")
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name, batch_shape=batch_shape)
    return layer.output

