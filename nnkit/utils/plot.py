"""``plot_model``: draw a model's architecture to PNG, SVG or PDF with matplotlib
alone (no Graphviz or other system binary), or write DOT text for Graphviz.

matplotlib is an optional dependency (``pip install matplotlib``, or the
``nnkit[plot]`` extra); it is imported only here, when a picture is asked for.
"""
import os

from nnkit.utils.dot import RANKDIRS, model_to_dot
from nnkit.utils.layout import layered_layout
from nnkit.utils.model_graph import model_graph

IMAGE_FORMATS = ("png", "svg", "pdf")
DOT_FORMATS = ("dot", "gv")

_FILL = {"input": "#e3e3e3", "conv": "#cfe2f3", "dense": "#fce5cd", "pool": "#d9ead3", "norm": "#e6d7f0",
         "regularization": "#f3f3f3", "merge": "#f4cccc", "activation": "#fff2cc", "reshape": "#eeeeee",
         "model": "#ffffff", "other": "#f7f7f7"}
_FONT_PT = 8.0
_CHAR_W = 0.63 * _FONT_PT / 72  # monospace advance (0.602 em) with a little room, inches
_LINE_H = 1.35 * _FONT_PT / 72
_PAD = 0.08                    # inside a box, inches
_CLUSTER_PAD = 0.12
_MAX_PIXELS = 60000            # Agg's limit is 2**16 per side


def _matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import FancyBboxPatch
    except ImportError:
        raise ImportError("plot_model needs matplotlib to draw pictures: pip install matplotlib (or "
                          "pip install 'nnkit[plot]'). Without it, write Graphviz DOT text instead: "
                          "plot_model(model, 'model.dot') or nnkit.utils.model_to_dot(model)") from None
    return Figure, FigureCanvasAgg, FancyBboxPatch


def plot_model(model, to_file="model.png", show_shapes=True, show_dtype=False, show_layer_names=True,
               rankdir="TB", expand_nested=False, dpi=96, show_layer_activations=False, show_trainable=False):
    """Draw ``model`` to ``to_file`` and return the path.

    The format follows the extension: ``.png``, ``.svg`` or ``.pdf`` are drawn
    with matplotlib; ``.dot``/``.gv`` get Graphviz DOT text.  Nested models are
    one box unless ``expand_nested``, which draws their layers inside a dashed
    frame.  ``rankdir`` is ``"TB"`` (top to bottom) or ``"LR"`` (left to right).
    """
    fmt = os.path.splitext(str(to_file))[1].lower().lstrip(".")
    options = dict(show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                   expand_nested=expand_nested, show_layer_activations=show_layer_activations,
                   show_trainable=show_trainable)
    if rankdir not in ("TB", "LR"):
        raise ValueError(f"plot_model: unknown rankdir {rankdir!r}; valid choices: 'TB', 'LR'"
                         + (" (all of " + ", ".join(RANKDIRS) + " for .dot files)" if fmt not in DOT_FORMATS
                            else ""))
    if fmt in DOT_FORMATS:
        with open(to_file, "w") as f:
            f.write(model_to_dot(model, rankdir=rankdir, dpi=dpi, **options))
        return to_file
    if fmt not in IMAGE_FORMATS:
        raise ValueError(f"plot_model: cannot tell the format of {str(to_file)!r}; use one of the extensions "
                         f"{', '.join('.' + f for f in IMAGE_FORMATS + DOT_FORMATS)}")
    Figure, FigureCanvasAgg, FancyBboxPatch = _matplotlib()
    import matplotlib
    graph = model_graph(model, **options)
    # Unhinted glyphs keep the advance width the box sizes were computed with.
    with matplotlib.rc_context({"text.hinting": "no_hinting",
                                "svg.fonttype": "none"}):
        figure = _draw(graph, rankdir, dpi, Figure, FancyBboxPatch)
        FigureCanvasAgg(figure)
        figure.savefig(to_file, format=fmt, dpi=figure.dpi, metadata={"Date": None} if fmt == "svg" else None)
    return to_file


def _box_size(box):
    lines = [box.title] + box.details
    return (max(len(line) for line in lines) * _CHAR_W + 2 * _PAD, len(lines) * _LINE_H + 2 * _PAD)


