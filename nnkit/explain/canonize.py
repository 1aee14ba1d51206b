"""Folding BatchNormalization into the layer before it, as zennit's canonizer does.

In inference ``bn(z) = gamma * (z - mean) / sqrt(var + epsilon) + beta`` is
affine per channel, so ``bn(x @ W + b)`` is one Dense (or convolution) with
``W' = W * s`` (the output, i.e. last, axis scaled) and
``b' = (b - mean) * s + beta``, ``s = gamma / sqrt(var + epsilon)``, with the
layer's own epsilon.  Rules then see the network as it computes.  Nothing in
the model changes: the folded parameters live beside it, for one explanation.
"""
import numpy as np

from nnkit.explain.linear import LINEAR, stages
from nnkit.layers import BatchNormalization

__all__ = ["fold_batch_norms"]


def _fold(params, bn):
    dtype = params["kernel"].dtype
    c = params["kernel"].shape[-1]
    gamma = bn.gamma.data if bn.gamma is not None else np.ones(c)
    beta = bn.beta.data if bn.beta is not None else np.zeros(c)
    scale = gamma.astype(np.float64) / np.sqrt(bn.moving_variance.data.astype(np.float64) + bn.epsilon)
    bias = params["bias"].astype(np.float64) if params["bias"] is not None else np.zeros(c)
    return {"kernel": (params["kernel"] * scale).astype(dtype),
            "bias": ((bias - bn.moving_mean.data) * scale + beta).astype(dtype)}


def fold_batch_norms(graph, op="lrp"):
    """``({id(layer): stages with folded parameters}, {id of each folded BatchNormalization})`` for the
    ``LayerCall``s of ``nnkit.models.layer_graph``.  A BatchNormalization must come right after a
    Dense or convolution without activation whose output nothing else reads."""
    readers, calls = {}, {}
    for call in graph:
        calls[id(call.layer)] = calls.get(id(call.layer), 0) + 1
        for key in call.input_keys:
            readers[key] = readers.get(key, 0) + 1
    folded, bns = {}, set()
    for call in graph:
        bn = call.layer
        if not isinstance(bn, BatchNormalization):
            continue
        source = call.inbound[0] if len(call.inbound) == 1 else None
        layer = None if source is None else source.layer
        name = None if layer is None else layer.name
        if layer is None or not isinstance(layer, LINEAR):
            raise ValueError(f"{op}: BatchNormalization {bn.name!r} follows {name or 'the model input'!r}, "
                             f"not a Dense or convolution it can be folded into")
        if getattr(layer.activation, "__name__", None) != "linear":
            raise ValueError(f"{op}: BatchNormalization {bn.name!r} follows {name!r}, which has an activation; "
                             f"only a BatchNormalization right after the linear map can be folded")
        if readers.get(source.output_keys[0], 0) > 1 or calls[id(layer)] > 1 or calls[id(bn)] > 1:
            raise ValueError(f"{op}: cannot fold BatchNormalization {bn.name!r} into {name!r}: other layers "
                             f"also read {name!r}'s output, or {name!r} is called more than once")
        parts = stages(layer)
        fn, params = parts[-1]
        folded[id(layer)] = parts[:-1] + [(fn, _fold(params, bn))]
        bns.add(id(bn))
    return folded, bns
