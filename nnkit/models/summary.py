"""The text of ``model.summary()``: layers, output shapes, parameter counts.

Counts are Keras's: every weight counts, shared weights once; frozen layers
and BatchNormalization's moving statistics are non-trainable.
"""
import textwrap

from nnkit.layers.shapes import format_shape


def readable_size(num_bytes):
    """``19.88 KB``: bytes in powers of 1024, two decimals (Keras's memory estimate)."""
    size = float(num_bytes)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"


def _count(weights):
    return sum(w.size for w in weights), sum(w.size * w.dtype.itemsize for w in weights)


def _params(layer):
    return f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"


def _rows(model, expand_nested, show_trainable, depth=0):
    """One row per layer (nested models expanded to their layers when asked)."""
    rows = []
    for layer in model.layers:
        connections = model._connections_of(layer)
        if connections is not None:
            flat = [name for call in connections for name in call]
            connected = flat or ["-"]
        else:
            connected = ""

        shape = model._output_shape_of(layer)
        row = {"depth": depth, "name": f"{layer.name} ({type(layer).__name__})",
               "shape": shape if isinstance(shape, str) else format_shape(shape),
               "params": _params(layer), "connected": connected,
               "trainable": "Y" if layer.trainable else "N"}
        rows.append(row)
        if expand_nested and hasattr(layer, "layers") and hasattr(layer, "_output_shape_of"):
            rows.extend(_rows(layer, expand_nested, show_trainable, depth + 1))
    return rows


def summary_text(model, line_length=None, positions=None, expand_nested=False, show_trainable=False):
    """The summary table as one string (``Model.summary`` prints it)."""
    graph = model._is_graph_network
    headers = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if graph else [])
    keys = ["name", "shape", "params"] + (["connected"] if graph else [])
    line_length = line_length or (110 if graph else 75)
    positions = positions or ([0.32, 0.56, 0.66, 1.0] if graph else [0.5, 0.84, 1.0])
    if show_trainable:
        headers.append("Trainable")
        keys.append("trainable")
        line_length += 11
        positions = [p * (line_length - 11) / line_length for p in positions] + [1.0]
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    widths = [b - a for a, b in zip([0] + positions[:-1], positions)]

    def render(cells, depth=0):
        columns = []
        for i, (cell, width) in enumerate(zip(cells, widths)):
            items = cell if isinstance(cell, list) else [cell]
            room = width - 1 - (2 * depth if i == 0 else 0)
            wrapped = [piece for item in items for piece in (textwrap.wrap(item, max(room, 8)) or [""])]
            columns.append(wrapped)
        lines = []
        for j in range(max(len(c) for c in columns)):
            text = ""
            for i, (column, width) in enumerate(zip(columns, widths)):
                cell = column[j] if j < len(column) else ""
                if i == 0:
                    cell = "| " * depth + cell
                text = (text + cell).ljust(sum(widths[:i + 1]))
            lines.append(" " + text.rstrip())
        return lines

    out = [f'Model: "{model.name}"', "_" * line_length]
    out += render(headers)
    out.append("=" * line_length)
    rows = _rows(model, expand_nested, show_trainable)
    for i, row in enumerate(rows):
        out += render([row[k] for k in keys], row["depth"])
        if i < len(rows) - 1:
            out.append("")
    out.append("=" * line_length)
    if model.built:
        total, total_bytes = _count(model.weights)
        trainable, trainable_bytes = _count(model.trainable_weights)
        frozen, frozen_bytes = _count(model.non_trainable_weights)
        out += [f"Total params: {total:,} ({readable_size(total_bytes)})",
                f"Trainable params: {trainable:,} ({readable_size(trainable_bytes)})",
                f"Non-trainable params: {frozen:,} ({readable_size(frozen_bytes)})"]
    else:
        out.append("Total params: unknown: the model is not built yet (call it on data or call build())")
    out.append("_" * line_length)
    return "\n".join(out)
