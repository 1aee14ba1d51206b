"""PyTorch state dicts: same outputs in PyTorch (NCHW) as in nnkit (NHWC), and back."""
import numpy as np
import pytest

import nnkit
from nnkit.io.torch_state_dict import export_state_dict, flatten_shapes_of, import_state_dict
from nnkit.layers import (BatchNormalization, Conv2D, Dense, DepthwiseConv2D, Flatten, MaxPooling2D,
                          SeparableConv2D)
from nnkit.models.sequential import Sequential

torch = pytest.importorskip("torch")
nn = torch.nn


def nnkit_net():
    nnkit.set_seed(0)
    model = Sequential([Conv2D(4, 3, padding="same", activation="relu", input_shape=(8, 8, 2)),
                        BatchNormalization(), MaxPooling2D(2), Conv2D(6, 3, groups=2),
                        DepthwiseConv2D(1, depth_multiplier=2), SeparableConv2D(5, 1, depth_multiplier=3),
                        Flatten(), Dense(7, activation="relu"), Dense(3)])
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if isinstance(layer, BatchNormalization):  # non-trivial statistics
            for w in layer.weights:
                w.data[...] = rng.uniform(0.5, 1.5, w.shape)
    return model


class Separable(nn.Module):
    def __init__(self, c, m, f):
        super().__init__()
        self.depthwise = nn.Conv2d(c, c * m, 1, groups=c, bias=False)
        self.pointwise = nn.Conv2d(c * m, f, 1)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


def torch_net(eps):
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(4, eps=eps), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3, groups=2), nn.Conv2d(6, 12, 1, groups=6), Separable(12, 3, 5),
                         nn.Flatten(), nn.Linear(20, 7), nn.ReLU(), nn.Linear(7, 3)).eval()


# nnkit layer name -> index in the nn.Sequential above
TORCH_NAMES = {"conv2d": "0", "batch_normalization": "2", "conv2d_1": "4", "depthwise_conv2d": "5",
               "separable_conv2d": "6", "dense": "8", "dense_1": "10"}


def images():
    return np.random.default_rng(2).standard_normal((3, 8, 8, 2)).astype(np.float32)


def torch_predict(net, x):
    with torch.no_grad():
        return net(torch.from_numpy(x).permute(0, 3, 1, 2)).numpy()


def test_exported_weights_give_the_same_outputs_in_pytorch():
    model = nnkit_net()
    assert flatten_shapes_of(model) == {"dense": (2, 2, 5)}  # Dense after Flatten of a (2, 2, 5) map
    state = export_state_dict(model, layer_names=TORCH_NAMES, as_torch=True)
    net = torch_net(model.get_layer("batch_normalization").epsilon)
    net.load_state_dict(state)  # strict: every PyTorch name and shape matches
    x = images()
    np.testing.assert_allclose(torch_predict(net, x), model.predict(x), rtol=1e-4, atol=1e-5)


def test_pytorch_weights_import_and_round_trip_exactly():
    model = nnkit_net()
    net = torch_net(model.get_layer("batch_normalization").epsilon)
    with torch.no_grad():
        net[2].running_mean.uniform_(-1, 1)
        net[2].running_var.uniform_(0.5, 2)
    assert import_state_dict(model, net.state_dict(), layer_names=TORCH_NAMES) == ([], [])
    x = images()
    np.testing.assert_allclose(model.predict(x), torch_predict(net, x), rtol=1e-4, atol=1e-5)
    exported = export_state_dict(model, layer_names=TORCH_NAMES)
    for key, value in net.state_dict().items():
        assert np.array_equal(exported[key], value.numpy()), key


def test_import_reports_mismatches_in_one_error():
    model = nnkit_net()
    state = export_state_dict(model, layer_names=TORCH_NAMES)
    state["8.weight"] = np.zeros((7, 21), np.float32)
    del state["10.bias"]
    state["11.weight"] = np.zeros(3, np.float32)
    with pytest.raises(ValueError) as info:
        import_state_dict(model, state, layer_names=TORCH_NAMES)
    message = str(info.value)
    assert "missing from the file: dense_1/bias" in message
    assert "unexpected in the file: 11.weight" in message
    assert "mis-shaped: dense/kernel" in message
    result = import_state_dict(model, {k: v for k, v in state.items() if k not in ("8.weight", "11.weight")},
                               layer_names=TORCH_NAMES, strict=False)
    assert result.missing == ["dense/kernel", "dense_1/bias"]


def test_default_names_are_layer_dot_parameter():
    model = Sequential([Dense(2, input_shape=(3,)), BatchNormalization()])
    assert sorted(export_state_dict(model)) == [
        "batch_normalization.bias", "batch_normalization.num_batches_tracked", "batch_normalization.running_mean",
        "batch_normalization.running_var", "batch_normalization.weight", "dense.bias", "dense.weight"]
