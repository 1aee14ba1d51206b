"""Kernel benchmark cases: each op forward, and forward + backward, through
``nnkit.functional`` (so autograd overhead is included, as users see it) and
through ``torch.nn.functional`` on the same shapes."""
import numpy as np

from nnkit import Tensor, image, ops
from nnkit import functional as F
from nnkit.bench.case import Case

rng = np.random.default_rng(0)


def _array(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def _nnkit_step(forward, inputs, backward):
    """A zero-argument callable running ``forward`` (and its backward)."""
    tensors = [Tensor(a, requires_grad=backward) for a in inputs]

    def step():
        out = forward(*tensors)
        if backward:
            out.backward(np.ones(out.shape, out.dtype))
            for t in tensors:
                t.grad = None
    return step


def _torch_step(forward, inputs, backward, layout):
    import torch

    tensors = [torch.from_numpy(np.ascontiguousarray(layout(a) if i == 0 else a)).requires_grad_(backward)
               for i, a in enumerate(inputs)]

    def step():
        out = forward(*tensors)
        if backward:
            out.backward(torch.ones_like(out))
            for t in tensors:
                t.grad = None
    return step


def nhwc_to_nchw(a):
    return a.transpose(0, 3, 1, 2)


def conv_case(name, n, h, w, c, f, k, strides=1, padding="same", groups=1, backward=True):
    x, kernel = _array(n, h, w, c), _array(k, k, c // groups, f) * 0.1
    oh = -(-h // strides) if padding == "same" else (h - k) // strides + 1
    ow = -(-w // strides) if padding == "same" else (w - k) // strides + 1
    flops = 2.0 * n * oh * ow * f * k * k * c / groups * (3 if backward else 1)
    torch_pad = k // 2 if padding == "same" else 0

    def nnkit_fn(backend):
        return _nnkit_step(lambda x, w: F.conv2d(x, w, strides=strides, padding=padding, groups=groups),
                           [x, kernel], backward)

    def torch_fn():
        import torch.nn.functional as tf
        oihw = kernel.transpose(3, 2, 0, 1)
        return _torch_step(lambda x, w: tf.conv2d(x, w, stride=strides, padding=torch_pad, groups=groups),
                           [x, oihw], backward, nhwc_to_nchw)

    kind = "fwd+bwd" if backward else "fwd"
    return Case(f"conv {name} {kind}", "conv", flops, n, nnkit_fn, torch_fn,
                gemm_bound=c // groups >= 64 and f >= 64 and k > 1)


def pool_case(name, n, h, w, c, pool, strides, padding, op="max", backward=True):
    x = _array(n, h, w, c)
    fn = F.max_pool2d if op == "max" else F.avg_pool2d
    torch_pad = pool // 2 if padding == "same" else 0

    def nnkit_fn(backend):
        return _nnkit_step(lambda t: fn(t, pool, strides, padding), [x], backward)

    def torch_fn():
        import torch.nn.functional as tf
        tfn = tf.max_pool2d if op == "max" else (lambda t, k, s, p: tf.avg_pool2d(t, k, s, p, count_include_pad=False))
        return _torch_step(lambda t: tfn(t, pool, strides, torch_pad), [x], backward, nhwc_to_nchw)

    kind = "fwd+bwd" if backward else "fwd"
    return Case(f"{op}pool {name} {kind}", "pool", 0.0, n, nnkit_fn, torch_fn)


def dense_case(n, fin, fout):
    x, w, b = _array(n, fin), _array(fin, fout) * 0.05, _array(fout)

    def nnkit_fn(backend):
        return _nnkit_step(F.linear, [x, w, b], True)

    def torch_fn():
        import torch.nn.functional as tf
        return _torch_step(lambda x, w, b: tf.linear(x, w, b), [x, np.ascontiguousarray(w.T), b], True, lambda a: a)

    return Case(f"dense {n}x{fin}->{fout} fwd+bwd", "dense", 2.0 * n * fin * fout * 3, n, nnkit_fn, torch_fn,
                gemm_bound=True)


def batch_norm_case(n, h, w, c):
    x, gamma, beta = _array(n, h, w, c), np.ones(c, np.float32), np.zeros(c, np.float32)

    def nnkit_fn(backend):
        mean, var = np.zeros(c, np.float32), np.ones(c, np.float32)
        return _nnkit_step(lambda x, g, b: F.batch_norm(x, g, b, mean, var, training=True), [x, gamma, beta], True)

    def torch_fn():
        import torch
        import torch.nn.functional as tf
        mean, var = torch.zeros(c), torch.ones(c)
        return _torch_step(lambda x, g, b: tf.batch_norm(x, mean, var, g, b, training=True, momentum=0.01, eps=1e-3),
                           [x, gamma, beta], True, nhwc_to_nchw)

    return Case(f"batch_norm {n}x{h}x{w}x{c} train fwd+bwd", "batchnorm", 0.0, n, nnkit_fn, torch_fn)


def softmax_xent_case(n, k):
    logits, labels = _array(n, k), rng.integers(0, k, n)

    def nnkit_fn(backend):
        return _nnkit_step(lambda z: F.softmax_cross_entropy(z, labels), [logits], True)

    def torch_fn():
        import torch
        import torch.nn.functional as tf
        target = torch.from_numpy(labels)
        return _torch_step(lambda z: tf.cross_entropy(z, target), [logits], True, lambda a: a)

    return Case(f"softmax_xent {n}x{k} fwd+bwd", "softmax_xent", 0.0, n, nnkit_fn, torch_fn)


def margin_xent_case(n, k, fused=True):
    """ArcFace on (n, k) cosines: nnkit's fused kernel (or, ``fused=False``, the same loss from nnkit's ops, as
    users write it without the kernel) against PyTorch composed from ops (InsightFace's way)."""
    from nnkit.bench.margin_unfused import arcface_torch, arcface_unfused

    cosines, labels = rng.uniform(-1, 1, (n, k)).astype(np.float32), rng.integers(0, k, n)

    def nnkit_fn(backend):
        if not fused:
            return _nnkit_step(lambda c: arcface_unfused(c, labels), [cosines], True)
        return _nnkit_step(lambda c: F.margin_cross_entropy(c, labels, 64.0, margin="arcface", m2=0.5),
                           [cosines], True)

    def torch_fn():
        import torch
        target = torch.from_numpy(labels)
        return _torch_step(lambda c: arcface_torch(c, target), [cosines], True, lambda a: a)

    return Case(f"arcface {n}x{k}{'' if fused else ' unfused'} fwd+bwd", "margin_xent", 0.0, n, nnkit_fn, torch_fn)


def relu_case(n, h, w, c):
    x = _array(n, h, w, c)

    def nnkit_fn(backend):
        return _nnkit_step(ops.relu, [x], True)

    def torch_fn():
        import torch
        return _torch_step(torch.relu, [x], True, nhwc_to_nchw)

    return Case(f"relu {n}x{h}x{w}x{c} fwd+bwd", "activation", 0.0, n, nnkit_fn, torch_fn)


def affine_case(n, h, w, c):
    """RandomRotation's resampling: bilinear, reflect, one rotation per image (torch: affine_grid + grid_sample
    in each step, reflection padding: the same work, though torch's grid puts the border half a pixel elsewhere)."""
    from nnkit.layers.augmentation import rotation_transforms

    x = _array(n, h, w, c)
    angles = rng.uniform(-0.6, 0.6, n)
    transforms = rotation_transforms(angles, h, w)

    def nnkit_fn(backend):
        return _nnkit_step(lambda t: image.affine_transform(t, transforms, "bilinear", "reflect"), [x], True)

    def torch_fn():
        import torch
        import torch.nn.functional as tf
        cos, sin = np.cos(angles), np.sin(angles)
        theta = torch.from_numpy(np.stack([np.stack([cos, -sin * h / w, 0 * cos], 1),
                                           np.stack([sin * w / h, cos, 0 * cos], 1)], 1).astype(np.float32))
        return _torch_step(lambda t: tf.grid_sample(t, tf.affine_grid(theta, (n, c, h, w), align_corners=False),
                                                    "bilinear", "reflection", align_corners=False), [x],
                           True, nhwc_to_nchw)

    return Case(f"affine {n}x{h}x{w}x{c} rotate bilinear fwd+bwd", "affine", 0.0, n, nnkit_fn, torch_fn)


def recurrent_case(cell, batch, steps, features, units, backward=True):
    """A whole LSTM or GRU layer over a (batch, steps, features) sequence, zero initial state (Keras's weight
    layout; torch.nn.LSTM / nn.GRU of the same sizes, batch_first, its default one-bias-per-side weights)."""
    gates = 4 if cell == "lstm" else 3
    x = _array(batch, steps, features)
    kernel, rk = _array(features, gates * units) * 0.1, _array(units, gates * units) * 0.1
    bias = _array(2, gates * units) * 0.1 if cell == "gru" else _array(gates * units) * 0.1
    states = [np.zeros((batch, units), np.float32)] * (2 if cell == "lstm" else 1)
    flops = 2.0 * batch * steps * (features + units) * gates * units * (3 if backward else 1)

    def nnkit_fn(backend):
        fn = getattr(F, cell)
        return _nnkit_step(lambda x, k, r, b: fn(x, *states, k, r, b)[0], [x, kernel, rk, bias], backward)

    def torch_fn():
        import torch
        module = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(features, units, batch_first=True)
        xt = torch.from_numpy(x).requires_grad_(backward)
        grad = torch.ones(batch, steps, units)

        def step():
            if not backward:
                with torch.no_grad():
                    module(xt)
                return
            module(xt)[0].backward(grad)
            xt.grad = None
            module.zero_grad(set_to_none=True)
        return step

    kind = "fwd+bwd" if backward else "fwd"
    return Case(f"{cell} {batch}x{steps}x{features}->{units} {kind}", "rnn", flops, batch, nnkit_fn, torch_fn)


def attention_case(batch, steps, dim, heads, backward=True):
    """A self-attention block: MultiHeadAttention (query = value = x; Keras's weights) then a residual
    LayerNormalization, against torch.nn.MultiheadAttention + nn.LayerNorm of the same sizes."""
    from nnkit.layers import LayerNormalization, MultiHeadAttention

    x = _array(batch, steps, dim)
    projections = 2.0 * batch * steps * dim * dim * 4
    scores = 2.0 * batch * steps * steps * dim * 2
    flops = (projections + scores) * (3 if backward else 1)

    def nnkit_fn(backend):
        attention, norm = MultiHeadAttention(heads, dim // heads), LayerNormalization()
        return _nnkit_step(lambda t: norm(attention(t, t) + t), [x], backward)

    def torch_fn():
        import torch
        attention = torch.nn.MultiheadAttention(dim, heads, batch_first=True)
        norm = torch.nn.LayerNorm(dim, eps=1e-3)
        xt = torch.from_numpy(x).requires_grad_(backward)

        def step():
            with torch.set_grad_enabled(backward):
                out = norm(attention(xt, xt, xt, need_weights=False)[0] + xt)
            if backward:
                out.backward(torch.ones_like(out))
                xt.grad = None
                attention.zero_grad(set_to_none=True)
                norm.zero_grad(set_to_none=True)
        return step

    kind = "fwd+bwd" if backward else "fwd"
    return Case(f"attention block {batch}x{steps}x{dim} {heads} heads {kind}", "attention", flops, batch, nnkit_fn,
                torch_fn)


# optimizer -> (the backend update's state names, its scalars, torch.optim's class name or None)
OPTIM_UPDATES = {
    "sgd": (("velocity",), (1e-3, 0.9, False), None),
    "nadam": (("m", "v"), (0.9, 0.999, 0.52, 0.11, 1e-3, 0.002, 1e-7), "NAdam"),
    "adamax": (("m", "u"), (1e-3, 0.9, 0.999, 0.1, 1e-7), "Adamax"),
    "adadelta": (("acc_grad", "acc_delta"), (1e-3, 0.95, 1e-7), "Adadelta"),
    "lion": (("m",), (1e-3, 0.9, 0.99), None),
    "ftrl": (("acc", "linear"), (1e-3, 0.5, 0.0, 0.0, 0.0), None),
}
# Adam's update, for benchmarks/ (its vhat is None: no AMSGrad); ``nnkit bench`` times Adam in the model rows
ADAM_UPDATE = {"adam": (("m", "v"), (None, 1e-3, 0.9, 0.999, 1e-7), "Adam")}


def optim_case(update, shape):
    """One fused in-place optimizer update on a weight of ``shape`` (the backend's kernel; torch.optim's step
    of the same optimizer where torch has it)."""
    state_names, scalars, torch_name = {**OPTIM_UPDATES, **ADAM_UPDATE}[update]
    w, g = _array(*shape) * 0.01, _array(*shape) * 0.01
    state = [np.abs(_array(*shape)) for _ in state_names]

    def nnkit_fn(backend):
        from nnkit import backend as be
        kernel = getattr(be.current(), f"{update}_update")
        return lambda: kernel(w, g, *state, *scalars)

    def torch_fn():
        import torch
        p = torch.nn.Parameter(torch.from_numpy(w.copy()))
        p.grad = torch.from_numpy(g.copy())
        opt = getattr(torch.optim, torch_name)([p], lr=1e-3, foreach=False)
        return lambda: opt.step()

    label = "x".join(map(str, shape))
    return Case(f"{update}_update {label}", "optim", 0.0, 1, nnkit_fn, torch_fn if torch_name else None)


def kernel_cases():
    return [
        conv_case("64x28x28 1->6 k5 (LeNet conv1)", 64, 28, 28, 1, 6, 5, backward=False),
        conv_case("64x28x28 1->6 k5 (LeNet conv1)", 64, 28, 28, 1, 6, 5),
        conv_case("64x32x32 3->64 k3", 64, 32, 32, 3, 64, 3),
        conv_case("64x32x32 64->64 k3", 64, 32, 32, 64, 64, 3, backward=False),
        conv_case("64x32x32 64->64 k3", 64, 32, 32, 64, 64, 3),
        conv_case("64x16x16 64->128 k3", 64, 16, 16, 64, 128, 3),
        conv_case("64x16x16 128->256 k3 s2", 64, 16, 16, 128, 256, 3, strides=2),
        conv_case("64x16x16 128->128 k1", 64, 16, 16, 128, 128, 1, padding="valid"),
        conv_case("64x32x32 64 depthwise k3", 64, 32, 32, 64, 64, 3, groups=64),
        pool_case("64x28x28x6 2/2", 64, 28, 28, 6, 2, 2, "valid"),
        pool_case("64x32x32x64 2/2", 64, 32, 32, 64, 2, 2, "valid"),
        pool_case("64x32x32x64 3/2 same", 64, 32, 32, 64, 3, 2, "same"),
        pool_case("64x32x32x64 2/2", 64, 32, 32, 64, 2, 2, "valid", op="avg"),
        dense_case(64, 784, 512),
        batch_norm_case(64, 32, 32, 64),
        softmax_xent_case(256, 1000),
        margin_xent_case(256, 10000),
        relu_case(64, 32, 32, 64),
        affine_case(64, 32, 32, 3),
        recurrent_case("lstm", 64, 100, 128, 128),
        recurrent_case("lstm", 64, 100, 128, 128, backward=False),
        recurrent_case("gru", 64, 100, 128, 128),
        attention_case(32, 64, 128, 4),
        *(optim_case(name, (784, 512)) for name in OPTIM_UPDATES),
    ]


def cases_of(group):
    """The ``nnkit bench`` cases of one group (``benchmarks/test_bench_<family>.py`` times the same ones)."""
    return [case for case in kernel_cases() if case.group == group]
