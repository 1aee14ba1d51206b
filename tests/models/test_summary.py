"""model.summary(): Keras's numbers, layout, nesting and graph connections."""
import numpy as np
import pytest

from nnkit import Input, Model, Sequential
from nnkit.layers import Add, BatchNormalization, Conv2D, Dense, Flatten, GlobalAveragePooling2D, MaxPooling2D, ReLU
from nnkit.models.summary import readable_size, summary_text

KERAS_EXAMPLE = '''\
Model: "sequential"
___________________________________________________________________________
 Layer (type)                         Output Shape              Param #
===========================================================================
 conv2d (Conv2D)                      (None, 100, 100, 16)      448

 conv2d_1 (Conv2D)                    (None, 98, 98, 32)        4,640
===========================================================================
Total params: 5,088 (19.88 KB)
Trainable params: 5,088 (19.88 KB)
Non-trainable params: 0 (0.00 B)
___________________________________________________________________________'''


def test_keras_example_text_and_counts(capsys):
    model = Sequential([Conv2D(16, 3, padding="same", input_shape=(100, 100, 3)), Conv2D(32, 3)])
    model.summary()
    assert capsys.readouterr().out.rstrip("\n") == KERAS_EXAMPLE
    assert model.count_params() == 5088
    assert [layer.count_params() for layer in model.layers] == [448, 4640]


def test_print_fn_receives_the_lines():
    lines = []
    Sequential([Dense(2, input_shape=(3,))]).summary(print_fn=lines.append)
    assert lines[0] == 'Model: "sequential"' and lines[-2] == "Non-trainable params: 0 (0.00 B)"


def test_graph_summary_lists_connections_and_splits_trainable():
    x = Input(shape=(32, 32, 3), name="img")
    y = BatchNormalization(name="bn")(Conv2D(16, 3, padding="same", use_bias=False, name="conv")(x))
    z = Add(name="add")([Conv2D(16, 1, name="skip")(x), y])
    model = Model(x, Dense(10, name="head")(GlobalAveragePooling2D(name="gap")(z)), name="res")
    text = summary_text(model)
    rows = [line.split() for line in text.splitlines()]
    assert ["Layer", "(type)", "Output", "Shape", "Param", "#", "Connected", "to"] in rows
    assert ["img", "(InputLayer)", "(None,", "32,", "32,", "3)", "0", "-"] in rows
    assert ["conv", "(Conv2D)", "(None,", "32,", "32,", "16)", "432", "img[0][0]"] in rows
    assert ["add", "(Add)", "(None,", "32,", "32,", "16)", "0", "skip[0][0]"] in rows
    assert ["bn[0][0]"] in rows
    assert [r[0] for r in rows if r and r[0] in ("img", "conv", "bn", "skip", "add", "gap", "head")] == \
        ["img", "conv", "bn", "skip", "add", "gap", "head"]  # the order the model was written in
    assert "Total params: 730 (2.85 KB)" in text
    assert "Trainable params: 698 (2.73 KB)" in text
    assert "Non-trainable params: 32 (128.00 B)" in text


def test_nested_blocks_collapse_unless_expanded():
    block = Sequential([Conv2D(8, 3, padding="same"), BatchNormalization(), ReLU()], name="block")
    model = Sequential([Input(shape=(16, 16, 3)), block, MaxPooling2D(), Flatten(), Dense(10)], name="net")
    collapsed = summary_text(model)
    assert "block (Sequential)" in collapsed and "conv2d (Conv2D)" not in collapsed
    assert "(None, 16, 16, 8)         256" in collapsed
    expanded = summary_text(model, expand_nested=True)
    assert " | conv2d (Conv2D)" in expanded and " | re_lu (ReLU)" in expanded
    assert "Total params: 5,386" in expanded and "Non-trainable params: 16" in expanded


def test_show_trainable_column_and_frozen_counts():
    model = Sequential([Dense(4, input_shape=(3,)), Dense(2)])
    model.layers[0].trainable = False
    text = summary_text(model, show_trainable=True)
    assert "Trainable" in text.splitlines()[2]
    first, second = [line for line in text.splitlines() if line.startswith(" dense")]
    assert first.rstrip().endswith("N") and second.rstrip().endswith("Y")
    assert "Trainable params: 10 (40.00 B)" in text and "Non-trainable params: 16 (64.00 B)" in text


def test_unbuilt_model_says_so():
    text = summary_text(Sequential([Dense(2)]))
    assert "0 (unbuilt)" in text and "not built yet" in text


def test_shared_weights_count_once():
    shared = Dense(3)
    a, b = Input(shape=(3,)), Input(shape=(3,))
    model = Model([a, b], Add()([shared(a), shared(b)]))
    text = summary_text(model)
    assert "Total params: 12 " in text
    assert text.count("dense (Dense)") == 1


@pytest.mark.parametrize("size,text", [(0, "0.00 B"), (1023, "1023.00 B"), (20352, "19.88 KB"),
                                       (553430176, "527.79 MB"), (3 * 1024 ** 3, "3.00 GB")])
def test_readable_size(size, text):
    assert readable_size(size) == text


def test_float64_memory_estimate():
    model = Sequential([Dense(4, input_shape=(3,))], dtype="float64")
    assert "Total params: 16 (128.00 B)" in summary_text(model)
    assert np.dtype(model.dtype) == np.float64
