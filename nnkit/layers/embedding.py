"""``Embedding``: integer token ids -> dense vectors (a row lookup whose gradient scatter-adds)."""
import numpy as np

from nnkit import initializers as nninitializers
from nnkit import ops
from nnkit.layers.arguments import positive_int
from nnkit.layers.base import Layer
from nnkit.layers.registry import register
from nnkit.tensor import Tensor


@register
class Embedding(Layer):
    """Row ``ids[...]`` of ``embeddings`` ``(input_dim, output_dim)``: (batch, ...) ids -> (batch, ..., output_dim).

    Ids must be integers in ``[0, input_dim)`` (integer-valued floats are accepted, as Keras casts them);
    anything else is an error naming the layer.  ``mask_zero=True`` makes id 0 padding:
    ``compute_mask(ids)`` is ``ids != 0`` and ``input_dim`` must leave room for it, as in Keras.
    """

    penalized_weights = {"embeddings": "embeddings"}

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", mask_zero=False, **kwargs):
        kwargs.pop("input_length", None)  # Keras 2's argument; Keras 3 accepts and ignores it too
        super().__init__(**kwargs)
        for name, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            positive_int(self, name, value)
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.embeddings_initializer = self._initializer(embeddings_initializer, "embeddings_initializer")
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero  # as Keras 3: only a mask_zero embedding makes (or passes) masks

    def build(self, input_shape):
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer)

    def _ids(self, inputs):
        ids = inputs.data if isinstance(inputs, Tensor) else np.asarray(inputs)
        if ids.dtype.kind == "f":
            if ids.size and (not np.all(np.isfinite(ids)) or np.any(ids != np.round(ids))):
                raise self._error("token ids must be integers, got non-integer values")
        elif ids.dtype.kind not in "iub":
            raise self._error(f"token ids must be integers, got dtype {ids.dtype}", TypeError)
        ids = ids.astype(np.int64, copy=False)
        if ids.size and (ids.min() < 0 or ids.max() >= self.input_dim):
            raise self._error(f"token ids must be in [0, {self.input_dim}) (input_dim), got values from "
                              f"{ids.min()} to {ids.max()}")
        return ids

    def _to_tensor(self, value):
        ids = value.data if isinstance(value, Tensor) else np.asarray(value)
        if ids.dtype.kind not in "iubf":
            raise self._error(f"token ids must be integers, got dtype {ids.dtype}", TypeError)
        if ids.dtype.kind in "iub":  # ids keep their integer dtype (a float layer would cast them)
            return value if isinstance(value, Tensor) else Tensor(ids, dtype=ids.dtype)
        return super()._to_tensor(value)

    def call(self, inputs):
        return ops.getitem(self.embeddings, self._ids(inputs))

    def compute_mask(self, inputs, mask=None):
        """``ids != 0`` with ``mask_zero``, else None."""
        return (self._ids(inputs) != 0) if self.mask_zero else None

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": nninitializers.serialize(self.embeddings_initializer),
                "mask_zero": self.mask_zero}
