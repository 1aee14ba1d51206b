"""Attention: Dot, Attention (Luong), AdditiveAttention (Bahdanau) and MultiHeadAttention, Keras 3's semantics.

Written with ``nnkit.ops`` (batched matmuls on the BLAS kernel, a stable
softmax), so every gradient comes from autograd.  Masks are boolean, True
where a position may be attended to; a masked score is set to a large
negative number before the softmax, as Keras does, so a fully masked row
attends uniformly instead of producing NaN.
"""
import numpy as np

from nnkit import functional as F
from nnkit import initializers as nninitializers
from nnkit import ops
from nnkit import random as nnrandom
from nnkit.layers.arguments import positive_int
from nnkit.layers.base import Layer
from nnkit.layers.registry import register
from nnkit.layers.shapes import format_shape
from nnkit.tensor import Tensor, get_keras_mask, set_keras_mask

_MASKED = -1e9  # Keras's large negative for masked scores


def _mask_array(layer, mask, shape):
    m = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
    if m.dtype != np.bool_:
        if m.dtype.kind not in "iuf":
            raise layer._error(f"a mask must be boolean (True: attend), got dtype {m.dtype}", TypeError)
        m = m != 0
    try:
        return np.broadcast_to(m, shape)
    except ValueError:
        raise layer._error(f"a mask of shape {m.shape} does not fit attention scores of shape {shape}") from None


def _masked_softmax(scores, mask):
    if mask is not None:
        scores = ops.where(mask, scores, Tensor(np.asarray(_MASKED, scores.dtype)))
    return ops.softmax(scores, axis=-1)


def _causal(t, s):
    return np.tril(np.ones((t, s), bool))


def _dropout(layer, weights, training):
    return F.dropout(weights, layer.dropout, training=bool(training), rng=layer._rng or nnrandom.get_rng())


@register
class Dot(Layer):
    """Batchwise dot product of two inputs along ``axes`` (an int, or one per input; the batch axis is 0);
    ``normalize=True`` L2-normalises along those axes first (the cosine)."""

    _supports_masking = True
    _passes_masks_only = True

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        pair = list(axes) if isinstance(axes, (list, tuple)) else [axes, axes]
        if len(pair) != 2 or not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in pair):
            raise self._error(f"axes must be an int or a pair of ints, got {axes!r}")
        self.axes, self.normalize = axes, bool(normalize)
        self._pair = [int(a) for a in pair]

    def _resolved(self, shapes):
        if len(shapes) != 2:
            raise self._error(f"expects 2 inputs, got {len(shapes)}")
        a, b = shapes
        if len(a) not in (2, 3) or len(b) not in (2, 3):
            raise self._error(f"supports inputs of rank 2 or 3, got {format_shape(list(shapes))}")
        axes = [ax % len(s) for ax, s in zip(self._pair, shapes)]
        if 0 in axes:
            raise self._error("cannot take the dot product along the batch axis")
        if a[axes[0]] is not None and b[axes[1]] is not None and a[axes[0]] != b[axes[1]]:
            raise self._error(f"axes {self._pair} have sizes {a[axes[0]]} and {b[axes[1]]}; they must match")
        return axes

    def call(self, inputs):
        x, y = inputs
        ax, ay = self._resolved([x.shape, y.shape])
        if self.normalize:
            x = x / ops.sqrt(ops.maximum(ops.sum(x * x, axis=ax, keepdims=True), 1e-12))
            y = y / ops.sqrt(ops.maximum(ops.sum(y * y, axis=ay, keepdims=True), 1e-12))
        if x.ndim == 2:
            x = ops.reshape(x, (x.shape[0], 1, x.shape[1]))
            ax = 2
        if y.ndim == 2:
            y = ops.reshape(y, (y.shape[0], y.shape[1], 1))
            ay = 1
        if ax == 1:
            x = ops.transpose(x, (0, 2, 1))
        if ay == 2:
            y = ops.transpose(y, (0, 2, 1))
        out = ops.matmul(x, y)  # (batch, rest of x, rest of y)
        keep = [d for d in out.shape[1:] if d != 1] if len(inputs[0].shape) == 2 or len(inputs[1].shape) == 2 \
            else list(out.shape[1:])
        return ops.reshape(out, (out.shape[0],) + (tuple(keep) or (1,)))

    def compute_mask(self, inputs, mask=None):
        """The output of a dot product has no mask (Keras 3)."""
        return None

    def compute_output_shape(self, input_shape):
        a, b = [tuple(s) for s in input_shape]
        ax, ay = self._resolved([a, b])
        rest = [d for i, d in enumerate(a) if i not in (0, ax)] + [d for i, d in enumerate(b) if i not in (0, ay)]
        return (a[0],) + (tuple(rest) or (1,))

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


