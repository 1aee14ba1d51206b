"""Gradient-based attributions on the same machinery: gradient x input and integrated gradients
(Sundararajan et al. 2017), of the logits (a softmax at the output is stepped over)."""
import numpy as np

from nnkit.explain import common

__all__ = ["gradient", "gradient_x_input", "integrated_gradients"]


def _hooks(graph):
    softmax = common.output_softmax(graph)
    return [] if softmax is None else [(softmax, common.logits_hook(softmax))]


def _gradient(model, arr, hooks, op, target, output_relevance):
    xt, out = common.run(model, arr, hooks)
    out.backward(common.seed(op, out.data, target, output_relevance))
    return xt.grad if xt.grad is not None else np.zeros_like(xt.data), out.data


def gradient(model, x, target=None, output_relevance=None):
    """d(output . one_hot(target)) / dx (or with ``output_relevance`` as the output's cotangent)."""
    graph, arr = common.prepare(model, x, "gradient")
    g, _ = _gradient(model, arr, _hooks(graph), "gradient", target, output_relevance)
    return g.astype(arr.dtype, copy=False)


def gradient_x_input(model, x, target=None, output_relevance=None):
    """``x * gradient(model, x, target)``: LRP-0 on ReLU networks."""
    graph, arr = common.prepare(model, x, "gradient_x_input")
    g, _ = _gradient(model, arr, _hooks(graph), "gradient_x_input", target, output_relevance)
    return (arr * g).astype(arr.dtype, copy=False)


def integrated_gradients(model, x, target=None, baseline=None, steps=32, output_relevance=None):
    """``(x - baseline) * mean of the gradient`` at ``baseline + (k + 1/2) / steps * (x - baseline)``,
    k = 0 .. steps-1 (the midpoint rule); ``baseline`` defaults to zeros and broadcasts to ``x``.
    ``target=None`` takes the class predicted at ``x`` for every step."""
    op = "integrated_gradients"
    graph, arr = common.prepare(model, x, op)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"{op}: steps must be a positive int, got {steps!r}")
    try:
        base = np.broadcast_to(np.zeros((), arr.dtype) if baseline is None else np.asarray(baseline), arr.shape)
    except ValueError:
        raise ValueError(f"{op}: baseline of shape {np.shape(baseline)} does not broadcast to x {arr.shape}") from None
    hooks = _hooks(graph)
    if target is None and output_relevance is None:
        _, logits = _gradient(model, arr, hooks, op, None, None)
        target = logits.argmax(axis=1)
    total = np.zeros(arr.shape, np.float64)
    for k in range(int(steps)):
        point = base + (k + 0.5) / steps * (arr - base)
        g, _ = _gradient(model, point.astype(arr.dtype), hooks, op, target, output_relevance)
        total += g
    return ((arr - base) * total / steps).astype(arr.dtype, copy=False)
