"""Rescaling, Normalization, Resizing, CenterCrop: Keras's values, adapt, the layer contract."""
import numpy as np
import pytest

import nnkit
from layer_helper import check_layer
from nnkit import Tensor, image
from nnkit.layers import CenterCrop, Normalization, Rescaling, Resizing


@pytest.mark.parametrize("cls,kwargs,input_shape,out", [
    (Rescaling, dict(scale=1 / 255, offset=-1.0), (3, 4, 2), (None, 3, 4, 2)),
    (Rescaling, dict(scale=[0.5, 2.0]), (3, 4, 2), (None, 3, 4, 2)),
    (Normalization, dict(mean=[1.0, -1.0], variance=[4.0, 0.25]), (3, 4, 2), (None, 3, 4, 2)),
    (Normalization, dict(axis=None, mean=2.0, variance=9.0, invert=True), (5,), (None, 5)),
    (Resizing, dict(height=5, width=3), (4, 4, 2), (None, 5, 3, 2)),
    (Resizing, dict(height=2, width=6, interpolation="nearest", crop_to_aspect_ratio=True), (4, 5, 1), (None, 2, 6, 1)),
    (Resizing, dict(height=3, width=3, pad_to_aspect_ratio=True, fill_value=1.0), (4, 2, 1), (None, 3, 3, 1)),
    (CenterCrop, dict(height=2, width=3), (4, 5, 2), (None, 2, 3, 2)),
    (CenterCrop, dict(height=6, width=3), (4, 5, 2), (None, 6, 3, 2)),
])
def test_preprocessing_contract(cls, kwargs, input_shape, out):
    check_layer(cls, kwargs, input_shape, out, expected_params=0)


def test_rescaling_values():
    x = np.array([[0.0, 127.5, 255.0]], np.float32)
    np.testing.assert_allclose(Rescaling(1 / 127.5, offset=-1)(x).numpy(), [[-1, 0, 1]], atol=1e-6)


def test_normalization_fixed_statistics_and_invert_round_trip():
    x = np.random.default_rng(0).standard_normal((4, 3, 2)).astype(np.float64) * 3
    mean, var = np.array([1.0, -2.0]), np.array([4.0, 0.0])
    layer = Normalization(mean=mean, variance=var, dtype="float64")
    y = layer(x).numpy()
    np.testing.assert_allclose(y, (x - mean) / np.maximum(np.sqrt(var), 1e-7))  # variance 0: divide by 1e-7
    back = Normalization(mean=mean, variance=var, invert=True, dtype="float64")(y).numpy()
    np.testing.assert_allclose(back, x, atol=1e-12)


