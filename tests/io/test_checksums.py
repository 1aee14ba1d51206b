"""Per-tensor CRC-32s in the safetensors metadata: a flipped bit in the data is an error naming the tensor;
files without them (other writers, older nnkit) still load; the file stays plain safetensors."""
import json
import struct

import numpy as np
import pytest

import nnkit
from nnkit import optimizers
from nnkit.io import checkpoint, model_io
from nnkit.io.errors import FileFormatError
from nnkit.io.safetensors_io import (CHECKSUM_KEY, METADATA_CHECKSUM_KEY, read_metadata, read_safetensors,
                                     write_safetensors)
from nnkit.layers import Dense
from nnkit.models.sequential import Sequential


def split(data):
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), 8 + n


def join(header, body):
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + body


def flip_a_bit(path, tensor):
    data = bytearray(path.read_bytes())
    header, start = split(data)
    begin, end = header[tensor]["data_offsets"]
    data[start + (begin + end) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def edit_header(path, edit):
    data = path.read_bytes()
    header, start = split(data)
    edit(header)
    path.write_bytes(join(header, data[start:]))


def model():
    m = Sequential([Dense(4, input_shape=(3,), name="d1"), Dense(2, name="d2")], name="m")
    m.optimizer = optimizers.Adam()
    for w in m.trainable_weights:
        w.grad = np.ones_like(w.data)
    m.optimizer.apply_gradients(m.trainable_weights)
    return m


SAVES = {
    "model": (lambda m, p: model_io.save_model(m, p), lambda p: model_io.load_model(p)),
    "weights": (lambda m, p: model_io.save_weights(m, p), lambda p: model_io.load_weights(model(), p)),
    "checkpoint": (lambda m, p: checkpoint.save_checkpoint(p, m, epoch=1, step=2),
                   lambda p: checkpoint.load_checkpoint(p, restore_rng=False)),
}


def test_round_trip_and_the_entry_is_hidden(tmp_path):
    tensors = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array(7, np.int64),
               "empty": np.zeros((0, 4))}
    write_safetensors(tmp_path / "t", tensors, {"note": "x"})
    header, _ = split((tmp_path / "t").read_bytes())
    assert set(json.loads(header["__metadata__"][CHECKSUM_KEY])) == set(tensors)
    got, metadata = read_safetensors(tmp_path / "t")
    assert metadata == {"note": "x"} == read_metadata(tmp_path / "t")
    for name in tensors:
        np.testing.assert_array_equal(got[name], tensors[name])


@pytest.mark.parametrize("kind", sorted(SAVES))
def test_a_flipped_bit_in_any_tensor_is_an_error_naming_it(tmp_path, kind):
    save, load = SAVES[kind]
    save(model(), tmp_path / "f")
    names = [n for n in split((tmp_path / "f").read_bytes())[0] if n != "__metadata__"]
    assert len(names) >= 4 and (kind == "weights" or any(n.startswith("__optimizer__") for n in names))
    for name in names:
        save(model(), tmp_path / "f")
        flip_a_bit(tmp_path / "f", name)
        with pytest.raises(FileFormatError) as info:
            load(tmp_path / "f")
        message = str(info.value)
        assert str(tmp_path / "f") in message and repr(name) in message and "checksum" in message


@pytest.mark.parametrize("kind", sorted(SAVES))
def test_files_without_checksums_still_load(tmp_path, kind):
    save, load = SAVES[kind]
    save(model(), tmp_path / "f")
    edit_header(tmp_path / "f", lambda h: [h["__metadata__"].pop(k) for k in (CHECKSUM_KEY, METADATA_CHECKSUM_KEY)])
    assert load(tmp_path / "f") is not None


@pytest.mark.parametrize("kind", sorted(SAVES))
def test_a_changed_metadata_entry_is_an_error(tmp_path, kind):
    save, load = SAVES[kind]
    save(model(), tmp_path / "f")
    edit_header(tmp_path / "f", lambda h: h["__metadata__"].update(kind=h["__metadata__"]["kind"] + " "))
    with pytest.raises(FileFormatError, match="the metadata does not match its checksum"):
        load(tmp_path / "f")


@pytest.mark.parametrize("value,problem", [
    ('{"d1/kernel": "0"}', "must map tensor names to 8 hex digits"),
    ("[1, 2]", "must map tensor names"),
    ('{"nope": "00000000"}', "does not list exactly"),
    ("{", "tensor_crc32"),
])
def test_a_damaged_checksum_entry_is_an_error(tmp_path, value, problem):
    model_io.save_weights(model(), tmp_path / "f")
    edit_header(tmp_path / "f", lambda h: h["__metadata__"].update({CHECKSUM_KEY: value}) or
                h["__metadata__"].pop(METADATA_CHECKSUM_KEY))
    with pytest.raises(FileFormatError, match=problem):
        read_safetensors(tmp_path / "f")


def test_the_key_is_reserved_for_the_writer(tmp_path):
    for key in (CHECKSUM_KEY, METADATA_CHECKSUM_KEY):
        with pytest.raises(ValueError, match=key):
            write_safetensors(tmp_path / "f", {"a": np.ones(2)}, {key: "{}"})


def test_other_readers_read_the_file(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")  # an optional interop check
    m = model()
    m.save(tmp_path / "m.nnk")
    loaded = safetensors_numpy.load_file(str(tmp_path / "m.nnk"))
    for w in m.weights:
        np.testing.assert_array_equal(loaded[w.name], w.data)
    assert nnkit.load_model(tmp_path / "m.nnk").count_params() == m.count_params()
