"""load_keras: models saved by Keras 3 load into nnkit and predict the same.

Keras runs on its PyTorch backend here (its NumPy backend imports JAX for a few ops, which nnkit does not
install).  The backend is chosen before Keras is first imported.
"""
import os

import warnings

import numpy as np
import pytest

from interop_check import assert_close, images
from nnkit import models
from nnkit.io import FileFormatError, load_keras
from nnkit.layers import naming

pytest.importorskip("torch")
pytest.importorskip("h5py")
os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
L = keras.layers
# Keras's PyTorch backend converts with np.array(x) in a way NumPy 2 deprecates: not nnkit's concern
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(autouse=True)
def fresh_keras_names():
    keras.backend.clear_session()
    naming.clear_session()
    yield


def randomize_keras_batch_norm(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers():
        if isinstance(layer, L.BatchNormalization):
            n = layer.moving_mean.shape[0]
            for var, values in ((layer.moving_mean, rng.normal(0, 0.5, n)),
                                (layer.moving_variance, rng.uniform(0.5, 2.0, n)),
                                (layer.gamma, rng.uniform(0.5, 1.5, n)), (layer.beta, rng.normal(0, 0.2, n))):
                if var is not None:
                    var.assign(values.astype("float32"))
    return model


def keras_predict(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def check_keras_file(kmodel, tmp_path, batch=3, rel_l2=2e-5):
    """Save ``kmodel`` as .keras, load it into nnkit, compare predictions; return the nnkit model."""
    path = tmp_path / f"{kmodel.name}.keras"
    kmodel.save(path)
    model = load_keras(path)
    x = images((batch,) + tuple(kmodel.input_shape[1:]))
    assert_close(keras_predict(kmodel, x), model.predict(x, verbose=0), kmodel.name, rel_l2=rel_l2)
    return model


def every_layer_keras_model():
    x = keras.Input((11, 10, 3), name="image")
    h = L.Conv2D(8, 3, padding="same", activation="relu")(x)
    h = L.Conv2D(8, 4, strides=2, padding="same", use_bias=False)(h)
    h = L.BatchNormalization(epsilon=1e-3, momentum=0.9)(h)
    block = keras.Sequential([L.DepthwiseConv2D(3, padding="same", depth_multiplier=2), L.ReLU(6.0),
                              L.SeparableConv2D(8, 3, padding="same", activation="elu")], name="block")
    h = L.Add()([h, block(h)])
    h = L.ZeroPadding2D(((1, 0), (0, 1)))(h)
    h = L.MaxPooling2D(3, strides=2, padding="same")(h)
    h = L.AveragePooling2D(2, strides=1, padding="same")(h)
    a = L.LeakyReLU(negative_slope=0.2)(L.Conv2D(4, 1, groups=2)(h))
    b = L.ELU(alpha=0.5)(L.Conv2D(4, 1, dilation_rate=1)(h))
    h = L.Concatenate()([L.Subtract()([a, b]), L.Multiply()([a, b]), L.Average()([a, b]), L.Maximum()([a, b]),
                         L.Minimum()([a, b])])
    pooled = L.GlobalMaxPooling2D()(h)
    flat = L.Dropout(0.5)(L.Flatten()(L.Reshape((-1, 20))(h)))
    h = L.Concatenate()([pooled, flat, L.GlobalAveragePooling2D()(h)])
    h = L.Activation("tanh")(L.BatchNormalization()(L.Dense(16)(h)))
    y = L.Softmax()(L.Dense(5)(h))
    return randomize_keras_batch_norm(keras.Model(x, y, name="every_layer"))


def test_every_layer_nested_sequential_and_weights_file(tmp_path):
    kmodel = every_layer_keras_model()
    model = check_keras_file(kmodel, tmp_path)
    assert model.get_layer("block").count_params() == kmodel.get_layer("block").count_params()
    assert model.count_params() == kmodel.count_params()
    # the .weights.h5 file alone, into a model of the same architecture
    kmodel.save_weights(tmp_path / "w.weights.h5")
    for w in model.weights:
        w.data[...] = 0
    load_keras(tmp_path / "w.weights.h5", model=model)
    x = images((2, 11, 10, 3), 1)
    assert_close(keras_predict(kmodel, x), model.predict(x, verbose=0), "weights file")


def test_nested_functional_and_shared_layer(tmp_path):
    inner_in = keras.Input((6,))
    inner = keras.Model(inner_in, L.Dense(4, activation="relu", name="inner_dense")(inner_in), name="inner")
    a, b = keras.Input((6,), name="a"), keras.Input((6,), name="b")
    shared = L.Dense(6, activation="sigmoid", name="shared")
    ha, hb = inner(shared(a)), inner(shared(b))
    kmodel = keras.Model([a, b], L.Dense(2, name="head")(L.Concatenate()([ha, hb])), name="siamese")
    path = tmp_path / "siamese.keras"
    kmodel.save(path)
    model = load_keras(path)
    xs = [images((3, 6)), images((3, 6), 1)]
    assert_close(keras.ops.convert_to_numpy(kmodel(xs, training=False)), model.predict_on_batch(xs), "siamese")
    assert model.count_params() == kmodel.count_params()


def test_sequential_model(tmp_path):
    kmodel = keras.Sequential([keras.Input((12,)), L.Dense(8, activation="relu"), L.Dense(8, activation="gelu"),
                               L.BatchNormalization(), L.Dense(3, activation="softmax")], name="mlp")
    model = check_keras_file(randomize_keras_batch_norm(kmodel), tmp_path)
    assert type(model).__name__ == "Sequential"


def test_recurrent_layers_and_bidirectional(tmp_path):
    """Keras keeps a recurrent layer's weights under its cell (a stack's under each cell), and a Bidirectional's
    under its two layers."""
    x = keras.Input((6, 3))
    h = L.LSTM(5, return_sequences=True)(x)
    h = L.Bidirectional(L.GRU(4, return_sequences=True, reset_after=False), merge_mode="sum")(h)
    h = L.GRU(4, go_backwards=True, return_sequences=True)(h)
    h = L.RNN([L.GRUCell(4), L.SimpleRNNCell(3)], return_sequences=True)(h)  # a stack: cell/cells/<cell>/vars
    h = L.Bidirectional(L.RNN(L.LSTMCell(3)))(h)
    kmodel = keras.Model(x, L.Dense(2)(h), name="recurrent")
    model = check_keras_file(kmodel, tmp_path)
    assert model.count_params() == kmodel.count_params()
    kmodel.save_weights(tmp_path / "r.weights.h5")
    for w in model.weights:
        w.data[...] = 0
    load_keras(tmp_path / "r.weights.h5", model=model)
    x = images((2, 6, 3), 1)
    assert_close(keras_predict(kmodel, x), model.predict(x, verbose=0), "recurrent weights file")


def test_text_model_with_int_ids_conv1d_layer_norm_and_attention(tmp_path):
    """Token ids in an int32 Input, a causal Conv1D, LayerNormalization and MultiHeadAttention called as
    (query, value): the call replays with the tensors as one list, the projections' weights come from their
    EinsumDense groups."""
    ids = keras.Input((7,), dtype="int32")
    h = L.Embedding(20, 8)(ids)
    h = L.Conv1D(8, 3, padding="causal", activation="relu")(h)
    h = L.LayerNormalization()(h)
    h = L.MultiHeadAttention(2, 4)(h, h)
    kmodel = keras.Model(ids, L.Dense(3)(L.GlobalAveragePooling1D()(h)), name="text")
    path = tmp_path / "text.keras"
    kmodel.save(path)
    model = load_keras(path)
    assert model.inputs[0].dtype == np.int32 and model.count_params() == kmodel.count_params()
    x = np.random.default_rng(0).integers(0, 20, (4, 7)).astype(np.int32)
    assert_close(keras_predict(kmodel, x), model.predict(x, verbose=0), "text model")


def test_mobilenet_v2_from_keras_applications(tmp_path):
    kmodel = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), classes=10,
                                            classifier_activation=None)
    model = check_keras_file(randomize_keras_batch_norm(kmodel), tmp_path, rel_l2=1e-5)
    assert model.count_params() == kmodel.count_params()
    # Keras's weights file loads straight into nnkit's zoo MobileNetV2: the layer names are Keras's
    kmodel.save_weights(tmp_path / "m.weights.h5")
    zoo = load_keras(tmp_path / "m.weights.h5",
                     model=models.mobilenet_v2(input_shape=(32, 32, 3), classes=10, classifier_activation=None))
    x = images((2, 32, 32, 3))
    assert_close(keras_predict(kmodel, x), zoo.predict(x, verbose=0), "zoo mobilenet_v2", rel_l2=1e-5)


