"""The model zoo: parameter counts as Keras/torchvision report them (no forward pass
for the big ones), and a forward pass on the small ones."""
import numpy as np
import pytest

from nnkit.models import lenet5, mobilenet_v2, resnet18, resnet20, resnet50, vgg16


def counts(model):
    return model.count_params(), sum(w.size for w in model.trainable_weights)


def test_lenet5():
    model = lenet5()
    assert counts(model) == (61706, 61706)
    out = model(np.random.default_rng(0).random((2, 28, 28, 1)))
    assert out.shape == (2, 10)
    np.testing.assert_allclose(out.numpy().sum(axis=1), 1, rtol=1e-5)


def test_vgg16():
    assert counts(vgg16(include_top=False)) == (14714688, 14714688)
    model = vgg16()  # 138M weights (~550 MB): built once, never run
    assert model.count_params() == 138357544
    assert model.get_layer("fc1").kernel.shape == (25088, 4096)
    assert model.output_shape == (None, 1000)


def test_resnet20():
    model = resnet20()
    assert counts(model) == (274042, 272474)
    assert model.get_layer("stage2_block1_shortcut_conv").kernel.shape == (1, 1, 16, 32)  # projection
    assert "stage1_block1_shortcut_conv" not in [layer.name for layer in model.layers]  # identity
    out = model(np.random.default_rng(0).random((2, 32, 32, 3)), training=True)
    assert out.shape == (2, 10)


def test_resnet18():
    model = resnet18()
    assert counts(model) == (11699112, 11689512)  # trainable == torchvision's resnet18
    assert model.output_shape == (None, 1000)
    assert model.get_layer("stage4_block2_out").output.shape == (None, 7, 7, 512)


def test_resnet50_counts_as_keras():
    model = resnet50()  # keras.applications.ResNet50(weights=None): built, never run
    assert counts(model) == (25636712, 25583592)
    assert model.name == "resnet50" and len(model.layers) == 177
    assert model.get_layer("conv4_block1_0_conv").kernel.shape == (1, 1, 512, 1024)  # projection shortcut
    assert model.get_layer("conv5_block3_out").output.shape == (None, 7, 7, 2048)
    assert resnet50(include_top=False, pooling="avg").count_params() == 23587712  # Keras's notop count


def test_mobilenet_v2():
    model = mobilenet_v2()
    assert counts(model) == (3538984, 3504872)
    assert model.name == "mobilenetv2_1.00_224"
    assert model.get_layer("block_16_project_BN").output.shape == (None, 7, 7, 320)
    assert model.get_layer("block_2_add").output.shape == (None, 56, 56, 24)


def test_small_mobilenet_runs():
    model = mobilenet_v2(input_shape=(32, 32, 3), alpha=0.35, classes=5)
    assert model(np.random.default_rng(0).random((1, 32, 32, 3))).shape == (1, 5)


def test_headless_variants_and_pooling():
    assert resnet18(include_top=False, pooling="avg").output_shape == (None, 512)
    assert mobilenet_v2(include_top=False, pooling="max", input_shape=(96, 96, 3)).output_shape == (None, 1280)
    assert vgg16(include_top=False, input_shape=(32, 32, 3)).output_shape == (None, 1, 1, 512)


def test_zoo_arguments_are_checked():
    with pytest.raises(ValueError, match="pretrained weights are not shipped"):
        vgg16(weights="imagenet")
    with pytest.raises(ValueError, match="unknown pooling 'mean'"):
        resnet18(include_top=False, pooling="mean")
