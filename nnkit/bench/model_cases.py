"""Whole-model cases: a training step (forward + backward + optimizer update)
through ``train_on_batch``, as users run it, and batch-1 inference latency;
the same architectures written in PyTorch (NCHW, its native CPU layout)."""
import os
import tempfile

import numpy as np

from nnkit import layers as L
from nnkit.bench.case import Case
from nnkit.bench.jax_cases import jax_train_step
from nnkit.losses import SparseCategoricalCrossentropy
from nnkit.models import Sequential

rng = np.random.default_rng(0)


def lenet5_layers():
    return [L.Conv2D(6, 5, padding="same", activation="relu"), L.MaxPooling2D(2),
            L.Conv2D(16, 5, activation="relu"), L.MaxPooling2D(2), L.Flatten(),
            L.Dense(120, activation="relu"), L.Dense(84, activation="relu"), L.Dense(10)]


MLP_SIZES = (784, 512, 512, 10)


def mlp_layers():
    return [L.Flatten(), L.Dense(512, activation="relu"), L.Dense(512, activation="relu"), L.Dense(10)]


def vgg_block_layers():
    def conv_bn_relu(filters):
        return [L.Conv2D(filters, 3, padding="same", use_bias=False), L.BatchNormalization(), L.ReLU()]
    return (conv_bn_relu(64) + conv_bn_relu(64) + [L.MaxPooling2D(2)] + conv_bn_relu(128)
            + [L.MaxPooling2D(2), L.Flatten(), L.Dense(10)])


def keras_example_layers():
    return [L.Conv2D(16, 3, padding="same", activation="relu"), L.MaxPooling2D(2),
            L.Conv2D(32, 3, padding="same", activation="relu"), L.MaxPooling2D(2), L.Flatten(), L.Dense(10)]


def torch_lenet5():
    from torch import nn
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84),
                         nn.ReLU(), nn.Linear(84, 10))


def torch_mlp():
    from torch import nn
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                         nn.Linear(512, 10))


def torch_vgg_block():
    from torch import nn

    def conv_bn_relu(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout, eps=1e-3), nn.ReLU()]
    return nn.Sequential(*conv_bn_relu(3, 64), *conv_bn_relu(64, 64), nn.MaxPool2d(2), *conv_bn_relu(64, 128),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(128 * 8 * 8, 10))


def torch_keras_example():
    from torch import nn
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 25 * 25, 10))


def _data(batch, shape):
    return rng.standard_normal((batch,) + shape).astype(np.float32), rng.integers(0, 10, batch)


def dense_step_flops(batch, sizes):
    """The GEMM flops of one training step of a dense stack (``sizes``: features in, then each layer's
    units): forward and weight gradients, and input gradients for every layer but the first."""
    macs = [n_in * n_out for n_in, n_out in zip(sizes, sizes[1:])]
    return 2.0 * batch * (2 * sum(macs) + sum(macs[1:]))


def train_case(name, make_layers, make_torch, shape, batch=64, optimizer="sgd", jax_name=None, dense_sizes=None):
    """``optimizer``: "sgd" (lr 0.01, no momentum) or "adam" (Keras' defaults), in every framework;
    ``jax_name``: the network in ``nnkit.bench.jax_cases`` (a JAX column when JAX is installed);
    ``dense_sizes``: for a dense stack, its sizes, so the row is set against the sgemm roofline."""
    x, y = _data(batch, shape)

    def nnkit_fn(backend):
        model = Sequential(make_layers())
        model.build((None,) + shape)
        model.compile(optimizer=optimizer, loss=SparseCategoricalCrossentropy(from_logits=True))
        return lambda: model.train_on_batch(x, y)

    def torch_fn():
        import torch
        model = make_torch()
        opt = (torch.optim.SGD(model.parameters(), lr=0.01) if optimizer == "sgd"
               else torch.optim.Adam(model.parameters(), lr=0.001, eps=1e-7))
        loss_fn = torch.nn.CrossEntropyLoss()
        tx, ty = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))), torch.from_numpy(y)

        def step():
            opt.zero_grad()
            loss_fn(model(tx), ty).backward()
            opt.step()
        return step

    suffix = "" if optimizer == "sgd" else f" {optimizer}"
    others = {"jax": jax_train_step(jax_name, batch, optimizer)} if jax_name else {}
    flops = dense_step_flops(batch, dense_sizes) if dense_sizes else 0.0
    return Case(f"train step {name} b{batch}{suffix}", "model", flops, batch, nnkit_fn, torch_fn,
                gemm_bound=bool(dense_sizes), others=others)


def inference_case(name, make_layers, make_torch, shape):
    """Batch-1 latency: nnkit's ``predict_on_batch`` (its inference plan), PyTorch eager, and onnxruntime on
    nnkit's own ONNX export of the same network (when onnx and onnxruntime are installed)."""
    x = rng.standard_normal((1,) + shape).astype(np.float32)

    def build():
        model = Sequential(make_layers())
        model.build((None,) + shape)
        return model

    def nnkit_fn(backend):
        model = build()
        return lambda: model.predict_on_batch(x)

    def onnxruntime_fn(threads):
        try:
            import onnxruntime
            from nnkit.io import export_onnx
        except ImportError:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.onnx")
            export_onnx(build(), path, batch_size=1)
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
            session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: x}
        return lambda: session.run(None, feed)

    def torch_fn():
        import torch
        model = make_torch().eval()
        tx = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))

        def run():
            with torch.no_grad():
                model(tx)
        return run

    return Case(f"inference {name} b1", "model", 0.0, 1, nnkit_fn, torch_fn,
                others={"onnxruntime": onnxruntime_fn})


def model_cases():
    return [
        train_case("LeNet-5 28x28x1", lenet5_layers, torch_lenet5, (28, 28, 1), jax_name="lenet5"),
        train_case("MLP 784-512-512-10", mlp_layers, torch_mlp, (28, 28, 1), jax_name="mlp", dense_sizes=MLP_SIZES),
        train_case("MLP 784-512-512-10", mlp_layers, torch_mlp, (28, 28, 1), optimizer="adam", jax_name="mlp",
                   dense_sizes=MLP_SIZES),
        train_case("VGG block 32x32x3", vgg_block_layers, torch_vgg_block, (32, 32, 3), jax_name="vgg_block"),
        train_case("Keras example 100x100x3", keras_example_layers, torch_keras_example, (100, 100, 3),
                   jax_name="keras_example"),
        inference_case("LeNet-5 28x28x1", lenet5_layers, torch_lenet5, (28, 28, 1)),
    ]
