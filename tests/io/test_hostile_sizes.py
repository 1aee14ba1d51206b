"""Hostile model files: many layers load in linear time up to a cap; stated sizes are checked before allocating."""
import json

import pytest

import nnkit
from nnkit import Input, Model
from nnkit.io import model_io
from nnkit.io.errors import FileFormatError
from nnkit.io.safetensors_io import read_safetensors, write_safetensors
from nnkit.layers import Conv2D, Dense, GlobalAveragePooling2D, ReLU, base
from nnkit.models.model import Model as ModelBase
from nnkit.models.sequential import Sequential


@nnkit.register("ConvForHostileSizeTest")
class ConvNet(Model):
    def __init__(self, filters=2, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.conv, self.pool = Conv2D(filters, 3, name="conv"), GlobalAveragePooling2D(name="pool")

    def call(self, x, training=None):
        return self.pool(self.conv(x))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


def rewrite_metadata(src, dst, **entries):
    tensors, metadata = read_safetensors(src)
    metadata.update({k: json.dumps(v) for k, v in entries.items()})
    write_safetensors(dst, tensors, metadata)


def test_sequential_add_checks_a_name_in_constant_time(monkeypatch):
    inspected = []
    original = ModelBase._check_unique_names
    monkeypatch.setattr(ModelBase, "_check_unique_names",
                        lambda self, layers: inspected.append(len(layers)) or original(self, layers))
    n = 3000
    model = Sequential([Input(shape=(2,))] + [ReLU(name=f"r{i}") for i in range(n)])
    assert len(model.layers) == n
    assert sum(inspected) <= 2 * (n + 1)  # was n * (n + 1) / 2: each add re-checked every layer


def test_names_stay_unique_through_add_and_pop():
    model = Sequential([Input(shape=(2,)), Dense(3, name="a"), Dense(3, name="b")])
    with pytest.raises(ValueError, match="'a' is used twice"):
        model.add(Dense(3, name="a"))
    assert [layer.name for layer in model.layers] == ["a", "b"]  # the refused layer was not kept
    model.pop()
    model.add(Dense(4, name="b"))  # the popped name is free again
    with pytest.raises(ValueError, match="'b' is used twice"):
        model.add(ReLU(name="b"))
    with pytest.raises(ValueError, match="used twice"):
        Sequential([Input(shape=(2,), name="x"), Dense(1, name="x")])


def test_a_file_of_many_layers_loads(tmp_path):
    model = Sequential([Input(shape=(2,))] + [ReLU() for _ in range(2000)])
    model.save(tmp_path / "deep.nnk")
    assert len(nnkit.load_model(tmp_path / "deep.nnk").layers) == 2000


def test_layer_count_is_capped(tmp_path, monkeypatch):
    Sequential([Input(shape=(2,))] + [ReLU() for _ in range(30)]).save(tmp_path / "deep.nnk")
    monkeypatch.setattr(model_io, "MAX_LAYERS", 20)
    with pytest.raises(FileFormatError, match=r"deep.nnk.*describes 3\d layers, more than the limit of 20"):
        nnkit.load_model(tmp_path / "deep.nnk")


def test_build_input_beyond_the_budget_is_refused_before_allocating(tmp_path):
    model = ConvNet(name="net")
    model.build((None, 8, 8, 1))
    model.save(tmp_path / "net.nnk")
    assert nnkit.load_model(tmp_path / "net.nnk").built
    rewrite_metadata(tmp_path / "net.nnk", tmp_path / "huge.nnk", build_config={"input_shape": [1, 40000, 40000, 1]})
    with pytest.raises(FileFormatError, match=r"huge.nnk.*\(1, 40000, 40000, 1\).*1,600,000,000 elements"):
        nnkit.load_model(tmp_path / "huge.nnk")


def test_layer_output_beyond_the_budget_is_refused_before_the_layer_runs(tmp_path, monkeypatch):
    model = ConvNet(filters=16, name="net")
    model.build((None, 8, 8, 1))
    model.save(tmp_path / "net.nnk")
    rewrite_metadata(tmp_path / "net.nnk", tmp_path / "wide.nnk", build_config={"input_shape": [None, 20, 20, 1]})
    ran = []
    monkeypatch.setattr(Conv2D, "call", lambda self, x, training=None: ran.append(1))
    # the input (400 elements) fits; the convolution's output (18 * 18 * 16 = 5184) does not
    monkeypatch.setattr(base, "MAX_BUDGET_ACTIVATION_ELEMENTS", 1000)
    with pytest.raises(FileFormatError, match=r"Conv2D.*\(1, 18, 18, 16\)"):
        nnkit.load_model(tmp_path / "wide.nnk")
    assert not ran


def test_budget_applies_only_while_loading():
    base.check_activation_budget((1, 2**30), lambda: "test")  # no budget outside a load
    with base.weight_budget(10**6):
        base.check_activation_budget((None, 3, 3, 1), lambda: "test")
        with pytest.raises(ValueError, match="exceeds"):
            base.check_activation_budget((1, 2**30), lambda: "test")
