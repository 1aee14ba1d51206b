"""The sequence examples run end to end (tiny settings): the stateful sunspots LSTM and the word classifier."""
import pathlib
import runpy

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def run(name, argv):
    path = EXAMPLES / name
    if not path.exists():
        pytest.skip("examples/ is not beside the tests (installed package)")
    return runpy.run_path(str(path), run_name="example")["main"](argv)


@pytest.mark.slow
def test_sunspots_stateful_lstm_forecasts_every_test_year():
    results = run("sunspots_lstm.py", ["--epochs", "3", "--units", "8"])
    assert set(results) == {"LSTM (stateful, nnkit)", "AR(9), least squares", "persistence"}
    assert all(np.isfinite(v) and v > 0 for v in results.values())
    assert results["AR(9), least squares"] < results["persistence"]  # the classical baseline is sane


@pytest.mark.slow
def test_word_classifier_ignores_padding():
    results = run("word_language.py", ["--epochs", "1", "--units", "8", "--limit", "256"])
    assert results["padding_shift"] < 1e-6  # masked steps change nothing, in both directions
    assert 0.0 <= results["accuracy"] <= 1.0 and results["baseline"] > 0.6
