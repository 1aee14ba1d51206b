"""Nested state as JSON plus tensors: exact round trips."""
import json

import numpy as np
import pytest

from nnkit.io.errors import FileFormatError
from nnkit.io.state_tree import pack, unpack


def test_round_trip_is_exact_including_scalar_dtypes_and_int_keys():
    state = {"iterations": np.int64(12), "lr": np.float32(1e-3), "beta": 0.9, "name": "adam",
             "slots": {"dense/kernel": {"m": np.ones((2, 3), np.float32), "v": np.zeros(3)}},
             "by_index": {0: np.arange(3), 1: None}, "pcg": 2**100 + 1, "seq": (1, [2.5, np.float64(3)])}
    tensors = {}
    data = json.loads(json.dumps(pack(state, "optimizer", tensors)))
    back = unpack(data, tensors)
    assert back["iterations"] == 12 and type(back["iterations"]) is np.int64
    assert type(back["lr"]) is np.float32 and back["lr"] == np.float32(1e-3)
    np.testing.assert_array_equal(back["slots"]["dense/kernel"]["m"], state["slots"]["dense/kernel"]["m"])
    assert list(back["by_index"]) == [0, 1] and back["pcg"] == 2**100 + 1 and back["seq"] == [1, [2.5, 3.0]]
    assert all(name.startswith("optimizer/") for name in tensors)


def test_colliding_paths_get_distinct_tensor_names():
    tensors = {}
    pack({"a/b": np.zeros(1), "a": {"b": np.ones(1)}}, "s", tensors)
    assert len(tensors) == 2


def test_unsupported_values_and_reserved_keys():
    with pytest.raises(TypeError, match="cannot save a set"):
        pack({"x": {1, 2}}, "s", {})
    with pytest.raises(ValueError, match="reserved"):
        pack({"__tensor__": 1}, "s", {})


def test_dangling_reference_is_a_format_error():
    with pytest.raises(FileFormatError, match="ckpt.*tensor 'gone'"):
        unpack({"m": {"__tensor__": "gone"}}, {}, "ckpt")
    with pytest.raises(FileFormatError, match="malformed __items__"):
        unpack({"__items__": [[{}, 1]]}, {}, "ckpt")
