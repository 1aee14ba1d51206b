"""``export_onnx``: an nnkit model as one self-contained ONNX file, for onnxruntime and other servers.

The graph takes what ``predict`` takes (float32, channels-last) and returns
what it returns.  nnkit is channels-last and ONNX's Conv and pooling are
channels-first, so, as tf2onnx does, the layout changes only at the edges:
one ``Transpose`` NHWC->NCHW after each 4-D input, every 4-D value inside is
NCHW, and a ``Transpose`` back where a layer needs Keras's channels-last
order (before a ``Flatten``, so that the Dense rows keep their HWC order) and
before each 4-D output.  Padding is always explicit (Keras's 'same' puts the
odd pixel at the end; ONNX's ``auto_pad`` is never used).  Only default-domain
operators are written; the per-layer conversions are in ``onnx_layers``.

``onnx`` is needed only here (``pip install "nnkit[onnx]"``).
"""
import numpy as np

from nnkit.io.atomic import atomic_write_bytes
from nnkit.io.onnx_layers import CONVERTERS

__all__ = ["export_onnx", "OnnxExportError", "OPSETS"]

OPSETS = range(13, 22)
# The newest IR version each opset was released with: a file stamped with a newer IR than its opset needs is
# refused by onnxruntime releases older than the onnx package that wrote it.
IR_VERSION = {13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10}
_TO_NCHW, _TO_NHWC = (0, 3, 1, 2), (0, 2, 3, 1)
_PROTOBUF_LIMIT = 2 ** 31 - 1


class OnnxExportError(ValueError):
    """A model (or one of its layers) that cannot be written as ONNX at the requested opset."""


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError('export_onnx needs the onnx package: pip install "nnkit[onnx]"') from None
    return onnx


class _Builder:
    """Collects nodes and initializers; names every value after the layer that made it."""

    def __init__(self, helper, opset):
        self.helper, self.opset = helper, opset
        self.nodes, self.initializers = [], []
        self.layer, self.scope = None, "graph"
        self._names, self._consts, self._transposes = set(), {}, {}

    def fresh(self, hint):
        name, i = hint, 1
        while name in self._names:
            name, i = f"{hint}_{i}", i + 1
        self._names.add(name)
        return name

    def error(self, message):
        where = f"layer {self.layer.name!r} ({type(self.layer).__name__})" if self.layer is not None else "model"
        return OnnxExportError(f"export_onnx: {where} at opset {self.opset}: {message}")

    def add(self, op, inputs, out=None, **attrs):
        out = out or self.fresh(f"{self.scope}/{op}")
        self.nodes.append(self.helper.make_node(op, list(inputs), [out], name=out, **attrs))
        return out

    def const(self, array, hint="const"):
        array = np.asarray(array)
        array = array.astype(np.int64 if array.dtype.kind in "iu" else np.float32)
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self._consts:
            name = self.fresh(f"{self.scope}/{hint}")
            self.initializers.append(self.helper.make_tensor(
                name, self.helper.np_dtype_to_tensor_dtype(array.dtype), array.shape, array.tobytes(), raw=True))
            self._consts[key] = name
        return self._consts[key]

    def scalar(self, value):
        return self.const(np.float32(value), "scalar")

    def weight(self, tensor, layout=None):
        """A layer weight as an initializer (converted by ``layout``), shared by every use of the layer."""
        key = ("weight", id(tensor), layout)
        if key not in self._consts:
            data = tensor.data if layout is None else layout(tensor.data)
            self._consts[key] = self.const(np.ascontiguousarray(data), tensor.name.split("/")[-1])
        return self._consts[key]

    def _transpose(self, x, perm):
        source = self._transposes.get(x)
        if source is not None and source[1] == tuple(np.argsort(perm)):
            return source[0]  # x is itself the inverse transpose of source: they cancel
        key = (x, perm)
        if key not in self._transposes:
            y = self.add("Transpose", [x], perm=list(perm))
            self._transposes[key] = y
            self._transposes[y] = (x, perm)
        return self._transposes[key]

    def nhwc(self, x, rank):
        """The channels-last view of a graph value (itself unless it is 4-D)."""
        return self._transpose(x, _TO_NHWC) if rank == 4 else x

    def nchw(self, x, rank):
        """A channels-last 4-D value back in the graph's NCHW layout (other ranks unchanged)."""
        return self._transpose(x, _TO_NCHW) if rank == 4 else x


# -- walking the model ------------------------------------------------------------------------------

def _is_model(layer):
    from nnkit.models.model import Model

    return isinstance(layer, Model)


def _no_graph(model):
    return OnnxExportError(f"export_onnx: model {model.name!r} ({type(model).__name__}) is a subclassed model whose "
                           f"call() is Python code with no graph to export; build it with Sequential or the "
                           f"functional API (nnkit.Model(inputs, outputs))")


