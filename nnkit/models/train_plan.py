"""Training plans: the forward and backward of a graph model as a flat list of ops on arrays.

The eager step builds a Tensor graph through ``Layer.__call__`` and
``Function.apply`` and walks it backwards; a plan, built once per input
signature, keeps one step per layer instead.  A step runs the *same*
``Function`` classes of ``nnkit.functional`` and ``nnkit.ops`` on plain arrays
(their ``forward`` and ``backward`` are the one definition of each op), so a
planned step computes exactly what the eager step computes: the same kernels
on the same arrays in the same order, hence the same bits.

The plan's output becomes a Tensor; an output layer's non-fused activation (a
softmax head) is applied to it in Tensor land, so that cross-entropy still
reads its logits.  The common losses the plan computes itself, on arrays, with
the same Functions (``loss``, ``nnkit.models.plan_loss``); any other loss,
reduction, sample or class weight goes through ``Model.compute_loss``, and its
gradient (``loss.backward()``) starts the planned backward.

With plain SGD the optimizer's step can be taken inside the backward
(``backward(..., sgd=...)``, ``can_step_sgd``): each weight is stepped as soon
as its gradient is final, by the optimizer's own kernel, except a dense
layer's kernel, which one GEMM steps in place (``Linear.backward_sgd``: no
gradient array, no update pass; rounding within an ulp of the weight).

The cache key (``Model._training_plan``) holds the trainable weights: a plan
passes gradients back only as far as one is needed, so unfreezing a layer needs
a new plan.

A model trains through a plan when every layer with weights has a training
planner below (the common image and dense layers; a layer without weights
and without a planner runs its own call inside the plan, so penalties it adds
with ``add_loss`` still reach ``compute_loss``); with several inputs or
outputs, a layer that makes masks (``Embedding(mask_zero=True)``,
``Masking``), weight or activity regularizers, forward hooks, a custom
``train_step``, ``NNKIT_EAGER=1`` or ``compile(jit_compile=False)``, it
trains eagerly.
"""
import numpy as np

from nnkit import activations as nnactivations
from nnkit import functional as F
from nnkit import ops
from nnkit import random as nnrandom
from nnkit.layers import (Activation, Add, AveragePooling2D, BatchNormalization, Conv2D, Dense, DepthwiseConv2D,
                          Dropout, Flatten, GlobalAveragePooling2D, MaxPooling2D, ReLU)
from nnkit.layers.base import Layer
from nnkit.models.plan_loss import loss_on_arrays
from nnkit.models.walk import creates_masks, traced_graph
from nnkit.tensor import Tensor, grad_ready_hook

__all__ = ["TrainingPlan", "plan_training"]


def plan_training(model, x):
    """A ``TrainingPlan`` for inputs like ``x`` (one array), or None when the model must train eagerly."""
    if not isinstance(x, np.ndarray):
        return None
    try:
        calls, output_keys = traced_graph(model)
    except (TypeError, ValueError):
        return None
    if len(model.inputs) != 1 or len(output_keys) != 1 or creates_masks(calls):
        return None  # a mask would be lost between the planned steps, and with it the loss's masking
    wiring = []
    needs_grad = {id(model.inputs[0]): False}  # does a value depend on a trainable weight (as its Tensor would)?
    for call in calls:
        layer = call.layer
        if len(call.output_keys) != 1 or layer.activity_regularizer is not None or layer._weight_penalties:
            return None  # penalties come from the layer's own __call__ (a layer with none planned skips it)
        planner = _PLANNERS.get(type(call.layer))
        step = planner(call.layer, call, call.output_keys[0] == output_keys[0]) if planner is not None else None
        if step is None and not call.layer.weights:  # no planner for it: its own call, on Tensors
            step = _tensor_step(call.layer, call, False)
        if step is None:
            return None
        need_x = any(needs_grad[k] for k in call.input_keys)
        needs_grad[call.output_keys[0]] = need_x or any(w.requires_grad for w in call.layer.trainable_weights)
        wiring.append((step, call.input_keys, call.output_keys[0], need_x, getattr(step, "sgd_inside", False)))
    uses, weights = {}, {}  # id(weight) -> how many steps pass back a gradient for it (a shared layer: several)
    for call in calls:
        for w in call.layer.trainable_weights:
            uses[id(w)] = uses.get(id(w), 0) + 1
            weights[id(w)] = w
    return TrainingPlan(model, wiring, output_keys[0], uses, list(weights.values()))


