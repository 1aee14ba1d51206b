"""Inference plans: a model traced once, for one input signature, into a flat list of kernel calls.

An eager call walks every layer through ``Layer.__call__`` (structure,
spec and hook checks), ``Function.apply`` (Tensor bookkeeping) and the
geometry and argument checks of each op — per op, per call.  For a small
batch that is most of the time: the kernels of a batch-1 LeNet-5 take a
small share.  A plan does that work once: it walks the layer graph
(``nnkit.models.layer_graph``), resolves each layer's geometry for the
signature's shapes and keeps one step per layer — a closure over the
backend's kernels and the layer's weight arrays (read at call time, so
training and ``set_weights`` are seen).  Calling the plan then runs the
steps on plain arrays.

Steps mirror the layers' own ``call`` kernel for kernel, so a plan's outputs
equal the eager inference outputs bit for bit (tested for every zoo model).
A layer the plan does not know (a custom layer, an activation without a
kernel) runs its own ``call`` on Tensors inside the plan: still correct,
only that step keeps the eager cost.  Subclassed models have no static graph
and cannot be planned, nor can a model with a layer that makes masks
(``Embedding(mask_zero=True)``, ``Masking``): a plan carries bare arrays, so
``predict`` runs such a model eagerly.

Where the plan starts with a run of small conv, max-pool, dense and flatten
layers, the backend may run that run as one call (``nnkit.models.plan_chain``):
no Python between those layers at all, the same bits.

``model.compile_for_inference(batch_size)`` returns a plan; ``predict`` and
``predict_on_batch`` use a cached plan per input signature (``NNKIT_EAGER=1``
or ``compile(jit_compile=False)`` turn that off).
"""
import numpy as np

from nnkit import activations as nnactivations
from nnkit import backend
from nnkit import functional as F
from nnkit import ops
from nnkit.layers import (Activation, Add, AveragePooling2D, BatchNormalization, Conv2D, Dense, DepthwiseConv2D,
                          Dropout, Flatten, GlobalAveragePooling2D, GlobalMaxPooling2D, MaxPooling2D, ReLU,
                          Softmax, ZeroPadding2D)
from nnkit.layers.input import InputLayer
from nnkit.models.plan_chain import chain_of
from nnkit.models.walk import creates_masks, traced_graph
from nnkit.tensor import Tensor, no_grad

__all__ = ["InferencePlan", "PLAN_CACHE_SIZE"]

PLAN_CACHE_SIZE = 8  # plans kept per model (one per input signature), the oldest dropped first


class InferencePlan:
    """``plan(*arrays)``: the model's inference outputs for inputs of the plan's signature.

    ``signature`` is ``[(shape, dtype)]`` per model input, batch axis included.
    Inputs of another shape or dtype raise a ``ValueError`` naming the input.
    """

    def __init__(self, model, signature):
        self.model, self.signature = model, [(tuple(s), np.dtype(d)) for s, d in signature]
        self.kernels = backend.current()
        calls, output_keys = traced_graph(model)
        if creates_masks(calls):
            raise TypeError(f"{model.describe()}: a layer of this model makes masks (Embedding(mask_zero=True), "
                            f"Masking, ...), which a plan of arrays cannot carry; predict runs it eagerly")
        slot = {id(t): i for i, t in enumerate(model.inputs)}  # value key -> its index in the plan's slots
        self.steps, self.eager_layers, chained = [], [], []  # chained: each step's layer where it continues a chain
        with no_grad():
            shapes = {i: s for i, (s, _) in enumerate(self.signature)}
            for call in calls:
                ins = [slot[key] for key in call.input_keys]
                in_shapes = [shapes[i] for i in ins]
                fn = self._step(call.layer, in_shapes, call.inputs[0].dtype, len(call.inputs) == 1)
                outs = []
                for key in call.output_keys:
                    slot[key] = len(slot)
                    outs.append(slot[key])
                self.steps.append((fn, ins, outs))
                chained.append(call.layer if len(outs) == 1 and ins == [outs[0] - 1] else None)
                for o, t in zip(outs, call.outputs):
                    shapes[o] = (in_shapes[0][0],) + tuple(t.shape[1:])
        self.outputs = [slot[key] for key in output_keys]
        self.slots = len(slot)
        self._many_outputs = isinstance(model.output, list)
        self._chain, self._chain_weights, self.chained = None, [], 0
        if len(self.signature) == 1 and not self._many_outputs:
            self._chain, self._chain_weights, self.chained = chain_of(self.kernels, self._chainable(chained),
                                                                      *self.signature[0])

    def _chainable(self, chained):
        """The layers of the longest run of steps from the input whose inner values nothing else reads: step i
        reads slot i and writes slot i + 1, and neither later steps nor the outputs read slots 1..i."""
        run = chained[:chained.index(None)] if None in chained else chained
        while run:
            inner = range(1, len(run))
            if not any(i in inner for _, ins, _ in self.steps[len(run):] for i in ins) and \
                    not any(o in inner for o in self.outputs):
                break
            run = run[:-1]
        return run

    def _step(self, layer, in_shapes, dtype, single):
        """One layer as a function of arrays: a planned kernel sequence, or the layer's own call."""
        planner = _PLANNERS.get(type(layer))
        fn = planner(self.kernels, layer, in_shapes, np.dtype(dtype)) if planner is not None else None
        if fn is None:
            self.eager_layers.append(layer.name)
            fn = _eager_step(layer, single)
        return fn

    def __call__(self, *inputs):
        values = [None] * self.slots
        if self._chain is not None and len(inputs) == 1:  # the fast path: the chained steps in one call
            values[self.chained] = self._chain(inputs[0], [w.data for w in self._chain_weights])
            if values[self.chained] is not None:  # (then inputs[0] is an array of the signature's shape and dtype)
                values[0] = inputs[0]
                return self._run(values, self.chained)
        if len(inputs) != len(self.signature):
            raise ValueError(f"inference plan of {self.model.describe()}: expected {len(self.signature)} input(s), "
                             f"got {len(inputs)}")
        for i, (x, (shape, dtype)) in enumerate(zip(inputs, self.signature)):
            x = x.data if isinstance(x, Tensor) else x
            if not isinstance(x, np.ndarray) or x.shape != shape or x.dtype != dtype:
                x = np.asarray(x)
                if x.shape != shape:
                    raise ValueError(f"inference plan of {self.model.describe()}: input {i} must have shape "
                                     f"{shape}, got {x.shape}; make a plan for that shape")
                x = x.astype(dtype, copy=False)
            values[i] = x
        return self._run(values, 0)

    def _run(self, values, start):
        """Run the steps from ``start`` on, their inputs in ``values``; the plan's outputs."""
        if start == len(self.steps) and not self._many_outputs:
            return values[self.outputs[0]]
        with no_grad():
            for fn, ins, outs in self.steps[start:]:
                result = fn(*[values[i] for i in ins])
                if len(outs) == 1:
                    values[outs[0]] = result
                else:
                    for o, r in zip(outs, result):
                        values[o] = r
        results = [values[o] for o in self.outputs]
        return results if self._many_outputs else results[0]

    def __repr__(self):
        return (f"<InferencePlan of {self.model.describe()} for {self.signature}: {len(self.steps)} steps"
                f"{f' ({self.chained} in one chain)' if self.chained else ''}, eager: {self.eager_layers or 'none'}>")


