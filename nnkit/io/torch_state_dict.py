"""PyTorch-style state dicts: hand nnkit weights to PyTorch and take them back.

``export_state_dict(model)`` gives ``{"<layer>.<param>": array}`` with
PyTorch's names and layouts; ``import_state_dict(model, state_dict)`` is the
inverse and loads in place.  Conversions (nnkit is channels-last, Keras
layouts; PyTorch is channels-first):

=====================  ===============================  ===========================================
layer                  nnkit weight                     PyTorch parameter
=====================  ===============================  ===========================================
Dense                  kernel ``(in, out)``             ``weight`` ``(out, in)``; bias as is
Conv2D                 kernel HWIO ``(kh, kw, C/g, F)``  ``weight`` OIHW ``(F, C/g, kh, kw)``
DepthwiseConv2D        ``(kh, kw, C, m)``               ``weight`` ``(C*m, 1, kh, kw)``, groups=C
SeparableConv2D        depthwise / pointwise kernels    ``depthwise.weight`` / ``pointwise.weight``;
                                                        bias is ``pointwise.bias``
BatchNormalization     gamma, beta, moving_mean/_var    weight, bias, running_mean/_var
                                                        (+ ``num_batches_tracked`` on export)
=====================  ===============================  ===========================================

A Dense layer fed by a ``Flatten`` of an ``(H, W, C)`` feature map sees the
features in HWC order, PyTorch's ``nn.Flatten`` of NCHW in CHW order: its
kernel rows are permuted accordingly (found from the model graph, or given as
``flatten_shapes={"dense": (H, W, C)}``).  Other layers' weights keep their
nnkit layout under ``<layer>.<weight>``.  ``layer_names`` maps nnkit layer
names to PyTorch module prefixes (a dict or a function), e.g. ``{"conv2d": "0"}``
for an ``nn.Sequential``.  Arrays are NumPy; values with a ``.numpy()``
method (PyTorch tensors) are accepted on import, and ``as_torch=True``
returns ``torch.Tensor`` values (PyTorch needed only then).  No pickle:
to read a ``.pt`` file use ``torch.load(path, weights_only=True)`` yourself.
"""
import numpy as np

from nnkit.io.model_io import assign_weights


# -- layout conversions: (to_torch(array, context), from_torch(array, nnkit_shape, context)) ----------

def _oihw(k, ctx):
    return k.transpose(3, 2, 0, 1)


def _oihw_back(t, shape, ctx):
    return t.transpose(2, 3, 1, 0) if t.ndim == 4 else t


def _depthwise(k, ctx):
    kh, kw, c, m = k.shape
    return k.reshape(kh, kw, 1, c * m).transpose(3, 2, 0, 1)


def _depthwise_back(t, shape, ctx):
    kh, kw, c, m = shape
    if t.shape != (c * m, 1, kh, kw):
        return t  # reported as mis-shaped by the caller
    return t.transpose(2, 3, 1, 0).reshape(shape)


def _dense(k, hwc):
    if hwc is None:
        return k.T
    h, w, c = hwc
    return k.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1).T


def _dense_back(t, shape, hwc):
    if hwc is None or t.ndim != 2 or t.shape[1] != shape[0]:
        return t.T
    h, w, c = hwc
    return t.T.reshape(c, h, w, -1).transpose(1, 2, 0, 3).reshape(shape)


def _same(x, ctx):
    return x


def _same_back(x, shape, ctx):
    return x


_IDENTITY = (_same, _same_back)
CONVERTERS = {
    "Dense": {"kernel": ("weight", _dense, _dense_back), "bias": ("bias", *_IDENTITY)},
    "Conv2D": {"kernel": ("weight", _oihw, _oihw_back), "bias": ("bias", *_IDENTITY)},
    "DepthwiseConv2D": {"depthwise_kernel": ("weight", _depthwise, _depthwise_back), "bias": ("bias", *_IDENTITY)},
    "SeparableConv2D": {"depthwise_kernel": ("depthwise.weight", _depthwise, _depthwise_back),
                        "pointwise_kernel": ("pointwise.weight", _oihw, _oihw_back),
                        "bias": ("pointwise.bias", *_IDENTITY)},
    "BatchNormalization": {"gamma": ("weight", *_IDENTITY), "beta": ("bias", *_IDENTITY),
                           "moving_mean": ("running_mean", *_IDENTITY),
                           "moving_variance": ("running_var", *_IDENTITY)},
}


