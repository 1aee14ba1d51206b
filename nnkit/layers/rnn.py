"""The generic ``RNN(cell)`` and Keras's cells: ``SimpleRNNCell``, ``LSTMCell``, ``GRUCell``, ``StackedRNNCells``.

A cell computes one step: ``cell(inputs_t, states) -> (output_t, new_states)``
with ``state_size`` (an int, or one per state) and ``output_size``.  ``RNN``
runs a cell over a sequence with every argument of the built-in recurrent
layers (``nnkit.layers.recurrent``: masks, ``go_backwards``, states,
``stateful``, ...).

The built-in cells (alone, or stacked) run the whole sequence through the
fused recurrent ops, as ``LSTM`` & co. do; any other cell (a custom layer with
``call(inputs, states)`` and ``state_size``) runs in a Python loop over the
steps, with Keras's masking rule: a masked step keeps the states and outputs
the previous first state (zeros with ``zero_output_for_mask``).  A built-in
cell called on one step draws its dropout masks once per ``RNN`` call, as in
Keras.  ``return_state`` returns the states flat (a stack of two LSTM cells
gives ``[output, h1, c1, h2, c2]``; Keras nests them per cell).
"""
import numpy as np

from nnkit import ops
from nnkit.layers.base import Layer
from nnkit.layers.recurrent import (CellArguments, GRUKind, LSTMKind, SequenceLayer, SimpleRNNKind, arguments,
                                    penalized)
from nnkit.layers.registry import deserialize, register, serialize
from nnkit.layers.shapes import format_shape
from nnkit.tensor import Tensor

__all__ = ["RNN", "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells"]


def _sizes(state_size):
    """The flat list of state sizes of a ``state_size`` (an int, or a list, nested for stacked cells)."""
    if isinstance(state_size, (list, tuple)):
        return [s for part in state_size for s in _sizes(part)]
    return [int(state_size)]


# -- the built-in cells ---------------------------------------------------------------------------------------
class _Cell(Layer):
    """A built-in cell: one step is the fused op over a one-step sequence (the same arithmetic as the layers)."""

    penalized_weights = penalized("")

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", dropout=0.0, recurrent_dropout=0.0,
                 seed=None, recurrent_activation=None, **kwargs):
        super().__init__(**kwargs)
        self._cell_arguments(units, activation, use_bias, kernel_initializer, recurrent_initializer,
                             bias_initializer, dropout, recurrent_dropout, seed, recurrent_activation)
        self._held_masks = None  # while an RNN runs this cell step by step: its dropout masks for the sequence

    @property
    def state_size(self):
        sizes = self._state_sizes()
        return sizes[0] if len(sizes) == 1 else sizes

    @property
    def output_size(self):
        return self.units

    def build(self, input_shape):
        features = input_shape[-1]
        if len(input_shape) != 2 or features is None:
            raise self._error(f"expected one step (batch, features) with known features, got "
                              f"{format_shape(input_shape)}")
        self._create_weights(features)

    def call(self, inputs, states, training=None):
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        if inputs.ndim != 2:
            raise self._error(f"expected one step (batch, features), got shape {inputs.shape}")
        self._check_features(inputs.shape)
        x = ops.reshape(inputs, (inputs.shape[0], 1, inputs.shape[1]))
        if self._held_masks is not None:
            outputs, final = self._run_with_masks(x, states, training)
        else:
            outputs, final = self._run(x, states, None, training, False, False)
        return ops.reshape(outputs, (outputs.shape[0], outputs.shape[2])), final

    def _run_with_masks(self, x, states, training):
        """One step with the masks drawn for the whole sequence (Keras: the same masks at every step)."""
        if training and self._held_masks == "draw":
            batch = x.shape[0]
            self._held_masks = (
                self._dropout_mask((batch, x.shape[2]), self.dropout, x.dtype) if self.dropout else None,
                self._dropout_mask((batch, self.gates * self.units), self.recurrent_dropout, x.dtype)
                if self.recurrent_dropout else None)
        input_mask, recurrent_mask = self._held_masks if training and self._held_masks != "draw" else (None, None)
        if input_mask is not None:
            x = x * Tensor(input_mask[:, None, :])
        return self._fused(x, states, dict(mask=None, go_backwards=False, recurrent_dropout_mask=recurrent_mask,
                                           zero_output_for_mask=False))

    def get_initial_state(self, batch_size=None):
        return [Tensor(np.zeros((batch_size, s), self.dtype)) for s in self._state_sizes()]

    def get_config(self):
        return {**super().get_config(), **self._cell_config()}


