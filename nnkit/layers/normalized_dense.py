"""NormalizedDense: the cosine head of an angular-margin model (ArcFace, CosFace, SphereFace)."""

from nnkit import functional as F
from nnkit import initializers as nninitializers
from nnkit import ops
from nnkit.layers.arguments import positive_int
from nnkit.layers.base import Layer
from nnkit.layers.input_spec import InputSpec
from nnkit.layers.registry import register

EPSILON = 1e-12  # squared norms are floored here (as Keras's l2_normalize): a zero vector maps to zero


def l2_normalize(x, axis=-1):
    """``x / max(|x|, 1e-6)`` along ``axis``, differentiable."""
    return x / ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=axis, keepdims=True), EPSILON))


@register
class NormalizedDense(Layer):
    """``cos(theta_j) = <x / |x|, W[:, j] / |W[:, j]|>``: cosines between the
    embedding and each of ``units`` class centres, the input of a margin loss
    (``nnkit.losses.ArcFace``, ``CosFace``, ``SphereFace``...).

    kernel: ``(in_features, units)``, one class centre per column; no bias
    and no activation (both would break the cosine's range).
    """

    def __init__(self, units, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.units = positive_int(self, "units", units)
        self.kernel_initializer = self._initializer(kernel_initializer, "kernel_initializer")
        self.input_spec = InputSpec(min_ndim=2)

    def build(self, input_shape):
        features = input_shape[-1]
        if len(input_shape) < 2 or features is None:
            raise self._error(f"needs inputs (batch, ..., features) with a known feature size, got {input_shape}")
        self.kernel = self.add_weight("kernel", (features, self.units), self.kernel_initializer)
        self.input_spec = InputSpec(min_ndim=2, axes={-1: features})

    def call(self, inputs):
        return F.linear(l2_normalize(inputs, axis=-1), l2_normalize(self.kernel, axis=0))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "kernel_initializer": nninitializers.serialize(self.kernel_initializer)}
