"""load_onnx: CNNs exported by torch.onnx.export (NCHW) load as nnkit models (NHWC) that predict the same.

torch.onnx.export runs with dynamo=False: the TorchScript exporter needs only the onnx package, where the
default (dynamo) exporter also needs onnxscript.
"""
import warnings

import numpy as np
import pytest

import nnkit
from interop_check import assert_close, images
from nnkit.io import FileFormatError, load_onnx

onnx = pytest.importorskip("onnx")
torch = pytest.importorskip("torch")
nn = torch.nn


def export(module, path, input_shape, preserve_batch_norm=False):
    """torch.onnx.export with a dynamic batch; EVAL folds batch norm into the convolutions, PRESERVE keeps it."""
    mode = torch.onnx.TrainingMode.PRESERVE if preserve_batch_norm else torch.onnx.TrainingMode.EVAL
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(module.eval(), (torch.zeros((1,) + input_shape),), str(path), dynamo=False,
                          input_names=["input"], output_names=["output"], training=mode,
                          dynamic_axes={"input": {0: "N"}, "output": {0: "N"}})


def check_import(module, tmp_path, input_shape, preserve_batch_norm=False, batches=(1, 3)):
    path = tmp_path / "model.onnx"
    export(module, path, input_shape, preserve_batch_norm)
    model = load_onnx(path)
    for i, n in enumerate(batches):
        x = images((n,) + input_shape, i)
        with torch.no_grad():
            reference = module(torch.from_numpy(x)).numpy()
        got = model.predict(x.transpose(0, 2, 3, 1), verbose=0)
        assert_close(reference, got, f"batch {n}")
    return model


def randomize_torch_batch_norm(module, seed=0):
    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_((torch.rand(n, generator=gen) - 0.5) * 0.4)
    return module


def lenet5():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84),
                         nn.ReLU(), nn.Linear(84, 10))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


def resnet18(classes=10):
    """torchvision's ResNet-18 layout: 7x7/2 stem, 3x3/2 max pool (pads 1: not Keras's 'same'), 2-2-2-2 blocks."""
    torch.manual_seed(1)
    layers, cin = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)], 64
    for i, width in enumerate((64, 128, 256, 512)):
        layers += [BasicBlock(cin, width, 1 if i == 0 else 2), BasicBlock(width, width, 1)]
        cin = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, classes)]
    return randomize_torch_batch_norm(nn.Sequential(*layers))


def test_lenet5(tmp_path):
    model = check_import(lenet5(), tmp_path, (1, 28, 28))
    assert model.count_params() == 61_706


@pytest.mark.parametrize("preserve_batch_norm", [False, True], ids=["bn-folded", "bn-kept"])
def test_resnet18(preserve_batch_norm, tmp_path):
    model = check_import(resnet18(), tmp_path, (3, 32, 32), preserve_batch_norm)
    kinds = {type(layer).__name__ for layer in model.layers}
    assert ("BatchNormalization" in kinds) == preserve_batch_norm
    assert {"ZeroPadding2D", "MaxPooling2D", "Add", "GlobalAveragePooling2D", "Dense"} <= kinds