@register
class SimpleRNNCell(SimpleRNNKind, _Cell):
    """One step of ``SimpleRNN``; weights ``kernel``, ``recurrent_kernel``, ``bias``."""

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", dropout=0.0, recurrent_dropout=0.0,
                 seed=None, **kwargs):
        super().__init__(**arguments(locals()))


@register
class LSTMCell(LSTMKind, _Cell):
    """One step of ``LSTM``; states ``[h, c]``."""

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        values = arguments(locals())
        self.unit_forget_bias = bool(values.pop("unit_forget_bias"))
        super().__init__(**values)

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


@register
class GRUCell(GRUKind, _Cell):
    """One step of ``GRU`` (``reset_after`` as there)."""

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 dropout=0.0, recurrent_dropout=0.0, reset_after=True, seed=None, **kwargs):
        values = arguments(locals())
        self.reset_after = bool(values.pop("reset_after"))
        super().__init__(**values)

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}


@register
class StackedRNNCells(Layer):
    """Cells one above the other: each step's output of one cell is the next cell's input.

    ``state_size`` is the list of the cells' (one entry per cell); the output is the last cell's.
    """

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        cells = list(cells)
        if not cells:
            raise self._error("needs at least one cell")
        for cell in cells:
            _check_cell(self, cell)
        self.cells = cells

    @property
    def state_size(self):
        return [cell.state_size for cell in self.cells]

    @property
    def output_size(self):
        return _output_size(self.cells[-1])

    def build(self, input_shape):
        for cell in self.cells:
            if isinstance(cell, Layer) and not cell.built:
                cell._maybe_build(tuple(input_shape), self.dtype)
            input_shape = (input_shape[0], _output_size(cell))

    def call(self, inputs, states, training=None):
        flat = list(states)
        new_states = []
        for cell in self.cells:
            count = len(_sizes(cell.state_size))
            own, flat = flat[:count], flat[count:]
            inputs, own = cell(inputs, own, training=training)
            new_states += list(own) if isinstance(own, (list, tuple)) else [own]
        return inputs, new_states

    def get_config(self):
        return {**super().get_config(), "cells": [serialize_inner(cell, self) for cell in self.cells]}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["cells"] = [deserialize(c) for c in config["cells"]]
        return super().from_config(config)


def serialize_inner(inner, outer):
    """``serialize(inner)``, its dtype left to follow ``outer``'s when they agree (so that a copy of ``outer``
    made float64 is float64 throughout)."""
    entry = serialize(inner)
    if isinstance(inner, Layer) and inner.dtype == outer.dtype:
        entry["config"] = {**entry["config"], "dtype": None}
    return entry


def _check_cell(layer, cell):
    if not callable(getattr(cell, "call", None)) or getattr(cell, "state_size", None) is None:
        raise layer._error(f"a cell needs a call(inputs, states) method and a state_size, got "
                           f"{type(cell).__name__}", TypeError)


def _output_size(cell):
    size = getattr(cell, "output_size", None)
    return size if size is not None else _sizes(cell.state_size)[0]


