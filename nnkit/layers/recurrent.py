"""Recurrent layers: SimpleRNN, LSTM and GRU, with Keras 3's arguments, weights and semantics.

Each layer owns Keras's three weights, named as Keras's variable paths
(``lstm/lstm_cell/kernel``, ``.../recurrent_kernel``, ``.../bias``), and runs
the whole sequence through one fused op of ``nnkit.functional``
(``simple_rnn``, ``lstm``, ``gru``): the time loop is in the kernel, not here.
``nnkit.layers.rnn`` has the cells and the generic ``RNN(cell)`` built on the
same pieces.

What Keras does, nnkit does:

- inputs ``(batch, steps, features)``; ``initial_state=[h]`` (LSTM ``[h, c]``)
  in the call, also with symbolic tensors in the functional API;
- ``mask`` ``(batch, steps)``, True where a step is real: a masked step
  carries the state through and outputs the previous output (zeros with
  ``zero_output_for_mask``, which ``Bidirectional`` sets when it returns
  sequences); ``compute_mask`` passes the mask on only with
  ``return_sequences``;
- ``go_backwards`` processes the steps last to first and returns the
  outputs in that order;
- ``return_state`` returns ``[output, h]`` (LSTM ``[output, h, c]``);
- ``stateful`` keeps the final states of one call as the initial states of
  the next, sample ``i`` to sample ``i``; the batch size is fixed by the first
  call (or by a functional ``Input`` with ``batch_size``) and another batch size
  is an error, as in Keras; ``reset_states()`` zeroes the states;
- ``dropout``/``recurrent_dropout`` draw their masks once per call, the same
  for every step, only while training: one input mask ``(batch, features)``
  and one recurrent mask ``(batch, units)`` per gate, as Keras 3 does.  (When
  ``recurrent_dropout`` is set, Keras 3 also draws the input mask per gate; nnkit
  keeps one input mask, applied to the inputs before the fused kernel's single
  input projection.)
- ``unroll`` and ``use_cudnn`` are accepted and change nothing: the fused
  kernel is the only implementation.  Its activations are ``linear``, ``relu``,
  ``sigmoid``, ``tanh`` and ``hard_sigmoid``; another one is an error naming
  the layer (a custom cell in ``RNN`` takes any).
"""
import numpy as np

from nnkit import activations as nnactivations
from nnkit import functional as F
from nnkit import initializers as nninitializers
from nnkit import random as nnrandom
from nnkit.backend.reference.rnn import ACTIVATIONS as FUSED_ACTIVATIONS
from nnkit.layers.arguments import positive_int
from nnkit.layers.base import Layer
from nnkit.layers.registry import register
from nnkit.layers.shapes import format_shape, is_shape
from nnkit.layers.symbolic import SymbolicTensor
from nnkit.tensor import Tensor

__all__ = ["SimpleRNN", "LSTM", "GRU"]


# -- helpers shared with rnn.py and bidirectional.py ------------------------------------------------------
def with_initial_state(inputs, initial_state):
    """``[sequences, *states]`` when states are given: they travel as inputs, so that symbolic states join the
    functional graph."""
    if initial_state is None:
        return inputs
    return [inputs] + (list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state])


def split_inputs(inputs):
    """``(sequences, initial_states or None)`` from one tensor or ``[sequences, *states]``."""
    if isinstance(inputs, (list, tuple)):
        return inputs[0], (list(inputs[1:]) or None)
    return inputs, None


def first_mask(mask):
    """The sequences' mask when the inputs were ``[sequences, *states]`` (their masks are a list)."""
    if isinstance(mask, (list, tuple)) and mask and (mask[0] is None or isinstance(mask[0], (np.ndarray, Tensor))):
        return mask[0]
    return mask


def as_step_mask(layer, mask, batch, steps):
    """A boolean ``(batch, steps)`` array from a mask Tensor/array/list (nonzero is True), or None."""
    if mask is None:
        return None
    m = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
    if m.dtype != np.bool_:
        if m.dtype.kind not in "iuf":
            raise layer._error(f"mask must be boolean (True: a real step), got dtype {m.dtype}", TypeError)
        m = m != 0
    if m.shape != (batch, steps):
        raise layer._error(f"mask must have shape (batch, steps) = {(batch, steps)}, got {m.shape}")
    return m


