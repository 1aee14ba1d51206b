"""save / load_model / save_weights / load_weights: exact round trips and clear errors."""
import json

import numpy as np
import pytest

import nnkit
from nnkit.io import model_io
from nnkit.io.errors import FileFormatError
from nnkit.io.safetensors_io import read_metadata, read_safetensors, write_safetensors
from nnkit.layers import Dense, Layer, naming, registry
from nnkit.models.sequential import Sequential


def randomize(model, seed=3):
    rng = np.random.default_rng(seed)
    for w in model.weights:  # BatchNorm statistics too, so that inference uses them
        w.data[...] = rng.uniform(0.5, 1.5, w.shape)


def test_save_then_load_model_gives_identical_predictions_and_names(tmp_path, cnn, images):
    model = cnn()
    randomize(model)
    expected = model(images).numpy()
    model_io.save_model(model, tmp_path / "cnn.nnkit")
    loaded = model_io.load_model(tmp_path / "cnn.nnkit")
    assert type(loaded) is Sequential and loaded.name == "cnn"
    assert [w.name for w in loaded.weights] == [w.name for w in model.weights]
    np.testing.assert_array_equal(loaded(images).numpy(), expected)
    for a, b in zip(model.weights, loaded.weights):
        assert a.dtype == b.dtype and np.array_equal(a.data, b.data)


def test_the_file_is_plain_safetensors_with_weight_names_and_json_architecture(tmp_path, cnn):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    model = cnn()
    model_io.save_model(model, tmp_path / "cnn.nnkit")
    tensors = safetensors_numpy.load_file(str(tmp_path / "cnn.nnkit"))
    assert sorted(tensors) == sorted(w.name for w in model.weights)
    assert "conv2d/kernel" in tensors and "dense/bias" in tensors
    metadata = read_metadata(tmp_path / "cnn.nnkit")
    assert metadata["format"] == "nnkit" and metadata["kind"] == "model"
    config = json.loads(metadata["model_config"])
    assert config["class_name"] == "Sequential"
    assert [layer["class_name"] for layer in config["config"]["layers"]] == [
        "Conv2D", "BatchNormalization", "MaxPooling2D", "Flatten", "Dropout", "Dense"]


def test_float64_model_round_trips_in_float64(tmp_path, images):
    model = Sequential([Dense(3, input_shape=(4,), dtype="float64")])
    model_io.save_model(model, tmp_path / "m")
    loaded = model_io.load_model(tmp_path / "m")
    assert loaded.weights[0].dtype == np.float64
    np.testing.assert_array_equal(loaded.weights[0].data, model.weights[0].data)


def test_save_weights_load_weights_into_a_fresh_model(tmp_path, cnn, images):
    model = cnn()
    randomize(model)
    model_io.save_weights(model, tmp_path / "w.safetensors")
    assert read_metadata(tmp_path / "w.safetensors")["kind"] == "weights"
    naming.clear_session()  # the same auto-names as in a fresh process
    other = cnn(seed=9)
    assert not np.array_equal(other.weights[0].data, model.weights[0].data)
    kept = other.weights[0]
    assert model_io.load_weights(other, tmp_path / "w.safetensors") == ([], [])
    assert other.weights[0] is kept  # in place: optimizer slots and references stay valid
    np.testing.assert_array_equal(other(images).numpy(), model(images).numpy())


def test_mismatch_lists_missing_unexpected_and_misshaped_weights(tmp_path, cnn):
    model = cnn()
    tensors = {w.name: w.data for w in model.weights}
    del tensors["dense/bias"]
    tensors["dense/kernel"] = np.zeros((3, 5), np.float32)
    tensors["extra/kernel"] = np.zeros(2, np.float32)
    write_safetensors(tmp_path / "bad.safetensors", tensors)
    before = [w.data.copy() for w in model.weights]
    with pytest.raises(ValueError) as info:
        model_io.load_weights(model, tmp_path / "bad.safetensors")
    message = str(info.value)
    assert "bad.safetensors" in message
    assert "missing from the file: dense/bias" in message
    assert "unexpected in the file: extra/kernel" in message
    assert "mis-shaped: dense/kernel: file (3, 5) vs model (64, 5)" in message
    assert all(np.array_equal(a, w.data) for a, w in zip(before, model.weights))  # all or nothing


def test_strict_false_loads_what_matches_and_reports_the_rest(tmp_path, cnn):
    model = cnn()
    tensors = {w.name: np.full(w.shape, 7, w.dtype) for w in model.weights if w.name != "dense/bias"}
    tensors["extra/kernel"] = np.zeros(2, np.float32)
    write_safetensors(tmp_path / "partial.safetensors", tensors)
    result = model_io.load_weights(model, tmp_path / "partial.safetensors", strict=False)
    assert result.missing == ["dense/bias"] and result.unexpected == ["extra/kernel"]
    assert np.all(model.get_layer("dense").kernel.data == 7)
    tensors["conv2d/kernel"] = np.zeros((1, 1), np.float32)
    write_safetensors(tmp_path / "partial.safetensors", tensors)
    with pytest.raises(ValueError, match="mis-shaped: conv2d/kernel"):  # shapes are checked even then
        model_io.load_weights(model, tmp_path / "partial.safetensors", strict=False)