class _BaseAttention(Layer):
    _passes_masks_only = True

    def __init__(self, dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= dropout < 1:
            raise self._error(f"dropout must be in [0, 1), got {dropout}")
        self.dropout, self.seed = float(dropout), seed
        self._rng = None if seed is None else np.random.default_rng(seed)

    def _unpack(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
            raise self._error("expects [query, value] or [query, value, key]")
        q, v = inputs[0], inputs[1]
        k = inputs[2] if len(inputs) == 3 else v
        if q.ndim != 3 or v.ndim != 3 or k.ndim != 3:
            raise self._error(f"query, value and key must be 3-D (batch, steps, features), got "
                              f"{[tuple(t.shape) for t in inputs]}")
        if k.shape[:2] != v.shape[:2]:
            raise self._error(f"key {k.shape} and value {v.shape} must have the same batch and steps")
        return q, v, k

    def call(self, inputs, mask=None, training=None, return_attention_scores=False, use_causal_mask=False):
        q, v, k = self._unpack(inputs)
        scores = self._scores(q, k)
        shape = scores.shape
        allowed = None
        if mask is not None:  # [query_mask, value_mask] as Keras, or one value mask
            value_mask = mask[1] if isinstance(mask, (list, tuple)) else mask
            if value_mask is not None:
                allowed = _mask_array(self, np.asarray(value_mask)[:, None, :], shape)
        if use_causal_mask:
            causal = np.broadcast_to(_causal(shape[1], shape[2]), shape)
            allowed = causal if allowed is None else allowed & causal
        weights = _masked_softmax(scores, None if allowed is None else Tensor(allowed))
        out = ops.matmul(_dropout(self, weights, training), v)
        if mask is not None and isinstance(mask, (list, tuple)) and mask[0] is not None:
            out = out * Tensor(np.asarray(mask[0], out.dtype)[..., None])  # Keras zeroes masked query steps
        return [out, weights] if return_attention_scores else out

    def compute_mask(self, inputs, mask=None):
        """The query's mask (Keras 3): masks arrive as ``[query_mask, value_mask(, key_mask)]``."""
        if isinstance(mask, (list, tuple)) and mask:
            return mask[0]
        return None

    def compute_output_shape(self, input_shape):
        q, v = tuple(input_shape[0]), tuple(input_shape[1])
        return q[:2] + v[2:]


@register
class Attention(_BaseAttention):
    """Dot-product attention: ``softmax(scale * query @ key^T) @ value`` (``score_mode='dot'``), or
    ``scale * sum(tanh(query + key))`` scores (``'concat'``); ``use_scale`` makes ``scale`` a trainable scalar
    (initially 1; 1 and fixed otherwise)."""

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(dropout, seed, **kwargs)
        if score_mode not in ("dot", "concat"):
            raise self._error(f"score_mode must be 'dot' or 'concat', got {score_mode!r}")
        self.use_scale, self.score_mode = bool(use_scale), score_mode

    def build(self, input_shape):
        self.scale = self.add_weight("scale", (), "ones") if self.use_scale else None
        self.concat_score_weight = self.add_weight("concat_score_weight", (), "ones") \
            if self.score_mode == "concat" else None

    def _scores(self, q, k):
        if self.score_mode == "dot":
            scores = ops.matmul(q, ops.transpose(k, (0, 2, 1)))
            return scores * self.scale if self.scale is not None else scores
        q4 = ops.reshape(q, (q.shape[0], q.shape[1], 1, q.shape[2]))
        k4 = ops.reshape(k, (k.shape[0], 1, k.shape[1], k.shape[2]))
        if self.scale is not None:
            return self.concat_score_weight * ops.sum(ops.tanh(self.scale * (q4 + k4)), axis=-1)
        return self.concat_score_weight * ops.sum(ops.tanh(q4 + k4), axis=-1)

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale, "score_mode": self.score_mode,
                "dropout": self.dropout, "seed": self.seed}


@register
class AdditiveAttention(_BaseAttention):
    """Bahdanau attention: scores ``sum(scale * tanh(query + key), -1)``, ``scale`` a trainable vector over the
    features (``use_scale``, initialised glorot-uniform as Keras) or ones."""

    def __init__(self, use_scale=True, dropout=0.0, seed=None, **kwargs):
        super().__init__(dropout, seed, **kwargs)
        self.use_scale = bool(use_scale)

    def build(self, input_shape):
        dim = tuple(input_shape[0])[-1]
        self.scale = self.add_weight("scale", (dim,), "glorot_uniform") if self.use_scale else None

    def _scores(self, q, k):
        q4 = ops.reshape(q, (q.shape[0], q.shape[1], 1, q.shape[2]))
        k4 = ops.reshape(k, (k.shape[0], 1, k.shape[1], k.shape[2]))
        t = ops.tanh(q4 + k4)
        return ops.sum(t * self.scale if self.scale is not None else t, axis=-1)

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale, "dropout": self.dropout, "seed": self.seed}


