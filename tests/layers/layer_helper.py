"""One helper that puts any layer through the whole Layer contract.

``check_layer(Dense, dict(units=3), (4,), expected_shape=(None, 3), expected_params=15)``

1. build on a float32 batch: output shape == ``compute_output_shape`` (and the
   expected shape), weights named ``<layer>/<weight>``, parameter count;
2. the functional API: called on ``nnkit.Input`` it gives the same shape;
3. ``get_config`` is JSON and ``from_config`` rebuilds a layer that, given the
   same weights, computes the same output;
4. float64: a layer fed a float64 Tensor builds float64 weights, and agrees
   with the float32 one;
5. gradient check in float64 (``tests/gradcheck.py``'s central differences)
   of the input(s) and every trainable weight, on the tiny instance.
"""
import json

import numpy as np

import nnkit
from gradcheck import numeric_grad
from nnkit import Input, Tensor
from nnkit.layers import deserialize, serialize
from nnkit.layers.shapes import is_shape

BATCH = 2


def _shapes(input_shape):
    return [input_shape] if is_shape(input_shape) else list(input_shape)


def _data(input_shape, dtype, seed=1):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal((BATCH,) + tuple(s)).astype(dtype) for s in _shapes(input_shape)]
    return arrays


def _structure(input_shape, items):
    return items[0] if is_shape(input_shape) else list(items)


def _full(input_shape):
    return [(None,) + tuple(s) for s in _shapes(input_shape)]


def _out_shapes(out):
    return [tuple(t.shape) for t in (out if isinstance(out, list) else [out])]


def check_layer(cls, kwargs, input_shape, expected_shape=None, expected_params=None, training=False,
                grad=True, seed_each_call=False, grad_rtol=1e-5, grad_atol=1e-7):
    """Run the whole contract on ``cls(**kwargs)`` for samples of ``input_shape``
    (no batch axis; a list of shapes for merge layers).  Returns the float32 layer."""
    def call(layer, x):
        if seed_each_call:
            nnkit.set_seed(123)
        return layer(x, training=training)

    # 1. build, shapes, names, parameter count
    layer = cls(**kwargs)
    assert not layer.built
    x32 = _data(input_shape, np.float32)
    y32 = call(layer, _structure(input_shape, x32))
    assert layer.built
    assert y32.dtype == np.float32
    full = _full(input_shape)
    predicted = layer.compute_output_shape(full[0] if is_shape(input_shape) else full)
    predicted = [predicted] if is_shape(predicted) else predicted
    for got, want in zip(_out_shapes(y32), predicted):
        assert got == (BATCH,) + tuple(want[1:]), f"{cls.__name__}: output {got} vs compute_output_shape {want}"
        assert want[0] is None
    if expected_shape is not None:
        assert predicted[0] == tuple(expected_shape)
    for w in layer.weights:
        assert w.name.startswith(layer.name + "/"), w.name
        assert w.dtype == np.float32
    assert len({w.name for w in layer.weights}) == len(layer.weights)
    if expected_params is not None:
        assert layer.count_params() == expected_params
    assert layer.count_params() == sum(w.size for w in layer.weights)
    assert all(w.requires_grad for w in layer.trainable_weights)
    assert not any(w.requires_grad for w in layer.non_trainable_weights)

    # 2. symbolic call through the functional API
    inputs = [Input(shape=s) for s in _shapes(input_shape)]
    symbolic = cls.from_config(layer.get_config())(_structure(input_shape, inputs))
    assert [t.shape for t in (symbolic if isinstance(symbolic, list) else [symbolic])] == \
        [tuple(s) for s in predicted]

    # 3. config round trip, through JSON; same weights -> same output
    config = layer.get_config()
    text = json.dumps(config)
    clone = cls.from_config(json.loads(text))
    assert type(clone) is cls
    assert clone.get_config() == config
    again = deserialize(json.loads(json.dumps(serialize(layer))))
    assert type(again) is cls and again.get_config() == config
    if layer.weights:
        call(clone, _structure(input_shape, x32))
        clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(call(clone, _structure(input_shape, x32)).numpy(),
                               call(layer, _structure(input_shape, x32)).numpy(), rtol=1e-6, atol=1e-6)

    # 4. float64: inferred from a float64 Tensor, agrees with float32
    layer64 = cls.from_config({**config, "dtype": None})
    x64 = [a.astype(np.float64) for a in x32]
    y64 = call(layer64, _structure(input_shape, [Tensor(a) for a in x64]))
    assert y64.dtype == np.float64
    assert all(w.dtype == np.float64 for w in layer64.weights)
    layer64.set_weights([w.astype(np.float64) for w in layer.get_weights()])
    y64 = call(layer64, _structure(input_shape, [Tensor(a) for a in x64]))
    y32 = call(layer, _structure(input_shape, x32))
    if not seed_each_call:  # random layers draw different numbers per dtype
        np.testing.assert_allclose(y64.numpy(), y32.numpy(), rtol=1e-4, atol=1e-5)
    explicit = cls.from_config({**config, "dtype": "float64"})
    assert call(explicit, _structure(input_shape, x32)).dtype == np.float64

    # 5. float64 gradient check of the inputs and the trainable weights
    if grad:
        gradient_check(layer64, input_shape, call, grad_rtol, grad_atol)
    return layer


def gradient_check(layer, input_shape, call, rtol=1e-5, atol=1e-7):
    """Analytic gradients of ``sum(w * layer(x))`` against central differences."""
    arrays = _data(input_shape, np.float64, seed=2)
    tensors = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    weights = layer.trainable_weights
    for w in weights:
        w.grad = None
    out = call(layer, _structure(input_shape, tensors))
    contraction = np.random.default_rng(3).standard_normal(out.shape)
    (out * Tensor(contraction)).sum().backward()

    def scalar(_):
        return float((call(layer, _structure(input_shape, [Tensor(a) for a in arrays])).numpy()
                      * contraction).sum())

    targets = [(f"input {i}", arrays, i, t.grad) for i, t in enumerate(tensors)]
    weight_data = [w.data for w in weights]
    targets += [(w.name, weight_data, i, w.grad) for i, w in enumerate(weights)]
    for what, holder, index, analytic in targets:
        expected = numeric_grad(scalar, holder, index)
        assert analytic is not None, f"{what} received no gradient"
        np.testing.assert_allclose(analytic, expected, rtol=rtol, atol=atol, err_msg=f"gradient of {what}")
