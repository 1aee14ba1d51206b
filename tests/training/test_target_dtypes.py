"""Targets that are not numbers (strings, objects with None) are a clear error from the loss, before training;
they failed deep inside NumPy ("ufunc 'minimum' did not contain a loop...")."""
import numpy as np
import pytest

from nnkit import losses
from nnkit.layers import Dense
from nnkit.models.sequential import Sequential

X = np.zeros((4, 3), np.float32)


@pytest.mark.parametrize("loss,y_good", [
    ("sparse_categorical_crossentropy", np.array([0, 1, 0, 1])),
    ("categorical_crossentropy", np.eye(2)[[0, 1, 0, 1]]),
    ("binary_crossentropy", np.array([[0.0, 1.0]] * 4)),
    ("mse", np.zeros((4, 2))),
])
@pytest.mark.parametrize("bad", ["strings", "objects"])
def test_fit_with_non_numeric_targets_names_the_loss(loss, y_good, bad):
    y = y_good.astype(str) if bad == "strings" else y_good.astype(object)
    if bad == "objects":
        y.flat[1] = None
    model = Sequential([Dense(2, input_shape=(3,), activation="sigmoid" if loss == "binary_crossentropy" else "softmax")])
    model.compile(optimizer="sgd", loss=loss)
    with pytest.raises(TypeError) as info:
        model.fit(X, y, verbose=0)
    message = str(info.value)
    assert message.startswith(f"{loss}: expected numeric targets") and f"got dtype {y.dtype}" in message, message
    model.fit(X, y_good, verbose=0)  # the same model trains on numbers


def test_loss_objects_check_targets_directly():
    with pytest.raises(TypeError, match=r"sparse_categorical_crossentropy: expected numeric targets .*'a'"):
        losses.SparseCategoricalCrossentropy().check_targets(np.array(["a", "b"]), (None, 3))
