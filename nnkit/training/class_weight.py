"""``fit(class_weight={class: weight})``: each sample's weight times its class's weight (Keras's rule)."""
import numpy as np

from nnkit.data.structure import is_structure

__all__ = ["check_class_weight", "with_class_weight"]


def check_class_weight(op, class_weight):
    """``class_weight`` as ``{int class: float weight}`` (or ``None``), checked."""
    if class_weight is None:
        return None
    if not isinstance(class_weight, dict) or not class_weight:
        raise ValueError(f"{op}: class_weight must be a non-empty dict {{class index: weight}}, got "
                         f"{class_weight!r}")
    out = {}
    for k, w in class_weight.items():
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
            raise ValueError(f"{op}: class_weight keys must be class indices (integers >= 0), got {k!r}")
        if isinstance(w, bool) or not isinstance(w, (int, float, np.number)) or not np.isfinite(w) or w < 0:
            raise ValueError(f"{op}: class_weight[{k}] must be a finite number >= 0, got {w!r}")
        out[int(k)] = float(w)
    return out


def _classes(op, y):
    """The class of each sample: the label itself, or the argmax of a one-hot / probability row."""
    y = np.asarray(y)
    if y.ndim >= 2 and y.shape[-1] > 1:
        return np.argmax(y, axis=-1).reshape(len(y), -1)[:, 0] if y.ndim == 2 else np.argmax(y, axis=-1)
    labels = y.reshape(len(y), -1)[:, 0] if y.ndim >= 2 else y
    if labels.dtype.kind == "f" and np.any(labels != np.round(labels)):
        raise ValueError(f"{op}: class_weight needs integer class labels or one-hot targets, got non-integer "
                         f"values")
    return labels.astype(np.int64)


def with_class_weight(op, batch, class_weight):
    """The batch with its sample weights multiplied by the class weights (classes not listed weigh 1)."""
    if class_weight is None:
        return batch
    x, y, w = batch
    if y is None or isinstance(y, dict) or is_structure(y):
        raise ValueError(f"{op}: class_weight is only supported for models with a single output (and needs "
                         f"targets y); use sample_weight per output instead")
    classes = _classes(op, y)
    table = np.ones(max(max(class_weight) + 1, int(classes.max(initial=0)) + 1))
    for k, v in class_weight.items():
        table[k] = v
    cw = table[classes]
    if w is None:
        return x, y, cw
    w = np.asarray(w, np.float64)
    return x, y, w * cw.reshape((len(cw),) + (1,) * (w.ndim - 1))
