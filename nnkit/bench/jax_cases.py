"""JAX (jit-compiled flax + optax) training steps for ``nnkit bench``, in a worker process of their own.

XLA sizes its CPU thread pool when JAX starts, so each thread count gets
its own worker process (``nnkit.bench.worker``), started with its CPU
affinity limited to that many cores.  The worker compiles the same network,
loss and optimizer as the nnkit case and then runs steps when the parent
asks, so JAX alternates with nnkit and PyTorch round by round like every
other column.  Optional: ``pip install "nnkit[bench-jax]"``.
"""
import importlib.util
import os

from nnkit.bench.worker import SERVE, Worker

__all__ = ["jax_available", "jax_train_step"]

WORKER = r'''
import sys
import numpy as np
import jax, jax.numpy as jnp, optax
from flax import linen as nn

name, batch, optimizer = sys.argv[1], int(sys.argv[2]), sys.argv[3]


class LeNet5(nn.Module):
    @nn.compact
    def __call__(self, x, train):
        x = nn.max_pool(nn.relu(nn.Conv(6, (5, 5), padding="SAME")(x)), (2, 2), (2, 2))
        x = nn.max_pool(nn.relu(nn.Conv(16, (5, 5), padding="VALID")(x)), (2, 2), (2, 2))
        x = x.reshape(x.shape[0], -1)
        return nn.Dense(10)(nn.relu(nn.Dense(84)(nn.relu(nn.Dense(120)(x)))))


class MLP(nn.Module):
    @nn.compact
    def __call__(self, x, train):
        x = x.reshape(x.shape[0], -1)
        return nn.Dense(10)(nn.relu(nn.Dense(512)(nn.relu(nn.Dense(512)(x)))))


class VGGBlock(nn.Module):
    @nn.compact
    def __call__(self, x, train):
        for filters, pool in ((64, False), (64, True), (128, True)):
            x = nn.Conv(filters, (3, 3), padding="SAME", use_bias=False)(x)
            x = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.99, epsilon=1e-3)(x))
            if pool:
                x = nn.max_pool(x, (2, 2), (2, 2))
        return nn.Dense(10)(x.reshape(x.shape[0], -1))


class KerasExample(nn.Module):
    @nn.compact
    def __call__(self, x, train):
        x = nn.max_pool(nn.relu(nn.Conv(16, (3, 3), padding="SAME")(x)), (2, 2), (2, 2))
        x = nn.max_pool(nn.relu(nn.Conv(32, (3, 3), padding="SAME")(x)), (2, 2), (2, 2))
        return nn.Dense(10)(x.reshape(x.shape[0], -1))


MODELS = {"lenet5": (LeNet5, (28, 28, 1)), "mlp": (MLP, (28, 28, 1)), "vgg_block": (VGGBlock, (32, 32, 3)),
          "keras_example": (KerasExample, (100, 100, 3))}
cls, shape = MODELS[name]
model = cls()
rng = np.random.default_rng(0)
x = jnp.asarray(rng.standard_normal((batch,) + shape).astype(np.float32))
y = jnp.asarray(rng.integers(0, 10, batch))
variables = model.init(jax.random.PRNGKey(0), x, train=False)
params, stats = variables["params"], variables.get("batch_stats", {})
tx = optax.sgd(0.01) if optimizer == "sgd" else optax.adam(0.001, eps=1e-7)
opt_state = tx.init(params)


@jax.jit
def step_fn(params, stats, opt_state, x, y):
    def loss_fn(p):
        if stats:
            logits, new = model.apply({"params": p, "batch_stats": stats}, x, train=True, mutable=["batch_stats"])
            new_stats = new["batch_stats"]
        else:
            logits, new_stats = model.apply({"params": p}, x, train=True), stats
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), new_stats
    (loss, new_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), new_stats, opt_state, loss


state = (params, stats, opt_state)


def step():
    global state
    *state, loss = step_fn(*state, x, y)
    jax.block_until_ready(loss)


for _ in range(3):  # compile and warm up
    step()
''' + SERVE


def jax_available():
    """Whether flax, jax and optax are installed (found, not imported: JAX stays out of this process)."""
    return all(importlib.util.find_spec(name) is not None for name in ("flax", "jax", "optax"))


def jax_train_step(name, batch=64, optimizer="sgd"):
    """A factory ``threads -> step`` for the JAX version of model case ``name`` (None when JAX is absent)."""
    def factory(threads):
        if not jax_available():
            return None
        env = {"XLA_FLAGS": os.environ.get("XLA_FLAGS", ""), "JAX_PLATFORMS": "cpu"}
        return Worker(WORKER, [name, batch, optimizer], threads, env, f"JAX worker for {name}").step()
    return factory
