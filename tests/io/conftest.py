"""Shared pieces of the persistence tests: fresh layer names and a small model."""
import numpy as np
import pytest

import nnkit
from nnkit.layers import BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D, naming
from nnkit.models.sequential import Sequential


@pytest.fixture(autouse=True)
def fresh_layer_names():
    naming.clear_session()
    yield
    naming.clear_session()


def make_cnn(seed=0, classes=5):
    """Conv -> BatchNorm -> pool -> Flatten -> Dropout -> Dense on (8, 8, 2) inputs."""
    nnkit.set_seed(seed)
    return Sequential([Conv2D(4, 3, padding="same", activation="relu", input_shape=(8, 8, 2)),
                       BatchNormalization(), MaxPooling2D(2), Flatten(), Dropout(0.25), Dense(classes)],
                      name="cnn")


@pytest.fixture
def cnn():
    return make_cnn


@pytest.fixture
def images():
    return np.random.default_rng(1).standard_normal((6, 8, 8, 2)).astype(np.float32)
