"""``pad_sequences``: variable-length sequences to one array, as ``keras.utils.pad_sequences``."""
import numpy as np

__all__ = ["pad_sequences"]


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """An array ``(len(sequences), maxlen) + item_shape`` holding each sequence, padded with ``value`` and cut
    to ``maxlen`` items (default: the longest).  ``padding``/``truncating``: "pre" pads or cuts at the start
    (Keras's default, so the last steps, the ones a recurrent layer sees last, are kept), "post" at the end."""
    for name, where in (("padding", padding), ("truncating", truncating)):
        if where not in ("pre", "post"):
            raise ValueError(f"pad_sequences: {name} must be 'pre' or 'post', got {where!r}")
    try:
        lengths = [len(s) for s in sequences]
    except TypeError:
        raise ValueError("pad_sequences: expected a list of sequences (each with a length), got "
                         f"{type(sequences).__name__} holding a value with no length") from None
    if maxlen is None:
        maxlen = max(lengths, default=0)
    elif isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 0:
        raise ValueError(f"pad_sequences: maxlen must be a non-negative integer or None, got {maxlen!r}")
    item_shape = next((np.asarray(s).shape[1:] for s in sequences if len(s)), ())
    dtype = np.dtype(dtype)
    if isinstance(value, str) and dtype.kind not in "USO":
        raise ValueError(f"pad_sequences: value {value!r} is a string but dtype is {dtype}; pass dtype=object "
                         f"or a string dtype")
    out = np.full((len(lengths), int(maxlen)) + item_shape, value, dtype)
    for i, s in enumerate(sequences):
        if not len(s) or not maxlen:
            continue
        s = np.asarray(s)
        if s.shape[1:] != item_shape:
            raise ValueError(f"pad_sequences: every item must have shape {item_shape}; sequence {i} has items "
                             f"of shape {s.shape[1:]}")
        kept = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        if padding == "pre":
            out[i, maxlen - len(kept):] = kept
        else:
            out[i, :len(kept)] = kept
    return out
