"""``load_onnx``: a CNN or MLP ONNX graph (NCHW, as PyTorch exports it) as an nnkit functional model (NHWC).

Each ONNX node becomes the nnkit layer that computes the same thing
channels-last: Conv kernels OIHW -> HWIO, ``Concat``/``Softmax`` axes moved,
explicit pads turned into ``padding='same'`` where they equal Keras's 'same'
and into a ``ZeroPadding2D`` otherwise (for max pooling only when its input
is non-negative, e.g. after a ReLU, where zero padding cannot win).  A
``Flatten`` of a feature map yields nnkit's HWC feature order where ONNX has
CHW, so the rows of the ``Gemm`` that reads it are permuted instead of
inserting a transpose.  Initializers become the layers' weights, so the model
predicts the same and can be trained further with ``fit``.  Images go in
NHWC; a 4-D output comes out NHWC.

The file is parsed with the ``onnx`` package (``pip install "nnkit[onnx]"``);
no code runs and no other file is read (external tensor data is refused).
"""
import re

import numpy as np

from nnkit.io.errors import FileFormatError

__all__ = ["load_onnx", "IMPORTABLE_OPS"]


class _Value:
    """A graph value as an nnkit symbolic tensor, with what the converters need to know about it."""

    __slots__ = ("tensor", "chw", "nonneg")

    def __init__(self, tensor, chw=None, nonneg=False):
        self.tensor = tensor    # channels-last if 4-D
        self.chw = chw          # (C, H, W) when this 2-D value is a flattened feature map (ONNX order CHW)
        self.nonneg = nonneg    # every element >= 0 (after a ReLU): zero padding is then neutral for max pooling

    @property
    def rank(self):
        return len(self.tensor.shape)


class _Importer:
    def __init__(self, path, graph, attribute_value):
        self.path, self.graph = path, graph
        self._attr_value = attribute_value
        self.values, self.consts, self.names = {}, {}, set()
        self.node = None

    # -- helpers the converters use --------------------------------------------------------------
    def error(self, message):
        node = self.node
        return ValueError(f"load_onnx({self.path}): node {node.name or node.output[0]!r} ({node.op_type}): "
                          f"{message}")

    def attrs(self, node):
        return {a.name: self._attr_value(a) for a in node.attribute}

    def layer_name(self, suffix=""):
        base = re.sub(r"[^0-9A-Za-z_.-]+", "_", self.node.name or self.node.output[0]).strip("_") or \
            self.node.op_type.lower()
        name, i = base + suffix, 1
        while name in self.names:
            name, i = f"{base}{suffix}_{i}", i + 1
        self.names.add(name)
        return name

    def const(self, name, what):
        if name not in self.consts:
            raise self.error(f"{what} must be a constant (an initializer), but {name!r} is computed in the graph")
        return self.consts[name]

    def value(self, name):
        if name not in self.values:
            raise self.error(f"input {name!r} must be a computed tensor, not a constant")
        return self.values[name]

    def call(self, layer, value, weights=None, **info):
        """Call ``layer`` on ``value`` (a _Value or a list of them), set its weights, wrap the output."""
        inputs = [v.tensor for v in value] if isinstance(value, list) else value.tensor
        out = layer(inputs)
        for w, array in zip([w for w, _ in layer._own_weights], weights or []):
            if w.data.shape != array.shape:
                raise self.error(f"weight {w.name} has shape {array.shape}, nnkit expects {w.data.shape}")
            w.data[...] = array
        return _Value(out, **info)


# -- padding ---------------------------------------------------------------------------------------------

