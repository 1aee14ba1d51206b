"""Make every rank start from the root's weights and optimizer state."""
import numpy as np

from . import comm

__all__ = ["broadcast_weights", "broadcast_optimizer_state"]


def broadcast_weights(model, root=0):
    """Overwrite every weight of ``model`` (``model.weights``: trainable ones and batch-norm moving
    statistics alike) in place with ``root``'s, in one fused buffer per dtype."""
    weights = list(model.weights)
    shapes = comm.broadcast_object([(tuple(w.data.shape), str(w.data.dtype)) for w in weights], root)
    mine = [(tuple(w.data.shape), str(w.data.dtype)) for w in weights]
    if shapes != mine:
        raise ValueError(f"broadcast_weights: rank {comm.rank()} has a model whose weights differ from rank "
                         f"{root}'s (shapes/dtypes {mine} against {shapes})")
    for dtype in sorted({w.data.dtype.str for w in weights}):
        group = [w for w in weights if w.data.dtype.str == dtype]
        flat = np.concatenate([w.data.reshape(-1) for w in group]) if group else None
        comm.broadcast(flat, root)
        offset = 0
        for w in group:
            w.data[...] = flat[offset:offset + w.data.size].reshape(w.data.shape)
            offset += w.data.size


def broadcast_optimizer_state(optimizer, root=0):
    """Give every rank ``root``'s optimizer state (slots, iterations, learning rate); a rank whose state
    is still empty (no step taken yet) receives the root's just the same."""
    state = comm.broadcast_object(optimizer.get_state() if comm.is_root(root) else None, root)
    if not comm.is_root(root):
        optimizer.set_state(state)
