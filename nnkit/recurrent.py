"""The recurrent ops (``simple_rnn``, ``lstm``, ``gru``), re-exported by ``nnkit.functional``.

Each runs a whole sequence through one kernel call (the time loop is in the
kernel), with Keras 3's weight layout and semantics; see
``nnkit.backend.reference.rnn`` for the equations, masking and dropout.
The kernel returns the outputs and the final states in one array, so one
autograd op covers them all; the functions here hand them back separately.
"""
import numpy as np

from nnkit import backend
from nnkit.tensor import Function, Tensor, as_tensor, is_grad_enabled

__all__ = ["simple_rnn", "lstm", "gru"]


class Recurrent(Function):
    """One recurrent layer over a whole sequence: inputs x, the initial states, kernel, recurrent kernel
    and optionally the bias; output (B, T + S, U), the outputs then the S final states."""

    def forward(self, *arrays, op, has_bias, params):
        self.kernels, self.op, self.has_bias = backend.current(), op, has_bias
        if not has_bias:
            arrays = arrays + (None,)
        training = is_grad_enabled() and any(self.needs_input_grad)  # saves nothing when no gradient can follow
        y, self.saved = getattr(self.kernels, f"{op}_forward")(*arrays, **params, training=training)
        return y

    def backward(self, g):
        grads = getattr(self.kernels, f"{self.op}_backward")(g, self.saved)
        self.saved = None  # the sequence's activations are large: free them as soon as they are used
        return grads if self.has_bias else grads[:-1]


class _Part(Function):
    """``x[index]`` for a basic (slice) index; its gradient is written, not scatter-added."""

    def forward(self, x, index):
        self.shape, self.index = x.shape, index
        return x[index]

    def backward(self, g):
        dx = np.zeros(self.shape, g.dtype)
        dx[self.index] = g
        return (dx,)


def _run(op, x, states, kernel, recurrent_kernel, bias, params):
    x = as_tensor(x)
    tensors = [x] + [as_tensor(t, x) for t in (*states, kernel, recurrent_kernel)]
    if bias is not None:
        tensors.append(as_tensor(bias, x))
    for name in ("mask", "recurrent_dropout_mask"):
        if isinstance(params[name], Tensor):
            params[name] = params[name].data
    y = Recurrent.apply(*tensors, op=op, has_bias=bias is not None, params=params)
    steps = x.shape[1]
    parts = [_Part.apply(y, index=(slice(None), slice(0, steps)))]
    parts += [_Part.apply(y, index=(slice(None), steps + i)) for i in range(len(states))]
    return tuple(parts)


def simple_rnn(x, h0, kernel, recurrent_kernel, bias=None, *, mask=None, go_backwards=False, activation="tanh",
               recurrent_dropout_mask=None, zero_output_for_mask=False):
    """A fully connected recurrent layer over a sequence: ``h = activation(x W + h R + b)``.

    ``x`` (B, T, F), ``h0`` (B, U), ``kernel`` (F, U), ``recurrent_kernel`` (U, U), ``bias`` (U,);
    ``mask`` (B, T) bool; ``recurrent_dropout_mask`` (B, U), already scaled by ``1 / (1 - rate)``.
    Returns ``(outputs (B, T, U) in processing order, h_T (B, U))``.
    """
    return _run("simple_rnn", x, (h0,), kernel, recurrent_kernel, bias,
                dict(mask=mask, go_backwards=go_backwards, activation=activation,
                     recurrent_dropout_mask=recurrent_dropout_mask, zero_output_for_mask=zero_output_for_mask))


def lstm(x, h0, c0, kernel, recurrent_kernel, bias=None, *, mask=None, go_backwards=False, activation="tanh",
         recurrent_activation="sigmoid", recurrent_dropout_mask=None, zero_output_for_mask=False):
    """A long short-term memory layer over a sequence (Keras 3's LSTM; gate order i, f, c, o).

    ``x`` (B, T, F), ``h0`` and ``c0`` (B, U), ``kernel`` (F, 4U), ``recurrent_kernel`` (U, 4U),
    ``bias`` (4U,); ``mask`` (B, T) bool; ``recurrent_dropout_mask`` (B, U) for every gate or (B, 4U)
    one per gate, already scaled.  Returns ``(outputs (B, T, U), h_T, c_T)``.
    """
    return _run("lstm", x, (h0, c0), kernel, recurrent_kernel, bias,
                dict(mask=mask, go_backwards=go_backwards, activation=activation,
                     recurrent_activation=recurrent_activation, recurrent_dropout_mask=recurrent_dropout_mask,
                     zero_output_for_mask=zero_output_for_mask))


def gru(x, h0, kernel, recurrent_kernel, bias=None, *, reset_after=True, mask=None, go_backwards=False,
        activation="tanh", recurrent_activation="sigmoid", recurrent_dropout_mask=None, zero_output_for_mask=False):
    """A gated recurrent unit layer over a sequence (Keras 3's GRU; gate order z, r, h).

    ``kernel`` (F, 3U), ``recurrent_kernel`` (U, 3U); ``bias`` (2, 3U) (input row, recurrent row) with
    ``reset_after`` (Keras's default), (3U,) without; ``recurrent_dropout_mask`` (B, U) or (B, 3U).
    Returns ``(outputs (B, T, U), h_T)``.
    """
    return _run("gru", x, (h0,), kernel, recurrent_kernel, bias,
                dict(reset_after=reset_after, mask=mask, go_backwards=go_backwards, activation=activation,
                     recurrent_activation=recurrent_activation, recurrent_dropout_mask=recurrent_dropout_mask,
                     zero_output_for_mask=zero_output_for_mask))