class Mixed(nn.Module):
    """Grouped, depthwise, dilated and 'same'-padded convolutions, concatenation, elementwise merges, several
    activations, average pooling that counts its padding, and batch norm on a flattened map (CHW features)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.group = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=2)
        self.depthwise = nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=8)
        self.pool = nn.AvgPool2d(3, stride=2, padding=1)                   # counts the padding
        self.head = nn.Sequential(nn.Flatten(), nn.BatchNorm1d(24 * 8 * 8), nn.Dropout(0.5),
                                  nn.Linear(24 * 8 * 8, 32), nn.ELU(0.7), nn.Linear(32, 6), nn.Softmax(dim=1))

    def forward(self, x):
        x = nn.functional.relu6(self.stem(x))                              # Clip(0, 6)
        a = nn.functional.leaky_relu(self.group(x), 0.1)                   # 8 x 16 x 16
        b = torch.sigmoid(self.depthwise(x)) + torch.tanh(self.depthwise(x))  # 16 x 8 x 8
        p, m = self.pool(a), nn.functional.max_pool2d(a, 2)                # 8 x 8 x 8 each
        c = torch.cat([p, m * p], dim=1) - b
        return self.head(torch.cat([c, torch.maximum(p, m)], dim=1))       # 24 x 8 x 8


def test_mixed_operators(tmp_path):
    model = check_import(randomize_torch_batch_norm(Mixed()), tmp_path, (3, 16, 16), preserve_batch_norm=True)
    kinds = {type(layer).__name__ for layer in model.layers}
    assert {"Concatenate", "Subtract", "Multiply", "Maximum", "LeakyReLU", "ELU", "Softmax", "ZeroPadding2D",
            "AveragePooling2D", "BatchNormalization"} <= kinds


def test_imported_model_fine_tunes(tmp_path):
    export(lenet5(), tmp_path / "lenet.onnx", (1, 28, 28))
    model = load_onnx(tmp_path / "lenet.onnx")
    x = images((64, 28, 28, 1))
    y = (x.mean(axis=(1, 2, 3)) > 0).astype(np.int64)  # a learnable rule: the sign of the image's mean
    nnkit.set_seed(0)
    model.compile(optimizer="adam", loss=nnkit.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


# -- what cannot be imported is a clear error ----------------------------------------------------------

def onnx_file(path, nodes, initializers=(), inputs=None, output=("y", [None, 4])):
    helper = onnx.helper
    inputs = inputs or [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 3, 8, 8])]
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info(output[0], 1, output[1])],
                              initializer=list(initializers))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path


def test_unsupported_operators_are_listed(tmp_path):
    h = onnx.helper
    path = onnx_file(tmp_path / "m.onnx", [h.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1]),
                                          h.make_node("LpNormalization", ["t"], ["u"]),
                                          h.make_node("Custom", ["u"], ["y"], domain="com.example")])
    with pytest.raises(ValueError, match=r"operators nnkit cannot import: Custom \(domain 'com.example'\), "
                                         r"LpNormalization, Transpose; supported: "):
        load_onnx(path)


def test_max_pool_padding_of_a_signed_input_is_refused(tmp_path):
    node = onnx.helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[3, 3], strides=[2, 2],
                                 pads=[1, 1, 1, 1])
    with pytest.raises(ValueError, match=r"node 'pool' \(MaxPool\): .*needs a non-negative input"):
        load_onnx(onnx_file(tmp_path / "m.onnx", [node], output=("y", [None, 3, 4, 4])))


def test_computed_weights_and_bad_files(tmp_path):
    h = onnx.helper
    nodes = [h.make_node("Relu", ["x"], ["w"]), h.make_node("Conv", ["x", "w"], ["y"], name="conv")]
    with pytest.raises(ValueError, match=r"node 'conv' \(Conv\): the Conv weight must be a constant"):
        load_onnx(onnx_file(tmp_path / "m.onnx", nodes))
    (tmp_path / "junk.onnx").write_bytes(b"\xff\xffnot a protobuf")
    with pytest.raises(FileFormatError, match="not a readable ONNX model"):
        load_onnx(tmp_path / "junk.onnx")
    weight = onnx.numpy_helper.from_array(np.ones((4, 3, 1, 1), np.float32), "w")
    onnx.external_data_helper.set_external_data(weight, location="../../etc/elsewhere")
    weight.ClearField("raw_data")
    path = onnx_file(tmp_path / "ext.onnx", [h.make_node("Conv", ["x", "w"], ["y"])], [weight])
    with pytest.raises(FileFormatError, match="external file"):
        load_onnx(path)


@pytest.mark.parametrize("target, ok", [((-1, 48), True), ((0, -1), True), ((0, 48), True), ((-1, 12), False),
                                        ((0, 4, 12), False)])
def test_reshape_is_imported_only_as_a_flatten(target, ok, tmp_path):
    h = onnx.helper
    shape = onnx.numpy_helper.from_array(np.array(target, np.int64), "shape")
    weight = onnx.numpy_helper.from_array(np.ones((4, 48), np.float32), "w")
    nodes = [h.make_node("Reshape", ["x", "shape"], ["flat"], name="reshape"),
             h.make_node("Gemm", ["flat", "w"], ["y"], transB=1)]
    inputs = [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 3, 4, 4])]
    path = onnx_file(tmp_path / "m.onnx", nodes, [shape, weight], inputs)
    if not ok:
        with pytest.raises(ValueError, match=r"'reshape' \(Reshape\): only a reshape to \(batch, -1\)"):
            load_onnx(path)
        return
    x = images((2, 3, 4, 4))
    reference = x.reshape(2, 48) @ np.ones((48, 4), np.float32)
    assert_close(reference, load_onnx(path).predict(x.transpose(0, 2, 3, 1), verbose=0), f"reshape {target}")
