"""Symbolic tensors and the nodes that connect them: the functional API's graph.

``Input(shape=...)`` returns a ``SymbolicTensor``; calling a layer on symbolic
tensors computes no numbers: it builds the layer, infers the output shape and
records a ``Node`` (layer, inbound tensors, outbound tensors).  A functional
``Model(inputs, outputs)`` walks these nodes back from its outputs.
"""
import itertools

import numpy as np

from nnkit.layers.shapes import format_shape


class SymbolicTensor:
    """A placeholder with a shape (batch axis ``None``) and a dtype.

    ``node`` is the layer call that produced it and ``index`` its position
    among that call's outputs.
    """

    __slots__ = ("shape", "dtype", "node", "index")

    def __init__(self, shape, dtype, node=None, index=0):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.node = node
        self.index = index

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def layer(self):
        """The layer whose call produced this tensor."""
        return self.node.layer if self.node is not None else None

    @property
    def name(self):
        """``layer`` for a layer's first output, ``layer[node][index]`` otherwise."""
        if self.node is None:
            return "symbolic"
        if self.node.index == 0 and self.index == 0:
            return self.node.layer.name
        return f"{self.node.layer.name}[{self.node.index}][{self.index}]"

    def __repr__(self):
        return f"<SymbolicTensor shape={format_shape(self.shape)} dtype={self.dtype} name={self.name!r}>"

    def __hash__(self):
        return id(self)

    def __bool__(self):
        raise TypeError("a SymbolicTensor has no value; build a Model from it and call the model on data")

    def __array__(self, *args, **kwargs):
        raise TypeError(f"{self!r} is symbolic (functional API placeholder) and has no values; "
                        f"build nnkit.Model(inputs, outputs) and call it on data")


class Node:
    """One call of ``layer`` on symbolic ``inputs`` giving ``outputs``.

    ``single_input`` records whether the layer was called on one tensor or on
    a list; ``call_kwargs`` keeps fixed arguments such as ``training=False``.
    """

    _serials = itertools.count()

    def __init__(self, layer, inputs, single_input, outputs, call_kwargs=None):
        self.serial = next(Node._serials)  # creation order is a topological order
        self.layer = layer
        self.inputs = list(inputs)
        self.single_input = single_input
        self.outputs = list(outputs)
        self.call_kwargs = dict(call_kwargs or {})
        self.index = len(layer._inbound_nodes)
        layer._inbound_nodes.append(self)

    @property
    def parents(self):
        """The nodes that produced this node's inputs."""
        return [t.node for t in self.inputs]

    def detach(self):
        """Remove this node from its layer (the graph that used it is gone)."""
        nodes = self.layer._inbound_nodes
        if self in nodes:
            nodes.remove(self)
            for i, node in enumerate(nodes):
                node.index = i

    def __repr__(self):
        return f"<Node {self.layer.name}[{self.index}] inputs={[t.name for t in self.inputs]}>"
