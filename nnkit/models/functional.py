"""``Functional``: a model over any DAG of layer calls (what ``nnkit.Model(inputs, outputs)`` returns).

Several inputs and outputs, skip connections (``Add``, ``Concatenate``),
shared layers (one layer called at several places: one set of weights whose
gradients add up) and nested models are all just nodes of the graph.
"""
import numpy as np

from nnkit.layers.input import InputLayer, to_input_dtype
from nnkit.layers.nest import is_structure
from nnkit.layers.registry import deserialize, register, serialize
from nnkit.layers.shapes import as_shape, format_shape, is_shape
from nnkit.layers.symbolic import SymbolicTensor
from nnkit.models import graph
from nnkit.models.model import Model
from nnkit.tensor import Tensor, set_keras_mask


@register
class Functional(Model):
    """A model from symbolic ``inputs`` to ``outputs`` (one tensor, a list, or for inputs a dict)."""

    _is_graph_network = True

    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._input_keys = list(inputs) if isinstance(inputs, dict) else None
        self._inputs_are_list = isinstance(inputs, (list, tuple, dict))
        self._outputs_are_list = isinstance(outputs, (list, tuple))
        self._inputs = list(inputs.values()) if isinstance(inputs, dict) else \
            (list(inputs) if self._inputs_are_list else [inputs])
        self._outputs = list(outputs) if self._outputs_are_list else [outputs]
        graph.check_tensors(self.name, "input", self._inputs)
        graph.check_tensors(self.name, "output", self._outputs)
        graph.check_inputs_are_inputs(self.name, self._inputs)
        self._nodes, self._layers = graph.trace(self.name, self._inputs, self._outputs)
        if any(layer is self for layer in self._layers):
            raise ValueError(f"{self.describe()}: a model cannot contain itself")
        self._check_unique_names(self._layers)
        if self._dtype is None:  # the first float input's; integer inputs (token ids) compute in float32
            self._dtype = next((t.dtype for t in self._inputs if t.dtype.kind == "f"), np.dtype(np.float32))
        self._build_shape = [t.shape for t in self._inputs] if self._inputs_are_list else self._inputs[0].shape
        self.built = True

    def _children(self):
        return list(self._layers)

    def describe(self):
        return f"Model '{self.name}'"

    def build(self, input_shape=None):
        """Nothing to do: a functional model is built when it is created."""

    # -- computing ---------------------------------------------------------------------------
    def _input_list(self, inputs):
        """The call's inputs as a list in the order of ``self.inputs``."""
        n = len(self._inputs)
        keys = self.input_names
        if isinstance(inputs, dict):
            if any(k not in inputs for k in keys) or any(k not in keys for k in inputs):
                raise ValueError(f"{self.describe()}: the model has inputs {keys}; got a dict with keys "
                                 f"{list(inputs)}")
            return [inputs[k] for k in keys]
        if is_structure(inputs):
            if len(inputs) != n:
                raise ValueError(f"{self.describe()}: the model has {n} input(s) {keys}; got a list of "
                                 f"{len(inputs)}")
            return list(inputs)
        if n != 1:
            raise ValueError(f"{self.describe()}: the model has {n} inputs {keys}; got one array (pass a list in "
                             f"this order or a dict by input name)")
        return [inputs]

    def _check_input(self, i, spec_tensor, value):
        expected, got = spec_tensor.shape, value.shape
        if len(got) != len(expected) or any(e is not None and e != g for e, g in zip(expected, got)):
            raise ValueError(f"{self.describe()}: input {i} ({spec_tensor.layer.name!r}) expects shape "
                             f"{format_shape(expected)}, got {format_shape(tuple(got))}")

    def _to_input(self, spec_tensor, value):
        return to_input_dtype(value, spec_tensor.dtype)

    def call(self, inputs, training=None, mask=None):
        """Run the graph; ``mask`` (one per input, as Keras 3) is attached to the inputs first, and every layer
        then passes masks on as ``nnkit.layers.masking`` describes."""
        values = {}
        inputs = self._input_list(inputs)
        masks = [None] * len(inputs) if mask is None else self._input_list(mask)
        for i, (t, value, m) in enumerate(zip(self._inputs, inputs, masks)):
            value = self._to_input(t, value)
            self._check_input(i, t, value)
            if m is not None:
                set_keras_mask(value, m)
            values[id(t)] = value
        for node in self._nodes:
            args = [values[id(t)] for t in node.inputs]
            kwargs = dict(node.call_kwargs)
            node_training = kwargs.pop("training", training)
            out = node.layer(args[0] if node.single_input else args, training=node_training, **kwargs)
            outs = [out] if len(node.outputs) == 1 else list(out)
            for t, v in zip(node.outputs, outs):
                values[id(t)] = v
        results = [values[id(t)] for t in self._outputs]
        return results if self._outputs_are_list else results[0]

    def _to_tensor(self, value):
        # Each input is converted to its own Input's dtype in call().
        return value if isinstance(value, (Tensor, np.ndarray)) else np.asarray(value)

    def compute_output_shape(self, input_shape):
        shapes = [input_shape] if is_shape(input_shape) else list(input_shape)
        if len(shapes) != len(self._inputs):
            raise ValueError(f"{self.describe()}: expected {len(self._inputs)} input shapes, got "
                             f"{format_shape(input_shape)}")
        known = {id(t): as_shape(s) for t, s in zip(self._inputs, shapes)}
        for node in self._nodes:
            args = [known[id(t)] for t in node.inputs]
            out = node.layer.compute_output_shape(args[0] if node.single_input else args)
            for t, s in zip(node.outputs, [out] if is_shape(out) else out):
                known[id(t)] = s
        results = [known[id(t)] for t in self._outputs]
        return results if self._outputs_are_list else results[0]

    # -- introspection ------------------------------------------------------------------------
    @property
    def inputs(self):
        return list(self._inputs)

    @property
    def outputs(self):
        return list(self._outputs)

    @property
    def input_names(self):
        """The names of the input layers, in input order (the keys a dict of inputs uses)."""
        return list(self._input_keys) if self._input_keys is not None else [t.layer.name for t in self._inputs]

    @property
    def output_names(self):
        """The names of the layers producing the outputs, in output order (the keys of per-output losses,
        metrics and targets), as in Keras."""
        return [t.layer.name for t in self._outputs]

    @property
    def input(self):
        return self._inputs if self._inputs_are_list else self._inputs[0]

    @property
    def output(self):
        return self._outputs if self._outputs_are_list else self._outputs[0]

    @property
    def input_shape(self):
        shapes = [t.shape for t in self._inputs]
        return shapes if self._inputs_are_list else shapes[0]

    @property
    def output_shape(self):
        shapes = [t.shape for t in self._outputs]
        return shapes if self._outputs_are_list else shapes[0]

    def _own_nodes(self, layer):
        """The calls of ``layer`` that belong to this model, in the layer's order."""
        mine = {id(node) for node in self._nodes}
        return [node for node in layer._inbound_nodes if id(node) in mine]

    def _node_index(self, node):
        return self._own_nodes(node.layer).index(node) if not isinstance(node.layer, InputLayer) else 0

    def _output_shape_of(self, layer):
        if isinstance(layer, InputLayer):
            return layer.batch_shape
        shapes = [node.outputs[0].shape if len(node.outputs) == 1 else [t.shape for t in node.outputs]
                  for node in self._own_nodes(layer)]
        if not shapes:
            return None
        return shapes[0] if all(s == shapes[0] for s in shapes) else "multiple"

    def _connections_of(self, layer):
        return [[f"{t.layer.name}[{self._node_index(t.node)}][{t.index}]" for t in node.inputs]
                for node in self._own_nodes(layer)]

    # -- config ------------------------------------------------------------------------------
    def _ref(self, tensor):
        return [tensor.layer.name, self._node_index(tensor.node), tensor.index]

    def get_config(self):
        layers = []
        for layer in self._layers:
            entry = serialize(layer)
            entry["name"] = layer.name
            entry["inbound_nodes"] = [
                {"args": [self._ref(t) for t in node.inputs], "single_input": node.single_input,
                 "kwargs": dict(node.call_kwargs)}
                for node in ([] if isinstance(layer, InputLayer) else self._own_nodes(layer))]
            layers.append(entry)
        config = {"name": self.name, "trainable": self.trainable, "layers": layers,
                  "input_layers": [self._ref(t) for t in self._inputs],
                  "output_layers": [self._ref(t) for t in self._outputs],
                  "inputs_are_list": self._inputs_are_list, "outputs_are_list": self._outputs_are_list}
        if self._input_keys is not None:
            config["input_keys"] = list(self._input_keys)
        return config

    @classmethod
    def from_config(cls, config):
        """Rebuild the graph: create each layer, then replay its calls once their inputs exist."""
        tensors, layers, pending = {}, {}, []
        for entry in config["layers"]:
            layer = deserialize(entry)
            name = entry.get("name", layer.name)
            layers[name] = layer
            if isinstance(layer, InputLayer):
                tensors[(name, 0, 0)] = layer.output
            pending += [(name, i, node) for i, node in enumerate(entry.get("inbound_nodes", []))]
        while pending:
            remaining = []
            for name, i, node in pending:
                refs = [tuple(ref) for ref in node["args"]]
                if not all(ref in tensors for ref in refs):
                    remaining.append((name, i, node))
                    continue
                args = [tensors[ref] for ref in refs]
                out = layers[name](args[0] if node.get("single_input", True) else args, **node.get("kwargs", {}))
                for j, t in enumerate([out] if isinstance(out, SymbolicTensor) else out):
                    tensors[(name, i, j)] = t
            if len(remaining) == len(pending):
                missing = sorted({tuple(r) for _, _, n in remaining for r in n["args"] if tuple(r) not in tensors})
                raise ValueError(f"Functional.from_config: cannot rebuild the graph of {config.get('name')!r}: "
                                 f"tensors {missing} are never produced")
            pending = remaining

        def pick(refs):
            return [tensors[tuple(ref)] for ref in refs]

        inputs, outputs = pick(config["input_layers"]), pick(config["output_layers"])
        if "input_keys" in config:
            inputs = dict(zip(config["input_keys"], inputs))
        elif not config.get("inputs_are_list", True):
            inputs = inputs[0]
        if not config.get("outputs_are_list", True):
            outputs = outputs[0]
        return cls(inputs, outputs, name=config.get("name"), trainable=config.get("trainable", True))

    def __repr__(self):
        return (f"<Functional name={self.name!r} inputs={[format_shape(t.shape) for t in self._inputs]} "
                f"outputs={[format_shape(t.shape) for t in self._outputs]} layers={len(self._layers)}>")
