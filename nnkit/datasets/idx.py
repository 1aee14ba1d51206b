"""The IDX file format (MNIST, Fashion-MNIST): reader, memory-mapped reader and writer.

An IDX file is a 4-byte magic number — two zero bytes, a type code and the
number of dimensions — then one big-endian uint32 per dimension, then the
values in C order, big-endian.  Files may be gzip-compressed (detected by
their content, not their name).

Every reader checks the magic, the type code, and that the data is exactly
as long as the header says; a bad file raises ``ValueError`` naming the
file and the problem, without allocating more than the file really holds.
"""
import gzip
import os
import struct
import zlib

import numpy as np

__all__ = ["read_idx", "read_idx_header", "idx_memmap", "write_idx", "IDX_TYPES"]

IDX_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
             0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_CODES = {dt.newbyteorder("=").str[1:]: code for code, dt in IDX_TYPES.items()}
_PIECE = 1 << 24


def _is_gzip(path):
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _parse_header(path, read):
    magic = read(4)
    if len(magic) < 4:
        raise ValueError(f"{path}: not an IDX file: only {len(magic)} bytes, too short for the 4-byte magic number")
    zero, code, ndim = struct.unpack(">HBB", magic)
    if zero != 0:
        raise ValueError(f"{path}: not an IDX file: bad magic number {magic.hex()} (must start with two zero bytes)")
    if code not in IDX_TYPES:
        raise ValueError(f"{path}: not an IDX file: unknown type code 0x{code:02x}; valid: "
                         f"{', '.join(f'0x{c:02x}' for c in IDX_TYPES)}")
    if ndim == 0:
        raise ValueError(f"{path}: IDX header declares 0 dimensions")
    raw = read(4 * ndim)
    if len(raw) < 4 * ndim:
        raise ValueError(f"{path}: truncated IDX header: {ndim} dimensions declared but only {len(raw)} of "
                         f"{4 * ndim} size bytes present")
    shape = struct.unpack(f">{ndim}I", raw)
    return IDX_TYPES[code], tuple(int(s) for s in shape), 4 + 4 * ndim


def read_idx_header(path):
    """``(dtype, shape, header_bytes)`` of an IDX file (gzip or not)."""
    path = os.fspath(path)
    opener = gzip.open if _is_gzip(path) else open
    try:
        with opener(path, "rb") as f:
            return _parse_header(path, f.read)
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: corrupt gzip stream while reading the IDX header: {e}") from None


def _expected_bytes(path, dtype, shape):
    n = 1
    for s in shape:
        n *= s
    return n * dtype.itemsize


def read_idx(path):
    """The array in an IDX file (``.gz`` or plain), in native byte order.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for a
    corrupt one (bad magic, unknown type, truncated or over-long data, bad gzip).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"IDX file not found: {path}")
    opener = gzip.open if _is_gzip(path) else open
    try:
        with opener(path, "rb") as f:
            dtype, shape, _ = _parse_header(path, f.read)
            expected = _expected_bytes(path, dtype, shape)
            pieces, got = [], 0
            while got < expected:  # grows only with the bytes really present
                piece = f.read(min(_PIECE, expected - got))
                if not piece:
                    break
                pieces.append(piece)
                got += len(piece)
            trailing = f.read(1)
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise ValueError(f"{path}: corrupt gzip stream: {e}") from None
    if got < expected:
        raise ValueError(f"{path}: truncated IDX data: the header declares shape {shape} of {dtype.newbyteorder('=')} "
                         f"({expected} bytes) but only {got} bytes follow")
    if trailing:
        raise ValueError(f"{path}: IDX data longer than its header declares (shape {shape}, {expected} bytes)")
    return np.frombuffer(b"".join(pieces), dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def idx_memmap(path):
    """A read-only memory map of an uncompressed IDX file (for out-of-core reading)."""
    path = os.fspath(path)
    if _is_gzip(path):
        raise ValueError(f"{path}: a gzip-compressed IDX file cannot be memory-mapped; decompress it first "
                         f"(gunzip -k) or read it whole with read_idx")
    dtype, shape, offset = read_idx_header(path)
    expected = _expected_bytes(path, dtype, shape)
    size = os.path.getsize(path) - offset
    if size != expected:
        raise ValueError(f"{path}: IDX data is {size} bytes but the header declares shape {shape} "
                         f"({expected} bytes)")
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)


def write_idx(path, array, compress=None):
    """Write ``array`` as IDX; gzip it when ``compress`` is true (default: when ``path`` ends in ``.gz``)."""
    path = os.fspath(path)
    array = np.asarray(array)
    code = _CODES.get(array.dtype.newbyteorder("=").str[1:])
    if code is None:
        raise TypeError(f"write_idx: dtype {array.dtype} has no IDX type code; valid: uint8, int8, int16, int32, "
                        f"float32, float64")
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"write_idx: expected 1 to 255 dimensions, got shape {array.shape}")
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    body = np.ascontiguousarray(array, dtype=IDX_TYPES[code]).tobytes()
    compress = path.endswith(".gz") if compress is None else compress
    if compress:
        with gzip.GzipFile(path, "wb", compresslevel=9, mtime=0) as f:
            f.write(header + body)
    else:
        with open(path, "wb") as f:
            f.write(header + body)
