"""A model's architecture as boxes and arrows, shared by the DOT export and the drawing.

One box per layer (a shared layer is one box with several arrows in and out);
a nested model is one box, or with ``expand_nested=True`` its own layers
inside a labelled cluster.  A subclassed model has no recorded graph, so it is
one box listing its direct layers.
"""
from dataclasses import dataclass, field

from nnkit.layers.input import InputLayer
from nnkit.layers.shapes import format_shape
from nnkit.models.functional import Functional
from nnkit.models.model import Model
from nnkit.models.sequential import Sequential


@dataclass
class Box:
    id: str
    title: str
    details: list
    kind: str
    cluster: str = None  # id of the innermost expanded model containing it


@dataclass
class Cluster:
    id: str
    label: str
    parent: str = None


@dataclass
class ModelGraph:
    name: str
    boxes: list = field(default_factory=list)
    edges: list = field(default_factory=list)
    clusters: list = field(default_factory=list)


_KINDS = (
    ("InputLayer", "input"), ("Conv", "conv"), ("Dense", "dense"), ("Pool", "pool"), ("BatchNorm", "norm"),
    ("Normalization", "norm"), ("Dropout", "regularization"), ("Add", "merge"), ("Concatenate", "merge"),
    ("Multiply", "merge"), ("Subtract", "merge"), ("Average", "merge"), ("Maximum", "merge"),
    ("Minimum", "merge"), ("ReLU", "activation"), ("ELU", "activation"), ("Softmax", "activation"),
    ("Activation", "activation"), ("Flatten", "reshape"), ("Reshape", "reshape"), ("Padding", "reshape"),
)


def layer_kind(layer):
    """A coarse family name used to colour the box."""
    if isinstance(layer, Model):
        return "model"
    name = type(layer).__name__
    return next((kind for key, kind in _KINDS if key in name), "other")


class _Builder:
    def __init__(self, options):
        self.options = options
        self.graph = None
        self.count = 0

    def new_id(self):
        self.count += 1
        return f"n{self.count}"

    def box(self, layer, in_shape, out_shape, cluster):
        o = self.options
        title = f"{layer.name} ({type(layer).__name__})" if o["show_layer_names"] else type(layer).__name__
        details = []
        if o["show_shapes"]:
            if not isinstance(layer, InputLayer):
                details.append(f"input:  {_fmt(in_shape)}")
            details.append(f"output: {_fmt(out_shape)}")
        if o["show_dtype"]:
            details.append(f"dtype: {layer.dtype}")
        if o["show_layer_activations"] and hasattr(layer, "activation") and callable(layer.activation):
            details.append(f"activation: {getattr(layer.activation, '__name__', 'custom')}")
        if o["show_trainable"]:
            details.append(f"trainable: {'yes' if layer.trainable else 'no'}")
        if isinstance(layer, Model) and not isinstance(layer, (Sequential, Functional)):
            details.append("layers: " + ", ".join(sub.name for sub in layer.layers))
        box = Box(self.new_id(), title, details, layer_kind(layer), cluster)
        self.graph.boxes.append(box)
        return box.id

    def edge(self, src, dst):
        if (src, dst) not in self.graph.edges:
            self.graph.edges.append((src, dst))

    def layer(self, layer, in_shape, out_shape, cluster, n_inputs, n_outputs):
        """Add ``layer`` (expanded if it is a nested model and asked to); returns (entries, exits)."""
        expandable = isinstance(layer, (Sequential, Functional))
        if self.options["expand_nested"] and expandable and layer.layers:
            child = self.new_id()
            self.graph.clusters.append(Cluster(child, f"{layer.name} ({type(layer).__name__})", cluster))
            return self.model(layer, child, top=False)
        box = self.box(layer, in_shape, out_shape, cluster)
        return [box] * max(n_inputs, 1), [box] * max(n_outputs, 1)

    def model(self, model, cluster, top):
        if isinstance(model, Sequential):
            return self.sequential(model, cluster, top)
        if isinstance(model, Functional):
            return self.functional(model, cluster)
        box = self.box(model, _safe(lambda: model.input_shape), _safe(lambda: model.output_shape), cluster)
        return [box], [box]

    def sequential(self, model, cluster, top):
        prev_exits, entries = None, None
        shape = model._batch_shape
        if top and model._batch_shape is not None:
            input_layer = model._input_layer or (model.input.layer if model._graph else None)
            if input_layer is not None:
                prev_exits = [self.box(input_layer, None, shape, cluster)]
                entries = prev_exits
        for layer in model.layers:
            out_shape = model._output_shape_of(layer)
            ins, outs = self.layer(layer, shape, out_shape, cluster, 1, 1)
            if prev_exits is not None:
                self.edge(prev_exits[0], ins[0])
            entries = entries or ins
            prev_exits, shape = outs, out_shape
        return entries or [], prev_exits or []

    def functional(self, model, cluster):
        placed = {}
        for layer in model.layers:
            nodes = model._own_nodes(layer) if not isinstance(layer, InputLayer) else []
            first = nodes[0] if nodes else None
            in_shape = None if first is None else (
                first.inputs[0].shape if first.single_input else [t.shape for t in first.inputs])
            n_in = len(first.inputs) if first is not None else 0
            n_out = len(first.outputs) if first is not None else 1
            placed[id(layer)] = self.layer(layer, in_shape, model._output_shape_of(layer), cluster, n_in, n_out)
        for node in model._nodes:
            entries = placed[id(node.layer)][0]
            for k, t in enumerate(node.inputs):
                src = placed[id(t.layer)][1][min(t.index, len(placed[id(t.layer)][1]) - 1)]
                self.edge(src, entries[min(k, len(entries) - 1)])
        entries = [placed[id(t.layer)][0][0] for t in model.inputs]
        exits = [placed[id(t.layer)][1][min(t.index, len(placed[id(t.layer)][1]) - 1)] for t in model.outputs]
        return entries, exits


def _safe(fn):
    try:
        return fn()
    except (AttributeError, ValueError):
        return None


def _fmt(shape):
    return "?" if shape is None else (shape if isinstance(shape, str) else format_shape(shape))


def model_graph(model, show_shapes=True, show_dtype=False, show_layer_names=True, expand_nested=False,
                show_layer_activations=False, show_trainable=False):
    """The boxes, arrows and clusters of ``model`` (see the module docstring)."""
    if not isinstance(model, Model):
        raise TypeError(f"plot_model: expected a model, got {type(model).__name__}")
    builder = _Builder(dict(show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                            expand_nested=expand_nested, show_layer_activations=show_layer_activations,
                            show_trainable=show_trainable))
    builder.graph = ModelGraph(model.name)
    builder.model(model, None, top=True)
    return builder.graph
