import zlib

import numpy as np
import pytest

from nnkit.explain import heatmap, save_heatmap


def read_png(path):
    """Decode the PNGs our writer makes (8-bit RGB, one IDAT, filter 0) to check them."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        assert int.from_bytes(data[pos + 8 + n:pos + 12 + n], "big") == zlib.crc32(kind + body)
        chunks[kind] = body
        pos += 12 + n
    w, h = int.from_bytes(chunks[b"IHDR"][:4], "big"), int.from_bytes(chunks[b"IHDR"][4:8], "big")
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(h, 1 + 3 * w)
    assert not rows[:, 0].any()
    return rows[:, 1:].reshape(h, w, 3)


def test_heatmap_palette_and_symmetry():
    R = np.array([[-2.0, 0.0], [1.0, 2.0]])
    img = heatmap(R)
    assert img.dtype == np.uint8 and img.shape == (2, 2, 3)
    np.testing.assert_array_equal(img[0, 0], [0, 0, 255])      # -max|R|: blue
    np.testing.assert_array_equal(img[0, 1], [255, 255, 255])  # zero: white
    np.testing.assert_array_equal(img[1, 1], [255, 0, 0])      # +max|R|: red
    np.testing.assert_array_equal(img[1, 0], [255, 128, 128])  # halfway from white to red


def test_heatmap_sums_channels_and_can_stretch():
    R = np.zeros((2, 3, 3))
    R[0, 0] = [1, 1, 1]
    R[1, 2] = [-1, 0, 0]
    np.testing.assert_array_equal(heatmap(R), heatmap(R.sum(axis=2)))
    gray = heatmap(R.sum(axis=2), cmap="gray", symmetric=False)
    np.testing.assert_array_equal(gray[0, 0], [255] * 3)
    np.testing.assert_array_equal(gray[1, 2], [0] * 3)


def test_save_heatmap_writes_png(tmp_path):
    R = np.random.default_rng(0).normal(size=(5, 4, 1))
    path = save_heatmap(R, tmp_path / "r.png")
    np.testing.assert_array_equal(read_png(path), heatmap(R))
    big = read_png(save_heatmap(R, tmp_path / "big.png", scale=3))
    np.testing.assert_array_equal(big[::3, ::3], heatmap(R))


def test_save_heatmap_blends_over_image(tmp_path):
    R = np.zeros((2, 2))
    R[0, 0] = 1.0
    image = np.full((2, 2, 1), 0.5)
    out = read_png(save_heatmap(R, tmp_path / "b.png", image=image))
    np.testing.assert_array_equal(out[0, 0], [255, 0, 0])   # all heatmap where |R| is largest
    np.testing.assert_array_equal(out[1, 1], [128] * 3)     # the image where R is zero


@pytest.mark.parametrize("call,message", [
    (lambda: heatmap(np.zeros((2, 2, 2, 2))), r"heatmap: expected one sample's relevance .*\(2, 2, 2, 2\)"),
    (lambda: heatmap(np.zeros((2, 2)), cmap="jet"), "unknown cmap 'jet'"),
    (lambda: save_heatmap(np.zeros((2, 2)), "x.png", image=np.zeros((3, 3))), "save_heatmap: expected an image"),
    (lambda: save_heatmap(np.zeros((2, 2)), "x.png", scale=0), "scale must be a positive int"),
])
def test_bad_heatmap_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
