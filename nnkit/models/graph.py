"""Walking the functional API's graph: from a model's outputs back to its inputs."""
import warnings

from nnkit.layers.input import InputLayer
from nnkit.layers.shapes import format_shape
from nnkit.layers.symbolic import SymbolicTensor


def check_tensors(model_name, what, tensors):
    for i, t in enumerate(tensors):
        if not isinstance(t, SymbolicTensor):
            raise TypeError(f"Model '{model_name}': {what} {i} must be a symbolic tensor from nnkit.Input or "
                            f"a layer called on one, got {type(t).__name__}: {t!r}")


def check_inputs_are_inputs(model_name, inputs):
    seen = set()
    for i, t in enumerate(inputs):
        if not isinstance(t.layer, InputLayer):
            raise ValueError(f"Model '{model_name}': input {i} must come straight from nnkit.Input(...), but it is "
                             f"the output of layer {t.layer.name!r} ({type(t.layer).__name__})")
        if id(t) in seen:
            raise ValueError(f"Model '{model_name}': input {t.name!r} is listed twice")
        seen.add(id(t))


def trace(model_name, inputs, outputs):
    """The nodes computing ``outputs`` from ``inputs``, parents first.

    Raises ValueError if an output needs a tensor that does not come from
    ``inputs`` (a disconnected graph), naming the layer and the tensor.
    Warns about inputs that no output depends on.
    """
    input_ids = {id(t) for t in inputs}
    input_names = ", ".join(repr(t.layer.name) for t in inputs)
    order, visited, used = [], set(), set()

    def require(tensor, consumer):
        if id(tensor) in input_ids:
            used.add(id(tensor))
            return False
        if isinstance(tensor.layer, InputLayer):
            needed_by = f"layer {consumer.layer.name!r} ({type(consumer.layer).__name__})" if consumer \
                else "the model's outputs"
            raise ValueError(
                f"Model '{model_name}': graph disconnected: {needed_by} needs the tensor from input "
                f"{tensor.layer.name!r} (shape {format_shape(tensor.shape)}), which is not among the model's "
                f"inputs [{input_names}]; the outputs must be computed from the given inputs only")
        return True

    stack = [t.node for t in outputs if require(t, None)]
    while stack:
        node = stack.pop()
        if id(node) in visited:
            continue
        visited.add(id(node))
        order.append(node)
        stack.extend(t.node for t in node.inputs if require(t, node))
    # A node is created after the nodes it reads from, so creation order is a
    # topological order, and the one the user wrote the model in.
    order.sort(key=lambda node: node.serial)

    unused = [t.layer.name for t in inputs if id(t) not in used]
    if unused:
        warnings.warn(f"Model '{model_name}': no output depends on input(s) {', '.join(map(repr, unused))}",
                      stacklevel=4)
    layers, seen = [t.layer for t in inputs], {id(t.layer) for t in inputs}
    for node in order:
        if id(node.layer) not in seen:
            seen.add(id(node.layer))
            layers.append(node.layer)
    return order, layers
