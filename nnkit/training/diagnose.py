"""Find where a non-finite loss came from: replay the batch with every layer's output watched.

The training step keeps what it needs when a loss goes non-finite: the
batch, the weights before the update and the random-generator state before
the forward pass (so dropout draws the same masks).  ``find_nonfinite``
replays that step on those weights, records the first layer (in execution
order) whose output holds NaN or infinity and the first layer, going
backwards from the loss, whose weight gradient does, and then puts the weights and generator back.
"""
import numpy as np

from nnkit import random as nnrandom
from nnkit.tensor import Tensor

__all__ = ["Snapshot", "find_nonfinite"]


class Snapshot:
    """What a failed training step leaves for diagnosis."""

    def __init__(self, batch, weights, rng_state, epoch, step, loss):
        self.batch, self.weights, self.rng_state = batch, weights, rng_state
        self.epoch, self.step, self.loss = epoch, step, loss


def _leaf_layers(model):
    walk = getattr(model, "_walk", None)
    layers = walk()[1:] if walk is not None else list(getattr(model, "layers", []))
    return [layer for layer in layers if not (hasattr(layer, "_children") and layer._children())]


def _finite(value):
    if isinstance(value, Tensor):
        return bool(np.isfinite(value.data).all()) if value.dtype.kind == "f" else True
    if isinstance(value, (list, tuple)):
        return all(_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    return True


def _describe(layer):
    describe = getattr(layer, "describe", None)
    return describe() if describe is not None else f"{type(layer).__name__} '{getattr(layer, 'name', '?')}'"


def find_nonfinite(model, snapshot, loss_fn):
    """``loss_fn``: the compiled loss (``(y, y_pred, sample_weight) -> (total, parts)``).

    A sentence naming the first layer whose output, and the first whose gradient, went non-finite."""
    x, y, w = snapshot.batch
    weights = model.weights
    current = [t.data.copy() for t in weights]
    rng_now = nnrandom.get_state()
    layers = _leaf_layers(model)
    first_output = []

    def watch(layer):
        original = layer.call

        def call(*args, **kwargs):
            out = original(*args, **kwargs)
            if not first_output and not _finite(out):
                first_output.append(layer)
            return out
        object.__setattr__(layer, "call", call)

    trainable = model.trainable_weights
    try:
        for t, saved in zip(weights, snapshot.weights):
            t.data[...] = saved
        bad_weights = [t.name for t in weights if t.dtype.kind == "f" and not np.isfinite(t.data).all()]
        nnrandom.set_state(snapshot.rng_state)
        for layer in layers:
            watch(layer)
        for t in trainable:
            t.grad = None
        out = model(x, training=True)
        loss, _ = loss_fn(y, out, sample_weight=w)
        loss.backward()
        grads = {id(t): t.grad for t in trainable}
    finally:
        for layer in layers:
            layer.__dict__.pop("call", None)
        for t, saved in zip(weights, current):
            t.data[...] = saved
            t.grad = None
        nnrandom.set_state(rng_now)

    first_grad = None
    for layer in reversed(layers):  # backpropagation order: where the gradient first broke
        own = [t for t in getattr(layer, "trainable_weights", []) if id(t) in grads]
        if any(grads[id(t)] is not None and not np.isfinite(grads[id(t)]).all() for t in own):
            first_grad = layer
            break
    parts = [f"Epoch {snapshot.epoch + 1}, batch {snapshot.step}: loss {snapshot.loss}."]
    if bad_weights:
        parts.append(f"Weights were already non-finite before this step: {', '.join(bad_weights[:5])}.")
    parts.append(f"First non-finite output: {_describe(first_output[0])}." if first_output
                 else "Every layer output was finite (the loss itself overflowed: check the targets and the loss).")
    parts.append(f"First non-finite gradient (backwards from the loss): {_describe(first_grad)}." if first_grad is not None
                 else "No weight gradient was non-finite.")
    return " ".join(parts)
