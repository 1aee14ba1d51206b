import os
import sys

import pytest

# Tests import the gradcheck helper as a plain module.
sys.path.insert(0, os.path.dirname(__file__))

import nnkit  # noqa: E402
from nnkit.layers import clear_session  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_names_and_seed():
    """Every test starts with conv2d, dense, ... names free and the same seed."""
    clear_session()
    nnkit.set_seed(0)
    yield
    clear_session()
