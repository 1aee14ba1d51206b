"""LeNet-5 for 28x28 digits (with max pooling and ReLU, as commonly trained today)."""
from nnkit.layers import Conv2D, Dense, Flatten, MaxPooling2D
from nnkit.models.sequential import Sequential


def lenet5(input_shape=(28, 28, 1), classes=10, activation="relu", name="lenet5"):
    """6@5x5 ('same') -> pool -> 16@5x5 -> pool -> 120 -> 84 -> ``classes`` (softmax).

    61,706 parameters for the defaults.
    """
    return Sequential([
        Conv2D(6, 5, padding="same", activation=activation, input_shape=input_shape, name="conv1"),
        MaxPooling2D(2, name="pool1"),
        Conv2D(16, 5, activation=activation, name="conv2"),
        MaxPooling2D(2, name="pool2"),
        Flatten(name="flatten"),
        Dense(120, activation=activation, name="fc1"),
        Dense(84, activation=activation, name="fc2"),
        Dense(classes, activation="softmax", name="predictions"),
    ], name=name)
