"""Fuzz: mutated saved files either load or raise a ValueError naming the file.

Valid files of each kind (a model with optimizer state, a training checkpoint,
a weights file) are mutated by byte flips, random overwrites, truncation,
insertion, deletion, duplication of a span, and a forged header length, with
positions biased towards the JSON header where the structure lives; and, so
that mutations also reach the model/optimizer/training JSON behind a valid
header, by structure-aware edits: a JSON token (number, string, literal,
bracket) of one metadata entry replaced by another value, or a character of
it flipped, with the header re-encoded consistently.  Loading must succeed or
raise ``FileFormatError`` (a ``ValueError``) whose message names the file:
never another exception or a crash.
"""
import json
import re
import struct

import numpy as np
import pytest

from hypothesis import HealthCheck, given, settings, strategies as st  # in the test extra: missing is a failure

from nnkit import optimizers  # noqa: E402
from nnkit.io import checkpoint, model_io, rng_state  # noqa: E402
from nnkit.io.errors import FileFormatError  # noqa: E402
from nnkit.io.safetensors_io import METADATA_CHECKSUM_KEY  # noqa: E402
from nnkit.layers import BatchNormalization, Dense, Dropout, naming  # noqa: E402
from nnkit.models.sequential import Sequential  # noqa: E402


def make_model():
    naming.clear_session()
    return Sequential([Dense(4, activation="relu", input_shape=(3,)), BatchNormalization(), Dropout(0.5, seed=1),
                       Dense(2)], name="fuzzed")


@pytest.fixture(scope="module")
def valid_files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("valid")
    model = make_model()
    model.optimizer = optimizers.Adam(learning_rate=0.01)
    for w in model.trainable_weights:
        w.grad = np.ones_like(w.data)
    model.optimizer.apply_gradients(model.trainable_weights)
    files = {}
    for kind, save in [("model", lambda p: model_io.save_model(model, p)),
                       ("checkpoint", lambda p: checkpoint.save_checkpoint(
                           p, model, epoch=2, step=8, history={"loss": [0.5, np.float32(0.25)]},
                           state={"position": np.int64(3)})),
                       ("weights", lambda p: model_io.save_weights(model, p))]:
        save(directory / kind)
        files[kind] = (directory / kind).read_bytes()
    return files


def load(kind, path):
    if kind == "model":
        model_io.load_model(path)
    elif kind == "checkpoint":
        checkpoint.load_checkpoint(path)
    else:
        model_io.load_weights(make_model(), path)


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null|[\[\]{}]')
_REPLACEMENTS = st.sampled_from(["0", "-1", "1", "7", "4096", "2.5", "-0.0", "1e308", "NaN", "true", "null", '""',
                                 '"relu"', '"Dense"', '"float64"', '"same"', "[]", "{}", "[1, 2]", '{"a": 1}'])


def _metadata_edit(draw, data):
    """Edit one JSON token of one metadata entry; re-encode the header so that it stays valid.

    The metadata checksum goes (as in a file from a writer that records none), so that the edit reaches the
    parsers behind it; the tensor checksums stay, and may be the entry edited."""
    header_len = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + header_len])
    metadata = header["__metadata__"]
    metadata.pop(METADATA_CHECKSUM_KEY)
    key = draw(st.sampled_from(sorted(metadata)))
    text = metadata[key]
    tokens = list(_TOKEN.finditer(text))
    token = tokens[draw(st.integers(0, len(tokens) - 1))] if tokens else None
    if token is None or draw(st.booleans()):
        pos = draw(st.integers(0, max(0, len(text) - 1)))
        text = text[:pos] + draw(st.characters(codec="utf-8")) + text[pos + 1:]
    else:
        text = text[:token.start()] + draw(_REPLACEMENTS) + text[token.end():]
    metadata[key] = text
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + data[8 + header_len:]


@st.composite
def mutations(draw, data):
    header_end = 8 + struct.unpack("<Q", data[:8])[0]
    kind = draw(st.sampled_from(["flip", "overwrite", "truncate", "insert", "delete", "duplicate", "length",
                                 "metadata", "metadata"]))
    if kind == "metadata":
        return _metadata_edit(draw, data)
    in_header = draw(st.booleans())
    pos = draw(st.integers(0, (header_end if in_header else len(data)) - 1))
    if kind == "flip":
        return data[:pos] + bytes([data[pos] ^ draw(st.integers(1, 255))]) + data[pos + 1:]
    if kind == "overwrite":
        patch = draw(st.binary(min_size=1, max_size=8))
        return data[:pos] + patch + data[pos + len(patch):]
    if kind == "truncate":
        return data[:pos]
    if kind == "insert":
        return data[:pos] + draw(st.binary(min_size=1, max_size=16)) + data[pos:]
    span = draw(st.integers(1, 64))
    if kind == "delete":
        return data[:pos] + data[pos + span:]
    if kind == "duplicate":
        return data[:pos] + data[pos:pos + span] * 2 + data[pos + span:]
    forged = draw(st.one_of(st.integers(0, 2**64 - 1), st.integers(header_end - 16, header_end + 16)))
    return struct.pack("<Q", max(0, forged)) + data[8:]


@pytest.fixture(scope="module", autouse=True)
def keep_random_state():
    saved = rng_state.capture()
    yield
    rng_state.restore(saved)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_files_load_or_raise_a_value_error_naming_the_file(tmp_path, valid_files, data):
    kind = data.draw(st.sampled_from(sorted(valid_files)))
    mutated = data.draw(mutations(valid_files[kind]))
    path = tmp_path / f"mutated_{kind}.nnkit"
    path.write_bytes(mutated)
    try:
        load(kind, path)
    except FileFormatError as exc:
        assert isinstance(exc, ValueError) and str(path) in str(exc)


def test_the_unmutated_files_load(tmp_path, valid_files):
    for kind, data in valid_files.items():
        (tmp_path / kind).write_bytes(data)
        load(kind, tmp_path / kind)