def test_adapt_on_an_array_matches_numpy_and_is_saved_as_weights():
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((50, 4, 4, 3)) * [1, 5, 10] + [0, 3, -7]).astype(np.float32)
    layer = Normalization()
    layer.adapt(x, batch_size=7)  # streamed in uneven batches
    np.testing.assert_allclose(layer.mean.numpy(), x.astype(np.float64).mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(layer.variance.numpy(), x.astype(np.float64).var(axis=(0, 1, 2)), rtol=1e-5)
    assert [w.name.split("/")[1] for w in layer.non_trainable_weights] == ["mean", "variance"]
    assert layer.trainable_weights == []
    y = layer(x).numpy()
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(y.std(axis=(0, 1, 2)), 1, atol=1e-4)


class Batches(nnkit.data.Dataset):
    def __init__(self, x, size):
        super().__init__()
        self.x, self.size = x, size

    def __len__(self):
        return -(-len(self.x) // self.size)

    def __getitem__(self, i):
        return self.x[i * self.size:(i + 1) * self.size], np.zeros(self.size)


def test_adapt_keeps_several_axes_and_reads_data_sources_and_generators():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((40, 3, 2)) * rng.uniform(1, 4, (3, 2))
    expected_mean, expected_var = x.mean(axis=0), x.var(axis=0)
    for data in (nnkit.data.as_source(x, np.zeros(40)),                    # an ArraySource
                 [(x[i:i + 9], None) for i in range(0, 40, 9)],             # a list of (x, y) batches
                 (x[i:i + 16] for i in range(0, 40, 16)),                   # a one-shot generator
                 Batches(x, 12)):                                            # a Dataset (Keras's PyDataset)
        layer = Normalization(axis=(1, 2), dtype="float64")
        layer.adapt(data, batch_size=11)
        np.testing.assert_allclose(layer.mean.numpy(), expected_mean, rtol=1e-10)
        np.testing.assert_allclose(layer.variance.numpy(), expected_var, rtol=1e-10)


def test_adapted_normalization_survives_save_and_load(tmp_path):
    x = np.random.default_rng(3).uniform(0, 255, (20, 4, 4, 3)).astype(np.float32)
    norm = Normalization()
    norm.adapt(x)
    model = nnkit.Sequential([nnkit.Input((4, 4, 3)), norm, Resizing(2, 2), Rescaling(2.0), CenterCrop(1, 1),
                              nnkit.layers.Flatten(), nnkit.layers.Dense(2)])
    expected = model(x).numpy()
    model.save(tmp_path / "m.nnkit")
    loaded = nnkit.load_model(tmp_path / "m.nnkit")
    np.testing.assert_array_equal(loaded(x).numpy(), expected)


def test_resizing_matches_the_image_op_and_center_crop_offsets():
    x = np.arange(2 * 5 * 6 * 1, dtype=np.float32).reshape(2, 5, 6, 1)
    np.testing.assert_array_equal(Resizing(3, 4)(x).numpy(), image.resize(x, (3, 4)).numpy())
    np.testing.assert_array_equal(CenterCrop(2, 3)(x).numpy(), x[:, 1:3, 1:4])  # corner at ((5-2)//2, (6-3)//2)
    small = CenterCrop(8, 4)(x).numpy()  # taller than the input: aspect-ratio crop, then resize
    np.testing.assert_allclose(small, image.resize(x, (8, 4), crop_to_aspect_ratio=True).numpy())


def test_preprocessing_bad_arguments():
    with pytest.raises(ValueError, match=r"Rescaling 'rescaling': scale must be a finite number or a list"):
        Rescaling("big")
    with pytest.raises(ValueError, match="pass both mean and variance, or neither"):
        Normalization(mean=1.0)
    with pytest.raises(ValueError, match="variance must be finite and non-negative"):
        Normalization(mean=0.0, variance=-1.0)
    with pytest.raises(ValueError, match=r"axis 4 is out of range for input \(None, 3, 3, 2\)"):
        Normalization(axis=4).build((None, 3, 3, 2))
    with pytest.raises(ValueError, match="the data held no samples"):
        Normalization().adapt(np.zeros((0, 3)))
    with pytest.raises(RuntimeError, match="given a fixed mean and variance"):
        Normalization(mean=0.0, variance=1.0).adapt(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="adapt: cannot read batches from int"):
        Normalization().adapt(3)
    with pytest.raises(ValueError, match=r"does not match the layer's input \(None, 3\)"):
        layer = Normalization()
        layer.adapt(iter([np.zeros((2, 3)), np.zeros((2, 4))]))
    with pytest.raises(ValueError, match="Resizing 'resizing.*': unknown or unsupported interpolation 'area'"):
        Resizing(2, 2, interpolation="area")
    with pytest.raises(NotImplementedError, match="antialias=True is not implemented"):
        Resizing(2, 2, antialias=True)
    with pytest.raises(ValueError, match=r"CenterCrop .*expected height to be a positive integer below 2\*\*62, got 0"):
        CenterCrop(0, 2)
    with pytest.raises(ValueError, match=r"incompatible input shape \(2, 3\): expected rank 4, got rank 2"):
        Resizing(2, 2)(Tensor(np.zeros((2, 3), np.float32)))
