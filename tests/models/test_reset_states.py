"""Model.reset_states (Keras 2's): every stateful layer inside, nested models and Bidirectional included."""
import numpy as np

import nnkit
from nnkit import layers


def test_reset_states_zeroes_every_stateful_layer_and_leaves_others():
    nnkit.set_seed(0)
    inner = nnkit.Sequential([layers.Input(batch_shape=(2, 3, 4)), layers.GRU(3, stateful=True,
                                                                                return_sequences=True)])
    model = nnkit.Sequential([layers.Input(batch_shape=(2, 3, 4)), inner,
                              layers.Bidirectional(layers.LSTM(2, stateful=True)), layers.Dense(1)])
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32)
    first = model.predict(x, batch_size=2, verbose=0)
    second = model.predict(x, batch_size=2, verbose=0)
    assert not np.allclose(first, second)  # the states carried
    model.reset_states()
    np.testing.assert_array_equal(model.predict(x, batch_size=2, verbose=0), first)