class TrainingPlan:
    """``forward(x) -> (y_pred Tensor, record)``; after ``loss.backward()`` (or with the head's gradient set by
    ``nnkit.models.plan_loss``), ``backward(y_pred, record) -> {id(weight): gradient}``.

    Inside an ``on_grad_ready`` block, backward sets each weight's ``.grad`` and reports it as soon as its
    gradient is final (its last use passed back), as the eager backward does: data-parallel training
    all-reduces those gradients while the earlier layers' backward still runs.

    ``backward(..., sgd=(optimizer, lr))`` takes plain SGD's step inside the backward instead (see
    ``can_step_sgd``): each weight is stepped as soon as its gradient is known, a dense kernel by the GEMM
    that would have made its gradient.
    """

    def __init__(self, model, wiring, output_key, uses, weights):
        self.model, self.wiring, self.output_key, self.uses = model, wiring, output_key, uses
        self.weights = weights  # every weight a step passes back a gradient for
        self.input_key = id(model.inputs[0])
        self.layers = list(model._walk())  # as the plan sees them (a change to the layers makes a new plan)
        self.single_use = all(n == 1 for n in uses.values())

    def forward(self, x):
        values = {self.input_key: x}
        tape = []
        for step, in_keys, out_key, need_x, sgd_inside in self.wiring:
            out, back = step([values[k] for k in in_keys], need_x)
            values[out_key] = out
            tape.append((back, in_keys, out_key, sgd_inside))
        y_pred = values[self.output_key]
        if isinstance(y_pred, Tensor):  # an output activation applied in Tensor land: backward starts below it
            return y_pred, (tape, y_pred._ctx.parents[0])
        y_pred = Tensor(y_pred, requires_grad=True)
        return y_pred, (tape, y_pred)

    @staticmethod
    def loss(compiled, y_true, y_pred, record, sample_weight):
        """The compiled loss's value when the plan knows it (``nnkit.models.plan_loss``), its gradient set
        where the planned backward starts; else None (``compute_loss`` and ``loss.backward()`` do it)."""
        head = record[1]
        known = loss_on_arrays(compiled, y_true, y_pred, head, sample_weight)
        if known is None:
            return None
        value, head.grad = known
        return value

    def adds_losses(self):
        """Whether ``model.losses`` holds anything now: a weight penalty or an ``add_loss`` of the last call."""
        if type(self.model).losses is not Layer.losses:
            return bool(self.model.losses)  # the model's own definition
        return any(layer._weight_penalties or layer.__dict__.get("_added_losses") for layer in self.layers)

    def can_step_sgd(self, trainable):
        """Whether ``backward`` may take plain SGD's step inside itself for the weights ``trainable`` (a set of
        ids): each weight used by one step only (a shared one gets its gradient in parts, and an earlier part
        must see the weight before the step), the weights the plan passes gradients back for exactly these, and
        each one a writable C-contiguous array the GEMM can add into."""
        if not self.single_use:
            return False
        live = [w for w in self.weights if w.requires_grad]
        return len(live) == len(trainable) and all(id(w) in trainable and _addable(w.data.flags) for w in live)

    def backward(self, y_pred, record, sgd=None):
        """The weights' gradients, from the loss's gradient at the plan's last array back through the tape.

        With ``sgd=(optimizer, lr)`` (see ``can_step_sgd``) each weight is stepped instead, as soon as its gradient
        is known (every weight of ``can_step_sgd``'s check gets one), and no gradient is returned."""
        tape, head = record
        grads, weights = {self.output_key: head.grad}, {}
        ready = grad_ready_hook()
        left = dict(self.uses) if ready is not None else None
        for back, in_keys, out_key, sgd_inside in reversed(tape):
            g = grads.pop(out_key, None)
            if g is None:
                continue
            dxs, dws = back(g, sgd[1]) if sgd is not None and sgd_inside else back(g)
            for key, dx in zip(in_keys, dxs):
                if dx is not None:
                    grads[key] = dx if key not in grads else grads[key] + dx
            if sgd is not None:
                for w, dw in dws:
                    if dw is not None:
                        sgd[0].plain_sgd_step(w.data, dw, sgd[1])
                continue
            for w, dw in dws:
                if dw is not None:
                    weights[id(w)] = dw if id(w) not in weights else weights[id(w)] + dw
            if left is not None:
                self._report(dws, weights, left, ready)
        return weights

    @staticmethod
    def _report(dws, weights, left, ready):
        """Report the step's weights whose last use this was (in the eager backward's order)."""
        for w, _ in dws:
            if id(w) in left:
                left[id(w)] -= 1
                if not left[id(w)] and id(w) in weights:
                    w.grad = weights[id(w)]
                    ready(w)


