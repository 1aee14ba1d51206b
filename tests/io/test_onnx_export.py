"""export_onnx: onnxruntime on the exported file predicts what nnkit predicts (NHWC in, same out)."""
import pytest

import nnkit
from interop_check import assert_close, images, randomize_batch_norm
from nnkit import Input, Model, models
from nnkit.io import OnnxExportError, export_onnx
from nnkit.io.onnx_export import IR_VERSION
from nnkit.layers import (ELU, Activation, Add, AveragePooling2D, Average, BatchNormalization, Concatenate,
                          Conv2D, Dense, DepthwiseConv2D, Dropout, Flatten, GlobalAveragePooling2D,
                          GlobalMaxPooling2D, Layer, LeakyReLU, MaxPooling2D, Maximum, Minimum, Multiply, ReLU,
                          ReLU6, Reshape, SeparableConv2D, Softmax, Subtract, ZeroPadding2D)
from nnkit.models.sequential import Sequential

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def run_onnx(path, feeds):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def check_export(model, tmp_path, opset=17, batches=(1, 3), seed=0):
    """Export, run the checker on the file, then compare onnxruntime with predict at each batch size."""
    path = tmp_path / f"{model.name}.onnx"
    proto = export_onnx(model, path, opset=opset)
    onnx.checker.check_model(str(path), full_check=True)
    assert proto.ir_version == IR_VERSION[opset] <= 10
    assert [o.version for o in proto.opset_import] == [opset]
    assert all(node.domain == "" for node in proto.graph.node), "default-domain operators only"
    shape = model.inputs[0].shape[1:]
    worst = (0.0, 0.0)
    for i, n in enumerate(batches):
        x = images((n,) + tuple(shape), seed + i)
        got = run_onnx(path, {"input": x})[0]
        worst = max(worst, assert_close(model.predict(x, verbose=0), got, f"{model.name} batch {n} opset {opset}"))
    return proto, worst


def test_mlp_with_softmax_head(tmp_path):
    nnkit.set_seed(0)
    model = Sequential([Dense(32, activation="relu", input_shape=(20,)), Dropout(0.5), Dense(16, activation="tanh"),
                        Dense(5, activation="softmax")], name="mlp")
    proto, _ = check_export(model, tmp_path)
    assert [n.op_type for n in proto.graph.node].count("Gemm") == 3
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"  # batch symbolic


def small_cnn():
    """'same' and strided-'same' convolutions on odd sizes (the odd pixel of padding at the end), batch norm,
    max pooling 'same' on an odd size, average pooling 'same', Flatten -> Dense."""
    nnkit.set_seed(1)
    x = Input(shape=(15, 13, 3))
    h = Conv2D(8, 3, padding="same", activation="relu")(x)
    h = Conv2D(8, 4, strides=2, padding="same")(h)                  # 8x7, pads top 1 / bottom 2
    h = BatchNormalization()(h)
    h = MaxPooling2D(3, strides=2, padding="same")(h)                # 8x7 -> 4x4
    h = AveragePooling2D(3, strides=1, padding="same")(h)            # padding excluded from the mean
    h = Conv2D(6, 2, strides=(2, 1), padding="valid", dilation_rate=(1, 2))(h)
    y = Dense(4)(Flatten()(h))                                        # Dense rows in Keras's HWC order
    return randomize_batch_norm(Model(x, y, name="cnn"))


def test_cnn_same_padding_pooling_batch_norm_flatten(tmp_path):
    proto, _ = check_export(small_cnn(), tmp_path)
    nodes = proto.graph.node
    assert all(not any(a.name == "auto_pad" for a in n.attribute) for n in nodes), "explicit pads only"
    strided = [n for n in nodes if n.op_type == "Conv"][1]
    assert list(next(a for a in strided.attribute if a.name == "pads").ints) == [1, 1, 2, 2]
    avg = next(n for n in nodes if n.op_type == "AveragePool")
    assert next(a for a in avg.attribute if a.name == "count_include_pad").i == 0
    flatten = next(n for n in nodes if n.op_type == "Flatten")
    producer = next(n for n in nodes if flatten.input[0] in n.output)
    assert producer.op_type == "Transpose" and list(producer.attribute[0].ints) == [0, 2, 3, 1]
    # exactly one Transpose into NCHW, after the input
    to_nchw = [n for n in nodes if n.op_type == "Transpose" and list(n.attribute[0].ints) == [0, 3, 1, 2]]
    assert len(to_nchw) == 1 and to_nchw[0].input[0] == "input"


