"""PReLU: a leaky ReLU whose negative slope is learned."""
from nnkit import initializers as nninitializers
from nnkit import ops
from nnkit.layers.base import Layer
from nnkit.layers.input_spec import InputSpec
from nnkit.layers.registry import register
from nnkit.layers.shapes import format_shape


@register
class PReLU(Layer):
    """``max(x, 0) + alpha * min(x, 0)`` with a learned ``alpha``.

    ``alpha`` has the input's shape without the batch axis, except that each
    axis in ``shared_axes`` (1-based, as Keras: ``(1, 2)`` shares one slope
    per channel of an image) has size 1.
    """
    _supports_masking = True  # passes masks on unchanged (Keras 3)

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None, shared_axes=None,
                 **kwargs):
        super().__init__(**kwargs)
        if alpha_regularizer is not None or alpha_constraint is not None:
            raise self._error("alpha_regularizer and alpha_constraint are not supported yet; pass None",
                              NotImplementedError)
        self.alpha_initializer = self._initializer(alpha_initializer, "alpha_initializer")
        if shared_axes is None:
            shared = ()
        else:
            shared = (shared_axes,) if isinstance(shared_axes, int) else tuple(shared_axes)
            if not all(isinstance(a, int) and not isinstance(a, bool) and a >= 1 for a in shared):
                raise self._error(f"shared_axes must be None or positive axis numbers (1 is the first axis "
                                  f"after the batch), got {shared_axes!r}")
        self.shared_axes = shared

    def build(self, input_shape):
        rank = len(input_shape)
        if any(a >= rank for a in self.shared_axes):
            raise self._error(f"shared_axes {self.shared_axes} out of range for input {format_shape(input_shape)}")
        shape = tuple(1 if axis in self.shared_axes else input_shape[axis] for axis in range(1, rank))
        if any(v is None for v in shape):
            raise self._error(f"input {format_shape(input_shape)} has unknown sizes on axes that are not shared")
        self.alpha = self.add_weight("alpha", shape, self.alpha_initializer)
        self.input_spec = InputSpec(ndim=rank, axes={a: input_shape[a] for a in range(1, rank)
                                                     if a not in self.shared_axes})

    def call(self, inputs):
        return ops.relu(inputs) - self.alpha * ops.relu(-inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "alpha_initializer": nninitializers.serialize(self.alpha_initializer),
                "alpha_regularizer": None, "alpha_constraint": None,
                "shared_axes": list(self.shared_axes) or None}
