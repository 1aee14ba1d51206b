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
    """One call of ``layer`` in a graph: ``inputs`` -> ``outputs`` (symbolic tensors); ``inbound`` holds the
    call that produced each input, or ``None`` where the input is a model input."""

    __slots__ = ("layer", "inputs", "outputs", "inbound")

    def __init__(self, layer, inputs, outputs):
        self.layer, self.inputs, self.outputs, self.inbound = layer, inputs, outputs, []

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
    same = {}  # id(tensor) -> the tensor that stands for it (a nested model's inputs are its caller's)

    def canon(t):
        while id(t) in same:
            t = same[id(t)]
        return t

    out = []

    def visit(m):
        _, calls, _ = _calls(m)
        for layer, inputs, outputs in calls:
            if isinstance(layer, InputLayer):
                continue
            if expand_nested and _is_graph_model(layer):
                inner_in, _, inner_out = _calls(layer)
                for a, b in zip(inner_in, inputs):
                    same[id(a)] = b
                visit(layer)
                for a, b in zip(outputs, inner_out):
                    same[id(a)] = b
                continue
            out.append(LayerCall(layer, [canon(t) for t in inputs], list(outputs)))

    visit(model)
    producer = {id(t): call for call in out for t in call.outputs}
    for call in out:
        call.inbound = [producer.get(id(t)) for t in call.inputs]
    return out


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
