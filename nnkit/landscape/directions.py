"""Directions in weight space (Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets").

A direction is a list of arrays shaped like ``model.trainable_weights``
(``dir_type="weights"``) or ``model.weights`` (``"states"``: batch-norm
moving statistics included).  Filter-wise normalisation gives each filter of
a random direction the norm of the same filter in the model, so that
directions are comparable across layers and networks whatever their scale;
a filter is one output unit, the last axis of an HWIO kernel or an
``(in, out)`` Dense kernel.
"""
import numpy as np

__all__ = ["random_direction", "target_direction", "model_weights"]

NORMS = ("filter", "layer", "weight", None)


def model_weights(model, dir_type, op):
    if not getattr(model, "built", False):
        raise ValueError(f"{op}: {model.describe()} is not built; call it on data or build() it first")
    if dir_type == "weights":
        return model.trainable_weights
    if dir_type == "states":
        return model.weights
    raise ValueError(f"{op}: dir_type must be 'weights' (trainable weights) or 'states' (all weights, moving "
                     f"statistics included), got {dir_type!r}")


def _normalize(d, w, norm):
    if norm == "filter":
        axes = tuple(range(w.ndim - 1))
        return d * (np.sqrt((w * w).sum(axis=axes)) / (np.sqrt((d * d).sum(axis=axes)) + 1e-10))
    if norm == "layer":
        return d * (np.linalg.norm(w) / (np.linalg.norm(d) + 1e-10))
    if norm == "weight":
        return d * w
    return d


def random_direction(model, seed=0, norm="filter", ignore="biasbn", dir_type="weights"):
    """A Gaussian direction, normalised per filter (``norm="filter"``), per weight tensor
    (``"layer"``), elementwise times the weights (``"weight"``) or not at all (``None``).  Weights
    with ndim <= 1 (biases, batch-norm parameters) are zero with ``ignore="biasbn"`` and equal to
    the weight with ``ignore=None``.  The same seed gives the same direction."""
    op = "random_direction"
    weights = model_weights(model, dir_type, op)
    if norm not in NORMS:
        raise ValueError(f"{op}: norm must be one of {NORMS}, got {norm!r}")
    if ignore not in ("biasbn", None):
        raise ValueError(f"{op}: ignore must be 'biasbn' or None, got {ignore!r}")
    rng = np.random.default_rng(seed)
    out = []
    for weight in weights:
        w = weight.data.astype(np.float64)
        if w.ndim <= 1:
            d = np.zeros_like(w) if ignore == "biasbn" else w.copy()
        else:
            d = _normalize(rng.standard_normal(w.shape), w, norm)
        out.append(d.astype(weight.dtype))
    return out


def target_direction(model_a, model_b, dir_type="states"):
    """``[w_b - w_a]``: the straight line from ``model_a``'s weights to ``model_b``'s."""
    op = "target_direction"
    wa, wb = model_weights(model_a, dir_type, op), model_weights(model_b, dir_type, op)
    shapes_a, shapes_b = [w.shape for w in wa], [w.shape for w in wb]
    if shapes_a != shapes_b:
        raise ValueError(f"{op}: the models' weights differ: {len(wa)} weights {shapes_a} against "
                         f"{len(wb)} weights {shapes_b}")
    return [(b.data.astype(np.float64) - a.data).astype(a.dtype) for a, b in zip(wa, wb)]
