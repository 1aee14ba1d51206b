"""Orthogonal and Identity initializers (Keras 3): orthonormality, gain, seeding, config, bad shapes."""
import numpy as np
import pytest

import nnkit
from nnkit import initializers, layers


@pytest.mark.parametrize("shape", [(5, 5), (8, 3), (3, 8), (3, 3, 4, 6)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_orthogonal_columns_or_rows_are_orthonormal(shape, dtype):
    w = initializers.Orthogonal(gain=2.0, seed=1)(shape, dtype)
    assert w.shape == shape and w.dtype == dtype
    flat = w.reshape(-1, shape[-1]) / 2.0
    gram = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    np.testing.assert_allclose(gram, np.eye(len(gram)), atol=1e-5 if dtype == np.float32 else 1e-12)


def test_orthogonal_is_seeded_and_round_trips():
    a = initializers.Orthogonal(seed=3)((4, 4))
    np.testing.assert_array_equal(a, initializers.Orthogonal(seed=3)((4, 4)))
    nnkit.set_seed(5)
    b = initializers.get("orthogonal")((4, 4))
    nnkit.set_seed(5)
    np.testing.assert_array_equal(b, initializers.get("Orthogonal")((4, 4)))
    again = initializers.get(initializers.serialize(initializers.Orthogonal(gain=0.5, seed=2)))
    assert again.get_config() == {"gain": 0.5, "seed": 2}
    # the signs follow R's diagonal, so the first column is not biased to one sign over many draws
    signs = [np.sign(initializers.Orthogonal(seed=s)((3, 3))[0, 0]) for s in range(40)]
    assert 5 < sum(s > 0 for s in signs) < 35


def test_identity():
    np.testing.assert_array_equal(initializers.Identity(gain=3.0)((2, 3)), 3.0 * np.eye(2, 3))
    assert initializers.get("identity")((3, 3), "float64").dtype == np.float64
    dense = layers.Dense(4, kernel_initializer="identity")
    dense.build((None, 4))
    np.testing.assert_array_equal(dense.kernel.data, np.eye(4))


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"Orthogonal: the weight must be at least 2-D, got shape \(4,\)"):
        initializers.Orthogonal()((4,))
    with pytest.raises(ValueError, match=r"Identity: only 2-D weights .* got shape \(3, 3, 2\) of rank 3"):
        initializers.Identity()((3, 3, 2))
