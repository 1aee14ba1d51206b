"""Walking a model for tools that work layer by layer (relevance propagation, loss landscapes, export).

Two views:

- ``layer_graph(model)``: the static graph of a Sequential or functional model
  (nested models opened by default) as ``LayerCall``s in topological order,
  each with its layer, the symbolic tensors between layers, and the calls
  that produced its inputs (``None`` for a model input).
- ``record_calls(model, x)``: run the model once and return what each layer
  received and produced, as concrete Tensors in execution order; it works for
  subclassed models too (it watches through forward hooks, see
  ``nnkit.layers.hooks``).

A replacement backward rule for chosen ops is ``nnkit.backward_rules``.
"""
from nnkit.layers.input import InputLayer

__all__ = ["LayerCall", "layer_graph", "record_calls"]


class LayerCall:
    """One call of ``layer`` in a graph: ``inputs`` -> ``outputs`` (symbolic tensors, for their shapes);
    ``inbound`` holds the call that produced each input, or ``None`` where the input is a model input.

    ``input_keys`` / ``output_keys`` name the values flowing between calls: a nested model called twice
    (a siamese branch) runs its layers twice on different values, over the same symbolic tensors, so wiring
    goes by key.  A model input's key is ``id`` of the model's input tensor.
    """

    __slots__ = ("layer", "inputs", "outputs", "inbound", "input_keys", "output_keys")

    def __init__(self, layer, inputs, outputs, input_keys, output_keys):
        self.layer, self.inputs, self.outputs, self.inbound = layer, inputs, outputs, []
        self.input_keys, self.output_keys = input_keys, output_keys

    @property
    def inbound_layers(self):
        return [None if call is None else call.layer for call in self.inbound]

    def __repr__(self):
        names = [None if layer is None else layer.name for layer in self.inbound_layers]
        return f"LayerCall({self.layer.name!r} <- {names})"


def _calls(model):
    """``(model inputs, [(layer, inputs, outputs)], model outputs)`` of a graph model, one level deep."""
    if hasattr(model, "_nodes"):  # functional
        return model.inputs, [(n.layer, n.inputs, n.outputs) for n in model._nodes], model.outputs
    graph = getattr(model, "_graph", None)
    if graph is not None:  # Sequential
        if not graph:
            raise ValueError(f"layer_graph: {model.describe()} is not built; give it an Input or call build()")
        calls = [(layer, node.inputs, node.outputs) for layer, node in graph]
        return calls[0][1], calls, calls[-1][2]
    raise TypeError(f"layer_graph: {model.describe()} is a subclassed model, whose graph exists only while it "
                    f"runs; use record_calls(model, x) or forward hooks instead")


def _is_graph_model(layer):
    return hasattr(layer, "_nodes") or getattr(layer, "_graph", None) is not None


def layer_graph(model, expand_nested=True):
    """The layer calls of ``model`` in topological order (see the module docstring)."""
    return traced_graph(model, expand_nested)[0]


def traced_graph(model, expand_nested=True):
    """``(calls, output_keys)``: ``layer_graph``'s calls and the keys of the values the model outputs."""
    out = []

    def visit(m, keys, context):
        """``keys``: id(symbolic tensor) of ``m`` -> the key of the value it holds in this expansion."""
        _, calls, _ = _calls(m)
        for n, (layer, inputs, outputs) in enumerate(calls):
            if isinstance(layer, InputLayer):
                continue
            in_keys = [keys.get(id(t), id(t)) for t in inputs]
            out_keys = [(context, n, i) if context else id(t) for i, t in enumerate(outputs)]
            if expand_nested and _is_graph_model(layer):
                inner_in, _, inner_out = _calls(layer)
                inner = dict(zip(map(id, inner_in), in_keys))
                visit(layer, inner, context + (n,))
                out_keys = [inner.get(id(t), id(t)) for t in inner_out]
            else:
                out.append(LayerCall(layer, list(inputs), list(outputs), in_keys, out_keys))
            keys.update(zip(map(id, outputs), out_keys))

    top = {}
    visit(model, top, ())
    producer = {key: call for call in out for key in call.output_keys}
    for call in out:
        call.inbound = [producer.get(key) for key in call.input_keys]
    return out, [top.get(id(t), id(t)) for t in _calls(model)[2]]


def creates_masks(calls):
    """Whether a layer of ``calls`` (or a layer inside one) may attach a mask to its outputs on its own: a
    plan, which carries arrays without masks, must then leave the model to the eager path."""
    return any(layer.creates_masks() for call in calls for layer in call.layer._walk())


def record_calls(model, x, training=False, leaves_only=True):
    """Run ``model(x, training=training)`` once and return ``[(layer, inputs, outputs)]`` in execution order.

    ``leaves_only``: only layers without sublayers (the ones that compute).  The
    pass runs in the caller's grad mode: inside ``nnkit.no_grad()`` nothing is
    recorded; outside, the returned tensors keep their graph for a backward.
    """
    layers = model._walk()[1:]
    if leaves_only:
        layers = [layer for layer in layers if not layer._children()]
    seen = []
    handles = [layer.register_forward_hook(lambda layer, i, o: seen.append((layer, i, o))) for layer in layers]
    try:
        model(x, training=training)
    finally:
        for h in handles:
            h.remove()
    return seen