def test_vgg16_from_keras_applications(tmp_path):
    kmodel = keras.applications.VGG16(weights=None, input_shape=(32, 32, 3), classes=10,
                                      classifier_activation=None)
    model = check_keras_file(kmodel, tmp_path, batch=2, rel_l2=1e-5)
    assert model.count_params() == kmodel.count_params()
    kmodel.save_weights(tmp_path / "v.weights.h5")
    zoo = load_keras(tmp_path / "v.weights.h5",
                     model=models.vgg16(input_shape=(32, 32, 3), classes=10, classifier_activation=None))
    x = images((2, 32, 32, 3))
    assert_close(keras_predict(kmodel, x), zoo.predict(x, verbose=0), "zoo vgg16", rel_l2=1e-5)


# -- refused files ----------------------------------------------------------------------------------------

def test_lambda_is_refused_and_missing_layers_are_listed(tmp_path, monkeypatch):
    x = keras.Input((4,))
    h = L.Lambda(lambda t: t * 2, name="doubler")(x)
    y = L.Dense(2)(L.UnitNormalization(name="norm")(h))
    path = tmp_path / "lambda.keras"
    keras.Model(x, y).save(path)
    # nothing may be executed while loading: make any unpickling or marshalling of code fail loudly
    import marshal
    import pickle

    def forbidden(*args, **kwargs):
        raise AssertionError("load_keras executed code from the file")

    monkeypatch.setattr(marshal, "loads", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    with pytest.raises(ValueError, match=r"'doubler' \(Lambda: it holds Python code.*'norm' \(UnitNormalization\)"):
        load_keras(path)


def test_weights_file_needs_a_model_and_must_fit(tmp_path):
    kmodel = keras.Sequential([keras.Input((4,)), L.Dense(3, name="dense")])
    kmodel.save_weights(tmp_path / "w.weights.h5")
    with pytest.raises(ValueError, match="weights file has no architecture"):
        load_keras(tmp_path / "w.weights.h5")
    from nnkit import Sequential
    from nnkit.layers import Dense

    wrong = Sequential([Dense(2, input_shape=(4,), name="dense")])
    with pytest.raises(FileFormatError, match=r"dense/kernel: file \(4, 3\) vs model \(4, 2\)"):
        load_keras(tmp_path / "w.weights.h5", model=wrong)
    (tmp_path / "junk.keras").write_bytes(b"not a zip or hdf5")
    with pytest.raises(FileFormatError, match="not a .keras file"):
        load_keras(tmp_path / "junk.keras")
    (tmp_path / "junk.weights.h5").write_bytes(b"not hdf5")
    with pytest.raises(FileFormatError, match="not a readable HDF5"):
        load_keras(tmp_path / "junk.weights.h5", model=wrong)


def test_regularizers_and_constraints_carry_over_and_custom_ones_are_a_warning(tmp_path):
    x = keras.Input((6, 6, 2))
    kmodel = keras.Model(x, L.Conv2D(2, 3, kernel_regularizer="l2", bias_constraint="non_neg",
                                     activity_regularizer=keras.regularizers.L1L2(0.1, 0.2), name="conv")(x))
    kmodel.save(tmp_path / "reg.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = load_keras(tmp_path / "reg.keras")
    conv = model.get_layer("conv")
    assert conv.kernel_regularizer.get_config() == {"l2": 0.01}
    assert type(conv.bias_constraint).__name__ == "NonNeg"
    assert conv.activity_regularizer.get_config() == {"l1": 0.1, "l2": 0.2}
    assert_close(keras_predict(kmodel, images((1, 6, 6, 2))), model.predict(images((1, 6, 6, 2)), verbose=0), "reg")

    @keras.saving.register_keras_serializable(package="nnkit_test")
    class Custom(keras.regularizers.Regularizer):
        def __call__(self, w):
            return keras.ops.sum(w)

        def get_config(self):
            return {}

    kmodel = keras.Model(x, L.Conv2D(2, 3, kernel_regularizer=Custom())(x))
    kmodel.save(tmp_path / "custom.keras")
    with pytest.warns(UserWarning, match="kernel_regularizer ignored"):
        model = load_keras(tmp_path / "custom.keras")
    assert_close(keras_predict(kmodel, images((1, 6, 6, 2))), model.predict(images((1, 6, 6, 2)), verbose=0), "reg")


def test_unsupported_arguments_are_errors(tmp_path):
    x = keras.Input((6, 6, 2))
    kmodel = keras.Model(x, L.BatchNormalization(axis=1, name="bn")(x))
    kmodel.save(tmp_path / "axis.keras")
    with pytest.raises(ValueError, match=r"'bn' \(BatchNormalization\): axis=1"):
        load_keras(tmp_path / "axis.keras")
