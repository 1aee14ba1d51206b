"""JSON with bounds: reading configs and headers that may come from anyone.

``loads`` refuses, with a ``FileFormatError`` naming the source, documents
that are too large, nested deeper than ``max_depth`` (checked by a linear scan
*before* parsing, so ``json``'s recursive decoder never sees them), not UTF-8,
not JSON, or holding an object with a repeated key.  ``dumps`` writes the
compact, order-preserving form nnkit stores.
"""
import json
import re

import numpy as np

from nnkit.io.errors import FileFormatError

MAX_JSON_BYTES = 16 * 2**20
MAX_JSON_DEPTH = 100

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_CHUNK = 2**20


def nesting_depth(data):
    """Deepest ``[``/``{`` nesting of JSON bytes, ignoring brackets inside strings.

    A linear scan in 1 MiB chunks (no recursion, memory bounded by the chunk).
    On malformed input the count may be off, but then parsing fails anyway.
    """
    stripped = _STRING.sub(b'""', data)
    depth = deepest = 0
    for start in range(0, len(stripped), _CHUNK):
        chunk = np.frombuffer(stripped, np.uint8, count=min(_CHUNK, len(stripped) - start), offset=start)
        step = ((chunk == ord("[")) | (chunk == ord("{"))).astype(np.int32)
        step -= ((chunk == ord("]")) | (chunk == ord("}"))).astype(np.int32)
        if step.size:
            running = np.cumsum(step) + depth
            deepest = max(deepest, int(running.max()))
            depth = int(running[-1])
    return deepest


def _no_duplicate_keys(source):
    def hook(pairs):
        out = {}
        for key, value in pairs:
            if key in out:
                raise FileFormatError(source, f"duplicate name {key!r} in JSON object")
            out[key] = value
        return out
    return hook


def loads(data, source=None, *, max_depth=MAX_JSON_DEPTH, max_bytes=MAX_JSON_BYTES, what="JSON"):
    """Parse JSON ``data`` (bytes or str) from an untrusted ``source`` (a path, for messages)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if len(data) > max_bytes:
        raise FileFormatError(source, f"{what} is {len(data):,} bytes, more than the limit of {max_bytes:,}")
    depth = nesting_depth(data)
    if depth > max_depth:
        raise FileFormatError(source, f"{what} nests {depth} levels deep, more than the limit of {max_depth}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileFormatError(source, f"{what} is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys(source))
    except FileFormatError:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, int digit limit, ...
        raise FileFormatError(source, f"{what} is not valid JSON ({exc})") from None


def read(path, **kwargs):
    """Read and parse a JSON file with the bounds of ``loads``."""
    max_bytes = kwargs.get("max_bytes", MAX_JSON_BYTES)
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)
    return loads(data, path, **kwargs)


def dumps(obj):
    """Compact JSON, keys in insertion order; NaN and infinities allowed (Python's json reads them)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