# -- walking the model ------------------------------------------------------------------------------

def _layers_with_weights(model):
    seen, out = set(), []
    for layer in model._walk():
        own = [w for w, _ in layer._own_weights]
        if own and id(layer) not in seen:
            seen.add(id(layer))
            out.append((layer, own))
    return out


def _prefix(layer_names, name):
    if layer_names is None:
        return name
    if callable(layer_names):
        return layer_names(name)
    return layer_names.get(name, name)


def _flatten_source(layer):
    """``(H, W, C)`` if ``layer``'s input comes straight from a Flatten of a 4-D map (through
    shape-keeping layers such as Dropout or Activation), else ``None``."""
    nodes = getattr(layer, "_inbound_nodes", [])
    if not nodes or len(nodes[0].inputs) != 1:
        return None
    producer = nodes[0].inputs[0].node
    while producer is not None:
        kind = type(producer.layer).__name__
        if kind == "Flatten":
            shape = producer.inputs[0].shape
            return tuple(shape[1:]) if len(shape) == 4 and None not in shape[1:] else None
        if len(producer.inputs) != 1 or producer.inputs[0].shape != producer.outputs[0].shape:
            return None
        producer = producer.inputs[0].node
    return None


def flatten_shapes_of(model):
    """``{dense layer name: (H, W, C)}`` for Dense layers fed by a Flatten of a feature map."""
    out = {}
    for layer, _ in _layers_with_weights(model):
        if type(layer).__name__ == "Dense":
            hwc = _flatten_source(layer)
            if hwc is not None:
                out[layer.name] = hwc
    return out


def _plan(model, layer_names, flatten_shapes):
    """``[(nnkit weight, torch key, to_torch, from_torch, context)]`` for every weight."""
    hwc = {**flatten_shapes_of(model), **(flatten_shapes or {})}
    plan = []
    for layer, weights in _layers_with_weights(model):
        table = CONVERTERS.get(type(layer).__name__, {})
        prefix = _prefix(layer_names, layer.name)
        for w in weights:
            short = w.name.split("/", 1)[-1]
            key, to_torch, from_torch = table.get(short, (short, *_IDENTITY))
            plan.append((w, f"{prefix}.{key}", to_torch, from_torch, hwc.get(layer.name)))
    return plan


# -- public API ------------------------------------------------------------------------------------

def export_state_dict(model, layer_names=None, flatten_shapes=None, as_torch=False):
    """The model's weights as a PyTorch-style state dict (C-contiguous copies)."""
    out = {}
    for w, key, to_torch, _, ctx in _plan(model, layer_names, flatten_shapes):
        if key in out:
            raise ValueError(f"export_state_dict: two weights map to the PyTorch name {key!r}")
        out[key] = np.ascontiguousarray(to_torch(w.data, ctx))
    for layer, _ in _layers_with_weights(model):
        if type(layer).__name__ == "BatchNormalization":
            out[f"{_prefix(layer_names, layer.name)}.num_batches_tracked"] = np.array(0, np.int64)
    if as_torch:
        import torch

        out = {k: torch.from_numpy(v) for k, v in out.items()}
    return out


def import_state_dict(model, state_dict, layer_names=None, flatten_shapes=None, strict=True):
    """Load a PyTorch-style state dict into ``model`` in place (the inverse of ``export_state_dict``).

    Missing, unexpected and mis-shaped entries are reported together in one
    ``ValueError`` (``strict=False`` tolerates missing and unexpected ones);
    ``num_batches_tracked`` is ignored.  Returns a ``LoadResult`` in nnkit names.
    """
    arrays = {k: _to_numpy(v) for k, v in state_dict.items() if not k.endswith(".num_batches_tracked")}
    converted, used = {}, set()
    for w, key, _, from_torch, ctx in _plan(model, layer_names, flatten_shapes):
        if key in arrays:
            used.add(key)
            converted[w.name] = np.ascontiguousarray(from_torch(arrays[key], w.data.shape, ctx))
    for key in arrays.keys() - used:  # reported as unexpected, under their PyTorch names
        converted[key] = arrays[key]
    return assign_weights(model, converted, "<state dict>", strict)


def _to_numpy(value):
    if hasattr(value, "detach"):
        value = value.detach().cpu()
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    return np.asarray(value)
