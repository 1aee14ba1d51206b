"""The IDX reader on hand-made files, good and corrupt."""
import gzip
import struct

import numpy as np
import pytest

from nnkit.datasets.idx import idx_memmap, read_idx, read_idx_header, write_idx

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("gz", [False, True])
def test_round_trip(tmp_path, dtype, gz):
    a = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
    path = tmp_path / ("a.idx.gz" if gz else "a.idx")
    write_idx(path, a)
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.dtype.isnative
    np.testing.assert_array_equal(a, b)
    if not gz:
        np.testing.assert_array_equal(idx_memmap(path), a)


def test_hand_made_bytes(tmp_path):
    raw = bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6])
    (tmp_path / "m.idx").write_bytes(raw)
    np.testing.assert_array_equal(read_idx(tmp_path / "m.idx"), [[1, 2, 3], [4, 5, 6]])
    raw16 = bytes([0, 0, 0x0B, 1, 0, 0, 0, 2]) + struct.pack(">hh", -2, 300)
    (tmp_path / "s.idx").write_bytes(raw16)
    np.testing.assert_array_equal(read_idx(tmp_path / "s.idx"), [-2, 300])
    assert read_idx_header(tmp_path / "s.idx")[1:] == ((2,), 8)


def write(tmp_path, raw, name="bad.idx", gz=False):
    path = tmp_path / name
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("raw,message", [
    (b"\x00\x00", "too short"),
    (b"\x01\x00\x08\x01\x00\x00\x00\x01\x00", "bad magic"),
    (b"\x00\x00\x07\x01\x00\x00\x00\x01\x00", "unknown type code 0x07"),
    (b"\x00\x00\x08\x00", "0 dimensions"),
    (b"\x00\x00\x08\x03\x00\x00\x00\x01", "truncated IDX header"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02", r"truncated IDX data.*\(5,\).*only 2 bytes"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x01\x01\x02", "longer than its header"),
    (b"\x00\x00\x08\x02\xff\xff\xff\xff\xff\xff\xff\xff\x00", "truncated IDX data"),  # 16 EB claimed
])
def test_corrupt_files(tmp_path, raw, message, gz):
    path = write(tmp_path, raw, gz=gz)
    with pytest.raises(ValueError, match=message) as e:
        read_idx(path)
    assert str(path) in str(e.value)


def test_corrupt_gzip_and_missing(tmp_path):
    good = gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 100]) + bytes(100))
    path = write(tmp_path, good[:-12], "cut.gz")
    with pytest.raises(ValueError, match="cut.gz"):
        read_idx(path)
    flipped = bytearray(good)
    flipped[-6] ^= 0xFF  # CRC
    with pytest.raises(ValueError, match="corrupt gzip"):
        read_idx(write(tmp_path, bytes(flipped), "crc.gz"))
    with pytest.raises(FileNotFoundError, match="nope.idx"):
        read_idx(tmp_path / "nope.idx")
    short = write(tmp_path, bytes([0, 0, 8, 1, 0, 0, 0, 9, 1]), "short.idx")
    with pytest.raises(ValueError, match="1 bytes but the header declares"):
        idx_memmap(short)


def test_write_rejects_unsupported(tmp_path):
    with pytest.raises(TypeError, match="no IDX type code"):
        write_idx(tmp_path / "a.idx", np.zeros(3, np.uint32))