def _keras_same(size, kernel, stride, dilation):
    span = (kernel - 1) * dilation + 1
    total = span - 1 if stride == 1 else (None if size is None else
                                          max((-(-size // stride) - 1) * stride + span - size, 0))
    return None if total is None else (total // 2, total - total // 2)


def _pads(imp, attrs, x, kernel, strides, dilations):
    """ONNX padding as ((top, bottom), (left, right))."""
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto == "VALID":
        return ((0, 0), (0, 0))
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pairs = [_keras_same(n, k, s, d) for n, k, s, d in zip(x.tensor.shape[1:3], kernel, strides, dilations)]
        if None in pairs:
            raise imp.error(f"auto_pad={auto} with an unknown input size")
        return tuple(p[::-1] if auto == "SAME_LOWER" else p for p in pairs)
    p = list(attrs.get("pads", [0, 0, 0, 0]))
    if len(p) != 4:
        raise imp.error(f"expected 4 pads for a 2-D window, got {p}")
    return ((p[0], p[2]), (p[1], p[3]))


def _padding_mode(x, pads, kernel, strides, dilations):
    """'valid', 'same' (when the pads are Keras's 'same'), or None (explicit padding needed)."""
    if pads == ((0, 0), (0, 0)):
        return "valid"
    same = tuple(_keras_same(n, k, s, d) for n, k, s, d in zip(x.tensor.shape[1:3], kernel, strides, dilations))
    return "same" if same == pads else None


def _window(imp, attrs, x, kernel):
    strides = tuple(attrs.get("strides", (1, 1)))
    dilations = tuple(attrs.get("dilations", (1, 1)))
    pads = _pads(imp, attrs, x, kernel, strides, dilations)
    return strides, dilations, pads, _padding_mode(x, pads, kernel, strides, dilations)


def _zero_pad(imp, x, pads):
    from nnkit.layers import ZeroPadding2D

    return imp.call(ZeroPadding2D(pads, name=imp.layer_name("_pad")), x, nonneg=x.nonneg)


# -- converters: (importer, node, attrs) -> [_Value or ndarray per output] ------------------------------------

def _conv(imp, node, attrs):
    from nnkit.layers import Conv2D

    x, w = imp.value(node.input[0]), imp.const(node.input[1], "the Conv weight")
    bias = imp.const(node.input[2], "the Conv bias") if len(node.input) > 2 and node.input[2] else None
    if x.rank != 4 or w.ndim != 4:
        raise imp.error(f"only 2-D convolutions of NCHW images are supported (input rank {x.rank})")
    kernel = tuple(attrs.get("kernel_shape", w.shape[2:]))
    strides, dilations, pads, mode = _window(imp, attrs, x, kernel)
    if mode is None:
        x, mode = _zero_pad(imp, x, pads), "valid"
    layer = Conv2D(w.shape[0], kernel, strides=strides, padding=mode, dilation_rate=dilations,
                   groups=attrs.get("group", 1), use_bias=bias is not None, name=imp.layer_name())
    return [imp.call(layer, x, [w.transpose(2, 3, 1, 0)] + ([bias] if bias is not None else []))]


def _batch_norm(imp, node, attrs):
    from nnkit.layers import BatchNormalization

    if attrs.get("training_mode", 0):
        raise imp.error("training_mode=1 graphs are not supported; export the model in inference mode")
    x = imp.value(node.input[0])
    scale, offset, mean, var = (imp.const(n, "the batch norm parameters") for n in node.input[1:5])
    params = [scale, offset, mean, var]
    if x.chw is not None:  # per-feature statistics of a flattened map: ONNX's CHW order -> nnkit's HWC order
        params = [p.reshape(x.chw).transpose(1, 2, 0).reshape(-1) for p in params]
    layer = BatchNormalization(epsilon=attrs.get("epsilon", 1e-5), momentum=attrs.get("momentum", 0.9),
                               name=imp.layer_name())
    return [imp.call(layer, x, params, chw=x.chw)]


def _gemm(imp, node, attrs):
    from nnkit.layers import Dense

    x, b = imp.value(node.input[0]), imp.const(node.input[1], "Gemm's B")
    c = imp.const(node.input[2], "Gemm's C") if len(node.input) > 2 and node.input[2] else None
    if attrs.get("transA", 0) or x.rank != 2:
        raise imp.error("only x @ W (+ b) with a 2-D x is supported (transA=0)")
    kernel = (b.T if attrs.get("transB", 0) else b) * attrs.get("alpha", 1.0)
    if x.chw is not None:  # ONNX flattened the map as CHW, nnkit as HWC: permute the rows to match
        c_, h, w = x.chw
        kernel = kernel.reshape(c_, h, w, -1).transpose(1, 2, 0, 3).reshape(c_ * h * w, -1)
    if c is not None:
        if c.size not in (1, kernel.shape[1]):
            raise imp.error(f"the bias C must have one value per output unit, got shape {c.shape}")
        c = np.broadcast_to(c.reshape(-1) * attrs.get("beta", 1.0), (kernel.shape[1],))
    layer = Dense(kernel.shape[1], use_bias=c is not None, name=imp.layer_name())
    return [imp.call(layer, x, [kernel] + ([c] if c is not None else []))]


def _pool(kind):
    def convert(imp, node, attrs):
        from nnkit.layers import AveragePooling2D, MaxPooling2D

        x = imp.value(node.input[0])
        kernel = tuple(attrs["kernel_shape"])
        strides, dilations, pads, mode = _window(imp, attrs, x, kernel)
        if dilations != (1, 1):
            raise imp.error(f"dilated pooling is not supported (dilations {dilations})")
        if len(node.output) > 1 and node.output[1]:
            raise imp.error("the Indices output of MaxPool is not supported")
        if attrs.get("ceil_mode", 0):
            floor = [(n + sum(p) - k) // s + 1 for n, p, k, s in zip(x.tensor.shape[1:3], pads, kernel, strides)]
            ceil = [-(-(n + sum(p) - k) // s) + 1 for n, p, k, s in zip(x.tensor.shape[1:3], pads, kernel, strides)]
            if None in x.tensor.shape[1:3] or floor != ceil:
                raise imp.error("ceil_mode=1 that changes the output size is not supported")
        if kind == "max" and mode is None:
            if not x.nonneg:
                raise imp.error(f"max pooling with pads {pads} that are not Keras's 'same' needs a non-negative "
                                f"input (e.g. after a ReLU) to be padded with zeros")
            x, mode = _zero_pad(imp, x, pads), "valid"
        elif kind == "avg":
            include = attrs.get("count_include_pad", 0)
            if mode == "same" and include:
                mode = None  # Keras's 'same' average excludes the padding
            if mode is None:
                if not include:
                    raise imp.error(f"average pooling with pads {pads} that are not Keras's 'same' must count "
                                    f"the padding (count_include_pad=1)")
                x, mode = _zero_pad(imp, x, pads), "valid"
        cls = MaxPooling2D if kind == "max" else AveragePooling2D
        return [imp.call(cls(kernel, strides=strides, padding=mode, name=imp.layer_name()), x, nonneg=x.nonneg)]
    return convert


def _global_pool(kind):
    def convert(imp, node, attrs):
        from nnkit.layers import GlobalAveragePooling2D, GlobalMaxPooling2D

        x = imp.value(node.input[0])
        cls = GlobalAveragePooling2D if kind == "avg" else GlobalMaxPooling2D
        return [imp.call(cls(keepdims=True, name=imp.layer_name()), x, nonneg=x.nonneg)]
    return convert


def _flatten_value(imp, x):
    from nnkit.layers import Flatten

    if x.rank == 2:
        return x
    if x.rank != 4:
        raise imp.error(f"only 4-D maps and 2-D values can be flattened (rank {x.rank})")
    h, w, c = x.tensor.shape[1:]
    if None in (h, w, c):
        raise imp.error(f"flattening a map of unknown size {x.tensor.shape} is not supported")
    chw = (c, h, w) if h * w > 1 else None  # a 1x1 map flattens the same in both orders
    return imp.call(Flatten(name=imp.layer_name()), x, chw=chw, nonneg=x.nonneg)


def _flatten(imp, node, attrs):
    if attrs.get("axis", 1) != 1:
        raise imp.error(f"only Flatten(axis=1) is supported, got axis={attrs['axis']}")
    return [_flatten_value(imp, imp.value(node.input[0]))]


def _reshape(imp, node, attrs):
    x, shape = imp.value(node.input[0]), imp.const(node.input[1], "the target shape")
    features = None if None in x.tensor.shape[1:] else int(np.prod(x.tensor.shape[1:]))
    if shape.shape == (2,) and ((shape[0] == 0 and shape[1] in (-1, features)) or
                                (shape[0] == -1 and features is not None and shape[1] == features)):
        return [_flatten_value(imp, x)]  # x.reshape(-1, features) or (batch, -1): a Flatten
    raise imp.error(f"only a reshape to (batch, -1), i.e. a flatten, is supported; got shape {shape.tolist()}")


def _activation(layer_factory, keeps_sign=False, makes_nonneg=False):
    def convert(imp, node, attrs):
        x = imp.value(node.input[0])
        layer = layer_factory(imp, x, attrs)
        return [imp.call(layer, x, chw=x.chw, nonneg=makes_nonneg or (keeps_sign and x.nonneg))]
    return convert


def _relu(imp, x, attrs):
    from nnkit.layers import ReLU

    return ReLU(name=imp.layer_name())


def _clip(imp, x, attrs):
    from nnkit.layers import ReLU

    node = imp.node
    low = attrs.get("min") if len(node.input) < 2 or not node.input[1] else float(imp.const(node.input[1], "min"))
    high = attrs.get("max") if len(node.input) < 3 or not node.input[2] else float(imp.const(node.input[2], "max"))
    if low != 0 or (high is not None and high < 0):
        raise imp.error(f"only Clip(min=0, max >= 0) (ReLU, ReLU6) is supported, got min={low}, max={high}")
    return ReLU(max_value=high, name=imp.layer_name())


def _named(name):
    def factory(imp, x, attrs):
        from nnkit.layers import Activation

        return Activation(name, name=imp.layer_name())
    return factory


def _leaky(imp, x, attrs):
    from nnkit.layers import LeakyReLU

    return LeakyReLU(attrs.get("alpha", 0.01), name=imp.layer_name())


def _elu(imp, x, attrs):
    from nnkit.layers import ELU

    return ELU(attrs.get("alpha", 1.0), name=imp.layer_name())


def _gelu(imp, x, attrs):
    approximate = attrs.get("approximate", b"none")
    if (approximate.decode() if isinstance(approximate, bytes) else approximate) != "none":
        raise imp.error("only the exact GELU (approximate='none') is supported")
    return _named("gelu")(imp, x, attrs)


def _softmax(imp, x, attrs):
    from nnkit.layers import Softmax

    axis = attrs.get("axis", -1) % x.rank
    if x.chw is not None or (x.rank == 4 and axis != 1) or (x.rank != 4 and axis != x.rank - 1):
        raise imp.error(f"only a softmax over the channels (or the last axis of a 2-D value) is supported, "
                        f"got axis {attrs.get('axis', -1)} of a rank-{x.rank} value")
    return Softmax(axis=-1, name=imp.layer_name())


def _merge(cls_name):
    def convert(imp, node, attrs):
        from nnkit import layers

        xs = [imp.value(n) for n in node.input]
        if len(xs) == 1:
            return [xs[0]]
        if len({x.chw for x in xs}) > 1 or len({x.rank for x in xs}) > 1:
            raise imp.error("the inputs must have the same rank and layout (no broadcasting)")
        nonneg = all(x.nonneg for x in xs) and cls_name in ("Add", "Multiply", "Average", "Maximum", "Minimum")
        return [imp.call(getattr(layers, cls_name)(name=imp.layer_name()), xs, chw=xs[0].chw, nonneg=nonneg)]
    return convert


def _concat(imp, node, attrs):
    from nnkit.layers import Concatenate

    xs = [imp.value(n) for n in node.input]
    rank = xs[0].rank
    axis = attrs["axis"] % rank
    if any(x.chw is not None for x in xs) or any(x.rank != rank for x in xs) or axis == 0:
        raise imp.error(f"only concatenation along a non-batch axis of same-rank values is supported "
                        f"(axis {attrs['axis']})")
    nnkit_axis = {1: 3, 2: 1, 3: 2}[axis] if rank == 4 else axis
    return [imp.call(Concatenate(axis=nnkit_axis, name=imp.layer_name()), xs, nonneg=all(x.nonneg for x in xs))]


def _pad(imp, node, attrs):
    x = imp.value(node.input[0])
    mode = attrs.get("mode", b"constant")
    pads = attrs.get("pads") if len(node.input) < 2 else imp.const(node.input[1], "the pads").tolist()
    value = 0.0 if len(node.input) < 3 or not node.input[2] else float(imp.const(node.input[2], "the pad value"))
    if (mode.decode() if isinstance(mode, bytes) else mode) != "constant" or value != 0 or x.rank != 4 or \
            len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)) or min(pads) < 0 or \
            (len(node.input) > 3 and node.input[3]):
        raise imp.error(f"only zero padding of the height and width of a 4-D map is supported, got mode "
                        f"{mode!r}, value {value}, pads {pads}")
    return [_zero_pad(imp, x, ((pads[2], pads[6]), (pads[3], pads[7])))]


def _identity(imp, node, attrs):
    source = node.input[0]
    return [imp.consts[source] if source in imp.consts else imp.value(source)]


def _constant(imp, node, attrs):
    if "value" not in attrs:
        raise imp.error(f"only Constant(value=tensor) is supported, got {sorted(attrs)}")
    return [attrs["value"]]


IMPORTABLE_OPS = {
    "Conv": _conv, "BatchNormalization": _batch_norm, "Gemm": _gemm,
    "MaxPool": _pool("max"), "AveragePool": _pool("avg"),
    "GlobalAveragePool": _global_pool("avg"), "GlobalMaxPool": _global_pool("max"),
    "Flatten": _flatten, "Reshape": _reshape, "Pad": _pad,
    "Relu": _activation(_relu, makes_nonneg=True), "Clip": _activation(_clip, makes_nonneg=True),
    "LeakyRelu": _activation(_leaky), "Elu": _activation(_elu), "Gelu": _activation(_gelu),
    "Sigmoid": _activation(_named("sigmoid"), makes_nonneg=True), "Tanh": _activation(_named("tanh")),
    "Softplus": _activation(_named("softplus"), makes_nonneg=True), "Softsign": _activation(_named("softsign")),
    "Softmax": _activation(_softmax, makes_nonneg=True),
    "Add": _merge("Add"), "Sum": _merge("Add"), "Sub": _merge("Subtract"), "Mul": _merge("Multiply"),
    "Max": _merge("Maximum"), "Min": _merge("Minimum"), "Mean": _merge("Average"), "Concat": _concat,
    "Identity": _identity, "Dropout": _identity, "Constant": _constant,
}


# -- the graph -------------------------------------------------------------------------------------------

def _graph_input(imp, info):
    from nnkit import Input

    tensor_type = info.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim]
    if tensor_type.elem_type not in (1, 11):  # FLOAT, DOUBLE
        raise ValueError(f"load_onnx({imp.path}): input {info.name!r} is not a float tensor")
    if len(dims) == 4:
        shape = (dims[2], dims[3], dims[1])  # NCHW -> NHWC
    elif len(dims) == 2:
        shape = (dims[1],)
    else:
        raise ValueError(f"load_onnx({imp.path}): input {info.name!r} has rank {len(dims)}; images (N, C, H, W) "
                         f"and feature rows (N, F) are supported")
    name = re.sub(r"[^0-9A-Za-z_.-]+", "_", info.name) or "input"
    imp.names.add(name)
    return _Value(Input(shape=shape, name=name))


def load_onnx(path, name=None):
    """An nnkit functional model computing the ONNX graph in ``path`` (NCHW) channels-last.

    Supported operators: ``IMPORTABLE_OPS`` (convolutions, batch norm, Gemm,
    pooling, activations, Add/Concat and friends, Flatten); a graph with any
    other operator is one error listing them.  Feed the model NHWC images:
    ``model.predict(x_nchw.transpose(0, 2, 3, 1))``.
    """
    from nnkit.models.functional import Functional

    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise ImportError('load_onnx needs the onnx package: pip install "nnkit[onnx]"') from None
    path = str(path)
    try:
        proto = onnx.load(path, load_external_data=False)
    except Exception as e:  # protobuf's DecodeError and friends
        raise FileFormatError(path, f"not a readable ONNX model ({type(e).__name__}: {e})") from None
    graph = proto.graph
    foreign = sorted({f"{n.op_type} (domain {n.domain!r})" if n.domain not in ("", "ai.onnx") else n.op_type
                      for n in graph.node if n.domain not in ("", "ai.onnx") or n.op_type not in IMPORTABLE_OPS})
    if foreign:
        raise ValueError(f"load_onnx({path}): operators nnkit cannot import: {', '.join(foreign)}; supported: "
                         f"{', '.join(sorted(IMPORTABLE_OPS))}")
    imp = _Importer(path, graph, onnx.helper.get_attribute_value)
    for init in graph.initializer:
        if init.data_location == onnx.TensorProto.EXTERNAL:
            raise FileFormatError(path, f"initializer {init.name!r} keeps its data in an external file, which "
                                        f"load_onnx does not read; save the model as one file")
        imp.consts[init.name] = numpy_helper.to_array(init).astype(np.float32) \
            if init.data_type in (1, 10, 11) else numpy_helper.to_array(init)
    inputs = [i for i in graph.input if i.name not in imp.consts]
    for info in inputs:
        imp.values[info.name] = _graph_input(imp, info)
    for node in graph.node:
        imp.node = node
        attrs = imp.attrs(node)
        if "value" in attrs and node.op_type == "Constant":
            attrs["value"] = numpy_helper.to_array(attrs["value"])
        results = IMPORTABLE_OPS[node.op_type](imp, node, attrs)
        for out, result in zip(node.output, results):
            (imp.values if isinstance(result, _Value) else imp.consts)[out] = result
    missing = [o.name for o in graph.output if o.name not in imp.values]
    if missing:
        raise ValueError(f"load_onnx({path}): outputs {missing} are constants or never computed")
    reordered = [o.name for o in graph.output if imp.values[o.name].chw is not None]
    if reordered:
        raise ValueError(f"load_onnx({path}): outputs {reordered} are flattened feature maps, whose features "
                         f"nnkit orders HWC where the graph orders them CHW; end the graph with a Gemm or a "
                         f"pooling instead")
    xs = [imp.values[i.name].tensor for i in inputs]
    ys = [imp.values[o.name].tensor for o in graph.output]
    return Functional(xs[0] if len(xs) == 1 else xs, ys[0] if len(ys) == 1 else ys,
                      name=name or re.sub(r"[^0-9A-Za-z_.-]+", "_", graph.name or "onnx_model"))
