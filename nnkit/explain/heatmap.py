"""Relevance maps as pictures, as zennit's ``imgify``: the channel axis summed, ``[-max|R|, +max|R|]``
mapped to ``[0, 255]`` and through a palette (blue-white-red by default)."""
import numpy as np

from nnkit.explain.png import write_png

__all__ = ["heatmap", "save_heatmap", "PALETTES"]

# each palette: colours at evenly spaced points of [0, 1], interpolated linearly
PALETTES = {
    "bwr": np.array([[0, 0, 255], [255, 255, 255], [255, 0, 0]], np.float64),
    "gray": np.array([[0, 0, 0], [255, 255, 255]], np.float64),
    "coldnhot": np.array([[0, 255, 255], [0, 0, 255], [0, 0, 0], [255, 0, 0], [255, 255, 0]], np.float64),
}


def _relevance_2d(op, relevance):
    r = np.asarray(relevance)
    if r.dtype.kind not in "fiu" or r.ndim not in (2, 3) or 0 in r.shape:
        raise ValueError(f"{op}: expected one sample's relevance of shape (H, W) or (H, W, C), got "
                         f"{r.dtype} {r.shape}")
    return (r.sum(axis=2) if r.ndim == 3 else r).astype(np.float64)


def _levels(r, symmetric):
    """``r`` scaled to [0, 1]: zero at 0.5 when ``symmetric``, else min to max."""
    if symmetric:
        top = np.abs(r).max()
        return np.full_like(r, 0.5) if top == 0 else (r / top + 1) / 2
    lo, hi = r.min(), r.max()
    return np.zeros_like(r) if hi == lo else (r - lo) / (hi - lo)


def heatmap(relevance, cmap="bwr", symmetric=True):
    """A uint8 (H, W, 3) image of one sample's relevance (H, W) or (H, W, C)."""
    if cmap not in PALETTES:
        raise ValueError(f"heatmap: unknown cmap {cmap!r}; valid choices: {', '.join(PALETTES)}")
    levels = _levels(_relevance_2d("heatmap", relevance), symmetric)
    palette = PALETTES[cmap]
    pos = levels * (len(palette) - 1)
    i = np.minimum(pos.astype(np.int64), len(palette) - 2)
    t = (pos - i)[..., None]
    return np.rint(palette[i] * (1 - t) + palette[i + 1] * t).astype(np.uint8)


def _as_rgb(image, shape):
    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.shape != shape + (3,):
        raise ValueError(f"save_heatmap: expected an image of shape {shape}, {shape + (1,)} or {shape + (3,)}, "
                         f"got {np.shape(image)}")
    top = img.max()
    return img * (255.0 / top) if top > 1 else img * 255.0  # floats in [0, 1] or 0..255


def save_heatmap(relevance, path, image=None, cmap="bwr", symmetric=True, scale=1):
    """Write ``heatmap(relevance)`` to ``path`` as a PNG; returns the path.

    ``image`` (H, W), (H, W, 1) or (H, W, 3), in [0, 1] or 0..255, is shown underneath: each pixel
    blends towards the heatmap in proportion to its ``|R|`` (so irrelevant pixels show the image).
    ``scale`` enlarges the picture by an integer factor (nearest neighbour) for small inputs.
    """
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ValueError(f"save_heatmap: scale must be a positive int, got {scale!r}")
    r = _relevance_2d("save_heatmap", relevance)
    rgb = heatmap(r, cmap, symmetric).astype(np.float64)
    if image is not None:
        top = np.abs(r).max()
        alpha = (np.abs(r) / top if top > 0 else np.zeros_like(r))[..., None]
        rgb = alpha * rgb + (1 - alpha) * _as_rgb(image, r.shape)
    out = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    if scale > 1:
        out = out.repeat(scale, axis=0).repeat(scale, axis=1)
    return write_png(path, out)
