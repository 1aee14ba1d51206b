"""Integer and bool Inputs: token ids reach the first layer as exact integers; the model computes in float."""
import numpy as np
import pytest

import nnkit
from nnkit import layers


@pytest.fixture
def seen_by():
    """Record what a layer receives; the hooks are removed afterwards (while any is live, models run eagerly)."""
    handles = []

    def watch(layer):
        seen = []
        handles.append(layer.register_forward_pre_hook(lambda _, inputs: seen.append(inputs)))
        return seen

    yield watch
    for handle in handles:
        handle.remove()


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_sequential_and_functional_pass_ids_exactly(dtype, seen_by):
    big = np.array([[2 ** 24 + 1, 3, 0]], dtype)  # not representable in float32
    for functional in (False, True):
        embedding = layers.Embedding(5, 2)
        inp = layers.Input((3,), dtype=dtype)
        if functional:
            model = nnkit.Model(inp, layers.Dense(1)(layers.Flatten()(embedding(inp))))
        else:
            model = nnkit.Sequential([inp, embedding, layers.Flatten(), layers.Dense(1)])
        assert model.dtype == np.float32 and model.inputs[0].dtype == np.dtype(dtype)
        seen = seen_by(embedding)
        with pytest.raises(ValueError, match=r"ids .*\[0, 5\)"):
            model(big)
        assert seen[-1].dtype == np.dtype(dtype) and int(seen[-1].data[0, 0]) == 2 ** 24 + 1
        out = model.predict(np.array([[1, 2, 3]], np.float64), verbose=0)  # floats are cast to the Input's ints
        assert out.dtype == np.float32 and seen[-1].dtype == np.dtype(dtype)


def test_unsigned_and_bool_inputs_reach_float_layers_as_values():
    """A float layer casts what it is given, as Keras's do: a uint8 or bool Input computes like floats."""
    for dtype, data in (("uint8", [[3, 1, 0]]), ("bool", [[True, False, True]])):
        inp = layers.Input((3,), dtype=dtype)
        model = nnkit.Model(inp, layers.Dense(1, name="dense")(inp))
        assert model.inputs[0].dtype == np.dtype(dtype)
        kernel, bias = model.get_layer("dense").get_weights()
        np.testing.assert_allclose(model.predict(np.array(data), verbose=0),
                                   np.array(data, np.float32) @ kernel + bias, rtol=1e-6)


def test_int_input_trains_saves_and_reloads(tmp_path):
    nnkit.set_seed(0)
    inp = layers.Input((None,), dtype="int32", name="ids")
    x = layers.Embedding(10, 4, mask_zero=True)(inp)
    model = nnkit.Model(inp, layers.Dense(1)(layers.GlobalAveragePooling1D()(x)))
    model.compile("adam", "mse")
    ids = np.array([[1, 2, 0], [3, 0, 0]])
    model.fit(ids, np.ones((2, 1)), epochs=2, verbose=0)
    config = model.get_config()
    assert config["layers"][0]["config"]["dtype"] == "int32"
    model.save(tmp_path / "ids.nnk")
    again = nnkit.models.load_model(tmp_path / "ids.nnk")
    assert again.inputs[0].dtype == np.int32
    np.testing.assert_array_equal(again.predict(ids, verbose=0), model.predict(ids, verbose=0))


def test_input_dtype_errors():
    with pytest.raises(TypeError, match="Input: dtype must be float32 or float64, got float16"):
        layers.Input((3,), dtype="float16")
    with pytest.raises(TypeError, match="Input: dtype must be float32, float64, an integer dtype or bool, got 'text'"):
        layers.Input((3,), dtype="text")
    assert layers.Input((3,), dtype=bool).dtype == np.bool_
