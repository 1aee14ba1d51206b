"""Differentiable neural-network ops backed by the kernels.

Each op resolves its user-facing arguments (``padding='same'``, an int stride,
…) into the explicit geometry the kernels take, then runs the active backend
(``nnkit.set_backend``).  Images are channels-last ``(N, H, W, C)``;
convolution kernels are ``(KH, KW, C // groups, F)`` (Keras HWIO).
"""
from types import MappingProxyType

import numpy as np

from nnkit import backend, ops
from nnkit.backend.validate import as_rows, geometry_int, memoized, positive_int, positive_pair
from nnkit import random as nnrandom
from nnkit.tensor import Function, Tensor, as_tensor
from nnkit.recurrent import gru, lstm, simple_rnn  # noqa: F401  (the recurrent ops live in their own module)

__all__ = [
    "conv2d", "conv2d_transpose", "max_pool2d", "avg_pool2d", "global_avg_pool2d", "global_max_pool2d",
    "linear", "batch_norm", "dropout", "softmax_cross_entropy", "margin_cross_entropy", "mse", "resolve_padding",
    "simple_rnn", "lstm", "gru",
]


# -- geometry -------------------------------------------------------------------
def resolve_padding(op, padding, size, kernel, strides, dilation=(1, 1)):
    """Explicit ((top, bottom), (left, right)) padding.

    ``'valid'`` is no padding; ``'same'`` pads so that the output is
    ``ceil(input / stride)``, the extra pixel going to the bottom/right (as
    Keras and TensorFlow do); an int or a pair pads symmetrically; a pair of
    pairs is taken as it is.
    """
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return ((0, 0), (0, 0))
        if mode == "same":
            pads = []
            for n, k, s, d in zip(size, kernel, strides, dilation):
                out = -(-n // s)
                total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
                pads.append((total // 2, total - total // 2))
            return tuple(pads)
        raise ValueError(f"{op}: unknown padding {padding!r}; valid choices: 'valid', 'same', an int, "
                         f"a pair, or ((top, bottom), (left, right))")
    def pad(v):
        return geometry_int(op, "padding", v, 0, padding)

    if isinstance(padding, (int, np.integer)):
        return ((pad(padding),) * 2,) * 2
    try:
        a, b = padding
        if isinstance(a, (int, np.integer)) and isinstance(b, (int, np.integer)):
            return ((pad(a), pad(a)), (pad(b), pad(b)))
        (t, bottom), (left, right) = a, b
    except (TypeError, ValueError):
        raise ValueError(f"{op}: cannot read padding {padding!r}; valid choices: 'valid', 'same', an int, "
                         f"a pair, or ((top, bottom), (left, right))") from None
    return ((pad(t), pad(bottom)), (pad(left), pad(right)))


def _image(op, shape):
    if len(shape) != 4:
        raise ValueError(f"{op}: expected a 4-D channels-last input (batch, height, width, channels), "
                         f"got shape {shape}")


def _fused_activation(op, activation):
    """The epilogue a GEMM-based op applies in the same pass as its bias: None or ``'relu'``."""
    if activation not in (None, "relu"):
        raise ValueError(f"{op}: the fused activation must be None or 'relu', got {activation!r}; "
                         f"apply other activations to the result")
    return activation == "relu"


# -- convolution ----------------------------------------------------------------
class Conv2d(Function):
    def forward(self, x, w, *bias, strides, padding, dilation, groups, relu):
        self.kernels = backend.current()
        self.x, self.w, self.has_bias, self.relu = x, w, bool(bias), relu
        self.geometry = dict(strides=strides, padding=padding, dilation=dilation, groups=groups)
        if not relu:
            return self.kernels.conv2d_forward(x, w, bias[0] if bias else None, **self.geometry)
        y = self.kernels.conv2d_forward(x, w, None, **self.geometry)
        self.y = self.kernels.bias_relu(y, bias[0] if bias else None, True, out=y)
        return y

    def backward(self, g):
        need = self.needs_input_grad
        if self.relu:
            g = self.kernels.relu_backward(g, self.y)
        dx, dw, db = self.kernels.conv2d_backward(
            g, self.x, self.w, **self.geometry,
            need_dx=need[0], need_dw=need[1], need_db=self.has_bias and need[2])
        return (dx, dw, db) if self.has_bias else (dx, dw)


def conv2d(x, w, b=None, strides=1, padding="valid", dilation=1, groups=1, activation=None):
    """2-D convolution (cross-correlation, as every framework computes it).

    Parameters
    ----------
    x : Tensor (N, H, W, C)
    w : Tensor (KH, KW, C // groups, F)
    b : Tensor (F,) or None
    strides, dilation : int or (int, int)
    padding : 'valid', 'same', int, (ph, pw) or ((top, bottom), (left, right))
    groups : int; ``groups == C`` is a depthwise convolution
    activation : None or ``'relu'``, fused into the bias pass (and its gradient into this op's backward)
    """
    x = as_tensor(x)
    w = as_tensor(w, x)
    geometry = _conv2d_geometry(x.shape, w.shape, strides, padding, dilation, groups, activation)
    inputs = (x, w) if b is None else (x, w, as_tensor(b, x))
    return Conv2d.apply(*inputs, **geometry)


@memoized
def _conv2d_geometry(x_shape, w_shape, strides, padding, dilation, groups, activation):
    """conv2d's user-facing arguments resolved for the kernels (the same layer asks every step)."""
    _image("conv2d", x_shape)
    if len(w_shape) != 4:
        raise ValueError(f"conv2d: expected a 4-D kernel (KH, KW, C // groups, F), got shape {w_shape}")
    strides = positive_pair("conv2d", "strides", strides, one_for_both=True)
    dilation = positive_pair("conv2d", "dilation", dilation, one_for_both=True)
    groups = positive_int("conv2d", "groups", groups)
    relu = _fused_activation("conv2d", activation)
    pads = resolve_padding("conv2d", padding, x_shape[1:3], w_shape[:2], strides, dilation)
    return MappingProxyType(dict(strides=strides, padding=pads, dilation=dilation, groups=groups, relu=relu))


# -- transposed convolution -------------------------------------------------------
class Conv2dTranspose(Function):
    """The adjoint of conv2d in its input: forward is conv2d_backward's dx, backward a conv2d (and its dw)."""

    def forward(self, x, w, *bias, out_shape, strides, padding, dilation):
        self.kernels = backend.current()
        self.x, self.w, self.has_bias, self.out_shape = x, w, bool(bias), out_shape
        self.geometry = dict(strides=strides, padding=padding, dilation=dilation, groups=1)
        y, _, _ = self.kernels.conv2d_backward(x, np.zeros(out_shape, x.dtype), w, **self.geometry,
                                               need_dx=True, need_dw=False, need_db=False)
        return y + bias[0] if bias else y

    def backward(self, g):
        need = self.needs_input_grad
        dx = self.kernels.conv2d_forward(g, self.w, None, **self.geometry) if need[0] else None
        dw = self.kernels.conv2d_backward(self.x, g, self.w, **self.geometry, need_dx=False, need_dw=True,
                                          need_db=False)[1] if need[1] else None
        if not self.has_bias:
            return dx, dw
        return dx, dw, (g.sum(axis=(0, 1, 2)) if need[2] else None)


def conv2d_transpose(x, w, b=None, strides=1, padding="valid", output_padding=None, dilation=1):
    """Transposed 2-D convolution (the gradient of ``conv2d`` in its input), as Keras's Conv2DTranspose.

    Parameters
    ----------
    x : Tensor (N, H, W, C)
    w : Tensor (KH, KW, F, C): Keras's layout, ``F`` output filters
    b : Tensor (F,) or None
    strides, dilation : int or (int, int)
    padding : 'valid' or 'same'
    output_padding : None, int or (int, int), each below its stride

    The output size per axis is Keras's: ``valid``: ``H * s + max(k - s, 0)``,
    ``same``: ``H * s``; with ``output_padding`` p: ``(H - 1) * s + k - 2 * pad + p``
    with ``pad = k // 2`` for ``same`` and 0 for ``valid`` (``k`` the dilated kernel span).
    """
    x = as_tensor(x)
    w = as_tensor(w, x)
    geometry = _conv2d_transpose_geometry(x.shape, w.shape, strides, padding, output_padding, dilation)
    inputs = (x, w) if b is None else (x, w, as_tensor(b, x))
    if b is not None and inputs[2].shape != (w.shape[2],):
        raise ValueError(f"conv2d_transpose: expected bias of shape ({w.shape[2]},), got {inputs[2].shape}")
    return Conv2dTranspose.apply(*inputs, **geometry)


def _transpose_pads(length, k, stride, dilation, padding, output_padding):
    """(output length, (pad_before, pad_after) of the equivalent forward conv) along one axis.

    The output is the input dilated by the stride, padded by Keras's
    (left, right) and convolved with the flipped kernel; the forward conv
    whose input gradient that is pads by ``span - 1 - left`` before, and
    ``span - 1 - right`` after (an after-pad below zero only leaves the last
    output pixels untouched by any window, which a conv pads as zero).
    """
    span = (k - 1) * dilation + 1
    if padding == "valid":
        extra = max(span, stride) - span if output_padding is None else output_padding
        left, right = span - 1, span - 1 + extra
    else:
        total = stride + span - 2 if output_padding is None else span + span % 2 - 2 + output_padding
        left = min(total // 2 + total % 2, span - 1)
        right = total - left
    out = (length - 1) * stride + left + right - span + 2
    return out, (span - 1 - left, max(span - 1 - right, 0))


@memoized
def _conv2d_transpose_geometry(x_shape, w_shape, strides, padding, output_padding, dilation):
    _image("conv2d_transpose", x_shape)
    if len(w_shape) != 4 or w_shape[3] != x_shape[3]:
        raise ValueError(f"conv2d_transpose: expected a 4-D kernel (KH, KW, filters, {x_shape[3]}) for input "
                         f"{x_shape}, got shape {w_shape}")
    strides = positive_pair("conv2d_transpose", "strides", strides, one_for_both=True)
    dilation = positive_pair("conv2d_transpose", "dilation", dilation, one_for_both=True)
    mode = padding.lower() if isinstance(padding, str) else padding
    if mode not in ("valid", "same"):
        raise ValueError(f"conv2d_transpose: unknown padding {padding!r}; valid choices: 'valid', 'same'")
    if output_padding is not None:
        pair = (output_padding,) * 2 if isinstance(output_padding, (int, np.integer)) else tuple(output_padding)
        if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and 0 <= v < s for v, s in zip(pair, strides)):
            raise ValueError(f"conv2d_transpose: expected output_padding to be None or non-negative ints below "
                             f"the strides {strides}, got {output_padding!r}")
        output_padding = tuple(int(v) for v in pair)
    axes = [_transpose_pads(x_shape[1 + i], w_shape[i], strides[i], dilation[i], mode,
                            None if output_padding is None else output_padding[i]) for i in range(2)]
    out_shape = (x_shape[0], axes[0][0], axes[1][0], w_shape[2])
    if min(out_shape[1:3]) < 1:
        raise ValueError(f"conv2d_transpose: input {x_shape} gives an empty output {out_shape}")
    return MappingProxyType(dict(out_shape=out_shape, strides=strides, padding=(axes[0][1], axes[1][1]),
                                 dilation=dilation))


# -- pooling --------------------------------------------------------------------
class MaxPool2d(Function):
    def forward(self, x, pool_size, strides, padding):
        self.kernels, self.shape = backend.current(), x.shape
        y, self.argmax = self.kernels.max_pool2d_forward(x, pool_size, strides, padding)
        return y

    def backward(self, g):
        return (self.kernels.max_pool2d_backward(g, self.argmax, self.shape),)


class AvgPool2d(Function):
    def forward(self, x, pool_size, strides, padding):
        self.kernels, self.shape = backend.current(), x.shape
        self.geometry = (pool_size, strides, padding)
        return self.kernels.avg_pool2d_forward(x, *self.geometry)

    def backward(self, g):
        return (self.kernels.avg_pool2d_backward(g, self.shape, *self.geometry),)


def _pool(op, fn, x, pool_size, strides, padding):
    x = as_tensor(x)
    return fn.apply(x, **_pool_geometry(op, x.shape, pool_size, strides, padding))


@memoized
def _pool_geometry(op, x_shape, pool_size, strides, padding):
    _image(op, x_shape)
    pool_size = positive_pair(op, "pool_size", pool_size, one_for_both=True)
    strides = pool_size if strides is None else positive_pair(op, "strides", strides, one_for_both=True)
    pads = resolve_padding(op, padding, x_shape[1:3], pool_size, strides)
    return MappingProxyType(dict(pool_size=pool_size, strides=strides, padding=pads))


def max_pool2d(x, pool_size=2, strides=None, padding="valid"):
    """Max pooling; ``strides`` defaults to ``pool_size``; windows may overlap."""
    return _pool("max_pool2d", MaxPool2d, x, pool_size, strides, padding)


def avg_pool2d(x, pool_size=2, strides=None, padding="valid"):
    """Average pooling over the real (unpadded) pixels of each window, as Keras."""
    return _pool("avg_pool2d", AvgPool2d, x, pool_size, strides, padding)


def _nonempty_image(op, shape):
    _image(op, shape)
    if not shape[1] or not shape[2]:  # a mean would be NaN (NumPy only warns), a max has no value
        raise ValueError(f"{op}: expected a non-empty height and width to pool over, got shape {shape}")


def global_avg_pool2d(x, keepdims=False):
    """Mean over height and width: (N, H, W, C) -> (N, C)."""
    x = as_tensor(x)
    _nonempty_image("global_avg_pool2d", x.shape)
    return ops.mean(x, axis=(1, 2), keepdims=keepdims)


def global_max_pool2d(x, keepdims=False):
    """Max over height and width: (N, H, W, C) -> (N, C)."""
    x = as_tensor(x)
    _nonempty_image("global_max_pool2d", x.shape)
    return ops.max(x, axis=(1, 2), keepdims=keepdims)


# -- dense ------------------------------------------------------------------------
class Linear(Function):
    def forward(self, x, w, *bias, relu):
        if x.shape[-1] != w.shape[0]:
            raise ValueError(f"linear: input has {x.shape[-1]} features (shape {x.shape}) but the "
                             f"weight expects {w.shape[0]} (shape {w.shape})")
        self.kernels = backend.current()
        self.x, self.w, self.b, self.has_bias, self.relu = x, w, bias[0] if bias else None, bool(bias), relu
        y = self.kernels.matmul(as_rows(x), w)
        if bias or relu:  # one pass over the fresh GEMM output, in place
            self.kernels.bias_relu(y, bias[0] if bias else None, relu, out=y)
        self.y = y if relu else None  # the ReLU's gradient needs it; otherwise the graph need not hold it
        return y.reshape(x.shape[:-1] + (w.shape[1],))

    def backward(self, g):
        need = self.needs_input_grad
        g2 = as_rows(g)
        if self.relu:
            g2 = self.kernels.relu_backward(g2, self.y)
        dx = self.kernels.matmul(g2, self.w, trans_b=True).reshape(self.x.shape) if need[0] else None
        dw = self.kernels.matmul(as_rows(self.x), g2, trans_a=True) if need[1] else None
        if not self.has_bias:
            return dx, dw
        return dx, dw, (g2.sum(axis=0) if need[2] else None)

    def backward_sgd(self, g, lr):
        """``backward``, with plain SGD's step taken inside it: ``w += x^T (-lr g)`` and ``b += 1^T (-lr g)``,
        GEMMs into the weights, so no gradient array is made and no update pass reads one back.  Returns ``dx``
        (None where not needed), computed from the weight before its step, as ``backward`` does.

        The rounding differs from ``w - lr (x^T g)``: the rate scales ``g`` before the product instead of the
        product after it (a relative error of a few float epsilons of the step, not of the weight)."""
        need = self.needs_input_grad
        g2 = as_rows(g)
        if self.relu:
            g2 = self.kernels.relu_backward(g2, self.y)
        dx = self.kernels.matmul(g2, self.w, trans_b=True).reshape(self.x.shape) if need[0] else None
        step_b = self.has_bias and need[2]
        if need[1] or step_b:  # relu_backward's fresh array is ours to scale in place
            rate = g2.dtype.type(-lr)
            scaled = np.multiply(g2, rate, out=g2) if self.relu else g2 * rate
            if need[1]:
                self.kernels.matmul(as_rows(self.x), scaled, trans_a=True, out=self.w)
            if step_b:
                self.kernels.matmul(np.ones((1, len(scaled)), scaled.dtype), scaled, out=self.b.reshape(1, -1))
        return dx


def linear(x, w, b=None, activation=None):
    """``activation(x @ w + b)`` over the last axis of ``x``; ``w`` is (in_features, out_features).

    ``activation='relu'`` is fused: applied in the same pass as the bias, and
    its gradient in the same Function (one op instead of three).
    """
    x = as_tensor(x)
    w = as_tensor(w, x)
    relu = _fused_activation("linear", activation)
    if w.ndim != 2 or x.ndim < 1:
        raise ValueError(f"linear: expected x (..., in) and w (in, out), got shapes {x.shape} and {w.shape}")
    if b is None:
        return Linear.apply(x, w, relu=relu)
    b = as_tensor(b, x)
    if b.shape != (w.shape[1],):
        raise ValueError(f"linear: expected bias of shape ({w.shape[1]},), got {b.shape}")
    return Linear.apply(x, w, b, relu=relu)


# -- batch normalisation -------------------------------------------------------------
class BatchNormTrain(Function):
    def forward(self, x, gamma, beta, eps, stats):
        self.kernels = backend.current()
        y, self.mean, self.invstd, var = self.kernels.batch_norm_forward_train(x, gamma, beta, eps)
        self.x, self.gamma = x, gamma
        stats.update(mean=self.mean, var=var)
        return y

    def backward(self, g):
        return self.kernels.batch_norm_backward(g, self.x, self.mean, self.invstd, self.gamma)


class BatchNormInference(Function):
    def forward(self, x, gamma, beta, mean, var, eps):
        self.x, self.gamma, self.mean, self.invstd = x, gamma, mean, 1 / np.sqrt(var + eps)
        return backend.current().batch_norm_inference(x, gamma, beta, mean, var, eps)

    def backward(self, g):  # rare (fine-tuning through frozen statistics): computed here, not in every forward
        axes = tuple(range(g.ndim - 1))
        xhat = (self.x - self.mean) * self.invstd
        return g * (self.gamma * self.invstd), (g * xhat).sum(axis=axes), g.sum(axis=axes), None, None


def batch_norm(x, gamma, beta, running_mean, running_var, training, momentum=0.99, eps=1e-3):
    """Batch normalisation over every axis but the last (channels).

    In training the batch statistics normalise ``x`` and the running
    statistics (arrays, updated in place) move towards them:
    ``running = momentum * running + (1 - momentum) * batch`` (Keras's
    convention, with the biased batch variance).  In inference the running
    statistics normalise ``x``.
    """
    x = as_tensor(x)
    gamma, beta = as_tensor(gamma, x), as_tensor(beta, x)
    c = x.shape[-1] if x.ndim else 0
    for name, t in (("gamma", gamma), ("beta", beta), ("running_mean", running_mean), ("running_var", running_var)):
        if np.shape(t) != (c,):
            raise ValueError(f"batch_norm: expected {name} of shape ({c},) for input {x.shape}, got {np.shape(t)}")
    if not 0 <= momentum <= 1:
        raise ValueError(f"batch_norm: momentum must be in [0, 1], got {momentum}")
    running_mean = running_mean.data if isinstance(running_mean, Tensor) else running_mean
    running_var = running_var.data if isinstance(running_var, Tensor) else running_var
    for name, stat in (("running_mean", running_mean), ("running_var", running_var)):
        if not isinstance(stat, np.ndarray) or stat.dtype.kind != "f":  # updated in place: a float array
            raise TypeError(f"batch_norm: expected {name} to be a float numpy array (updated in place), got "
                            f"{type(stat).__name__ if not isinstance(stat, np.ndarray) else stat.dtype}")
    if not training:
        return BatchNormInference.apply(x, gamma, beta, as_tensor(running_mean, x), as_tensor(running_var, x), eps=eps)
    stats = {}
    y = BatchNormTrain.apply(x, gamma, beta, eps=eps, stats=stats)
    update_running_moments(running_mean, running_var, stats, momentum)
    return y


def update_running_moments(running_mean, running_var, stats, momentum):
    """``running = momentum * running + (1 - momentum) * batch`` in place, for the mean and the batch
    variance itself (not rebuilt from a float32 invstd); ``stats`` is what ``BatchNormTrain`` filled in."""
    running_mean *= momentum
    running_mean += (1 - momentum) * stats["mean"]
    running_var *= momentum
    running_var += (1 - momentum) * stats["var"]


# -- dropout ----------------------------------------------------------------------------
class Dropout(Function):
    def forward(self, x, rate, rng):
        keep = 1.0 - rate
        self.mask = (rng.random(x.shape, dtype=x.dtype) < keep) * x.dtype.type(1 / keep)
        return x * self.mask

    def backward(self, g):
        return (g * self.mask,)


def dropout(x, rate, training=True, rng=None):
    """Inverted dropout: zero each element with probability ``rate`` and scale
    the rest by ``1 / (1 - rate)``; the identity when not training.
    ``rng`` defaults to nnkit's seeded generator (``nnkit.set_seed``)."""
    x = as_tensor(x)
    if not 0 <= rate < 1:
        raise ValueError(f"dropout: rate must be in [0, 1), got {rate}")
    if not training or rate == 0:
        return x
    return Dropout.apply(x, rate=rate, rng=rng or nnrandom.get_rng())


# -- losses ------------------------------------------------------------------------------
class SoftmaxCrossEntropy(Function):
    def forward(self, logits, target, label_smoothing):
        self.kernels = backend.current()
        loss, self.probs = self.kernels.softmax_cross_entropy_forward(logits, target, label_smoothing)
        self.target, self.label_smoothing = target, label_smoothing
        return loss

    def backward(self, g):
        return (self.kernels.softmax_cross_entropy_backward(g, self.probs, self.target, self.label_smoothing),)


def _reduce(op, loss, reduction):
    if reduction == "mean":
        return ops.mean(loss)
    if reduction == "sum":
        return ops.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: unknown reduction {reduction!r}; valid choices: 'mean', 'sum', 'none'")


def softmax_cross_entropy(logits, target, label_smoothing=0.0, reduction="mean"):
    """Fused, numerically stable softmax + cross-entropy.

    ``logits`` is (N, K); ``target`` is integer labels (N,) or one-hot /
    probability rows (N, K).  Label smoothing mixes the target with the
    uniform distribution: ``(1 - ls) * target + ls / K``.
    """
    logits = as_tensor(logits)
    target = target.data if isinstance(target, Tensor) else np.asarray(target)
    if logits.ndim != 2:
        raise ValueError(f"softmax_cross_entropy: expected logits of shape (batch, classes), got {logits.shape}")
    if np.issubdtype(target.dtype, np.floating) and target.dtype != logits.dtype:
        target = target.astype(logits.dtype)
    loss = SoftmaxCrossEntropy.apply(logits, target=target, label_smoothing=float(label_smoothing))
    return _reduce("softmax_cross_entropy", loss, reduction)


class MarginCrossEntropy(Function):
    def forward(self, cosines, labels, **margin):
        self.kernels = backend.current()
        loss, self.dcosines = self.kernels.margin_cross_entropy_forward(cosines, labels, **margin)
        return loss

    def backward(self, g):
        return (self.kernels.margin_cross_entropy_backward(g, self.dcosines),)


def margin_cross_entropy(cosines, labels, s, margin="combined", m1=1.0, m2=0.0, m3=0.0, reduction="mean"):
    """Fused angular-margin softmax cross-entropy (ArcFace, CosFace, SphereFace, combined margin).

    ``cosines`` (N, K) are cosines between normalised embeddings and class
    centres (``nnkit.layers.NormalizedDense``); each row's label entry
    ``c = cos(theta)`` becomes the margin logit named by ``margin`` (see
    ``nnkit.backend.reference.margin_xent``), all logits are scaled by ``s``,
    and the loss is the softmax cross-entropy.  One kernel pass computes the
    loss and its gradient; labels (N,) are integers in [0, K).
    """
    cosines = as_tensor(cosines)
    labels = labels.data if isinstance(labels, Tensor) else np.asarray(labels)
    loss = MarginCrossEntropy.apply(cosines, labels=labels, s=s, margin=margin, m1=m1, m2=m2, m3=m3)
    return _reduce("margin_cross_entropy", loss, reduction)


def mse(pred, target, reduction="mean"):
    """Mean squared error; ``pred`` and ``target`` must have the same shape."""
    pred = as_tensor(pred)
    target = as_tensor(target, pred)
    if pred.shape != target.shape:
        raise ValueError(f"mse: pred and target must have the same shape (no silent broadcast), "
                         f"got {pred.shape} and {target.shape}")
    return _reduce("mse", ops.square(pred - target), reduction)
