"""nnkit.utils.pad_sequences against keras.utils.pad_sequences's documented behaviour (hand-computed)."""
import numpy as np
import pytest

from nnkit.utils import pad_sequences


def test_defaults_pad_and_cut_at_the_start_to_the_longest():
    out = pad_sequences([[1], [2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(out, [[0, 0, 1], [0, 2, 3], [4, 5, 6]])
    assert out.dtype == np.int32


def test_post_padding_and_truncation_and_value():
    seqs = [[1, 2, 3, 4], [5]]
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=3), [[2, 3, 4], [0, 0, 5]])
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=3, truncating="post"), [[1, 2, 3], [0, 0, 5]])
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=3, padding="post", value=-1),
                                  [[2, 3, 4], [5, -1, -1]])


def test_empty_sequences_items_with_shape_and_float_dtype():
    out = pad_sequences([[], [[1.5, 2.0]]], dtype="float32", padding="post")
    assert out.shape == (2, 1, 2) and out.dtype == np.float32
    np.testing.assert_array_equal(out, [[[0, 0]], [[1.5, 2.0]]])
    assert pad_sequences([], maxlen=4).shape == (0, 4)
    assert pad_sequences([[1, 2]], maxlen=0).shape == (1, 0)


@pytest.mark.parametrize("kwargs, message", [
    ({"padding": "middle"}, "pad_sequences: padding must be 'pre' or 'post', got 'middle'"),
    ({"truncating": 1}, "pad_sequences: truncating must be 'pre' or 'post', got 1"),
    ({"maxlen": -1}, "pad_sequences: maxlen must be a non-negative integer or None, got -1"),
    ({"maxlen": 2.5}, "maxlen must be a non-negative integer or None, got 2.5"),
    ({"value": "x"}, "value 'x' is a string but dtype is int32"),
])
def test_bad_arguments_name_the_function(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        pad_sequences([[1, 2]], **kwargs)


def test_items_of_different_shapes_and_non_sequences_are_refused():
    with pytest.raises(ValueError, match=r"every item must have shape \(2,\); sequence 1 has items of shape \(3,\)"):
        pad_sequences([[[1, 2]], [[1, 2, 3]]])
    with pytest.raises(ValueError, match="expected a list of sequences"):
        pad_sequences([1, 2])
