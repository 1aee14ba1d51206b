"""What every explanation method shares: checking the model and the input,
the model's logits (a softmax at the output is stepped over), and the
relevance (or gradient) that starts at the output."""
import numpy as np

from nnkit.explain.linear import LINEAR, stages
from nnkit.layers import Softmax
from nnkit.models import layer_graph
from nnkit.tensor import FLOAT_DTYPES, Function, Tensor, no_grad

__all__ = ["Relevance", "prepare", "seed", "output_softmax", "logits_value", "run"]


class Relevance(Function):
    """Forward: ``value`` unchanged; backward: ``explain(inputs, grad)`` (relevance, not a gradient)."""

    def forward(self, *xs, value, explain):
        self.xs, self.explain = xs, explain
        return value

    def backward(self, g):
        return tuple(self.explain(list(self.xs), g))


def prepare(model, x, op):
    """``(graph, x as an array)`` after checking that ``model`` is a built graph model with one
    output and that ``x`` is a float batch of the model's input shape."""
    if not getattr(model, "built", False):
        raise ValueError(f"{op}: {model.describe()} is not built; give it an Input or call build() first")
    try:
        graph = layer_graph(model)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{op}: {e}") from None
    if len(model.outputs) != 1 or len(model.inputs) != 1:
        raise ValueError(f"{op}: expected a model with one input and one output, got {len(model.inputs)} "
                         f"inputs and {len(model.outputs)} outputs")
    arr = np.asarray(x.data if isinstance(x, Tensor) else x)
    if arr.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: expected x to be a float32 or float64 array, got {arr.dtype}")
    want = tuple(model.inputs[0].shape)
    if arr.ndim != len(want) or any(w is not None and w != s for w, s in zip(want[1:], arr.shape[1:])) \
            or arr.shape[0] == 0:
        raise ValueError(f"{op}: expected x of shape (N, {', '.join(str(w) for w in want[1:])}) with N >= 1, "
                         f"got {arr.shape}")
    return graph, arr


def seed(op, logits, target, output_relevance):
    """The relevance at the output: ``one_hot(target)`` (the predicted class when ``None``) or
    ``output_relevance`` (N, K) as given."""
    if logits.ndim != 2:
        raise ValueError(f"{op}: expected the model to output (N, classes) logits, got shape {logits.shape}")
    n, k = logits.shape
    if output_relevance is not None:
        if target is not None:
            raise ValueError(f"{op}: give target or output_relevance, not both")
        r = np.asarray(output_relevance.data if isinstance(output_relevance, Tensor) else output_relevance)
        if r.shape != (n, k) or r.dtype.kind not in "fiu":
            raise ValueError(f"{op}: expected output_relevance to be numbers of shape {(n, k)} (one row per "
                             f"sample, one column per output), got {r.dtype} of shape {r.shape}")
        return r.astype(logits.dtype)
    if target is None:
        t = logits.argmax(axis=1)
    else:
        t = np.asarray(target)
        if t.dtype.kind not in "iu" or t.ndim > 1 or (t.ndim == 1 and t.shape[0] != n):
            raise ValueError(f"{op}: expected target to be an int or {n} ints (one per sample), got "
                             f"{t.dtype} of shape {t.shape}")
        t = np.broadcast_to(t, (n,))
        if t.min() < 0 or t.max() >= k:
            raise ValueError(f"{op}: target must be in [0, {k}) for a model with {k} outputs, got "
                             f"{t.min()}..{t.max()}")
    out = np.zeros((n, k), logits.dtype)
    out[np.arange(n), t] = 1
    return out


def output_softmax(graph):
    """The last layer if it ends in a softmax (whose input, the logits, is what we explain), else None."""
    layer = graph[-1].layer
    if isinstance(layer, Softmax) or getattr(getattr(layer, "activation", None), "__name__", None) == "softmax":
        return layer
    return None


def logits_value(layer, inputs, parts=None, grad=False):
    """The affine part of a Dense/convolution ``layer`` on ``inputs`` (a Tensor), with ``parts``
    (stages) or the layer's own parameters; recorded for a backward when ``grad``."""
    x = inputs
    for fn, params in parts or stages(layer):
        if grad:
            x = fn([x], params)
        else:
            with no_grad():
                x = fn([Tensor(x.data)], params)
    return x


def logits_hook(layer):
    """A forward hook that makes ``layer`` (the model's softmax output) return the logits."""
    def hook(layer, inputs, outputs):
        return logits_value(layer, inputs, grad=True) if isinstance(layer, LINEAR) else inputs
    return hook


def run(model, x, hooks, dtype=None):
    """``(x as a Tensor that requires grad, model output)`` with ``{layer: forward hook}`` attached."""
    handles = [layer.register_forward_hook(fn) for layer, fn in hooks]
    try:
        xt = Tensor(np.asarray(x, dtype=dtype or model.dtype), requires_grad=True)
        return xt, model(xt, training=False)
    finally:
        for h in handles:
            h.remove()