@register
class MultiHeadAttention(Layer):
    """Keras 3's multi-head attention, with its weights: query/key/value kernels ``(dim, num_heads, key_dim)``
    (value: ``value_dim``) and biases ``(num_heads, key_dim)``, the output kernel ``(num_heads, value_dim,
    output_dim)`` and bias ``(output_dim,)``, in that order.  Scores are ``query @ key^T / sqrt(key_dim)`` per
    head; ``attention_mask`` (batch, T, S) is True where query step t may attend to key step s;
    ``query_mask`` (batch, T) and ``value_mask`` / ``key_mask`` (batch, S) are padding masks, combined with it
    as Keras does; ``use_causal_mask`` adds the lower triangle; ``return_attention_scores`` also returns
    (batch, heads, T, S).  Padding masks not passed are read from the inputs (``Embedding(mask_zero=True)``
    or ``Masking`` upstream): the query's always, the value's and the key's when not given, as Keras 3; the
    output carries the query's mask."""

    _supports_masking = True
    _passes_masks_only = True

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                 attention_axes=None, kernel_initializer="glorot_uniform", bias_initializer="zeros", seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        axes = (attention_axes,) if isinstance(attention_axes, int) else attention_axes
        if axes is not None and tuple(axes) not in ((1,), (-2,)):
            raise self._error(f"attention_axes={attention_axes!r}: nnkit attends over the steps axis of "
                              f"(batch, steps, features) inputs only (None, 1 or [1])", NotImplementedError)
        for name, value in (("num_heads", num_heads), ("key_dim", key_dim)):
            positive_int(self, name, value)
        if not 0 <= dropout < 1:
            raise self._error(f"dropout must be in [0, 1), got {dropout}")
        self.num_heads, self.key_dim = int(num_heads), int(key_dim)
        self.value_dim = int(value_dim) if value_dim is not None else self.key_dim
        self.dropout, self.use_bias, self.seed = float(dropout), bool(use_bias), seed
        self.output_shape_arg = output_shape
        self.kernel_initializer = self._initializer(kernel_initializer, "kernel_initializer")
        self.bias_initializer = self._initializer(bias_initializer, "bias_initializer")
        self._rng = None if seed is None else np.random.default_rng(seed)

    def __call__(self, query, value=None, key=None, **kwargs):
        if value is None and isinstance(query, (list, tuple)):
            return super().__call__(list(query), **kwargs)
        parts = [query, query if value is None else value] + ([] if key is None else [key])
        return super().__call__(parts, **kwargs)

    def build(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        dq, dv = shapes[0][-1], shapes[1][-1]
        dk = shapes[2][-1] if len(shapes) == 3 else dv
        out_dim = self.output_shape_arg if self.output_shape_arg is not None else dq
        if isinstance(out_dim, (list, tuple)):
            if len(out_dim) != 1:
                raise self._error(f"output_shape must be an int or a 1-tuple, got {self.output_shape_arg!r}")
            out_dim = out_dim[0]
        h = self.num_heads

        def dense(name, dim, units):
            kernel = self.add_weight(f"{name}/kernel", (dim, h, units), self.kernel_initializer)
            bias = self.add_weight(f"{name}/bias", (h, units), self.bias_initializer) if self.use_bias else None
            return kernel, bias
        self._query = dense("query", dq, self.key_dim)
        self._key = dense("key", dk, self.key_dim)
        self._value = dense("value", dv, self.value_dim)
        self.output_kernel = self.add_weight("attention_output/kernel", (h, self.value_dim, out_dim),
                                             self.kernel_initializer)
        self.output_bias = self.add_weight("attention_output/bias", (out_dim,), self.bias_initializer) \
            if self.use_bias else None
        self._out_dim = out_dim

    @staticmethod
    def _project(x, kernel, bias):
        """(B, T, dim) -> (B, heads, T, units)."""
        b, t, d = x.shape
        _, h, u = kernel.shape
        y = ops.reshape(ops.matmul(ops.reshape(x, (b * t, d)), ops.reshape(kernel, (d, h * u))), (b, t, h, u))
        if bias is not None:
            y = y + bias
        return ops.transpose(y, (0, 2, 1, 3))

    def call(self, inputs, attention_mask=None, return_attention_scores=False, training=None,
             use_causal_mask=False, query_mask=None, value_mask=None, key_mask=None):
        if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
            raise self._error("expects query, value and optionally key")
        q, v = inputs[0], inputs[1]
        k = inputs[2] if len(inputs) == 3 else v
        for name, t in (("query", q), ("value", v), ("key", k)):
            if t.ndim != 3:
                raise self._error(f"{name} must be 3-D (batch, steps, features), got {tuple(t.shape)}")
        own_query_mask = get_keras_mask(q)
        query_mask = own_query_mask if own_query_mask is not None else query_mask  # Keras 3: the query's own wins
        value_mask = get_keras_mask(v) if value_mask is None else value_mask
        if key_mask is None and len(inputs) == 3:
            key_mask = get_keras_mask(k)
        qh = self._project(q, *self._query) * (1.0 / np.sqrt(self.key_dim))
        kh, vh = self._project(k, *self._key), self._project(v, *self._value)
        scores = ops.matmul(qh, ops.transpose(kh, (0, 1, 3, 2)))  # (B, H, T, S)
        b, h, t, s = scores.shape
        allowed = None
        key_mask = value_mask if key_mask is None else key_mask  # Keras: the key's padding is the value's
        for m, expand in ((attention_mask, (slice(None), None)), (query_mask, (slice(None), None, slice(None), None)),
                          (key_mask, (slice(None), None, None, slice(None)))):
            if m is not None:
                m = _mask_array(self, np.asarray(m.data if isinstance(m, Tensor) else m)[expand], (b, h, t, s))
                allowed = m if allowed is None else allowed & m
        if use_causal_mask:
            causal = np.broadcast_to(_causal(t, s), (b, h, t, s))
            allowed = causal if allowed is None else allowed & causal
        weights = _masked_softmax(scores, None if allowed is None else Tensor(allowed))
        dropped = F.dropout(weights, self.dropout, training=bool(training), rng=self._rng or nnrandom.get_rng())
        context = ops.matmul(dropped, vh)  # (B, H, T, value_dim)
        merged = ops.reshape(ops.transpose(context, (0, 2, 1, 3)), (b * t, h * self.value_dim))
        out = ops.matmul(merged, ops.reshape(self.output_kernel, (h * self.value_dim, self._out_dim)))
        out = ops.reshape(out, (b, t, self._out_dim))
        if self.output_bias is not None:
            out = out + self.output_bias
        if query_mask is not None:
            set_keras_mask(out, query_mask)
        return [out, weights] if return_attention_scores else out

    def compute_mask(self, inputs, mask=None):
        """The output carries the query's mask, set by ``call`` (Keras 3)."""
        return None

    def compute_output_shape(self, input_shape):
        q = tuple(input_shape[0])
        out = self.output_shape_arg if self.output_shape_arg is not None else q[-1]
        return q[:2] + ((out[0] if isinstance(out, (list, tuple)) else out),)

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout, "use_bias": self.use_bias,
                "output_shape": self.output_shape_arg, "seed": self.seed, "attention_axes": None,
                "kernel_initializer": nninitializers.serialize(self.kernel_initializer),
                "bias_initializer": nninitializers.serialize(self.bias_initializer)}