def _addable(flags):
    return flags.c_contiguous and flags.writeable


# -- one planner per layer type: planner(layer, call, is_output) -> step(inputs, need_input_grad) -> (out, back) ---
def _needs(need_x, *weights):
    return (need_x,) + tuple(w is not None and w.requires_grad for w in weights)


def _activation_tail(layer, is_output, fuse):
    """How the activation is applied after the step: None (linear, or fused into it), 'tensor' (the output
    head), a ``(Function class, params)`` pair, or False (no Function here: train eagerly)."""
    act = layer.activation
    if act is nnactivations.linear or (fuse and nnactivations.fusable(act) is not None):
        return None
    if is_output:
        return "tensor"
    return _ACTIVATION_FUNCTIONS.get(act, False)


def _with_activation(layer, is_output, step, fuse=True):
    tail = _activation_tail(layer, is_output, fuse)
    if tail is False:
        return None  # an activation with no Function here: the model trains eagerly
    if tail is None:
        return step
    if tail == "tensor":
        act = layer.activation

        def tensor_head(xs, need_x):
            pre, back = step(xs, need_x)
            return act(Tensor(pre, requires_grad=True)), back
        tensor_head.sgd_inside = getattr(step, "sgd_inside", False)
        return tensor_head
    cls, params = tail

    def activated(xs, need_x):
        pre, back = step(xs, need_x)
        fn = cls()
        out = fn.forward(pre, **params)
        return out, lambda g, *lr: back(fn.backward(g)[0], *lr)
    activated.sgd_inside = getattr(step, "sgd_inside", False)
    return activated


def _dense(layer, call, is_output):
    relu = nnactivations.fusable(layer.activation) == "relu"
    kernel, bias = layer.kernel, layer.bias

    def step(xs, need_x):
        fn = F.Linear()
        fn.needs_input_grad = _needs(need_x, kernel, bias)
        params = (kernel.data,) if bias is None else (kernel.data, bias.data)
        out = fn.forward(xs[0], *params, relu=relu)

        def back(g, lr=None):
            if lr is None:
                return _split(fn.backward(g), kernel, bias)
            return [fn.backward_sgd(g, lr)], []  # the kernel and bias stepped in place
        return out, back
    step.sgd_inside = True  # its backward takes plain SGD's rate (TrainingPlan.backward)
    return _with_activation(layer, is_output, step)


def _conv(layer, call, is_output):
    kernel, bias = layer.kernel, layer.bias
    fused = nnactivations.fusable(layer.activation)

    def step(xs, need_x):
        fn = F.Conv2d()
        fn.needs_input_grad = _needs(need_x, kernel, bias)
        geometry = F._conv2d_geometry(xs[0].shape, kernel.shape, layer.strides, layer.padding, layer.dilation_rate,
                                      layer.groups, fused)
        params = (kernel.data,) if bias is None else (kernel.data, bias.data)
        out = fn.forward(xs[0], *params, **geometry)
        return out, lambda g: _split(fn.backward(g), kernel, bias)
    return _with_activation(layer, is_output, step)


def _depthwise(layer, call, is_output):
    kernel, bias = layer.depthwise_kernel, layer.bias

    def step(xs, need_x):
        x = xs[0]
        kh, kw, c, m = kernel.shape
        fn = F.Conv2d()
        fn.needs_input_grad = _needs(need_x, kernel, bias)
        geometry = F._conv2d_geometry(x.shape, (kh, kw, 1, c * m), layer.strides, layer.padding,
                                      layer.dilation_rate, x.shape[-1], None)
        params = (kernel.data.reshape(kh, kw, 1, c * m),) + (() if bias is None else (bias.data,))
        out = fn.forward(x, *params, **geometry)

        def back(g):
            dx, dw, *db = fn.backward(g)  # dw is for the grouped view of the depthwise kernel
            return _split((dx, None if dw is None else dw.reshape(kernel.shape), *db), kernel, bias)
        return out, back
    return _with_activation(layer, is_output, step, fuse=False)  # the layer applies its activation as an op


def _split(grads, kernel, bias):
    """A (dx, dkernel[, dbias]) backward result as ([dx], [(weight, gradient)])."""
    return [grads[0]], [(kernel, grads[1])] + ([(bias, grads[2])] if bias is not None else [])


