"""The safetensors reader/writer: round trips, compatibility, and hostile files."""
import json
import struct
import tracemalloc

import numpy as np
import pytest

from nnkit.io.errors import FileFormatError
from nnkit.io.safetensors_io import read_metadata, read_safetensors, write_safetensors

safetensors_numpy = pytest.importorskip("safetensors.numpy")


def sample_tensors():
    rng = np.random.default_rng(0)
    return {
        "conv2d_1/kernel": rng.standard_normal((3, 3, 2, 4)).astype(np.float32),
        "conv2d_1/bias": np.zeros(4, np.float32),
        "dense/kernel": rng.standard_normal((5, 3)),
        "step": np.int64(7),
        "empty": np.zeros((0, 3), np.float16),
        "mask": np.array([True, False, True]),
        "bytes": np.arange(5, dtype=np.uint8),
    }


def assert_same(expected, got):
    assert list(got) == list(expected)
    for name, value in expected.items():
        value = np.asarray(value)
        assert got[name].dtype == value.dtype and got[name].shape == value.shape, name
        np.testing.assert_array_equal(got[name], value)


def test_round_trip_keeps_names_order_dtypes_shapes_and_metadata(tmp_path):
    path = tmp_path / "w.safetensors"
    write_safetensors(path, sample_tensors(), {"format": "test", "note": "é"})
    tensors, metadata = read_safetensors(path)
    assert_same(sample_tensors(), tensors)
    assert metadata == {"format": "test", "note": "é"} == read_metadata(path)
    assert list(read_safetensors(path, names={"step"})[0]) == ["step"]


def test_non_contiguous_and_big_endian_inputs_are_stored_correctly(tmp_path):
    a = np.arange(24, dtype=">f4").reshape(2, 3, 4)[:, ::-1, 1:]
    write_safetensors(tmp_path / "a.safetensors", {"a": a})
    got = read_safetensors(tmp_path / "a.safetensors")[0]["a"]
    assert got.dtype == np.float32 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, a)


def test_files_are_readable_by_the_safetensors_package_and_back(tmp_path):
    write_safetensors(tmp_path / "ours.safetensors", sample_tensors(), {"k": "v"})
    theirs = safetensors_numpy.load_file(str(tmp_path / "ours.safetensors"))
    for name, value in sample_tensors().items():
        np.testing.assert_array_equal(theirs[name], value)
    expected = {k: np.asarray(v) for k, v in sample_tensors().items()}
    safetensors_numpy.save_file(expected, str(tmp_path / "theirs.safetensors"), metadata={"a": "b"})
    tensors, metadata = read_safetensors(tmp_path / "theirs.safetensors")
    assert metadata == {"a": "b"}
    assert_same(expected, {k: tensors[k] for k in expected})


def test_bfloat16_from_torch_is_widened_to_float32(tmp_path):
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    safetensors_torch.save_file({"w": torch.tensor([1.5, -2.0, 3.0], dtype=torch.bfloat16)},
                                str(tmp_path / "bf.safetensors"))
    w = read_safetensors(tmp_path / "bf.safetensors")[0]["w"]
    assert w.dtype == np.float32 and w.tolist() == [1.5, -2.0, 3.0]


def test_write_rejects_what_it_cannot_store(tmp_path):
    with pytest.raises(TypeError, match="cannot store dtype complex128"):
        write_safetensors(tmp_path / "x", {"c": np.zeros(2, complex)})
    with pytest.raises(ValueError, match="invalid tensor name"):
        write_safetensors(tmp_path / "x", {"__metadata__": np.zeros(2)})
    with pytest.raises(ValueError, match="metadata must map str to str"):
        write_safetensors(tmp_path / "x", {"a": np.zeros(2)}, {"n": 1})
    assert not (tmp_path / "x").exists()


# -- hostile files ------------------------------------------------------------

def raw_file(header, data=b"", header_len=None, pad=True):
    raw = json.dumps(header).encode() if not isinstance(header, bytes) else header
    if pad:
        raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw) if header_len is None else header_len) + raw + data