# -- RNN -------------------------------------------------------------------------------------------------------
@register
class RNN(SequenceLayer):
    """Run ``cell`` (or a list of cells, stacked) over a sequence, with the recurrent layers' arguments.

    Weights: the cell's, named ``rnn/<cell>/kernel`` (Keras's paths).
    """

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, zero_output_for_mask=False, **kwargs):
        super().__init__(return_sequences, return_state, go_backwards, stateful, unroll, zero_output_for_mask,
                         **kwargs)
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        _check_cell(self, cell)
        self.cell = cell

    def _state_sizes(self):
        return _sizes(self.cell.state_size)

    def _output_size(self):
        return _output_size(self.cell)

    def build(self, input_shape):
        batch, _, features = self._sequence_shape(input_shape)
        self._features = features
        if isinstance(self.cell, Layer):
            if not self.cell.built:
                self.cell._maybe_build((None, features), self.dtype)
            for weight in self.cell.weights:  # Keras's path, unique in a model: rnn/lstm_cell/kernel
                if not weight.name.startswith(self.name + "/"):
                    weight.name = f"{self.name}/{weight.name}"
        self._make_carried_states(batch)

    def _check_features(self, shape):
        if shape[-1] != self._features:
            raise self._error(f"expected {self._features} features (as built), got input shape {tuple(shape)}")

    def _zero_states(self, batch, dtype):
        make = getattr(self.cell, "get_initial_state", None)
        if make is None:
            return super()._zero_states(batch, dtype)
        states = make(batch_size=batch)
        states = [s for s in (states if isinstance(states, (list, tuple)) else [states])]
        flat = []
        for s in states:
            flat += [self._to_tensor(t) for t in (s if isinstance(s, (list, tuple)) else [s])]
        return flat

    def _sequence(self, x, states, mask, training):
        cells = self.cell.cells if isinstance(self.cell, StackedRNNCells) else [self.cell]
        if all(isinstance(cell, CellArguments) for cell in cells):
            return self._fused_stack(cells, x, states, mask, training)
        return self._loop(x, states, mask, training)

    def _fused_stack(self, cells, x, states, mask, training):
        """Each built-in cell over the whole sequence, one after the other (the same as stepping the stack)."""
        go_backwards = self.go_backwards
        if go_backwards and len(cells) > 1:  # the first cell's processing order is every cell's
            x, mask, go_backwards = x[:, ::-1], None if mask is None else mask[:, ::-1], False
        final = []
        for i, cell in enumerate(cells):
            count = len(cell.state_names)
            own, states = states[:count], states[count:]
            last = i == len(cells) - 1
            x, own = cell._run(x, own, mask, training, go_backwards, self.zero_output_for_mask and last)
            final += own
        return x, final

    def _loop(self, x, states, mask, training):
        """Keras's step loop for any cell (a masked step keeps the states, outputs the previous first state)."""
        held = [c for c in (self.cell.cells if isinstance(self.cell, StackedRNNCells) else [self.cell])
                if isinstance(c, _Cell)]
        for cell in held:
            cell._held_masks = "draw"
        # the output at a masked step is the first state of the cell that gives the output (Keras: states[0],
        # or the last cell's for a stack)
        index = len(self._state_sizes()) - len(_sizes(self.cell.cells[-1].state_size)) \
            if isinstance(self.cell, StackedRNNCells) else 0
        outputs = []
        try:
            steps = range(x.shape[1] - 1, -1, -1) if self.go_backwards else range(x.shape[1])
            for t in steps:
                out, new = self.cell(x[:, t], states, training=training)
                new = list(new) if isinstance(new, (list, tuple)) else [new]
                if mask is not None:
                    keep = mask[:, t:t + 1]
                    previous = Tensor(np.zeros(out.shape, out.dtype)) if self.zero_output_for_mask else \
                        states[index]
                    out = ops.where(keep, out, previous)
                    new = [ops.where(keep, n, s) for n, s in zip(new, states)]
                states = new
                outputs.append(out)
        finally:
            for cell in held:
                cell._held_masks = None
        return ops.stack(outputs, axis=1), states

    def get_config(self):
        return {**super().get_config(), "cell": serialize_inner(self.cell, self)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["cell"] = deserialize(config["cell"])
        return super().from_config(config)