def _draw(graph, rankdir, dpi, Figure, FancyBboxPatch):
    sizes = {b.id: _box_size(b) for b in graph.boxes}  # (width, height), inches
    vertical = rankdir == "TB"
    extents = {i: (h, w) if vertical else (w, h) for i, (w, h) in sizes.items()}
    centres, paths, back = layered_layout([b.id for b in graph.boxes], extents, graph.edges,
                                    rank_gap=0.35 if vertical else 0.5, order_gap=0.3)

    def page(point):  # (rank, order) -> (x, y) with y growing downwards
        r, o = point
        return (o, r) if vertical else (r, o)

    frames = _cluster_frames(graph, {i: page(c) for i, c in centres.items()}, sizes)
    xs, ys = [], []
    for i, c in centres.items():
        x, y = page(c)
        w, h = sizes[i]
        xs += [x - w / 2, x + w / 2]
        ys += [y - h / 2, y + h / 2]
    for (x0, y0, x1, y1), _ in frames.values():
        xs += [x0, x1]
        ys += [y0, y1]
    if not xs:
        xs, ys = [0, 1], [0, 1]
    margin = 0.25 + (0.3 if back else 0)
    left, right, top, bottom = min(xs) - margin, max(xs) + margin, min(ys) - margin, max(ys) + margin
    width, height = right - left, bottom - top
    dpi = min(dpi, _MAX_PIXELS / max(width, height))
    figure = Figure(figsize=(width, height), dpi=dpi)
    ax = figure.add_axes((0, 0, 1, 1))
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top)
    ax.axis("off")

    for (x0, y0, x1, y1), label in sorted(frames.values(), key=lambda f: -(f[0][2] - f[0][0])):
        ax.add_patch(FancyBboxPatch((x0, y0), x1 - x0, y1 - y0, boxstyle="round,pad=0,rounding_size=0.06",
                                    facecolor="none", edgecolor="#777777", linestyle="--", linewidth=0.8))
        ax.text(x0 + 0.06, y0 + 0.04, label, ha="left", va="top", fontsize=_FONT_PT - 1, family="monospace",
                color="#555555", style="italic")
    for (src, dst), points in paths.items():
        points = [page(p) for p in points]
        if len(points) > 2:
            ax.plot([p[0] for p in points[:-1]], [p[1] for p in points[:-1]], color="#444444", linewidth=0.8)
        ax.annotate("", xy=points[-1], xytext=points[-2],
                    arrowprops=dict(arrowstyle="-|>", color="#444444", linewidth=0.8, shrinkA=0, shrinkB=0,
                                    mutation_scale=8))
    for src, dst in back:  # cycles through a shared layer: an arc on the right
        (xs_, ys_), (xd, yd) = page(centres[src]), page(centres[dst])
        start = (xs_ + sizes[src][0] / 2, ys_)
        end = (xd + sizes[dst][0] / 2, yd - (sizes[dst][1] / 4 if src == dst else 0))
        if src == dst:
            start = (start[0], ys_ + sizes[src][1] / 4)
        ax.annotate("", xy=end, xytext=start,
                    arrowprops=dict(arrowstyle="-|>", color="#444444", linewidth=0.8, shrinkA=0, shrinkB=0,
                                    mutation_scale=8, connectionstyle="arc3,rad=0.9" if src == dst
                                    else "arc3,rad=0.3"))
    for box in graph.boxes:
        x, y = page(centres[box.id])
        w, h = sizes[box.id]
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0,rounding_size=0.05",
                                    facecolor=_FILL.get(box.kind, "#f7f7f7"), edgecolor="#333333", linewidth=0.8))
        top_line = y - h / 2 + _PAD + _LINE_H / 2
        for k, line in enumerate([box.title] + box.details):
            ax.text(x, top_line + k * _LINE_H, line, ha="center", va="center", fontsize=_FONT_PT,
                    family="monospace", weight="bold" if k == 0 else "normal")
    return figure


def _cluster_frames(graph, centres, sizes):
    """Dashed frame rectangle (x0, y0, x1, y1) and label for every expanded nested model."""
    parents = {c.id: c.parent for c in graph.clusters}
    depth = {}
    for c in graph.clusters:
        d, p = 0, c.parent
        while p is not None:
            d, p = d + 1, parents[p]
        depth[c.id] = d
    frames = {}
    for c in sorted(graph.clusters, key=lambda c: -depth[c.id]):  # innermost first
        xs, ys = [], []
        for box in graph.boxes:
            inside, p = box.cluster, box.cluster
            while p is not None and p != c.id:
                p = parents[p]
            if p == c.id and inside is not None:
                x, y = centres[box.id]
                w, h = sizes[box.id]
                xs += [x - w / 2, x + w / 2]
                ys += [y - h / 2, y + h / 2]
        for other, ((x0, y0, x1, y1), _) in frames.items():
            if parents.get(other) == c.id:
                xs += [x0, x1]
                ys += [y0, y1]
        if xs:
            frames[c.id] = ((min(xs) - _CLUSTER_PAD, min(ys) - _CLUSTER_PAD - _LINE_H,
                             max(xs) + _CLUSTER_PAD, max(ys) + _CLUSTER_PAD), c.label)
    return frames