def test_dtype_mismatch_is_reported_and_lossless_widening_allowed(tmp_path):
    model = Sequential([Dense(2, input_shape=(3,))])
    tensors = {w.name: w.data.astype(np.float64) for w in model.weights}
    write_safetensors(tmp_path / "f64.safetensors", tensors)
    with pytest.raises(ValueError, match="wrong dtype: dense/bias: file float64 vs model float32"):
        model_io.load_weights(model, tmp_path / "f64.safetensors")
    write_safetensors(tmp_path / "f16.safetensors", {k: v.astype(np.float16) for k, v in tensors.items()})
    model_io.load_weights(model, tmp_path / "f16.safetensors")
    write_safetensors(tmp_path / "int.safetensors", {k: v.astype(np.int32) for k, v in tensors.items()})
    with pytest.raises(ValueError, match="wrong dtype"):
        model_io.load_weights(model, tmp_path / "int.safetensors")


def test_unbuilt_model_gets_a_hint(tmp_path, cnn):
    model_io.save_weights(cnn(), tmp_path / "w")
    with pytest.raises(ValueError, match="has no weights yet"):
        model_io.load_weights(Sequential([Dense(3)]), tmp_path / "w")


def test_load_model_on_a_weights_file_says_what_to_do(tmp_path, cnn):
    model_io.save_weights(cnn(), tmp_path / "w")
    with pytest.raises(FileFormatError, match="holds weights only.*load_weights"):
        model_io.load_model(tmp_path / "w")


class Scale(Layer):
    """A custom layer: one trainable scalar per feature."""

    def build(self, input_shape):
        self.scale = self.add_weight("scale", (input_shape[-1],), "ones")

    def call(self, x):
        return x * self.scale


def test_custom_layer_needs_registration_or_custom_objects(tmp_path):
    model = Sequential([Dense(3, input_shape=(2,)), Scale(name="scale")])
    model.get_layer("scale").scale.data[...] = [1.0, 2.0, 3.0]
    model_io.save_model(model, tmp_path / "custom")
    with pytest.raises(ValueError) as info:
        model_io.load_model(tmp_path / "custom")
    message = str(info.value)
    assert "custom" in message and "unknown layer class 'Scale'" in message and "Dense" in message
    loaded = model_io.load_model(tmp_path / "custom", custom_objects={"Scale": Scale})
    np.testing.assert_array_equal(loaded.get_layer("scale").scale.data, [1.0, 2.0, 3.0])
    registered = registry.register("ScaleForTest")(type("Scale2", (Scale,), {}))
    model = Sequential([Dense(3, input_shape=(2,)), registered(name="s2")])
    model_io.save_model(model, tmp_path / "registered")
    assert type(model_io.load_model(tmp_path / "registered").get_layer("s2")) is registered


def _with_config(tmp_path, cnn, config_text):
    model = cnn()
    tensors = {w.name: w.data for w in model.weights}
    metadata = {"format": "nnkit", "format_version": "1", "kind": "model", "model_config": config_text}
    write_safetensors(tmp_path / "hostile.nnkit", tensors, metadata)
    return tmp_path / "hostile.nnkit"


@pytest.mark.parametrize("config_text, problem", [
    ('{"class_name": "os.system", "config": {}}', "unknown layer class 'os.system'"),
    ('{"class_name": "Sequential", "config": {"layers": [{"class_name": "Evil", "config": {}}]}}',
     "unknown layer class 'Evil'"),
    ("[" * 50_000 + "]" * 50_000, "model_config nests 50000 levels deep"),
    ('{"class_name": "Sequential", "config": {"layers": [], "layers": []}}', "duplicate name 'layers'"),
    ('"Sequential"', "model_config must be an object with a class_name"),
    ('{"class_name": "Dense", "config": {"units": "many"}}', "model config cannot be rebuilt"),
    ('{"class_name": "Sequential", "config": {"name": "cnn", "layers": []}}', "unexpected in the file"),
])
def test_hostile_configs_are_value_errors_naming_the_file(tmp_path, cnn, config_text, problem):
    path = _with_config(tmp_path, cnn, config_text)
    with pytest.raises(FileFormatError) as info:
        model_io.load_model(path)
    assert str(path) in str(info.value) and problem in str(info.value), str(info.value)