def _pool(layer, call, is_output):
    cls, op = (F.MaxPool2d, "max_pool2d") if isinstance(layer, MaxPooling2D) else (F.AvgPool2d, "avg_pool2d")

    def step(xs, need_x):
        fn = cls()
        out = fn.forward(xs[0], **F._pool_geometry(op, xs[0].shape, layer.pool_size, layer.strides, layer.padding))
        return out, lambda g: ([fn.backward(g)[0]], [])
    return step


def _batch_norm(layer, call, is_output):
    if not layer.trainable or layer.axis not in (-1,):
        return None  # frozen statistics (inference-mode batch norm in training): eager

    def step(xs, need_x):
        gamma = layer.gamma if layer.scale else None
        beta = layer.beta if layer.center else None
        fn, stats = F.BatchNormTrain(), {}
        out = fn.forward(xs[0], layer._ones if gamma is None else gamma.data,
                         layer._zeros if beta is None else beta.data, eps=layer.epsilon, stats=stats)
        F.update_running_moments(layer.moving_mean.data, layer.moving_variance.data, stats, layer.momentum)

        def back(g):
            dx, dgamma, dbeta = fn.backward(g)
            return [dx], [(w, d) for w, d in ((gamma, dgamma), (beta, dbeta)) if w is not None]
        return out, back
    return step


def _unary(cls, **params):
    def planner(layer, call, is_output):
        def step(xs, need_x):
            fn = cls()
            out = fn.forward(xs[0], **params)
            return out, lambda g: ([fn.backward(g)[0]], [])
        return step
    return planner


def _tensor_step(layer, call, is_output):
    """The layer's own call on Tensors, its gradient by a backward over just that call (the eager cost,
    for one layer)."""
    def step(xs, need_x):
        ts = [Tensor(x, requires_grad=need_x) for x in xs]
        out = layer(ts[0] if len(ts) == 1 else ts, training=True)
        if not need_x:
            return out.data, lambda g: ([None] * len(ts), [])

        def back(g):
            out.backward(g)
            return [t.grad for t in ts], []
        return out.data, back
    return step


def _relu(layer, call, is_output):
    if isinstance(layer, ReLU) and layer.max_value == 6 and not layer.negative_slope and not layer.threshold:
        return _unary(ops.Relu6)(layer, call, is_output)
    if isinstance(layer, ReLU) and (layer.negative_slope or layer.threshold or layer.max_value is not None):
        return None
    if isinstance(layer, Activation) and layer.activation is not nnactivations.relu:
        return None
    return _unary(ops.Relu)(layer, call, is_output)


def _flatten(layer, call, is_output):
    def step(xs, need_x):
        shape = xs[0].shape
        return xs[0].reshape(shape[0], -1), lambda g: ([g.reshape(shape)], [])
    return step


def _dropout(layer, call, is_output):
    def step(xs, need_x):
        if layer.rate == 0:
            return xs[0], lambda g: ([g], [])
        fn = F.Dropout()
        out = fn.forward(xs[0], layer.rate, layer._rng or nnrandom.get_rng())
        return out, lambda g: ([fn.backward(g)[0]], [])
    return step


def _add(layer, call, is_output):
    if any(tuple(t.shape[1:]) != tuple(call.inputs[0].shape[1:]) for t in call.inputs):
        return None  # a broadcasting add: eager

    def step(xs, need_x):
        out = xs[0] + xs[1]
        for x in xs[2:]:
            out = out + x
        return out, lambda g: ([g] * len(xs), [])
    return step


def _global_average(layer, call, is_output):
    return _unary(ops.Mean, axis=(1, 2), keepdims=layer.keepdims)(layer, call, is_output)


_ACTIVATION_FUNCTIONS = {
    nnactivations.relu: (ops.Relu, {}), nnactivations.softmax: (ops.Softmax, {"axis": -1}), nnactivations.sigmoid: (ops.Sigmoid, {}),
    nnactivations.tanh: (ops.Tanh, {}), nnactivations.relu6: (ops.Relu6, {}),
}

_PLANNERS = {Dense: _dense, Conv2D: _conv, DepthwiseConv2D: _depthwise, MaxPooling2D: _pool,
             AveragePooling2D: _pool, BatchNormalization: _batch_norm, ReLU: _relu, Activation: _relu,
             Flatten: _flatten, Dropout: _dropout, Add: _add, GlobalAveragePooling2D: _global_average}
