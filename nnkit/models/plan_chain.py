"""An inference plan's fast path: its leading small conv, max-pool and dense layers as one call.

A plan still calls one Python function per layer, and each kernel call still
pays a few microseconds of Python and argument handling: at batch 1 that is
as much as the kernels' own work.  ``chain_of`` hands the backend's
``ChainBuilder`` the plan's leading layers (``Conv2D`` and ``Dense`` with a
ReLU or no activation, ``MaxPooling2D``, ``Flatten``, ``Dropout``) until one
it cannot chain (another layer, an activation it lacks, a kernel that would
run on more than one thread): those layers then run in one call, with the
same bits as the plan's steps, and the plan's steps take over from there.
"""
import numpy as np

from nnkit import activations as nnactivations
from nnkit import functional as F
from nnkit.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D

__all__ = ["chain_of"]


def chain_of(kernels, layers, x_shape, dtype):
    """``(chain, weights, count)``: the backend's ``Chain`` of the first ``count`` of ``layers`` (called in turn
    on an input of ``x_shape`` and ``dtype``) and the weights it reads; ``(None, [], 0)`` where none chains.

    ``chain(x, [w.data for w in weights])`` is the output of layer ``count - 1`` (None: take the plan's steps).
    """
    none = (None, [], 0)
    builder_class = getattr(getattr(kernels, "chain", None), "ChainBuilder", None)
    if builder_class is None or np.dtype(dtype) not in (np.float32, np.float64):
        return none
    builder, weights, count = builder_class(x_shape, dtype), [], 0
    for layer in layers:
        adder = _ADDERS.get(type(layer))
        added = adder(builder, layer) if adder is not None else None
        if added is None:
            break  # the chain ends here; the plan's steps take over
        weights, count = weights + added, count + 1
    chain = builder.build()
    return none if chain is None else (chain, weights, count)


def _relu_or_linear(layer):
    """True for a ReLU, False for no activation, None for anything else."""
    if nnactivations.fusable(layer.activation) == "relu":
        return True
    return False if layer.activation is nnactivations.linear else None


def _present(*weights):
    return [w for w in weights if w is not None]


def _add_conv2d(builder, layer):
    relu = _relu_or_linear(layer)
    if relu is None:
        return None
    kernel, bias = layer.kernel, layer.bias
    g = F._conv2d_geometry(builder.shape, kernel.shape, layer.strides, layer.padding, layer.dilation_rate,
                           layer.groups, None)
    added = builder.conv2d(kernel.data, None if bias is None else bias.data, g["strides"], g["padding"],
                           g["dilation"], g["groups"], relu)
    return _present(kernel, bias) if added else None


def _add_max_pool(builder, layer):
    g = F._pool_geometry("max_pool2d", builder.shape, layer.pool_size, layer.strides, layer.padding)
    return [] if builder.max_pool2d(g["pool_size"], g["strides"], g["padding"]) else None


def _add_dense(builder, layer):
    relu = _relu_or_linear(layer)
    if relu is None or len(builder.shape) != 2:
        return None
    kernel, bias = layer.kernel, layer.bias
    added = builder.dense(kernel.data, None if bias is None else bias.data, relu)
    return _present(kernel, bias) if added else None


def _add_flatten(builder, layer):
    builder.reshape((builder.shape[0], int(np.prod(builder.shape[1:]))))
    return []


_ADDERS = {Conv2D: _add_conv2d, MaxPooling2D: _add_max_pool, Dense: _add_dense, Flatten: _add_flatten,
           Dropout: lambda builder, layer: []}