def arguments(values):
    """A subclass's ``__init__`` arguments (its ``locals()``) as keywords for the shared ``__init__``: the
    classes spell out Keras's signatures, so that they read (and ``inspect`` finds them) as in Keras."""
    kwargs = values.pop("kwargs")
    return {**{k: v for k, v in values.items() if k not in ("self", "__class__")}, **kwargs}


def _rate(layer, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or \
            not 0 <= value < 1:
        raise layer._error(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


# -- the sequence machinery: flags, states, masks, shapes --------------------------------------------------
class SequenceLayer(Layer):
    """What every recurrent layer shares: ``return_sequences``, ``return_state``, ``go_backwards``,
    ``stateful``, ``unroll``, ``zero_output_for_mask``; initial and carried states; masks; shapes; config.

    Subclasses give ``_state_sizes()``, ``_output_size()``, ``_check_features(features)`` and
    ``_sequence(x, states, mask, training)`` -> ``(outputs (B, T, out) in processing order, final states)``.
    """

    _passes_masks_only = True  # compute_mask passes the input's mask on; it never makes one

    def __init__(self, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, zero_output_for_mask=False, **kwargs):
        super().__init__(**kwargs)
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.stateful, self.unroll = bool(go_backwards), bool(stateful), bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self._states = None  # stateful: the carried states, arrays (batch, size)

    def _sequence_shape(self, input_shape):
        shape = input_shape if is_shape(input_shape) else input_shape[0]
        if len(shape) != 3:
            raise self._error(f"expected a 3-D input (batch, steps, features), got {format_shape(shape)}")
        if shape[-1] is None:
            raise self._error(f"the input's features must be known, got {format_shape(shape)}")
        return tuple(shape)

    def _make_carried_states(self, batch):
        if self.stateful and batch is not None:
            self._states = [np.zeros((batch, size), self.dtype) for size in self._state_sizes()]

    def compute_output_shape(self, input_shape):
        batch, steps, _ = self._sequence_shape(input_shape)
        size = self._output_size()
        output = (batch, steps, size) if self.return_sequences else (batch, size)
        if self.return_state:
            return [output] + [(batch, s) for s in self._state_sizes()]
        return output

    def compute_mask(self, inputs, mask=None):
        """The input mask with ``return_sequences`` (None otherwise); with ``return_state`` a list, the states
        unmasked."""
        mask = first_mask(mask)
        output = mask if self.return_sequences else None
        return [output] + [None for _ in self._state_sizes()] if self.return_state else output

    def __call__(self, inputs, *args, initial_state=None, **kwargs):
        inputs = with_initial_state(inputs, initial_state)
        if self.stateful and isinstance(split_inputs(inputs)[0], SymbolicTensor):
            if split_inputs(inputs)[0].shape[0] is None:
                raise self._error("stateful=True needs a fixed batch size: give the input one "
                                  "(nnkit.Input(shape=..., batch_size=...)) or call the layer on data")
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs, mask=None, training=None):
        x, given = split_inputs(inputs)
        if x.ndim != 3:
            raise self._error(f"expected a 3-D input (batch, steps, features), got shape {x.shape}")
        self._check_features(x.shape)
        step_mask = as_step_mask(self, first_mask(mask), x.shape[0], x.shape[1])
        outputs, final = self._sequence(x, self._initial_states(given, x.shape[0], x.dtype), step_mask, training)
        if self.stateful:
            self._states = [s.data.copy() for s in final]
        output = outputs if self.return_sequences else outputs[:, -1]
        return [output] + list(final) if self.return_state else output

    def _initial_states(self, given, batch, dtype):
        sizes = self._state_sizes()
        if given is not None:
            labels = self._state_labels()
            if len(given) != len(sizes):
                raise self._error(f"initial_state must be {len(sizes)} tensor(s) [{', '.join(labels)}], "
                                  f"got {len(given)}")
            for name, size, state in zip(labels, sizes, given):
                if state.shape != (batch, size):
                    raise self._error(f"initial state {name} must have shape (batch, units) = {(batch, size)}, "
                                      f"got {state.shape}")
            if self.stateful:
                self._check_stateful_batch(batch)
            return list(given)
        if self.stateful:
            self._check_stateful_batch(batch)
            if self._states is None:
                self._make_carried_states(batch)
            return [Tensor(s.astype(dtype, copy=False)) for s in self._states]
        return self._zero_states(batch, dtype)

    def _zero_states(self, batch, dtype):
        return [Tensor(np.zeros((batch, size), dtype)) for size in self._state_sizes()]

    def _state_labels(self):
        """``h``, ``c`` for the built-in layers; ``#0``, ``#1``, ... for a cell's states."""
        return list(getattr(self, "state_names", None) or [f"#{i}" for i in range(len(self._state_sizes()))])

    def _check_stateful_batch(self, batch):
        if self._states is not None and self._states[0].shape[0] != batch:
            raise self._error(f"stateful: the batch size must stay the one the states were made for "
                              f"({self._states[0].shape[0]}), got {batch}; feed batches of that size "
                              f"(drop or pad the last one)")

    @property
    def states(self):
        """The carried states of a stateful layer (``[h]``, LSTM ``[h, c]``), or None before its first call."""
        return None if self._states is None else [Tensor(s.copy()) for s in self._states]

    @states.setter
    def states(self, values):
        """Replace the carried states (arrays or Tensors of shape (batch, size)), or forget them (None)."""
        if values is None:
            self._states = None
            return
        sizes = self._state_sizes()
        if len(values) != len(sizes):
            raise self._error(f"states must be {len(sizes)} array(s), got {len(values)}")
        arrays = [np.array(v.data if isinstance(v, Tensor) else v, dtype=self.dtype) for v in values]
        if any(a.ndim != 2 or a.shape != (arrays[0].shape[0], s) for a, s in zip(arrays, sizes)):
            raise self._error(f"states must have shapes (batch, {sizes}), got {[a.shape for a in arrays]}")
        self._states = arrays

    def reset_state(self):
        """Zero the carried states (stateful layers; nothing to do otherwise)."""
        if self._states is not None:
            for s in self._states:
                s[...] = 0

    def reset_states(self):
        """Keras's older name for ``reset_state``."""
        self.reset_state()

    def get_config(self):
        return {**super().get_config(), "return_sequences": self.return_sequences,
                "return_state": self.return_state, "go_backwards": self.go_backwards, "stateful": self.stateful,
                "unroll": self.unroll, "zero_output_for_mask": self.zero_output_for_mask}


# -- the cell arguments and the fused ops, shared by the layers and the cells ----------------------------
class CellArguments:
    """Keras's cell arguments, the three weights and the per-call dropout masks (mixed into a Layer).

    A kind (``SimpleRNNKind``, ...) sets ``gates``, ``state_names``, ``cell_name`` and ``_fused``.
    """

    gates = 1
    state_names = ("h",)

    def _cell_arguments(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                        recurrent_initializer="orthogonal", bias_initializer="zeros", dropout=0.0,
                        recurrent_dropout=0.0, seed=None, recurrent_activation=None):
        self.units = positive_int(self, "units", units)
        self.activation = self._fusable_activation(activation, "activation")
        if recurrent_activation is not None:
            self.recurrent_activation = self._fusable_activation(recurrent_activation, "recurrent_activation")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = self._initializer(kernel_initializer, "kernel_initializer")
        self.recurrent_initializer = self._initializer(recurrent_initializer, "recurrent_initializer")
        self.bias_initializer = self._initializer(bias_initializer, "bias_initializer")
        self.dropout = _rate(self, "dropout", dropout)
        self.recurrent_dropout = _rate(self, "recurrent_dropout", recurrent_dropout)
        self.seed = seed
        self._rng = None if seed is None else np.random.default_rng(seed)

    def _fusable_activation(self, identifier, argument):
        fn = self._activation(identifier, argument)
        name = _activation_name(fn)
        if name not in FUSED_ACTIVATIONS:
            raise self._error(f"{argument} must be one of {', '.join(FUSED_ACTIVATIONS)} (the recurrent kernel's), "
                              f"got {identifier!r}")
        return fn

    def _create_weights(self, features):
        width = self.gates * self.units
        prefix = f"{self.cell_name}/" if isinstance(self, SequenceLayer) else ""  # a layer's: Keras's cell path
        self.kernel = self.add_weight(f"{prefix}kernel", (features, width), self.kernel_initializer)
        self.recurrent_kernel = self.add_weight(f"{prefix}recurrent_kernel", (self.units, width),
                                                self.recurrent_initializer)
        self.bias = self.add_weight(f"{prefix}bias", self._bias_shape(), self._bias_initializer()) \
            if self.use_bias else None
        self._features = features

    def _bias_shape(self):
        return (self.gates * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def _check_features(self, shape):
        if shape[-1] != self._features:
            raise self._error(f"expected {self._features} features (as built), got input shape {tuple(shape)}")

    def _state_sizes(self):
        return [self.units] * len(self.state_names)

    def _output_size(self):
        return self.units

    def _run(self, x, states, mask, training, go_backwards, zero_output_for_mask):
        """The whole sequence through the fused op, with this call's dropout masks."""
        batch, _, features = x.shape
        recurrent_mask = None
        if training and self.dropout:
            x = x * Tensor(self._dropout_mask((batch, features), self.dropout, x.dtype)[:, None, :])
        if training and self.recurrent_dropout:  # one mask per gate, as Keras 3 draws them
            recurrent_mask = self._dropout_mask((batch, self.gates * self.units), self.recurrent_dropout, x.dtype)
        return self._fused(x, states, dict(mask=mask, go_backwards=go_backwards, recurrent_dropout_mask=recurrent_mask,
                                           zero_output_for_mask=zero_output_for_mask))

    def _dropout_mask(self, shape, rate, dtype):
        keep = 1.0 - rate
        rng = self._rng or nnrandom.get_rng()
        return (rng.random(shape) < keep).astype(dtype) * dtype.type(1 / keep)

    def _cell_config(self):
        config = {"units": self.units, "activation": nnactivations.serialize(self.activation),
                  "use_bias": self.use_bias,
                  "kernel_initializer": nninitializers.serialize(self.kernel_initializer),
                  "recurrent_initializer": nninitializers.serialize(self.recurrent_initializer),
                  "bias_initializer": nninitializers.serialize(self.bias_initializer),
                  "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout, "seed": self.seed}
        if hasattr(self, "recurrent_activation"):
            config["recurrent_activation"] = nnactivations.serialize(self.recurrent_activation)
        return config


def _activation_name(fn):
    """The registered name of a built-in activation function, else None."""
    try:
        name = nnactivations.serialize(fn)
    except ValueError:
        return None
    return name if nnactivations.get(name) is fn else None


def penalized(prefix):
    """``penalized_weights`` for the three weights under ``prefix``."""
    return {"kernel": f"{prefix}kernel", "recurrent": f"{prefix}recurrent_kernel", "bias": f"{prefix}bias"}


class SimpleRNNKind(CellArguments):
    cell_name = "simple_rnn_cell"

    def _fused(self, x, states, params):
        outputs, h = F.simple_rnn(x, states[0], self.kernel, self.recurrent_kernel, self.bias,
                                  activation=_activation_name(self.activation), **params)
        return outputs, [h]


class LSTMKind(CellArguments):
    cell_name = "lstm_cell"
    gates = 4
    state_names = ("h", "c")

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, init = self.units, self.bias_initializer

        def forget_gate_at_one(shape, dtype):
            return np.concatenate([np.asarray(init((units,), dtype)), np.ones((units,), dtype),
                                   np.asarray(init((2 * units,), dtype))]).astype(dtype)
        return forget_gate_at_one

    def _fused(self, x, states, params):
        outputs, h, c = F.lstm(x, states[0], states[1], self.kernel, self.recurrent_kernel, self.bias,
                               activation=_activation_name(self.activation),
                               recurrent_activation=_activation_name(self.recurrent_activation), **params)
        return outputs, [h, c]


class GRUKind(CellArguments):
    cell_name = "gru_cell"
    gates = 3

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _fused(self, x, states, params):
        outputs, h = F.gru(x, states[0], self.kernel, self.recurrent_kernel, self.bias, reset_after=self.reset_after,
                           activation=_activation_name(self.activation),
                           recurrent_activation=_activation_name(self.recurrent_activation), **params)
        return outputs, [h]


# -- the layers -------------------------------------------------------------------------------------------------
class _Recurrent(SequenceLayer):
    """A built-in recurrent layer: the cell arguments and weights of its kind, the fused op over the sequence."""

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", dropout=0.0, recurrent_dropout=0.0,
                 seed=None, recurrent_activation=None, use_cudnn="auto", implementation=None, **kwargs):
        super().__init__(**kwargs)
        if use_cudnn not in ("auto", True, False):
            raise self._error(f"use_cudnn must be 'auto', True or False, got {use_cudnn!r}")
        if implementation not in (None, 1, 2):
            raise self._error(f"implementation must be 1 or 2, got {implementation!r}")
        self.use_cudnn = use_cudnn
        self._cell_arguments(units, activation, use_bias, kernel_initializer, recurrent_initializer,
                             bias_initializer, dropout, recurrent_dropout, seed, recurrent_activation)

    def build(self, input_shape):
        shape = self._sequence_shape(input_shape)
        self._create_weights(shape[-1])
        self._make_carried_states(shape[0])

    def _sequence(self, x, states, mask, training):
        return self._run(x, states, mask, training, self.go_backwards, self.zero_output_for_mask)

    def get_config(self):
        return {**super().get_config(), **self._cell_config()}


@register
class SimpleRNN(SimpleRNNKind, _Recurrent):
    """Fully connected recurrence ``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``.

    Weights: kernel ``(features, units)``, recurrent_kernel ``(units, units)``, bias ``(units,)``.
    """

    penalized_weights = penalized("simple_rnn_cell/")

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", dropout=0.0, recurrent_dropout=0.0,
                 seed=None, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, zero_output_for_mask=False, **kwargs):
        super().__init__(**arguments(locals()))


@register
class LSTM(LSTMKind, _Recurrent):
    """Long short-term memory (Hochreiter 1997), Keras's gate order ``i, f, c, o``.

    Weights: kernel ``(features, 4 * units)``, recurrent_kernel ``(units, 4 * units)``, bias ``(4 * units,)``;
    ``unit_forget_bias`` starts the forget gate's bias at one (the others from ``bias_initializer``).
    States ``[h, c]``.
    """

    penalized_weights = penalized("lstm_cell/")

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, dropout=0.0, recurrent_dropout=0.0, seed=None, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False, zero_output_for_mask=False,
                 **kwargs):
        values = arguments(locals())
        self.unit_forget_bias = bool(values.pop("unit_forget_bias"))
        super().__init__(**values)

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


@register
class GRU(GRUKind, _Recurrent):
    """Gated recurrent unit (Cho et al. 2014), Keras's gate order ``z, r, h``.

    ``reset_after=True`` (Keras's default) applies the reset gate after the
    recurrent matmul and has two biases, ``(2, 3 * units)`` (input, recurrent);
    ``False`` applies it before and has one, ``(3 * units,)``.
    Weights: kernel ``(features, 3 * units)``, recurrent_kernel ``(units, 3 * units)``, bias.
    """

    penalized_weights = penalized("gru_cell/")

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 dropout=0.0, recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, reset_after=True, zero_output_for_mask=False,
                 **kwargs):
        values = arguments(locals())
        self.reset_after = bool(values.pop("reset_after"))
        super().__init__(**values)

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}
