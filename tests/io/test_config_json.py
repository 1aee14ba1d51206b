"""Bounded JSON: depth checked before parsing, duplicates and garbage rejected."""
import json

import pytest

from nnkit.io import config_json
from nnkit.io.errors import FileFormatError


def test_round_trip_keeps_order_and_special_floats():
    obj = {"z": 1, "a": [1.5, float("inf"), None, "é", {"b": True}]}
    text = config_json.dumps(obj)
    back = config_json.loads(text, "cfg.json")
    assert list(back) == ["z", "a"] and back["a"][1] == float("inf") and back == obj


def test_depth_counts_brackets_outside_strings_only():
    assert config_json.nesting_depth(b'{"a": "[[[[{{{{", "b": [[1]]}') == 3
    assert config_json.nesting_depth(b'["\\"[[[["]') == 1
    assert config_json.nesting_depth(b"[" * 3_000_000) == 3_000_000  # spans several chunks


def test_absurd_nesting_is_refused_before_json_recurses(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(FileFormatError, match=r"deep.json.*nests 200000 levels deep, more than the limit of 100"):
        config_json.read(path)
    assert config_json.loads("[" * 100 + "]" * 100, max_depth=100)


@pytest.mark.parametrize("text, problem", [
    ('{"a": 1, "a": 2}', "duplicate name 'a'"),
    ('{"a": ', "not valid JSON"),
    ("", "not valid JSON"),
    ("1" * 5000, "not valid JSON"),  # Python's int digit limit, still a ValueError naming the file
])
def test_bad_json_is_a_value_error_naming_the_source(text, problem):
    with pytest.raises(ValueError, match=f"cfg.json.*{problem}"):
        config_json.loads(text, "cfg.json")


def test_size_limit():
    with pytest.raises(FileFormatError, match="more than the limit of 10"):
        config_json.loads(json.dumps(list(range(20))), "x.json", max_bytes=10)
