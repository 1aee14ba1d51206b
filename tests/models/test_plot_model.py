"""plot_model: PNG/SVG/PDF with matplotlib only, DOT text, nesting, bad arguments."""
import builtins
import re

import matplotlib  # noqa: F401  (in the test extra: a missing plotting library fails, never skips)
import pytest

from nnkit import Input, Model, Sequential
from nnkit.layers import Add, BatchNormalization, Concatenate, Conv2D, Dense, Flatten, MaxPooling2D, ReLU
from nnkit.models import resnet20
from nnkit.utils import model_to_dot, plot_model

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def nested_model():
    block = Sequential([Conv2D(4, 3, padding="same"), BatchNormalization(), ReLU()], name="block")
    return Sequential([Input(shape=(8, 8, 3)), block, MaxPooling2D(), Flatten(), Dense(2)], name="net")


def graph_model():
    x = Input(shape=(8, 8, 3), name="img")
    conv = Conv2D(3, 3, padding="same", name="shared")
    y = conv(conv(x))
    z = Concatenate(name="cat")([Add(name="add")([x, y]), x])
    return Model(x, Dense(2, name="head")(Flatten(name="flat")(z)), name="skips")


@pytest.mark.parametrize("make", [nested_model, graph_model, resnet20])
def test_png_is_written(tmp_path, make):
    path = tmp_path / "model.png"
    assert plot_model(make(), str(path)) == str(path)
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 1000


def test_svg_and_pdf(tmp_path):
    svg = tmp_path / "model.svg"
    plot_model(graph_model(), svg, expand_nested=True, rankdir="LR", show_dtype=True, show_trainable=True,
               show_layer_activations=True)
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text and text.rstrip().endswith("</svg>")
    assert "shared (Conv2D)" in text and "img (InputLayer)" in text
    pdf = tmp_path / "model.pdf"
    plot_model(nested_model(), pdf)
    assert pdf.read_bytes()[:5] == b"%PDF-"


def test_expanded_nesting_shows_inner_layers(tmp_path):
    collapsed = tmp_path / "collapsed.svg"
    expanded = tmp_path / "expanded.svg"
    plot_model(nested_model(), collapsed)
    plot_model(nested_model(), expanded, expand_nested=True)
    assert "block (Sequential)" in collapsed.read_text() and "re_lu" not in collapsed.read_text()
    text = expanded.read_text()
    assert "block (Sequential)" in text and "(ReLU)" in text and "(BatchNormalization)" in text


def test_dot_export():
    dot = model_to_dot(graph_model(), show_shapes=True)
    assert dot.startswith('digraph "skips" {') and dot.rstrip().endswith("}")
    labels = dict(re.findall(r'(n\d+) \[label="([^"]*)', dot))
    ids = {label.split(" ")[0]: node for node, label in labels.items()}
    edges = set(re.findall(r"(n\d+) -> (n\d+);", dot))
    assert (ids["img"], ids["shared"]) in edges and (ids["shared"], ids["shared"]) in edges
    assert (ids["img"], ids["add"]) in edges and (ids["img"], ids["cat"]) in edges
    assert "output: (None, 8, 8, 6)" in labels[ids["cat"]]
    nested = model_to_dot(nested_model(), expand_nested=True)
    assert "subgraph cluster_" in nested and 'label="block (Sequential)"' in nested


def test_dot_file_needs_no_matplotlib(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    path = tmp_path / "model.dot"
    plot_model(nested_model(), str(path))
    assert path.read_text().startswith("digraph")
    with pytest.raises(ImportError, match="pip install matplotlib.*model.dot"):
        plot_model(nested_model(), str(tmp_path / "model.png"))


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="cannot tell the format.*\\.png, \\.svg, \\.pdf, \\.dot"):
        plot_model(nested_model(), str(tmp_path / "model.bmp"))
    with pytest.raises(ValueError, match="unknown rankdir 'XY'"):
        plot_model(nested_model(), str(tmp_path / "model.png"), rankdir="XY")
    with pytest.raises(TypeError, match="expected a model"):
        plot_model(Dense(2), str(tmp_path / "model.png"))
