"""What a built layer accepts: rank and fixed sizes along some axes."""
from nnkit.layers.shapes import format_shape


class InputSpec:
    """Expected input: ``ndim`` exactly or ``min_ndim`` at least, and
    ``axes={axis: size}`` (e.g. ``{-1: 3}`` for three channels)."""

    def __init__(self, ndim=None, min_ndim=None, axes=None):
        self.ndim, self.min_ndim, self.axes = ndim, min_ndim, dict(axes or {})

    def describe(self):
        parts = []
        if self.ndim is not None:
            parts.append(f"rank {self.ndim}")
        if self.min_ndim is not None:
            parts.append(f"rank >= {self.min_ndim}")
        parts += [f"size {size} on axis {axis}" for axis, size in self.axes.items()]
        return ", ".join(parts) or "any input"

    def problem(self, shape):
        """A sentence saying what is wrong with ``shape``, or None if it fits."""
        rank = len(shape)
        if self.ndim is not None and rank != self.ndim:
            return f"expected rank {self.ndim}, got rank {rank}"
        if self.min_ndim is not None and rank < self.min_ndim:
            return f"expected rank >= {self.min_ndim}, got rank {rank}"
        for axis, size in self.axes.items():
            if -rank <= axis < rank and shape[axis] is not None and shape[axis] != size:
                if axis in (-1, rank - 1):
                    hint = ("; nnkit is channels-last (batch, height, width, channels): "
                            "transpose channels-first data with x.transpose(0, 2, 3, 1)") if rank == 4 else ""
                    return f"expected {size} channels (as built), got {shape[axis]}{hint}"
                return f"expected size {size} on axis {axis} (as built), got {shape[axis]}"
        return None

    def __repr__(self):
        return f"InputSpec({self.describe()})"


def check_inputs(layer, specs, shapes):
    """Raise ValueError naming ``layer`` if one of ``shapes`` breaks its spec."""
    if specs is None:
        return
    if not isinstance(specs, (list, tuple)):
        specs, shapes = [specs], [shapes]
    for i, (spec, shape) in enumerate(zip(specs, shapes)):
        if spec is None:
            continue
        problem = spec.problem(shape)
        if problem:
            which = f"input {i}" if len(specs) > 1 else "input"
            raise ValueError(f"{layer.describe()}: incompatible {which} shape {format_shape(shape)}: {problem} "
                             f"(the layer expects {spec.describe()})")
