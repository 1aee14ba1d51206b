"""``Bidirectional``: a recurrent layer run forwards and a copy run backwards, their outputs merged (Keras 3)."""
import numpy as np

from nnkit import ops
from nnkit.layers.base import Layer
from nnkit.layers.recurrent import SequenceLayer, first_mask, split_inputs, with_initial_state
from nnkit.layers.registry import deserialize, register, serialize
from nnkit.layers.rnn import serialize_inner
from nnkit.layers.shapes import is_shape

_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _renamed_copy(layer, prefix, go_backwards=None):
    """A new layer from ``layer``'s config, named ``prefix`` + its name (the prefix not repeated)."""
    entry = serialize(layer)
    config = dict(entry["config"])
    name = config["name"]
    config["name"] = prefix + (name[len(prefix):] if name.startswith(prefix) else name)
    config["dtype"] = None if layer._dtype is None else str(layer._dtype)  # unset: follow the wrapper's inputs
    if go_backwards is not None:
        config["go_backwards"] = go_backwards
    return deserialize({**entry, "config": config})


@register
class Bidirectional(Layer):
    """Run ``layer`` over the sequence and a copy of it over the reversed sequence; merge the two outputs.

    ``merge_mode``: ``'concat'`` (default, features side by side), ``'sum'``, ``'mul'``, ``'ave'``, or None
    (a list ``[forward, backward]``).  With ``return_sequences`` the backward outputs are re-reversed, so step
    ``t`` of both is aligned.  ``return_state`` returns ``[output, *forward states, *backward states]``;
    ``initial_state`` is the forward states then the backward ones.  ``backward_layer`` replaces the
    copy (it must have the opposite ``go_backwards`` and the same ``stateful``, ``return_sequences`` and
    ``return_state``); ``weights`` sets the forward then backward weights once built.  As in Keras, masked
    steps output zeros when sequences are returned.  Weights: the forward layer's, then the backward's, named
    by Keras's paths (``bidirectional/forward_lstm/lstm_cell/kernel``).
    """

    _passes_masks_only = True  # compute_mask passes the input's mask on; it never makes one

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        super().__init__(**kwargs)
        for what, value in (("layer", layer), ("backward_layer", backward_layer)):
            if value is not None and not isinstance(value, SequenceLayer):
                raise self._error(f"{what} must be a recurrent layer (SimpleRNN, LSTM, GRU or RNN), got "
                                  f"{type(value).__name__}", TypeError)
        if merge_mode not in _MERGE_MODES:
            raise self._error(f"merge_mode must be one of 'concat', 'sum', 'mul', 'ave' or None, got "
                              f"{merge_mode!r}")
        self.merge_mode = merge_mode
        self.forward_layer = _renamed_copy(layer, "forward_")
        self.backward_layer = backward_layer if backward_layer is not None else \
            _renamed_copy(layer, "backward_", go_backwards=True)
        forward, backward = self.forward_layer, self.backward_layer
        if forward.go_backwards == backward.go_backwards:
            raise self._error(f"the forward and backward layers must have different go_backwards, both have "
                              f"{forward.go_backwards}")
        for attribute in ("stateful", "return_sequences", "return_state"):
            if getattr(forward, attribute) != getattr(backward, attribute):
                raise self._error(f"the forward and backward layers must have the same {attribute}, got "
                                  f"{getattr(forward, attribute)} and {getattr(backward, attribute)}")
        for sub in (forward, backward):  # Keras: masked steps output zeros when sequences are returned
            sub.zero_output_for_mask = sub.return_sequences
        self.stateful, self.return_sequences = forward.stateful, forward.return_sequences
        self.return_state = forward.return_state
        self._initial_weights = None if weights is None else [np.asarray(w) for w in weights]

    def build(self, input_shape):
        sequences = input_shape if is_shape(input_shape) else input_shape[0]
        for sub in (self.forward_layer, self.backward_layer):
            sub._maybe_build(sequences, self.dtype)
            for weight in sub.weights:  # Keras's path, unique in a model: bidirectional/forward_lstm/lstm_cell/kernel
                if not weight.name.startswith(self.name + "/"):
                    weight.name = f"{self.name}/{weight.name}"
        if self._initial_weights is not None:
            half = len(self._initial_weights) // 2
            self.forward_layer.set_weights(self._initial_weights[:half])
            self.backward_layer.set_weights(self._initial_weights[half:])
            self._initial_weights = None

    def __call__(self, inputs, *args, initial_state=None, **kwargs):
        return super().__call__(with_initial_state(inputs, initial_state), *args, **kwargs)

    def call(self, inputs, mask=None, training=None):
        x, states = split_inputs(inputs)
        forward_states = backward_states = None
        if states is not None:
            if len(states) % 2:
                raise self._error(f"initial_state must hold the forward states then the backward states (an even "
                                  f"number), got {len(states)}")
            half = len(states) // 2
            forward_states, backward_states = states[:half], states[half:]
        mask = first_mask(mask)
        y = self.forward_layer(x, initial_state=forward_states, mask=mask, training=training)
        y_rev = self.backward_layer(x, initial_state=backward_states, mask=mask, training=training)
        states = []
        if self.return_state:
            states = list(y[1:]) + list(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = y_rev[:, ::-1]
        output = self._merge(y, y_rev)
        if not self.return_state:
            return output
        return (output if self.merge_mode is None else [output]) + states

    def _merge(self, y, y_rev):
        if self.merge_mode == "concat":
            return ops.concatenate([y, y_rev], axis=-1)
        if self.merge_mode == "sum":
            return y + y_rev
        if self.merge_mode == "ave":
            return (y + y_rev) * 0.5
        if self.merge_mode == "mul":
            return y * y_rev
        return [y, y_rev]

    def compute_output_shape(self, input_shape):
        shape = self.forward_layer.compute_output_shape(input_shape)
        backward = self.backward_layer.compute_output_shape(input_shape)
        states = []
        if self.return_state:
            shape, states, backward, backward_states = shape[0], shape[1:], backward[0], backward[1:]
            states = states + backward_states
        if self.merge_mode == "concat":  # the two widths (Keras doubles the forward one; the same unless a
            shape = tuple(shape[:-1]) + (shape[-1] + backward[-1],)  # backward_layer of other units is given)
        outputs = [shape, backward] if self.merge_mode is None else [shape]
        if not self.return_state:
            return outputs if self.merge_mode is None else shape
        return outputs + states

    def compute_mask(self, inputs, mask=None):
        """The input mask on the merged output(s) when sequences are returned; states are unmasked."""
        mask = first_mask(mask) if self.return_sequences else None
        outputs = [mask, mask] if self.merge_mode is None else [mask]
        if not self.return_state:
            return outputs if self.merge_mode is None else mask
        return outputs + [None] * (len(self.forward_layer._state_sizes()) + len(self.backward_layer._state_sizes()))

    @property
    def states(self):
        """The forward then backward carried states of a stateful layer, or None."""
        if self.forward_layer.states is None or self.backward_layer.states is None:
            return None
        return self.forward_layer.states + self.backward_layer.states

    @states.setter
    def states(self, values):
        if values is None:
            self.forward_layer.states = self.backward_layer.states = None
            return
        half = len(values) // 2
        self.forward_layer.states, self.backward_layer.states = values[:half], values[half:]

    def reset_state(self):
        if not self.stateful:
            raise self._error("reset_state: the layer is not stateful", AttributeError)
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    def reset_states(self):
        """Keras's older name for ``reset_state``."""
        self.reset_state()

    def get_config(self):
        return {**super().get_config(), "merge_mode": self.merge_mode,
                "layer": serialize_inner(self.forward_layer, self),
                "backward_layer": serialize_inner(self.backward_layer, self)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = deserialize(config["layer"])
        if config.get("backward_layer") is not None:
            config["backward_layer"] = deserialize(config["backward_layer"])
        return super().from_config(config)