def test_residual_block_add_global_average_pool(tmp_path):
    nnkit.set_seed(2)
    x = Input(shape=(9, 9, 4))
    h = ReLU()(BatchNormalization()(Conv2D(4, 3, padding="same", use_bias=False)(x)))
    h = BatchNormalization()(Conv2D(4, 3, padding="same", use_bias=False)(h))
    h = Activation("relu")(Add()([h, x]))
    y = Dense(3, activation="softmax")(GlobalAveragePooling2D()(h))
    proto, _ = check_export(randomize_batch_norm(Model(x, y, name="residual")), tmp_path)
    assert {"Add", "GlobalAveragePool", "BatchNormalization"} <= {n.op_type for n in proto.graph.node}


ZOO = {
    "lenet5": lambda: models.lenet5(),
    "resnet20": lambda: models.resnet20(classifier_activation=None),
    "mobilenet_v2": lambda: models.mobilenet_v2(input_shape=(32, 32, 3), classes=10, classifier_activation=None),
    "resnet18": lambda: models.resnet18(input_shape=(32, 32, 3), classes=10, classifier_activation=None),
    "vgg16": lambda: models.vgg16(input_shape=(32, 32, 3), classes=10, classifier_activation=None),
    "resnet50": lambda: models.resnet50(input_shape=(32, 32, 3), classes=10, classifier_activation=None),
}


def test_the_zoo_list_is_complete():
    from nnkit.models import zoo

    assert set(ZOO) == set(zoo.__all__)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_model_exports(name, tmp_path):
    nnkit.set_seed(3)
    check_export(randomize_batch_norm(ZOO[name]()), tmp_path)


class _Double(Layer):
    def call(self, inputs):
        return inputs * 2.0

    def compute_output_shape(self, input_shape):
        return input_shape


def every_layer_model():
    """Every exportable layer (and every built-in activation) in one graph, with a nested Sequential and a
    shared layer."""
    nnkit.set_seed(4)
    x = Input(shape=(7, 7, 4))
    block = Sequential([Conv2D(4, 1, activation="gelu"), DepthwiseConv2D(3, padding="same", depth_multiplier=2),
                        SeparableConv2D(4, 3, strides=2, padding="same", activation="elu")], name="block")
    h = block(ZeroPadding2D(((1, 0), (2, 1)))(x))                       # 8x10 -> 4x5
    h = BatchNormalization(center=False)(h)
    shared = Conv2D(4, 1, activation="selu")
    a, b = shared(h), shared(ReLU(max_value=2.0, negative_slope=0.1, threshold=0.5)(h))
    h = Concatenate()([Subtract()([a, b]), Multiply()([a, b]), Average()([a, b]), Maximum()([a, ReLU6()(b)]),
                       Minimum()([LeakyReLU(0.2)(a), ELU(0.5)(b)])])
    h = Dense(6, activation="swish")(h)                                  # Dense on a feature map
    g = GlobalMaxPooling2D(keepdims=True)(h)
    h = Add()([h, g])
    h = Softmax(axis=1)(h)
    flat = Reshape((-1, 6))(h)                                           # (20, 6)
    flat = BatchNormalization()(Dense(5, activation="softplus")(flat))  # batch norm on a 3-D value
    v = Flatten()(flat)
    outs = [Dense(3, activation=name)(v) for name in ("sigmoid", "hard_sigmoid", "tanh", "softsign",
                                                      "exponential", "log_softmax", "leaky_relu", "relu6")]
    y = Concatenate()(outs)
    y = BatchNormalization()(Dense(6)(y))
    y = Reshape((2, 3, 1))(Dropout(0.3)(y))
    y = AveragePooling2D(2, strides=1)(y)
    return randomize_batch_norm(Model(x, y, name="every_layer"))


@pytest.mark.parametrize("opset", range(13, 22))
def test_every_layer_and_every_opset(opset, tmp_path):
    proto, _ = check_export(every_layer_model(), tmp_path, opset=opset, batches=(2,))
    ops = {n.op_type for n in proto.graph.node}
    assert ("Gelu" in ops) == (opset >= 20)                             # Erf-based before opset 20