def entry(dtype="F32", shape=(2,), offsets=(0, 8)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


HOSTILE = {
    "empty file": (b"", "truncated"),
    "short length": (b"\x10\x00\x00", "truncated"),
    "wrong magic (zip)": (b"PK\x03\x04" + b"\x00" * 60, "header claims"),
    "wrong magic (pickle)": (struct.pack("<Q", 8) + b"\x80\x04\x95abcde", "wrong magic"),
    "header longer than file": (raw_file({"a": entry()}, b"\x00" * 8, header_len=4000), "header claims 4,000 bytes"),
    "header length 2**63": (raw_file({}, header_len=2**63), "header claims"),
    "header not JSON": (raw_file(b"{not json", pad=True), "not valid JSON"),
    "header not UTF-8": (raw_file(b'{"\xff":1}'), "not valid UTF-8"),
    "header a list": (raw_file(b"{}") [:8] + b"[]      ", "wrong magic"),
    "duplicate names": (raw_file(b'{"a":' + json.dumps(entry()).encode() + b',"a":'
                                 + json.dumps(entry(offsets=(8, 16))).encode() + b"}", b"\x00" * 16),
                        "duplicate name 'a'"),
    "deep nesting": (raw_file(b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}"), "nests 5001 levels deep, more than the limit of 4"),
    "unknown dtype": (raw_file({"a": entry("F8_E4M3", (8,))}, b"\x00" * 8), "unsupported dtype 'F8_E4M3'"),
    "dtype mismatch": (raw_file({"a": entry("F64", (2,))}, b"\x00" * 8), "dtype/shape mismatch"),
    "shape product overflows int64": (raw_file({"a": entry("F32", (2**62, 2**62, 4), (0, 8))}, b"\x00" * 8),
                                      "dtype/shape mismatch"),
    "huge declared size": (raw_file({"a": entry("F32", (2**40,), (0, 2**42))}, b"\x00" * 8),
                           "lie outside the 8 data bytes"),
    "negative dim": (raw_file({"a": entry(shape=(-2,))}, b"\x00" * 8), "non-negative integers"),
    "bool dim": (raw_file({"a": entry(shape=(True, 2))}, b"\x00" * 8), "non-negative integers"),
    "float offsets": (raw_file({"a": entry(offsets=(0.0, 8))}, b"\x00" * 8), "two integers"),
    "extra field": (raw_file({"a": dict(entry(), x=1)}, b"\x00" * 8), "exactly dtype, shape and data_offsets"),
    "overlap": (raw_file({"a": entry(), "b": entry(offsets=(4, 12))}, b"\x00" * 12), "overlaps"),
    "hole": (raw_file({"a": entry(offsets=(4, 12))}, b"\x00" * 12), "leaves a hole"),
    "trailing bytes": (raw_file({"a": entry()}, b"\x00" * 12), "cover 8 of 12"),
    "truncated data": (raw_file({"a": entry()}, b"\x00" * 5), "lie outside the 5 data bytes"),
    "metadata not strings": (raw_file({"__metadata__": {"a": 1}}), "__metadata__ must map strings"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_file_is_a_value_error_naming_file_and_problem(tmp_path, case):
    data, problem = HOSTILE[case]
    path = tmp_path / "hostile.safetensors"
    path.write_bytes(data)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as info:
            read_safetensors(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(info.value, FileFormatError)
    assert str(path) in str(info.value) and problem in str(info.value), str(info.value)
    assert peak < 32 * 2**20  # nothing close to the declared sizes was allocated


def test_every_truncation_of_a_valid_file_is_rejected(tmp_path):
    path = tmp_path / "t.safetensors"
    write_safetensors(path, sample_tensors())
    data = path.read_bytes()
    for cut in range(len(data)):
        path.write_bytes(data[:cut])
        with pytest.raises(FileFormatError, match="t.safetensors"):
            read_safetensors(path)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_safetensors(tmp_path / "nope.safetensors")
