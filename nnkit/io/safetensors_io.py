"""Reading and writing the safetensors format, validating everything read.

The format (https://github.com/huggingface/safetensors): an 8-byte
little-endian header length ``N``, ``N`` bytes of JSON mapping each tensor
name to ``{"dtype", "shape", "data_offsets": [begin, end]}`` (plus an
optional ``"__metadata__"`` of string to string), then the raw little-endian,
C-ordered tensor bytes, contiguous and without holes.  Files written here are
read by the ``safetensors`` package and vice versa.

Integrity: the writer stores a CRC-32 of each tensor's bytes in the metadata
(``tensor_crc32``, a JSON object of tensor name to 8 hex digits: still plain
safetensors, readable by any reader) and one of the other metadata entries
(``metadata_crc32``: the architecture and training JSON); the reader checks
them, so a flipped bit in the data or in the metadata is an error (naming the
tensor).  Files without them (other writers, older nnkit) load unchecked.  Both
are details of the file: ``read_safetensors`` and ``read_metadata`` leave them
out of the metadata they return.

The reader trusts nothing: every length is checked against the file's real
size *before* anything is allocated, shape products are computed in Python
integers (no overflow), and each tensor's byte range must match its dtype and
shape exactly.  Any problem is a ``FileFormatError`` (a ``ValueError``) that
names the file.  Writes go through ``atomic_open``.
"""
import os
import re
import struct
import zlib

import numpy as np

from nnkit.io import config_json
from nnkit.io.atomic import atomic_open
from nnkit.io.errors import FileFormatError

MAX_HEADER_BYTES = 16 * 2**20
MAX_NDIM = 64
METADATA_KEY = "__metadata__"
CHECKSUM_KEY = "tensor_crc32"
METADATA_CHECKSUM_KEY = "metadata_crc32"  # of every other metadata entry, the tensor checksums included
_CRC = re.compile(r"[0-9a-f]{8}\Z")

# safetensors dtype code -> NumPy little-endian dtype.  BF16 is read (widened
# to float32) but never written; the F8 formats have no NumPy twin.
DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_READ_ONLY = {"BF16": np.dtype("<u2")}
_CODES = {dtype.newbyteorder("="): code for code, dtype in DTYPES.items()}


def dtype_code(dtype):
    """The safetensors code of a NumPy dtype (``float32`` -> ``"F32"``)."""
    code = _CODES.get(np.dtype(dtype).newbyteorder("="))
    if code is None:
        raise TypeError(f"safetensors: cannot store dtype {np.dtype(dtype)}; supported: "
                        + ", ".join(str(d) for d in DTYPES.values()))
    return code


# -- writing -----------------------------------------------------------------

def write_safetensors(path, tensors, metadata=None):
    """Atomically write ``tensors`` (name -> array) and string ``metadata`` to ``path``."""
    arrays = {}
    for name, value in tensors.items():
        if not isinstance(name, str) or not name or name == METADATA_KEY:
            raise ValueError(f"safetensors: invalid tensor name {name!r}")
        array = np.asarray(value)
        arrays[name] = array.astype(DTYPES[dtype_code(array.dtype)], order="C", copy=False)  # keeps 0-d shape
    metadata = dict(metadata or {})
    bad = [k for k, v in metadata.items()
           if not isinstance(k, str) or not isinstance(v, str) or k in (CHECKSUM_KEY, METADATA_CHECKSUM_KEY)]
    if bad:
        raise ValueError(f"safetensors: metadata must map str to str, and {CHECKSUM_KEY!r} and "
                         f"{METADATA_CHECKSUM_KEY!r} are the writer's; bad entries: {bad!r}")
    metadata[CHECKSUM_KEY] = config_json.dumps({name: _crc32(array) for name, array in arrays.items()})
    metadata[METADATA_CHECKSUM_KEY] = _metadata_crc32(metadata)
    # Widest dtypes first so every tensor stays aligned to its item size.
    order = sorted(arrays, key=lambda n: -arrays[n].dtype.itemsize)
    offsets, end = {}, 0
    for name in order:
        offsets[name] = (end, end + arrays[name].nbytes)
        end += arrays[name].nbytes
    header = {METADATA_KEY: metadata}
    for name, array in arrays.items():
        header[name] = {"dtype": dtype_code(array.dtype), "shape": list(array.shape),
                        "data_offsets": list(offsets[name])}
    raw = config_json.dumps(header).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    with atomic_open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for name in order:
            f.write(_bytes_view(arrays[name]))