def test_several_inputs_and_outputs_keep_their_names_and_fixed_batch(tmp_path):
    nnkit.set_seed(5)
    image, extra = Input(shape=(6, 6, 2), name="image"), Input(shape=(3,), name="extra")
    features = GlobalAveragePooling2D()(Conv2D(3, 3, padding="same")(image))
    logits = Dense(2, name="logits")(Concatenate()([features, extra]))
    fmap = Conv2D(2, 1, name="fmap")(image)
    model = Model([image, extra], [logits, fmap], name="two")
    path = tmp_path / "two.onnx"
    proto = export_onnx(model, path, batch_size=4)
    assert [i.name for i in proto.graph.input] == ["image", "extra"]
    assert [o.name for o in proto.graph.output] == ["logits", "fmap"]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 4
    xs = [images((4, 6, 6, 2)), images((4, 3), 1)]
    for ref, got, name in zip(model.predict_on_batch(xs), run_onnx(path, {"image": xs[0], "extra": xs[1]}),
                              ("logits", "fmap")):
        assert_close(ref, got, name)


def test_command_line(tmp_path):
    from nnkit.cli import main

    model = randomize_batch_norm(models.resnet20(input_shape=(16, 16, 3), classifier_activation=None))
    model.save(tmp_path / "r.nnk")
    assert main(["export-onnx", str(tmp_path / "r.nnk"), str(tmp_path / "r.onnx"), "--opset", "15"]) == 0
    assert onnx.load(str(tmp_path / "r.onnx")).opset_import[0].version == 15
    x = images((2, 16, 16, 3))
    assert_close(model.predict(x, verbose=0), run_onnx(tmp_path / "r.onnx", {"input": x})[0], "cli")
    assert main(["export-onnx", str(tmp_path / "missing.nnk"), str(tmp_path / "m.onnx")]) == 2


# -- what cannot be exported is a clear error -----------------------------------------------------------

def test_layer_without_conversion_is_named_with_the_opset(tmp_path):
    x = Input(shape=(4,))
    model = Model(x, Dense(2)(_Double(name="doubler")(x)))
    with pytest.raises(OnnxExportError, match=r"layer 'doubler' \(_Double\) at opset 16: .*no ONNX conversion"):
        export_onnx(model, tmp_path / "m.onnx", opset=16)
    assert not (tmp_path / "m.onnx").exists()


def test_custom_activation_is_named(tmp_path):
    def cube(t):
        return t * t * t

    x = Input(shape=(4,))
    model = Model(x, Dense(2, activation=cube, name="cubic")(x))
    with pytest.raises(OnnxExportError, match=r"layer 'cubic' \(Dense\) at opset 17: activation 'cube'"):
        export_onnx(model, tmp_path / "m.onnx")


def test_strided_same_needs_a_known_size(tmp_path):
    x = Input(shape=(None, None, 3))
    model = Model(x, GlobalAveragePooling2D()(Conv2D(2, 3, strides=2, padding="same", name="down")(x)))
    with pytest.raises(OnnxExportError, match=r"layer 'down' \(Conv2D\).*known input size"):
        export_onnx(model, tmp_path / "m.onnx")


def test_unknown_spatial_size_with_stride_one_exports(tmp_path):
    x = Input(shape=(None, None, 3))
    model = Model(x, GlobalAveragePooling2D()(Conv2D(2, 3, padding="same")(x)), name="any_size")
    path = tmp_path / "m.onnx"
    export_onnx(model, path)
    for shape in ((1, 5, 9, 3), (2, 8, 6, 3)):
        assert_close(model.predict(images(shape), verbose=0), run_onnx(path, {"input": images(shape)})[0], "any")


def test_subclassed_model_and_bad_arguments(tmp_path):
    class Net(Model):
        def __init__(self):
            super().__init__(name="net")
            self.dense = Dense(2)

        def call(self, x, training=None):
            return self.dense(x)

    net = Net()
    net.build((None, 3))
    with pytest.raises(OnnxExportError, match="'net'.*subclassed"):
        export_onnx(net, tmp_path / "m.onnx")
    mlp = Sequential([Dense(2, input_shape=(3,))])
    for opset in (12, 22, "17"):
        with pytest.raises(ValueError, match="opset must be an int from 13 to 21"):
            export_onnx(mlp, tmp_path / "m.onnx", opset=opset)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        export_onnx(mlp, tmp_path / "m.onnx", batch_size=0)
    with pytest.raises(OnnxExportError, match="no known input shape"):
        export_onnx(Sequential([Dense(2)], name="unbuilt"), tmp_path / "m.onnx")