def _eager_step(layer, single):
    def run(*arrays):
        args = Tensor(arrays[0]) if single else [Tensor(a) for a in arrays]
        out = layer(args, training=False)
        return out.data if isinstance(out, Tensor) else [o.data for o in out]
    return run


# -- planned layers: each mirrors its layer's call for the given input shapes (None: not plannable) ----------------
# Activations whose forward runs on arrays here exactly as their op computes it (no Tensor in between).
_ARRAY_ACTIVATIONS = {
    nnactivations.softmax: lambda x: ops.Softmax().forward(x, axis=-1),
    nnactivations.sigmoid: ops.Sigmoid.f, nnactivations.tanh: ops.Tanh.f, nnactivations.relu6: ops.Relu6.f,
}


def _then_activation(layer, fn, fuse=True):
    """``fn`` followed by the layer's activation when the kernel did not fuse it (as the eager op computes it)."""
    fused = nnactivations.fusable(layer.activation) if fuse else None
    if fused is not None or layer.activation is nnactivations.linear:
        return fn
    activation = _ARRAY_ACTIVATIONS.get(layer.activation)
    if activation is not None:
        return lambda x: activation(fn(x))
    return lambda x: layer.activation(Tensor(fn(x))).data


def _plan_dense(k, layer, shapes, dtype):
    if len(shapes[0]) != 2:
        return None
    relu, kernel, bias = nnactivations.fusable(layer.activation) == "relu", layer.kernel, layer.bias
    matmul, bias_relu = k.matmul, (lambda y, b: k.bias_relu(y, b, relu, out=y))
    prepared = getattr(k, "prepared", None)
    if prepared is not None:
        matmul = prepared.prepare_matmul(shapes[0], dtype, kernel.data)
        bias_relu = prepared.prepare_bias_relu((shapes[0][0], kernel.shape[1]), dtype, _data(bias), relu)

    def dense(x):
        y = matmul(x, kernel.data)
        if bias is not None or relu:
            bias_relu(y, _data(bias))
        return y
    return _then_activation(layer, dense)


def _data(weight):
    return None if weight is None else weight.data