# -- reading -----------------------------------------------------------------

class _Entry:
    __slots__ = ("name", "code", "dtype", "shape", "begin", "end", "crc")


def _int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_entry(path, name, info, data_len):
    where = f"tensor {name!r}"
    if not name:
        raise FileFormatError(path, "empty tensor name in header")
    if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
        raise FileFormatError(path, f"{where}: header entry must have exactly dtype, shape and data_offsets")
    entry = _Entry()
    entry.name, entry.code = name, info["dtype"]
    dtype = DTYPES.get(entry.code) if isinstance(entry.code, str) else None
    dtype = dtype or (_READ_ONLY.get(entry.code) if isinstance(entry.code, str) else None)
    if dtype is None:
        raise FileFormatError(path, f"{where}: unsupported dtype {entry.code!r} "
                                    f"(supported: {', '.join([*DTYPES, *_READ_ONLY])})")
    entry.dtype = dtype
    shape = info["shape"]
    if not isinstance(shape, list) or len(shape) > MAX_NDIM or not all(_int(d) and d >= 0 for d in shape):
        raise FileFormatError(path, f"{where}: shape must be a list of at most {MAX_NDIM} "
                                    f"non-negative integers, got {_short(shape)}")
    entry.shape = tuple(shape)
    offsets = info["data_offsets"]
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_int(o) for o in offsets)):
        raise FileFormatError(path, f"{where}: data_offsets must be two integers, got {_short(offsets)}")
    entry.begin, entry.end = offsets
    if not 0 <= entry.begin <= entry.end <= data_len:
        raise FileFormatError(path, f"{where}: data_offsets {offsets} lie outside the "
                                    f"{data_len:,} data bytes the file holds")
    count = 1
    for d in entry.shape:  # Python integers: a huge product cannot overflow
        count *= d
    if count * dtype.itemsize != entry.end - entry.begin:
        raise FileFormatError(path, f"{where}: dtype {entry.code} and shape {list(entry.shape)} need "
                                    f"{count * dtype.itemsize:,} bytes but data_offsets span "
                                    f"{entry.end - entry.begin:,} (dtype/shape mismatch)")
    return entry


