"""A minimal model with the interface the Trainer relies on (independent of nnkit.layers)."""
import numpy as np

from nnkit import functional as F
from nnkit import ops
from nnkit import random as nnrandom
from nnkit.tensor import Tensor
from nnkit.training import Trainer


class ToyDense:
    def __init__(self, name, n_in, n_out):
        scale = np.sqrt(2.0 / n_in)
        rng = nnrandom.get_rng()
        self.name = name
        self.kernel = Tensor((rng.standard_normal((n_in, n_out)) * scale).astype(np.float32), requires_grad=True,
                             name=f"{name}/kernel")
        self.bias = Tensor(np.zeros(n_out, np.float32), requires_grad=True, name=f"{name}/bias")
        self.n_in = n_in

    @property
    def trainable_weights(self):
        return [self.kernel, self.bias]

    def call(self, x, training=None):
        if x.shape[-1] != self.n_in:
            raise ValueError(f"ToyDense '{self.name}': expected input of shape (None, {self.n_in}), got {x.shape}")
        return F.linear(x, self.kernel, self.bias)

    def __call__(self, x, training=False):
        return self.call(x, training=training)


class ToyModel(Trainer):
    """Dense layers with ReLU (and optional dropout) between them; float32."""

    def __init__(self, sizes=(4, 16, 3), dropout=0.0, name="toy"):
        self.name, self.dropout = name, dropout
        self.layers = [ToyDense(f"dense_{i}", a, b) for i, (a, b) in enumerate(zip(sizes, sizes[1:]))]
        self.seen = []  # inputs of training-mode calls

    @property
    def trainable_weights(self):
        return [w for layer in self.layers for w in layer.trainable_weights]

    @property
    def weights(self):
        return self.trainable_weights

    def __call__(self, x, training=False):
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x, np.float32))
        if training:
            self.seen.append(x.data.copy())
        for i, layer in enumerate(self.layers):
            x = layer(x, training=training)
            if i < len(self.layers) - 1:
                x = ops.relu(x)
                if self.dropout:
                    x = F.dropout(x, self.dropout, training=training)
        return x

    def save_weights(self, path):
        with open(path, "wb") as f:
            np.savez(f, **{w.name.replace("/", "."): w.data for w in self.weights})

    def get_weights(self):
        return [w.data.copy() for w in self.weights]

    def set_weights(self, arrays):
        for w, a in zip(self.weights, arrays):
            w.data[...] = a


def blobs(n=120, seed=0, classes=3, dim=4):
    """Separable Gaussian blobs: float32 features, int64 labels."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    centres = rng.standard_normal((classes, dim)) * 3
    x = (centres[y] + rng.standard_normal((n, dim))).astype(np.float32)
    return x, y
