"""Graphviz DOT text of a model, for those who have Graphviz (``dot -Tpng``)."""
from nnkit.utils.model_graph import model_graph

RANKDIRS = ("TB", "LR", "BT", "RL")


def _quote(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def model_to_dot(model, show_shapes=True, show_dtype=False, show_layer_names=True, rankdir="TB",
                 expand_nested=False, dpi=96, show_layer_activations=False, show_trainable=False):
    """The architecture as DOT source text (a string; no Graphviz needed to make it)."""
    if rankdir not in RANKDIRS:
        raise ValueError(f"model_to_dot: unknown rankdir {rankdir!r}; valid choices: {', '.join(RANKDIRS)}")
    graph = model_graph(model, show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                        expand_nested=expand_nested, show_layer_activations=show_layer_activations,
                        show_trainable=show_trainable)
    lines = [f"digraph {_quote(graph.name)} {{",
             f"  graph [rankdir={rankdir}, dpi={int(dpi)}, concentrate=true];",
             '  node [shape=box, style="rounded,filled", fillcolor="#f4f4f4", fontname="Helvetica"];']
    children = {}
    for cluster in graph.clusters:
        children.setdefault(cluster.parent, []).append(cluster)
    members = {}
    for box in graph.boxes:
        members.setdefault(box.cluster, []).append(box)

    def emit(cluster_id, indent):
        pad = "  " * indent
        for box in members.get(cluster_id, []):
            label = "\n".join([box.title] + box.details)
            lines.append(f"{pad}{box.id} [label={_quote(label)}];")
        for cluster in children.get(cluster_id, []):
            lines.append(f"{pad}subgraph cluster_{cluster.id} {{")
            lines.append(f"{pad}  label={_quote(cluster.label)}; style=dashed;")
            emit(cluster.id, indent + 1)
            lines.append(f"{pad}}}")

    emit(None, 1)
    lines += [f"  {src} -> {dst};" for src, dst in graph.edges]
    lines.append("}")
    return "\n".join(lines) + "\n"
