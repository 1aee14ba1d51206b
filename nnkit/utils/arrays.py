"""Array helpers Keras users reach for first: ``to_categorical``."""
import numpy as np

__all__ = ["to_categorical"]


def to_categorical(x, num_classes=None):
    """One-hot rows for integer class labels, as ``keras.utils.to_categorical`` (float64, a trailing axis of
    size 1 dropped first: ``(N,)`` or ``(N, 1)`` labels give ``(N, num_classes)``)."""
    y = np.asarray(x)
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError("to_categorical: labels must be integers, got non-integer values")
    elif y.dtype.kind not in "iub":
        raise TypeError(f"to_categorical: expected integer labels, got dtype {y.dtype}")
    y = y.astype(np.int64)
    shape = y.shape[:-1] if y.ndim > 1 and y.shape[-1] == 1 else y.shape
    flat = y.reshape(-1)
    if flat.size and flat.min() < 0:
        raise ValueError(f"to_categorical: labels must be >= 0, got {flat.min()}")
    if num_classes is None:
        num_classes = int(flat.max()) + 1 if flat.size else 0
    elif isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"to_categorical: num_classes must be a positive integer, got {num_classes!r}")
    if flat.size and flat.max() >= num_classes:
        raise ValueError(f"to_categorical: labels must be in [0, {num_classes}), got a {flat.max()}")
    out = np.zeros((flat.size, num_classes))
    out[np.arange(flat.size), flat] = 1
    return out.reshape(shape + (num_classes,))
