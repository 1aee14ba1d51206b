"""Augmentation layers: Keras's transforms, statistics in training, exact identity in
inference, reproducibility from nnkit.set_seed or a layer seed, the layer contract."""
import numpy as np
import pytest

import nnkit
from layer_helper import check_layer
from nnkit import image
from nnkit.layers import (RandomBrightness, RandomContrast, RandomCrop, RandomFlip, RandomRotation,
                          RandomTranslation, RandomZoom)
from nnkit.layers.augmentation import rotation_transforms

ALL = [
    (RandomFlip, dict()),
    (RandomFlip, dict(mode="horizontal")),
    (RandomRotation, dict(factor=0.2)),
    (RandomRotation, dict(factor=(-0.1, 0.3), fill_mode="constant", interpolation="nearest", fill_value=0.5)),
    (RandomZoom, dict(height_factor=0.3)),
    (RandomZoom, dict(height_factor=(-0.3, -0.1), width_factor=0.2, fill_mode="wrap")),
    (RandomTranslation, dict(height_factor=0.2, width_factor=(-0.1, 0.3), fill_mode="nearest")),
    (RandomContrast, dict(factor=0.4, value_range=(-3, 3))),
    (RandomBrightness, dict(factor=(-0.2, 0.1), value_range=(-3, 3))),
]


def images(n=4, h=6, w=7, c=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, h, w, c)).astype(np.float32)


@pytest.mark.parametrize("cls,kwargs", ALL)
def test_contract_in_training(cls, kwargs):
    check_layer(cls, kwargs, (5, 6, 2), (None, 5, 6, 2), 0, training=True, seed_each_call=True)


def test_random_crop_contract_in_training_and_inference():
    check_layer(RandomCrop, dict(height=3, width=4), (5, 6, 2), (None, 3, 4, 2), 0, training=True,
                seed_each_call=True)
    check_layer(RandomCrop, dict(height=3, width=4), (5, 6, 2), (None, 3, 4, 2), 0)


@pytest.mark.parametrize("cls,kwargs", ALL)
def test_inference_is_exactly_the_identity(cls, kwargs):
    x = images()
    layer = cls(**kwargs)
    np.testing.assert_array_equal(layer(x).numpy(), x)
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
    assert not np.array_equal(layer(x, training=True).numpy(), x)


@pytest.mark.parametrize("cls,kwargs", ALL + [(RandomCrop, dict(height=3, width=4))])
def test_same_seed_same_output(cls, kwargs):
    x = images()
    nnkit.set_seed(7)
    first = cls(**kwargs)(x, training=True).numpy()
    nnkit.set_seed(7)
    again = cls(**kwargs)(x, training=True).numpy()
    np.testing.assert_array_equal(first, again)
    own = [cls(**kwargs, seed=11)(x, training=True).numpy() for _ in range(2)]  # a layer's own generator
    np.testing.assert_array_equal(own[0], own[1])
    nnkit.set_seed(8)
    outputs = [cls(**kwargs)(images(n=16), training=True).numpy() for _ in range(2)]
    assert not np.array_equal(outputs[0], outputs[1])


def test_flip_rate_and_one_coin_for_both_axes():
    x = np.random.default_rng(1).standard_normal((4000, 2, 3, 1)).astype(np.float32)
    y = RandomFlip("horizontal")(x, training=True).numpy()
    flipped = np.all(y == x[:, :, ::-1], axis=(1, 2, 3))
    assert np.all(flipped | np.all(y == x, axis=(1, 2, 3)))
    assert 0.46 < flipped.mean() < 0.54
    y = RandomFlip()(x, training=True).numpy()
    both = np.all(y == x[:, ::-1, ::-1], axis=(1, 2, 3))
    assert np.all(both | np.all(y == x, axis=(1, 2, 3)))  # as Keras 3: both axes or none
    assert 0.46 < both.mean() < 0.54
    y = RandomFlip("vertical")(x, training=True).numpy()
    assert np.all(np.all(y == x[:, ::-1], axis=(1, 2, 3)) | np.all(y == x, axis=(1, 2, 3)))


def test_rotation_angles_cover_the_factor_range_and_match_keras_matrix():
    layer = RandomRotation((-0.1, 0.25), seed=0)
    t = layer.transforms(20000, 9, 9)
    angles = np.arctan2(t[:, 3], t[:, 0])
    assert angles.min() >= -0.1 * 2 * np.pi and angles.max() <= 0.25 * 2 * np.pi
    assert angles.min() < -0.099 * 2 * np.pi and angles.max() > 0.249 * 2 * np.pi
    assert abs(angles.mean() - 0.075 * 2 * np.pi) < 0.01
    np.testing.assert_allclose(t, rotation_transforms(angles, 9, 9), atol=1e-12)
    # the centre pixel of an odd image is a fixed point of every rotation
    centre = t[:, [0, 1]] @ [4, 4] + t[:, 2]
    np.testing.assert_allclose(centre, 4, atol=1e-9)


def test_rotation_output_equals_the_affine_op_with_the_drawn_angles():
    x = images()
    layer = RandomRotation(0.5, fill_mode="constant", seed=3)
    angles = np.random.default_rng(3).uniform(-np.pi, np.pi, 4)
    expected = image.affine_transform(x, rotation_transforms(angles, 6, 7), "bilinear", "constant").numpy()
    np.testing.assert_allclose(layer(x, training=True).numpy(), expected, rtol=1e-6)


