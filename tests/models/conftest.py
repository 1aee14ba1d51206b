import pytest

import nnkit
from nnkit.layers import clear_session


@pytest.fixture(autouse=True)
def fresh_names_and_seed():
    """Every test starts with conv2d, dense, ... names free and the same seed."""
    clear_session()
    nnkit.set_seed(0)
    yield
    clear_session()