def _plan_conv2d(k, layer, shapes, dtype):
    kernel, bias = layer.kernel, layer.bias
    geometry = dict(F._conv2d_geometry(shapes[0], kernel.shape, layer.strides, layer.padding, layer.dilation_rate,
                                       layer.groups, nnactivations.fusable(layer.activation)))
    relu = geometry.pop("relu")
    conv = (lambda x, w, b: k.conv2d_forward(x, w, b, **geometry))
    bias_relu = (lambda y, b: k.bias_relu(y, b, True, out=y))
    prepared = getattr(k, "prepared", None)
    if prepared is not None:
        conv = prepared.prepare_conv2d_forward(shapes[0], dtype, kernel.data, None if relu else _data(bias),
                                               **geometry) or conv
        if relu:
            out_shape = (shapes[0][0],) + tuple(layer.compute_output_shape(shapes[0])[1:])
            bias_relu = prepared.prepare_bias_relu(out_shape, dtype, _data(bias), True)
    if not relu:
        return _then_activation(layer, lambda x: conv(x, kernel.data, _data(bias)))

    def conv_relu(x):
        return bias_relu(conv(x, kernel.data, None), _data(bias))
    return conv_relu


def _plan_depthwise(k, layer, shapes, dtype):
    kernel, bias, c = layer.depthwise_kernel, layer.bias, shapes[0][-1]
    kh, kw, _, m = kernel.shape
    geometry = dict(F._conv2d_geometry(shapes[0], (kh, kw, 1, c * m), layer.strides, layer.padding,
                                       layer.dilation_rate, c, None))
    del geometry["relu"]
    return _then_activation(layer, lambda x: k.conv2d_forward(x, kernel.data.reshape(kh, kw, 1, c * m),
                                                              None if bias is None else bias.data, **geometry),
                            fuse=False)


def _plan_pool(k, layer, shapes, dtype):
    op = "max_pool2d" if isinstance(layer, MaxPooling2D) else "avg_pool2d"
    geometry = F._pool_geometry(op, shapes[0], layer.pool_size, layer.strides, layer.padding)
    args = (geometry["pool_size"], geometry["strides"], geometry["padding"])
    prepared = getattr(k, "prepared", None)
    if prepared is not None:
        return getattr(prepared, f"prepare_{op}_forward")(shapes[0], dtype, *args)
    if op == "max_pool2d":
        return lambda x: k.max_pool2d_forward(x, *args)[0]
    return lambda x: k.avg_pool2d_forward(x, *args)


def _plan_batch_norm(k, layer, shapes, dtype):
    if layer.axis not in (-1, len(shapes[0]) - 1):
        return None
    gamma = layer.gamma if layer.scale else layer._ones
    beta = layer.beta if layer.center else layer._zeros
    mean, var, eps = layer.moving_mean, layer.moving_variance, layer.epsilon
    data = (lambda t: t.data if isinstance(t, Tensor) else t)
    return lambda x: k.batch_norm_inference(x, data(gamma), data(beta), data(mean), data(var), eps)


def _plan_relu(k, layer, shapes, dtype):
    if isinstance(layer, ReLU) and (layer.negative_slope or layer.threshold or layer.max_value is not None):
        if layer.max_value == 6 and not layer.negative_slope and not layer.threshold:
            return ops.Relu6.f  # what ops.relu6 computes
        return None
    if isinstance(layer, Activation) and layer.activation is not nnactivations.relu:
        return None
    return lambda x: k.bias_relu(x.reshape(x.shape or (1,))).reshape(x.shape)


def _plan_global_pool(k, layer, shapes, dtype):
    if len(shapes[0]) != 4:
        return None
    keepdims = layer.keepdims
    if isinstance(layer, GlobalAveragePooling2D):
        return lambda x: np.asarray(x.mean(axis=(1, 2), keepdims=keepdims))
    return lambda x: np.asarray(x.max(axis=(1, 2), keepdims=keepdims))


def _plan_zero_padding(k, layer, shapes, dtype):
    if len(shapes[0]) != 4:
        return None
    pads = ((0, 0),) + tuple(tuple(p) for p in layer.padding) + ((0, 0),)
    return lambda x: np.pad(x, pads)


def _plan_softmax(k, layer, shapes, dtype):
    axis = layer.axis
    return lambda x: ops.Softmax().forward(x, axis=axis)


def _plan_flatten(k, layer, shapes, dtype):
    return lambda x: x.reshape(x.shape[0], -1)


def _plan_dropout(k, layer, shapes, dtype):
    return lambda x: x  # inference: the identity


def _plan_add(k, layer, shapes, dtype):
    if any(s != shapes[0] for s in shapes):
        return None  # broadcasting adds stay eager

    def add(*xs):
        out = xs[0] + xs[1]
        for x in xs[2:]:
            out += x
        return out
    return add


_PLANNERS = {Dense: _plan_dense, Conv2D: _plan_conv2d, DepthwiseConv2D: _plan_depthwise, MaxPooling2D: _plan_pool, AveragePooling2D: _plan_pool,
             BatchNormalization: _plan_batch_norm, ReLU: _plan_relu, Activation: _plan_relu, Flatten: _plan_flatten,
             Dropout: _plan_dropout, Add: _plan_add, Softmax: _plan_softmax, GlobalAveragePooling2D: _plan_global_pool,
             GlobalMaxPooling2D: _plan_global_pool, ZeroPadding2D: _plan_zero_padding, InputLayer: None}