def test_zoom_matrix_is_keras_and_keeps_the_aspect_ratio_without_width_factor():
    t = RandomZoom(0.4, seed=0).transforms(5000, 7, 11)
    zoom_w, zoom_h = t[:, 0], t[:, 4]
    np.testing.assert_array_equal(zoom_w, zoom_h)
    assert zoom_h.min() >= 0.6 and zoom_h.max() <= 1.4 and zoom_h.min() < 0.61 and zoom_h.max() > 1.39
    np.testing.assert_allclose(t[:, 2], 5 * (1 - zoom_w))
    np.testing.assert_allclose(t[:, 5], 3 * (1 - zoom_h))
    t = RandomZoom((0.2, 0.2), (-0.5, -0.5)).transforms(3, 7, 11)  # fixed: out by 20% in height, in by 50% in width
    np.testing.assert_allclose(t[:, [0, 4]], [[0.5, 1.2]] * 3)


def test_translation_by_whole_pixels_is_a_reflected_shift():
    x = images(n=3, h=4, w=8)
    layer = RandomTranslation((0.25, 0.25), (-0.25, -0.25))  # one pixel down, two left
    y = layer(x, training=True).numpy()
    padded = np.pad(x, ((0, 0), (4, 4), (4, 4), (0, 0)), mode="symmetric")  # Keras's reflect
    np.testing.assert_allclose(y, padded[:, 3:7, 6:14], rtol=1e-6)


def test_random_crop_windows_and_inference_centre_crop():
    x = images(n=2, h=6, w=8)
    nnkit.set_seed(4)
    tops, lefts = set(), set()
    for _ in range(60):
        y = RandomCrop(4, 5)(x, training=True).numpy()
        matches = [(t, left) for t in range(3) for left in range(4) if np.array_equal(y, x[:, t:t + 4, left:left + 5])]
        assert len(matches) == 1  # one window, the same for the whole batch
        tops.add(matches[0][0])
        lefts.add(matches[0][1])
    assert tops == {0, 1, 2} and lefts == {0, 1, 2, 3}
    expected = image.resize(x, (4, 5), crop_to_aspect_ratio=True).numpy()
    np.testing.assert_allclose(RandomCrop(4, 5)(x).numpy(), expected)
    np.testing.assert_allclose(RandomCrop(9, 5)(x, training=True).numpy(),  # larger than the image: resized
                               image.resize(x, (9, 5), crop_to_aspect_ratio=True).numpy())


def test_contrast_and_brightness_formulas():
    x = images()
    c = np.random.default_rng(5).uniform(1 - 0.3, 1 + 0.3, (4, 1, 1, 1))
    mean = x.astype(np.float64).mean(axis=(1, 2), keepdims=True)
    expected = np.clip((x - mean) * c + mean, 0, 255)
    np.testing.assert_allclose(RandomContrast(0.3, seed=5)(x, training=True).numpy(), expected, rtol=1e-5, atol=1e-3)
    delta = np.random.default_rng(6).uniform(-0.2, 0.2, (4, 1, 1, 1)) * 255
    np.testing.assert_allclose(RandomBrightness(0.2, seed=6)(x, training=True).numpy(), np.clip(x + delta, 0, 255),
                               rtol=1e-5, atol=1e-3)


def test_augmentation_in_a_model_runs_in_fit_and_not_in_predict(tmp_path):
    x = images(n=16, h=8, w=8, c=1) / 255
    y = np.arange(16) % 2
    model = nnkit.Sequential([nnkit.Input((8, 8, 1)), RandomFlip("horizontal"), RandomRotation(0.1),
                              RandomZoom(0.1), RandomTranslation(0.1, 0.1), RandomContrast(0.2, value_range=(0, 1)),
                              RandomBrightness(0.1, value_range=(0, 1)), RandomCrop(6, 6),
                              nnkit.layers.Flatten(), nnkit.layers.Dense(2)])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    plain = nnkit.Sequential([nnkit.Input((8, 8, 1)), RandomCrop(6, 6), nnkit.layers.Flatten(),
                              nnkit.layers.Dense(2)])
    plain.set_weights(model.get_weights())
    np.testing.assert_allclose(model.predict(x), plain.predict(x), rtol=1e-6)
    model.save(tmp_path / "aug.nnkit")
    loaded = nnkit.load_model(tmp_path / "aug.nnkit")
    assert [type(a).__name__ for a in loaded.layers] == [type(a).__name__ for a in model.layers]
    assert [a.get_config() for a in loaded.layers] == [a.get_config() for a in model.layers]
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match=r"RandomRotation 'random_rotation': factor values must lie in \[-1.0, 1.0\]"):
        RandomRotation(1.5)
    with pytest.raises(ValueError, match="height_factor must be a number or a pair"):
        RandomZoom((0.1, 0.2, 0.3))
    with pytest.raises(ValueError, match="unknown fill_mode 'mirror'; valid choices: reflect, wrap, nearest, constant"):
        RandomTranslation(0.1, 0.1, fill_mode="mirror")
    with pytest.raises(ValueError, match="unknown interpolation 'bicubic'"):
        RandomZoom(0.1, interpolation="bicubic")
    with pytest.raises(ValueError, match="unknown mode 'diagonal'"):
        RandomFlip("diagonal")
    with pytest.raises(ValueError, match=r"factor must be a number or a pair \(lower, upper\) of numbers in \[0, 1\]"):
        RandomContrast(-0.2)
    with pytest.raises(ValueError, match="value_range must be a pair"):
        RandomBrightness(0.1, value_range=(1, 0))
    with pytest.raises(ValueError, match="seed must be None or an int"):
        RandomFlip(seed="x")
    with pytest.raises(ValueError, match=r"RandomCrop .*expected height to be a positive integer below 2\*\*62, got 0"):
        RandomCrop(0, 3)
    with pytest.raises(ValueError, match="only data_format='channels_last'"):
        RandomFlip(data_format="channels_first")