def test_foreign_and_future_files_are_refused(tmp_path, cnn):
    model = cnn()
    tensors = {w.name: w.data for w in model.weights}
    write_safetensors(tmp_path / "foreign", tensors, {"format": "pt"})
    with pytest.raises(FileFormatError, match="not an nnkit file"):
        model_io.load_model(tmp_path / "foreign")
    for version in ("99", "\u00b9", "1.0", ""):  # a newer file; a superscript digit passes str.isdigit
        write_safetensors(tmp_path / "future", tensors, {"format": "nnkit", "format_version": version})
        with pytest.raises(FileFormatError, match=f"format version {version!r} is not supported"):
            model_io.load_model(tmp_path / "future")
    write_safetensors(tmp_path / "plain", tensors)  # any safetensors file with the right names
    naming.clear_session()
    model_io.load_weights(cnn(seed=4), tmp_path / "plain")


def test_reserved_weight_names_are_refused_on_save(tmp_path):
    model = Sequential([Dense(2, input_shape=(3,), name="__optimizer__")])
    with pytest.raises(ValueError, match="reserved"):
        model_io.save_model(model, tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_functional_graph_with_skips_shared_layer_and_two_inputs_round_trips(tmp_path):
    from nnkit.layers import Add, Concatenate, Conv2D, GlobalAveragePooling2D, Input

    a, b = Input(shape=(6, 6, 3), name="a"), Input(shape=(4,), name="b")
    shared = Conv2D(3, 3, padding="same", name="shared")
    x = Add()([a, shared(a)])
    x = Add()([x, shared(x)])  # the same layer twice: one set of weights
    merged = Concatenate()([GlobalAveragePooling2D()(x), Dense(3)(b)])
    model = nnkit.Model([a, b], [Dense(2)(merged), merged], name="graph")
    inputs = [np.random.default_rng(0).standard_normal((2, 6, 6, 3)).astype(np.float32),
              np.ones((2, 4), np.float32)]
    expected = [t.numpy() for t in model(inputs)]
    model.save(tmp_path / "graph.nnkit")
    loaded = nnkit.load_model(tmp_path / "graph.nnkit")
    assert [w.name for w in loaded.weights] == [w.name for w in model.weights]
    for got, want in zip(loaded(inputs), expected):
        np.testing.assert_array_equal(got.numpy(), want)


def test_nested_sequential_and_subclassed_model_round_trip(tmp_path, images):
    from nnkit.layers import Conv2D, Flatten

    block = Sequential([Conv2D(3, 3, padding="same"), Conv2D(2, 1)], name="block")
    model = Sequential([nnkit.Input(shape=(8, 8, 2)), block, Flatten(), Dense(2)], name="outer")
    model.save(tmp_path / "nested")
    loaded = nnkit.load_model(tmp_path / "nested")
    assert type(loaded.get_layer("block")) is Sequential
    np.testing.assert_array_equal(loaded(images).numpy(), model(images).numpy())

    @nnkit.register("TwoHeadsForTest")
    class TwoHeads(nnkit.Model):
        def __init__(self, units=3, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.body = Dense(units, activation="relu", name="body")
            self.head = Dense(1, name="head")

        def call(self, x, training=None):
            return self.head(self.body(x))

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    net = TwoHeads(4, name="two_heads")
    x = np.ones((2, 5), np.float32)
    expected = net(x).numpy()
    net.save(tmp_path / "sub")
    loaded = nnkit.load_model(tmp_path / "sub")
    assert type(loaded) is TwoHeads and loaded.units == 4
    np.testing.assert_array_equal(loaded(x).numpy(), expected)


def test_model_methods_delegate_to_nnkit_io(tmp_path, cnn, images):
    model = cnn()
    randomize(model)
    model.save_weights(tmp_path / "w")
    naming.clear_session()
    other = cnn(seed=2)
    assert other.load_weights(tmp_path / "w") == ([], [])
    np.testing.assert_array_equal(other(images).numpy(), model(images).numpy())
    with pytest.raises(ValueError, match="auto-names depend on how many layers were created"):
        cnn(seed=3).load_weights(tmp_path / "w")  # created without clearing: conv2d_2, ... names


@pytest.mark.parametrize("name", ["lenet5", "resnet20"])
def test_zoo_models_round_trip(tmp_path, name):
    model = getattr(nnkit.models, name)()
    x = np.random.default_rng(0).random((2, *model.input_shape[1:]), dtype=np.float32)
    model.save(tmp_path / name)
    np.testing.assert_array_equal(nnkit.load_model(tmp_path / name).predict(x), model.predict(x))


def test_config_asking_for_huge_weights_is_refused_before_allocating(tmp_path, cnn):
    import tracemalloc

    config = ('{"class_name": "Sequential", "config": {"name": "big", "layers": ['
              '{"class_name": "Dense", "config": {"units": 100000000, "batch_input_shape": [null, 100]}}]}}')
    path = _with_config(tmp_path, cnn, config)
    tracemalloc.start()
    try:
        with pytest.raises(FileFormatError) as info:
            model_io.load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(path) in str(info.value) and "exceeds what remains of the budget" in str(info.value)
    assert peak < 64 * 2**20