def _emit_model(b, model, xs):
    """Emit ``model`` on graph values ``xs`` (its inputs in order); return its outputs' values."""
    from nnkit.models.sequential import Sequential

    if isinstance(model, Sequential):
        x = xs[0]
        for layer, node in model._graph:
            x = _emit_layer(b, layer, [x], [node.inputs[0].shape], [node.outputs[0].shape])[0]
        return [x]
    if not getattr(model, "_is_graph_network", False):
        raise _no_graph(model)
    values = {id(t): x for t, x in zip(model._inputs, xs)}
    for node in model._nodes:
        outs = _emit_layer(b, node.layer, [values[id(t)] for t in node.inputs], [t.shape for t in node.inputs],
                           [t.shape for t in node.outputs])
        values.update((id(t), v) for t, v in zip(node.outputs, outs))
    return [values[id(t)] for t in model._outputs]


def _emit_layer(b, layer, xs, in_shapes, out_shapes):
    from nnkit.layers.input import InputLayer

    if isinstance(layer, InputLayer):
        return xs
    if _is_model(layer):
        return _emit_model(b, layer, xs)
    convert = CONVERTERS.get(type(layer).__name__)
    outer = b.layer, b.scope
    b.layer, b.scope = layer, layer.name
    try:
        if convert is None:
            raise b.error(f"this layer type has no ONNX conversion; layers that export: "
                          f"{', '.join(sorted(CONVERTERS))}")
        out = convert(b, layer, xs, in_shapes, out_shapes[0])
    finally:
        b.layer, b.scope = outer
    return [out] if isinstance(out, str) else list(out)


# -- the graph's edges ---------------------------------------------------------------------------------

def _edge_names(tensors, single):
    if len(tensors) == 1:
        return [single]
    names, seen = [], set()
    for t in tensors:
        name, i = t.layer.name, 1
        while name in seen:
            name, i = f"{t.layer.name}_{i}", i + 1
        seen.add(name)
        names.append(name)
    return names


def _value_info(helper, tensor_proto, name, shape, batch_size):
    dims = [batch_size if batch_size is not None else "N"]
    dims += [d if d is not None else f"{name}_dim{i}" for i, d in enumerate(shape[1:], start=1)]
    return helper.make_tensor_value_info(name, tensor_proto.FLOAT, dims)


def _model_edges(model):
    from nnkit.models.sequential import Sequential

    if isinstance(model, Sequential):
        if not model._graph:
            raise OnnxExportError(f"export_onnx: Sequential {model.name!r} has no known input shape; build it "
                                  f"(model.build((None, ...))) before exporting")
        return model.inputs, model.outputs
    if getattr(model, "_is_graph_network", False):
        return list(model._inputs), list(model._outputs)
    raise _no_graph(model)


def build_onnx(model, opset=17, batch_size=None):
    """The ``ModelProto`` for ``model`` (see ``export_onnx``), checked with ``onnx.checker``."""
    onnx = _onnx()
    helper = onnx.helper
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or opset not in OPSETS:
        raise ValueError(f"export_onnx: opset must be an int from {OPSETS[0]} to {OPSETS[-1]}, got {opset!r}")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                   or batch_size < 1):
        raise ValueError(f"export_onnx: batch_size must be a positive int or None (symbolic), got {batch_size!r}")
    if not _is_model(model):
        raise TypeError(f"export_onnx: expected an nnkit model, got {type(model).__name__}")
    inputs, outputs = _model_edges(model)
    b = _Builder(helper, int(opset))
    in_names, out_names = _edge_names(inputs, "input"), _edge_names(outputs, "output")
    b._names.update(in_names + out_names)
    xs = [b.nchw(name, len(t.shape)) for name, t in zip(in_names, inputs)]
    ys = _emit_model(b, model, xs)
    for y, name, t in zip(ys, out_names, outputs):
        rank = len(t.shape)
        b.add("Transpose" if rank == 4 else "Identity", [y], out=name,
              **({"perm": list(_TO_NHWC)} if rank == 4 else {}))
    graph = helper.make_graph(
        b.nodes, model.name,
        [_value_info(helper, onnx.TensorProto, n, t.shape, batch_size) for n, t in zip(in_names, inputs)],
        [_value_info(helper, onnx.TensorProto, n, t.shape, batch_size) for n, t in zip(out_names, outputs)],
        initializer=b.initializers)
    import nnkit

    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", int(opset))],
                              ir_version=IR_VERSION[int(opset)], producer_name="nnkit",
                              producer_version=nnkit.__version__)
    if proto.ByteSize() > _PROTOBUF_LIMIT:
        raise OnnxExportError(f"export_onnx: model {model.name!r} needs {proto.ByteSize():,} bytes, more than the "
                              f"2 GiB a single ONNX protobuf file can hold")
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(model, path, opset=17, batch_size=None):
    """Write ``model`` to ``path`` as one self-contained ONNX file and return the ``ModelProto``.

    The graph's input ``"input"`` is the float32 array ``predict`` takes
    (NHWC images or ``(N, features)``) and its output ``"output"`` what
    ``predict`` returns; a model with several inputs or outputs names them
    after their layers.  The batch dimension is symbolic unless ``batch_size``
    is given.  ``opset`` from 13 to 21; ``ir_version`` is set to the one that
    opset shipped with.  Weights are written as float32 initializers.  A layer
    with no ONNX conversion raises ``OnnxExportError`` naming it and the opset.
    """
    proto = build_onnx(model, opset=opset, batch_size=batch_size)
    atomic_write_bytes(path, proto.SerializeToString())
    return proto
