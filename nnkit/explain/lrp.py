"""Layer-wise relevance propagation through forward hooks.

During one inference pass every Dense/convolution, pooling-by-averaging and
sum layer's output is replaced by a ``Relevance`` op with the same value,
whose backward is that layer's rule (``nnkit.explain.rules``).  Max pooling,
reshaping, padding, concatenation and dropout keep their own gradient (max
pooling sends relevance to the winner); activations pass relevance through
unchanged; BatchNormalization is folded into the layer before it
(``nnkit.explain.canonize``).  One backward from ``one_hot(target)`` then
leaves the input relevance in ``x.grad``.  The model itself is not changed.
"""
import numpy as np

from nnkit.explain import common
from nnkit.explain.canonize import fold_batch_norms
from nnkit.explain.composites import Composite, EpsilonPlus
from nnkit.explain.linear import LINEAR, PARAMETER_FREE, parameter_free, stages
from nnkit.layers import (ELU, Activation, Concatenate, Cropping1D, Dropout, Flatten, GlobalMaxPooling1D,
                          GlobalMaxPooling2D, InputLayer, LeakyReLU, MaxPooling1D, MaxPooling2D, ReLU, ReLU6, Reshape,
                          Softmax, UpSampling1D, ZeroPadding1D, ZeroPadding2D)

__all__ = ["lrp"]

PASS = (Activation, ReLU, ReLU6, LeakyReLU, ELU, Softmax)
# Moving, copying or selecting values: relevance follows the gradient (an upsampled value's copies sum back).
GRADIENT = (InputLayer, Dropout, Flatten, Reshape, ZeroPadding1D, ZeroPadding2D, Cropping1D, UpSampling1D,
            MaxPooling1D, MaxPooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D, Concatenate)


def _pass(xs, g):
    return [g]


def _explained(rule, fn, params):
    return lambda xs, g: rule.relevance(fn, xs, params, g)


def _linear_hook(rule, parts, exact_output):
    """``exact_output``: the layer's own output is the value of its last stage (no folding, no
    softmax to step over); otherwise each stage's value is computed."""
    def hook(layer, inputs, outputs):
        x = inputs
        for i, (fn, params) in enumerate(parts):
            last = i == len(parts) - 1
            value = outputs.data if last and exact_output else common.logits_value(layer, x, [(fn, params)]).data
            x = common.Relevance.apply(x, value=value, explain=_explained(rule, fn, params))
        return x
    return hook


def _norm_hook(rule, fn):
    def hook(layer, inputs, outputs):
        xs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        return common.Relevance.apply(*xs, value=outputs.data, explain=_explained(rule, fn, {}))
    return hook


def _pass_hook(layer, inputs, outputs):
    return common.Relevance.apply(inputs, value=outputs.data, explain=_pass)


def _identity_hook(layer, inputs, outputs):
    return inputs


def _hooks(graph, composite):
    folded, bns = fold_batch_norms(graph)
    rules = composite.assign(graph)
    softmax = common.output_softmax(graph)
    hooks, seen = [], set()
    for call in graph:
        layer = call.layer
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if isinstance(layer, LINEAR):
            parts = folded.get(id(layer)) or stages(layer)
            exact = id(layer) not in folded and layer is not softmax
            hooks.append((layer, _linear_hook(rules[id(layer)], parts, exact)))
        elif isinstance(layer, PARAMETER_FREE):
            hooks.append((layer, _norm_hook(rules[id(layer)], parameter_free(layer))))
        elif id(layer) in bns or layer is softmax:
            hooks.append((layer, _identity_hook))
        elif isinstance(layer, PASS):
            hooks.append((layer, _pass_hook))
        elif not isinstance(layer, GRADIENT):
            raise ValueError(f"lrp: no relevance rule for layer {layer.name!r} ({type(layer).__name__}); LRP "
                             f"covers Dense, convolutions (1-D and 2-D), BatchNormalization after them, pooling, "
                             f"Add, Average, Concatenate, Flatten, Reshape, zero padding, Cropping1D, Dropout and "
                             f"activation layers")
    return hooks


def lrp(model, x, target=None, rule=None, composite=None, output_relevance=None):
    """Layer-wise relevance of each input value for the model's decision.

    Parameters
    ----------
    model : a built Sequential or functional model with one input and one output (logits; a
        softmax at the output is stepped over, so its input is explained)
    x : float array (N, ...) of the model's input shape
    target : None (the predicted class), an int, or N ints: start from ``one_hot(target)``
    rule : a rule from ``nnkit.explain.rules`` for every Dense and convolution, or
    composite : a ``nnkit.explain.composites`` composite (default ``EpsilonPlus()``)
    output_relevance : (N, K) array to start from instead of ``one_hot(target)``

    Returns
    -------
    ndarray of ``x``'s shape and dtype; with a conservative rule each sample's sum is its
    starting relevance.
    """
    graph, arr = common.prepare(model, x, "lrp")
    if rule is not None and composite is not None:
        raise ValueError("lrp: give rule or composite, not both")
    if composite is None:
        composite = EpsilonPlus() if rule is None else Composite.uniform(rule)
    elif not isinstance(composite, Composite):
        raise TypeError(f"lrp: composite must be a Composite from nnkit.explain.composites, got {composite!r}")
    xt, out = common.run(model, arr, _hooks(graph, composite))
    out.backward(common.seed("lrp", out.data, target, output_relevance))
    relevance = xt.grad if xt.grad is not None else np.zeros_like(xt.data)
    return relevance.astype(arr.dtype, copy=False)
