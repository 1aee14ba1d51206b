import os
import sys

import pytest

# Tests import the gradcheck helper as a plain module.
sys.path.insert(0, os.path.dirname(__file__))
# Tests that ask for n threads get n threads, however busy the machine (the adaptive team, nnkit.threads,
# has tests of its own); children started by tests inherit this.
os.environ.setdefault("NNKIT_DYNAMIC_THREADS", "0")

import nnkit  # noqa: E402
from nnkit.layers import clear_session, registry  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_names_and_seed():
    """Every test starts with conv2d, dense, ... names free, the same seed, and only the built-in classes
    registered (a test's @nnkit.register does not leak into the next)."""
    clear_session()
    nnkit.set_seed(0)
    registered = dict(registry._REGISTRY)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(registered)
    clear_session()
