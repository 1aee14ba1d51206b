"""Losses along directions in weight space, and between two solutions.

Each grid point sets the weights in place and runs ``model.evaluate`` (the
compiled loss in inference mode, the mean over all samples, plus the model's
own added losses; arrays go in batches of up to 1,024 unless ``batch_size``
says otherwise).  The weights are copied first and written back bit for bit in
a ``finally``, so an interrupted surface (Ctrl-C) leaves the model as it was.
"""
import numpy as np

from nnkit.landscape.directions import model_weights

__all__ = ["surface", "interpolate"]


def _loss(model, x, y, batch_size):
    if batch_size is None and isinstance(x, np.ndarray):
        batch_size = max(1, min(len(x), 1024))  # the mean over all samples is the same; big batches are faster
    return float(model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)["loss"])


def _matching_weights(op, model, direction, name):
    """The model's weights ``direction`` is shaped like: trainable weights, else all weights."""
    shapes = [np.shape(d) for d in direction]
    for dir_type in ("weights", "states"):
        weights = model_weights(model, dir_type, op)
        if shapes == [w.shape for w in weights]:
            return weights
    trainable = [w.shape for w in model.trainable_weights]
    raise ValueError(f"{op}: {name} must have one array per trainable weight {trainable} or per weight; got "
                     f"{len(shapes)} arrays {shapes}")


def _coords(op, coords, n):
    if n == 1:
        xs = np.asarray(coords, dtype=np.float64)
        if xs.ndim != 1 or xs.size == 0:
            raise ValueError(f"{op}: one direction takes a 1-D array of coordinates, got shape {xs.shape}")
        return [xs]
    try:
        xs, ys = (np.asarray(c, dtype=np.float64) for c in coords)
    except (TypeError, ValueError):
        raise ValueError(f"{op}: two directions take coords=(xs, ys), two 1-D arrays") from None
    if xs.ndim != 1 or ys.ndim != 1 or not xs.size or not ys.size:
        raise ValueError(f"{op}: two directions take coords=(xs, ys), two 1-D arrays, got shapes "
                         f"{xs.shape} and {ys.shape}")
    return [xs, ys]


def _progress(total, progress, desc):
    from tqdm.auto import tqdm
    return tqdm(total=total, disable=not progress, desc=desc, unit="point", leave=False)


def surface(model, directions, coords, x, y, batch_size=None, progress=True):
    """``Z[i] = loss(w + xs[i] d1)`` for ``directions=[d1]``, ``coords=xs``; or
    ``Z[i, j] = loss(w + xs[i] d1 + ys[j] d2)`` for ``[d1, d2]``, ``coords=(xs, ys)``."""
    op = "surface"
    if not isinstance(directions, (list, tuple)) or len(directions) not in (1, 2):
        raise ValueError(f"{op}: expected a list of one or two directions, got {type(directions).__name__}")
    weights = _matching_weights(op, model, directions[0], "each direction")
    if len(directions) == 2:
        _matching_weights(op, model, directions[1], "each direction")
    axes = _coords(op, coords, len(directions))
    dirs = [[np.asarray(d, dtype=np.float64) for d in direction] for direction in directions]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(axes))
    saved = [w.data.copy() for w in weights]
    losses = np.empty(len(grid))
    try:
        with _progress(len(grid), progress, op) as bar:
            for k, point in enumerate(grid):
                for i, (w, w0) in enumerate(zip(weights, saved)):
                    w.data[...] = w0 + sum(a * d[i] for a, d in zip(point, dirs))
                losses[k] = _loss(model, x, y, batch_size)
                bar.update()
    finally:
        for w, w0 in zip(weights, saved):
            w.data[...] = w0
    return losses.reshape([len(a) for a in axes])


def interpolate(model_a, model_b, x, y, alphas, batch_size=None, progress=True):
    """Loss at ``(1 - a) w_a + a w_b`` for each ``a`` in ``alphas``, over every weight (batch-norm
    moving statistics included), evaluated on ``model_a`` (its weights are restored afterwards).
    Outside [0, 1] a moving variance can turn negative, and the loss there is NaN."""
    op = "interpolate"
    alphas = np.asarray(alphas, dtype=np.float64)
    if alphas.ndim != 1 or alphas.size == 0:
        raise ValueError(f"{op}: alphas must be a 1-D array, got shape {alphas.shape}")
    wa, wb = model_weights(model_a, "states", op), model_weights(model_b, "states", op)
    if [w.shape for w in wa] != [w.shape for w in wb]:
        raise ValueError(f"{op}: the models' weights differ: {[w.shape for w in wa]} against {[w.shape for w in wb]}")
    saved = [w.data.copy() for w in wa]
    other = [w.data.copy() for w in wb]
    losses = np.empty(len(alphas))
    try:
        with _progress(len(alphas), progress, op) as bar:
            for k, a in enumerate(alphas):
                for w, w0, w1 in zip(wa, saved, other):
                    w.data[...] = (1 - a) * w0.astype(np.float64) + a * w1
                losses[k] = _loss(model_a, x, y, batch_size)
                bar.update()
    finally:
        for w, w0 in zip(wa, saved):
            w.data[...] = w0
    return losses