def _short(value, limit=80):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _read_header(f, path):
    size = os.fstat(f.fileno()).st_size
    if size < 8:
        raise FileFormatError(path, f"truncated: {size} bytes, too short for the 8-byte header length")
    (header_len,) = struct.unpack("<Q", f.read(8))
    if header_len > size - 8:
        raise FileFormatError(path, f"header claims {header_len:,} bytes but the file holds only "
                                    f"{size - 8:,} after the length (truncated or not safetensors)")
    if header_len > MAX_HEADER_BYTES:
        raise FileFormatError(path, f"header of {header_len:,} bytes exceeds the limit of {MAX_HEADER_BYTES:,}")
    raw = f.read(header_len)
    if len(raw) != header_len:
        raise FileFormatError(path, "truncated while reading the header")
    if not raw.startswith(b"{"):
        raise FileFormatError(path, "wrong magic: the header does not start with '{' (not a safetensors file)")
    header = config_json.loads(raw, path, max_depth=4, max_bytes=MAX_HEADER_BYTES, what="safetensors header")
    if not isinstance(header, dict):
        raise FileFormatError(path, "safetensors header is not a JSON object")
    metadata = header.pop(METADATA_KEY, None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise FileFormatError(path, "__metadata__ must map strings to strings")
    data_len = size - 8 - header_len
    entries = [_parse_entry(path, name, info, data_len) for name, info in header.items()]
    recorded = metadata.pop(METADATA_CHECKSUM_KEY, None)
    if recorded is not None and recorded != _metadata_crc32(metadata):
        raise FileFormatError(path, f"the metadata does not match its checksum (CRC-32 {_metadata_crc32(metadata)}, "
                                    f"the file records {_short(recorded)}): the file is damaged")
    checksums = _read_checksums(path, metadata.pop(CHECKSUM_KEY, None), entries)
    for entry in entries:
        entry.crc = None if checksums is None else checksums[entry.name]
    position = 0
    for entry in sorted(entries, key=lambda e: (e.begin, e.end)):
        if entry.begin != position:
            problem = "overlaps another tensor" if entry.begin < position else "leaves a hole before it"
            raise FileFormatError(path, f"tensor {entry.name!r}: data_offsets {[entry.begin, entry.end]} {problem}")
        position = entry.end
    if position != data_len:
        raise FileFormatError(path, f"tensors cover {position:,} of {data_len:,} data bytes "
                                    "(trailing bytes or a damaged header)")
    return entries, metadata, 8 + header_len


def read_metadata(path):
    """The ``__metadata__`` of a safetensors file, validated like a full read but reading no tensor data."""
    with _open(path) as f:
        return _read_header(f, path)[1]


def read_safetensors(path, names=None):
    """Read ``(tensors, metadata)`` from ``path``; ``names`` limits which tensors are loaded.

    Tensors come back as native-byte-order NumPy arrays (BF16 widened to
    float32), in the order the header lists them.
    """
    with _open(path) as f:
        entries, metadata, data_start = _read_header(f, path)
        tensors = {}
        for entry in entries:
            if names is not None and entry.name not in names:
                continue
            array = np.empty(entry.shape, entry.dtype)
            f.seek(data_start + entry.begin)
            if f.readinto(_bytes_view(array)) != array.nbytes:
                raise FileFormatError(path, f"tensor {entry.name!r}: file truncated while reading its data")
            if entry.crc is not None and _crc32(array) != entry.crc:
                raise FileFormatError(path, f"tensor {entry.name!r}: its data does not match its checksum "
                                            f"(CRC-32 {_crc32(array)}, the file records {entry.crc}): the file "
                                            "is damaged")
            if entry.code in _READ_ONLY:  # BF16: the high half of a float32
                array = (array.astype(np.uint32) << 16).view(np.float32)
            tensors[entry.name] = array.astype(array.dtype.newbyteorder("="), copy=False)
    return tensors, metadata


def _crc32(array):
    """8 hex digits: the CRC-32 of an array's bytes as stored (little-endian, C order)."""
    return f"{zlib.crc32(array.reshape(-1).view(np.uint8)):08x}"


def _metadata_crc32(metadata):
    """8 hex digits: the CRC-32 of the metadata entries (keys sorted, UTF-8)."""
    return f"{zlib.crc32(config_json.dumps(dict(sorted(metadata.items()))).encode('utf-8')):08x}"


def _read_checksums(path, text, entries):
    """The checksum entry as {tensor name: 8 hex digits}, one for every tensor; None when the file has none."""
    if text is None:
        return None
    checksums = config_json.loads(text, path, max_depth=2, what=CHECKSUM_KEY)
    if not isinstance(checksums, dict) or not all(isinstance(v, str) and _CRC.match(v) for v in checksums.values()):
        raise FileFormatError(path, f"{CHECKSUM_KEY} must map tensor names to 8 hex digits")
    names = {entry.name for entry in entries}
    if checksums.keys() != names:
        odd = sorted(names - checksums.keys()) + sorted(checksums.keys() - names)
        raise FileFormatError(path, f"{CHECKSUM_KEY} does not list exactly the file's tensors "
                                    f"(differs on {_short(odd)})")
    return checksums


def _bytes_view(array):
    """A flat byte view of a C-contiguous array (any shape, zero-size included)."""
    return array.reshape(-1).view(np.uint8)


def _open(path):
    return open(path, "rb")  # a missing file stays a FileNotFoundError
