"""The explain-and-landscape example runs end to end (tiny settings) and writes its pictures."""
import pathlib
import runpy
import sys

import pytest

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "explain_and_landscape.py"


@pytest.mark.slow
def test_example_writes_its_pictures(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    if not EXAMPLE.exists():
        pytest.skip("examples/ is not beside the tests (installed package)")
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE), "--quick", "--out", str(tmp_path)])
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    names = {"lrp_fashion_mnist.png", "landscape_resnet_with_skip.png", "landscape_resnet_without_skip.png",
             "landscape_interpolation.png"}
    assert names <= {p.name for p in tmp_path.iterdir()}
    for name in names:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
