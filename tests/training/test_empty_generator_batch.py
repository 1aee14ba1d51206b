"""A generator yielding an empty batch gets an error naming the op and the shape (it was NumPy's
"cannot reshape array of size 0 into shape (0,newaxis)")."""
import numpy as np
import pytest

from nnkit.layers import Dense
from nnkit.models.sequential import Sequential


@pytest.mark.parametrize("item", [(np.zeros((0, 3), np.float32), np.zeros((0, 2))), np.zeros((0, 3), np.float32),
                                  (np.float32(1.0), np.zeros(2))])
@pytest.mark.parametrize("op", ["fit", "evaluate", "predict"])
def test_an_empty_generated_batch_is_an_error(item, op):
    model = Sequential([Dense(2, input_shape=(3,))])
    model.compile(optimizer="sgd", loss="mse")

    def batches():
        yield np.ones((2, 3), np.float32), np.zeros((2, 2))
        yield item

    with pytest.raises(ValueError) as info:
        getattr(model, op)(batches(), verbose=0)
    message = str(info.value)
    assert message.startswith(op) and ("empty batch (0 samples)" in message or "leading sample axis" in message)
