"""``Layer``: the parameter-owning building block, with Keras's contract.

- ``__init__`` stores the configuration;
- ``build(input_shape)`` creates the weights, on the first call at the latest;
- ``call(inputs, training=None)`` computes with ``nnkit.functional``/``ops``;
- ``compute_output_shape(input_shape)``, ``get_config``/``from_config``.

Shapes include the batch axis as ``None`` (see ``nnkit.layers.shapes``).

Calling a layer on a Tensor or ndarray computes; calling it on a symbolic
tensor from ``nnkit.Input`` records a graph node for the functional API.

dtype: float32 unless ``dtype=`` says otherwise or the first input is a
float64 Tensor; once built, float inputs of another dtype are cast (a
differentiable cast), and ndarrays always take the layer's dtype.

``training``: when not passed, a layer inherits the value of the enclosing
layer/model call, else ``False``; so ``model(x, training=True)`` reaches every
Dropout and BatchNormalization inside, including in subclassed models.

Masks (Keras 3's rule; ``nnkit.layers.masking`` describes it in full): a
concrete Tensor may carry a boolean mask (``get_keras_mask``).  A call whose
``call`` has a ``mask`` parameter receives the input's mask(s) when the caller
passed none; afterwards a layer that ``supports_masking`` attaches
``compute_mask(inputs, mask)`` to its outputs, and one that does not drops
the mask with a warning.
"""
import contextlib
import functools
import inspect
import json
import threading
import warnings

import numpy as np

from nnkit import activations as nnactivations
from nnkit import constraints as nnconstraints
from nnkit import initializers as nninitializers
from nnkit import ops
from nnkit import regularizers as nnregularizers
from nnkit.layers import naming, registry
from nnkit.layers.hooks import HookHandle
from nnkit.layers.input_spec import check_inputs
from nnkit.layers.nest import any_symbolic, flatten, map_structure
from nnkit.layers.shapes import as_shape, batchless, format_shape, is_shape, map_shapes
from nnkit.layers.symbolic import Node, SymbolicTensor
from nnkit.tensor import FLOAT_DTYPES, Tensor, get_keras_mask, no_grad, set_keras_mask

_context = threading.local()
_BASE_CONFIG_KEYS = ("name", "trainable", "dtype", "batch_input_shape", "activity_regularizer")


def _float_dtype(dtype, who):
    dtype = np.dtype(dtype)
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"{who}: dtype must be float32 or float64, got {dtype}")
    return dtype


# Inside a weight budget (a model being loaded), building runs forward passes on zeros of the shapes
# the file states: no input or output of those passes may hold more elements than this (256 MiB of
# float32), checked before it is allocated.
MAX_BUDGET_ACTIVATION_ELEMENTS = 2**26


@contextlib.contextmanager
def weight_budget(max_elements):
    """Refuse to create more than ``max_elements`` weight elements in this block.

    Loading a model from a file rebuilds its architecture before its weights
    are checked; the budget (the element count the file really holds) keeps a
    hostile config such as ``Dense(10**9)`` from allocating gigabytes first.
    The activations of the forward passes that build the model are held to
    ``MAX_BUDGET_ACTIVATION_ELEMENTS`` each (``check_activation_budget``), so a
    build shape of ``[1, 40000, 40000, 1]`` is refused before any work.
    """
    previous = getattr(_context, "weight_budget", None)
    _context.weight_budget = [int(max_elements)]
    try:
        yield
    finally:
        _context.weight_budget = previous


def check_activation_budget(shape, describe):
    """Inside a weight budget: refuse an activation of ``shape`` (batch axis included) before allocating it."""
    if getattr(_context, "weight_budget", None) is None:
        return
    count = int(np.prod([1 if d is None else int(d) for d in shape], dtype=object))
    if count > MAX_BUDGET_ACTIVATION_ELEMENTS:
        raise ValueError(f"{describe()}: an activation of shape {tuple(shape)} ({count:,} elements) exceeds the "
                         f"{MAX_BUDGET_ACTIVATION_ELEMENTS:,} elements a model loaded from a file may build with")


def _spend_weight_budget(count, describe):
    budget = getattr(_context, "weight_budget", None)
    if budget is None:
        return
    if count > budget[0]:
        raise ValueError(f"{describe()}: a weight of {count:,} elements exceeds what remains of the budget "
                         f"({budget[0]:,} elements)")
    budget[0] -= count


@contextlib.contextmanager
def _training_scope(training):
    previous = getattr(_context, "training", None)
    _context.training = training
    try:
        yield
    finally:
        _context.training = previous


def _resolve_training(training):
    if training is not None:
        return bool(training)
    outer = getattr(_context, "training", None)
    return bool(outer) if outer is not None else False


def _wrap_init(init):
    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        depth = self.__dict__.get("_init_depth", 0)
        if depth == 0:
            self.__dict__["_init_args"] = (args, dict(kwargs))
        self.__dict__["_init_depth"] = depth + 1
        try:
            init(self, *args, **kwargs)
        finally:
            self.__dict__["_init_depth"] = depth

    __init__._original = init
    return __init__


def _wrap_build(build):
    @functools.wraps(build)
    def wrapped(self, input_shape=None, *args, **kwargs):
        if self._dtype is None:
            self._dtype = np.dtype(np.float32)
        if input_shape is not None:
            input_shape = map_shapes(as_shape, input_shape)
        result = build(self, input_shape, *args, **kwargs)
        self.built = True
        self._build_shape = input_shape
        return result

    return wrapped


class Layer:
    """Base class of every layer and model.

    Parameters
    ----------
    name : str, optional
        Unique name; default the class name in snake case, numbered
        (``conv2d``, ``conv2d_1``, ...).
    trainable : bool
        False freezes the weights (``requires_grad=False``, counted as
        non-trainable, and BatchNormalization runs in inference mode).
    dtype : "float32" (default) or "float64"
    input_shape : tuple, optional
        Shape of one sample (no batch axis).  The first layer of a
        ``Sequential`` declares the model's input this way (the model is then
        built as soon as the layer is added); a layer always builds for its
        declared shape and rejects other inputs.
    batch_size : int, optional
        With ``input_shape``: a fixed batch size.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _wrap_init(cls.__dict__["__init__"])
        if "build" in cls.__dict__:
            cls.build = _wrap_build(cls.__dict__["build"])
        cls._call_takes_training = None
        cls._call_takes_mask = None

    # Keras's per-weight arguments ``<prefix>_regularizer`` / ``<prefix>_constraint``: prefix -> weight name
    penalized_weights = {}

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None, batch_size=None,
                 batch_input_shape=None, activity_regularizer=None, **kwargs):
        penalties = {k: kwargs.pop(k) for k in list(kwargs) if k in _penalty_arguments(type(self))}
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {', '.join(sorted(kwargs))}")
        self._weight_penalties = []  # [(weight, regularizer)]
        self._tracked = []
        self._own_weights = []  # [(Tensor, trainable)]
        self._inbound_nodes = []
        self._trainable = bool(trainable)
        self._dtype = None if dtype is None else _float_dtype(dtype, type(self).__name__)
        self._build_shape = None
        self._last_output_shape = None
        self.built = False
        self.input_spec = None
        if name is None:
            name = naming.unique_name(naming.to_snake_case(type(self).__name__))
        else:
            _check_name(type(self).__name__, name)
            naming.reserve(name)
        self.name = name
        if batch_input_shape is None and input_shape is not None:
            if isinstance(input_shape, int):
                input_shape = (input_shape,)
            batch_input_shape = (batch_size,) + tuple(input_shape)
        self._batch_input_shape = None if batch_input_shape is None else as_shape(batch_input_shape)
        self.activity_regularizer = self._lookup(nnregularizers, activity_regularizer, "activity_regularizer")
        for prefix in self.penalized_weights:
            for kind, module in (("regularizer", nnregularizers), ("constraint", nnconstraints)):
                argument = f"{prefix}_{kind}"
                setattr(self, argument, self._lookup(module, penalties.get(argument), argument))

    _call_takes_training = None
    _call_takes_mask = None
    # None: Keras 3's default, True exactly when the class overrides compute_mask; a class or an instance
    # (``self.supports_masking = True``) says otherwise
    _supports_masking = None
    _warns_on_dropped_mask = True  # a model's outputs carry what its own layers attached: no warning
    # True for a layer whose compute_mask only transforms the masks it receives (a merge, attention): with no
    # mask in, none comes out.  The plans (nnkit.models.plan) run eagerly any model with a layer that may
    # create a mask from nothing (``creates_masks``).
    _passes_masks_only = False

    # -- attribute tracking ------------------------------------------------------
    def __setattr__(self, key, value):
        if not key.startswith("_"):
            tracked = self.__dict__.get("_tracked")
            found = _layers_in(value)
            if tracked is None:
                if found:
                    raise RuntimeError(f"{type(self).__name__}: call super().__init__() before assigning "
                                       f"layers to attributes")
            else:
                old = self.__dict__.get(key)
                if isinstance(old, Layer) and isinstance(value, Layer) and old is not value and \
                        any(t is old for t in tracked) and not any(t is value for t in tracked):
                    tracked[[i for i, t in enumerate(tracked) if t is old][0]] = value  # keep the order
                for layer in _layers_in(old):
                    if not any(layer is f for f in found):
                        tracked[:] = [t for t in tracked if t is not layer]
                for layer in found:
                    if layer is not self and not any(layer is t for t in tracked):
                        tracked.append(layer)
        object.__setattr__(self, key, value)

    def _children(self):
        """Direct sublayers, in the order they were assigned."""
        return list(self._tracked)

    def _walk(self):
        """This layer and every layer below it, each once."""
        seen, order, stack = set(), [], [self]
        while stack:
            layer = stack.pop()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            order.append(layer)
            stack.extend(reversed(layer._children()))
        return order

    # -- naming and errors ----------------------------------------------------------
    def describe(self):
        """``Conv2D 'conv2d_1'``, the prefix of every error this layer raises."""
        return f"{type(self).__name__} '{self.name}'"

    def _error(self, message, kind=ValueError):
        return kind(f"{self.describe()}: {message}")

    def _activation(self, identifier, argument="activation"):
        try:
            return nnactivations.get(identifier, registry.current_custom_objects())
        except (ValueError, TypeError) as e:
            raise type(e)(f"{self.describe()}: {argument}: {e}") from None

    def _initializer(self, identifier, argument):
        try:
            return nninitializers.get(identifier, registry.current_custom_objects())
        except (ValueError, TypeError) as e:
            raise type(e)(f"{self.describe()}: {argument}: {e}") from None

    def _lookup(self, module, identifier, argument):
        try:
            return module.get(identifier)
        except (ValueError, TypeError) as e:
            raise type(e)(f"{self.describe()}: {argument}: {e}") from None

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"

    # -- dtype and trainability ---------------------------------------------------------
    @property
    def dtype(self):
        """The dtype of weights and outputs (float32 unless set or inferred)."""
        return self._dtype if self._dtype is not None else np.dtype(np.float32)

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        value = bool(value)
        for layer in self._walk():
            layer._trainable = value
            for weight, intrinsic in layer._own_weights:
                weight.requires_grad = intrinsic and value

    # -- weights --------------------------------------------------------------------------
    def add_weight(self, name, shape, initializer="glorot_uniform", trainable=True, dtype=None, regularizer=None,
                   constraint=None):
        """Create a weight Tensor named ``"<layer>/<name>"`` and track it.

        ``regularizer`` adds its penalty to ``losses``; ``constraint`` projects the weight after each
        optimizer update.  Both default to the layer's ``<prefix>_regularizer`` / ``<prefix>_constraint``
        argument for the weight (``penalized_weights``)."""
        dtype = _float_dtype(dtype or self.dtype, self.describe())
        shape = tuple(int(s) for s in shape)
        _spend_weight_budget(int(np.prod(shape, dtype=object)), self.describe)
        init = self._initializer(initializer, f"{name} initializer")
        value = np.asarray(init(shape, dtype), dtype=dtype)
        if value.shape != shape:
            raise self._error(f"initializer for {name!r} returned shape {value.shape}, expected {shape}")
        weight = Tensor(value, requires_grad=bool(trainable) and self._trainable, name=f"{self.name}/{name}")
        self._own_weights.append((weight, bool(trainable)))
        prefix = next((p for p, w in self.penalized_weights.items() if w == name), None)
        regularizer = regularizer or (prefix and getattr(self, f"{prefix}_regularizer", None))
        constraint = constraint or (prefix and getattr(self, f"{prefix}_constraint", None))
        if regularizer is not None:
            self._weight_penalties.append((weight, self._lookup(nnregularizers, regularizer, f"{name} regularizer")))
        if constraint is not None:
            nnconstraints.attach(weight, self._lookup(nnconstraints, constraint, f"{name} constraint"))
        return weight

    @property
    def weights(self):
        """Every weight of this layer and its sublayers, each once, layer by layer."""
        out, seen = [], set()
        for layer in self._walk():
            for weight, _ in layer._own_weights:
                if id(weight) not in seen:
                    seen.add(id(weight))
                    out.append(weight)
        return out

    @property
    def trainable_weights(self):
        """Weights the optimizer updates: none below a frozen layer."""
        out, seen_weights, seen_layers, stack = [], set(), set(), [self]
        while stack:
            layer = stack.pop()
            if id(layer) in seen_layers or not layer._trainable:
                continue
            seen_layers.add(id(layer))
            for weight, intrinsic in layer._own_weights:
                if intrinsic and id(weight) not in seen_weights:
                    seen_weights.add(id(weight))
                    out.append(weight)
            stack.extend(reversed(layer._children()))
        return out

    @property
    def non_trainable_weights(self):
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    def get_weights(self):
        """Copies of the weight arrays, in ``weights`` order."""
        return [w.data.copy() for w in self.weights]

    def set_weights(self, arrays):
        """Overwrite the weights in place from arrays of the same shapes."""
        weights = self.weights
        if len(arrays) != len(weights):
            raise self._error(f"set_weights: expected {len(weights)} arrays, got {len(arrays)}")
        for w, a in zip(weights, arrays):
            a = np.asarray(a)
            if a.shape != w.shape:
                raise self._error(f"set_weights: {w.name} has shape {w.shape}, got an array of shape {a.shape}")
            w.data[...] = a

    def count_params(self):
        """Number of scalars in all weights (trainable and not)."""
        if not self.built:
            raise self._error("count_params: the layer is not built yet; call it on data, give it an "
                              "input_shape, or call build(input_shape) first")
        return int(sum(w.size for w in self.weights))

    # -- penalties added by the forward pass ---------------------------------------------------
    def add_loss(self, loss):
        """Record a scalar penalty Tensor computed in ``call`` (Keras's ``add_loss``).

        ``losses`` returns the penalties of the latest outermost call, and
        training adds them to the loss it minimises.
        """
        self.__dict__.setdefault("_added_losses", []).append(loss)

    @property
    def losses(self):
        """Penalties training adds to the loss, as scalar Tensors, of this layer and every sublayer (Keras 3):
        each regularized weight's penalty, computed now (differentiable), then what ``add_loss`` recorded
        during the latest outermost call (activity penalties among them: an output's regularizer divided by
        its batch size)."""
        out = []
        for layer in self._walk():
            out += [regularizer(weight) for weight, regularizer in layer._weight_penalties]
            out += layer.__dict__.get("_added_losses", ())
        return out

    # -- build / call -----------------------------------------------------------------------
    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape`` (batch axis included)."""

    def call(self, inputs, training=None):
        raise NotImplementedError(f"{type(self).__name__} must implement call()")

    # -- masks (nnkit.layers.masking) ---------------------------------------------------------
    @property
    def supports_masking(self):
        """Whether this layer passes masks on: after a call, its outputs carry ``compute_mask(inputs, mask)``.
        A layer that does not support masking drops an incoming mask (with a warning), as in Keras 3."""
        value = self._supports_masking
        return type(self).compute_mask is not Layer.compute_mask if value is None else value

    @supports_masking.setter
    def supports_masking(self, value):
        object.__setattr__(self, "_supports_masking", bool(value))

    def compute_mask(self, inputs, mask=None):
        """The mask of the outputs, given the inputs and their mask: by default the input mask unchanged."""
        return mask

    def _makes_masks_alone(self):
        return type(self).compute_mask is not Layer.compute_mask and not self._passes_masks_only

    def creates_masks(self):
        """Whether a call may give its outputs a mask when its inputs have none (``Embedding(mask_zero=True)``,
        ``Masking``, a custom ``compute_mask``)."""
        return self._makes_masks_alone() and self.supports_masking

    def _attach_masks(self, inputs, outputs, mask):
        """After a concrete call: give ``outputs`` their masks, or drop the incoming one (Keras 3's rule)."""
        if mask is None and not self._makes_masks_alone():
            return  # the common case: no mask in, none made
        if not self.supports_masking:
            if mask is not None and self._warns_on_dropped_mask and any(m is not None for m in _mask_leaves(mask)):
                warnings.warn(f"{self.describe()} received an input with a mask but does not support masking; "
                              f"the layers after it will not see the mask", UserWarning, stacklevel=3)
            return
        outs = [outputs] if isinstance(outputs, Tensor) else [t for t in flatten(outputs) if isinstance(t, Tensor)]
        if all(get_keras_mask(t) is not None for t in outs):
            return  # the call set them (or returned its masked input)
        masks = self.compute_mask(inputs, mask)
        if masks is None:
            return
        masks = masks if isinstance(masks, (list, tuple)) else [masks]
        for t, m in zip(outs, masks):
            if m is not None and get_keras_mask(t) is None:
                set_keras_mask(t, m)

    def compute_output_shape(self, input_shape):
        """Output shape for ``input_shape``; by default found by running ``call``
        on zeros (override it when some size other than the batch is unknown)."""
        def zeros(shape):
            if any(d is None for d in shape[1:]):
                raise self._error(f"compute_output_shape: cannot infer the output shape for input "
                                  f"{format_shape(shape)} with unknown sizes; implement compute_output_shape",
                                  NotImplementedError)
            check_activation_budget((1,) + tuple(shape[1:]), self.describe)
            return Tensor(np.zeros((1,) + tuple(shape[1:]), self.dtype))

        inputs = map_shapes(zeros, input_shape)
        with no_grad(), _training_scope(False):
            outputs = self._invoke_call(inputs, (), {}, False)
        return map_structure(lambda t: batchless(t.shape), outputs)

    def _maybe_build(self, input_shape, dtype=None):
        if self._dtype is None and dtype is not None:
            self._dtype = np.dtype(dtype)
        if not self.built and self._batch_input_shape is not None and is_shape(input_shape):
            input_shape = batchless(self._batch_input_shape)  # the declared shape wins; the call is checked
        if not self.built:
            self.build(input_shape)
            self.built = True
            self._build_shape = input_shape
            if self._dtype is None:
                self._dtype = np.dtype(np.float32)

    def __call__(self, inputs, *args, training=None, **kwargs):
        single = isinstance(inputs, (Tensor, np.ndarray))  # the common case, without structure walking
        if not single and any_symbolic(inputs):
            return self._call_symbolic(inputs, args, training, kwargs)
        inputs = self._to_tensor(inputs) if single else map_structure(self._to_tensor, inputs)
        shapes = inputs.shape if single else map_structure(lambda t: t.shape, inputs)
        if not self.built:
            first = inputs if single else flatten(inputs)[0]
            self._maybe_build(map_shapes(batchless, shapes), first.dtype if first.dtype in FLOAT_DTYPES else None)
            inputs = self._to_tensor(inputs) if single else map_structure(self._to_tensor, inputs)
        spec = self.input_spec
        if spec is not None and self.__dict__.get("_fits") != (spec, shapes):  # each new shape is checked once
            check_inputs(self, spec, shapes)
            object.__setattr__(self, "_fits", (spec, shapes))
        if getattr(_context, "weight_budget", None) is not None:
            self._check_output_budget(shapes)
        training = _resolve_training(training)
        if single:
            mask = get_keras_mask(inputs)
        else:
            mask = map_structure(get_keras_mask, inputs)
            if all(m is None for m in _mask_leaves(mask)) and not self._makes_masks_alone():
                mask = None
        given = kwargs.get("mask")
        if given is not None:
            mask = given
        elif mask is not None and self._takes_mask() and any(m is not None for m in _mask_leaves(mask)):
            kwargs = {**kwargs, "mask": mask}
        pre_hooks, hooks = self.__dict__.get("_forward_pre_hooks"), self.__dict__.get("_forward_hooks")
        for hook in pre_hooks or ():
            replaced = hook(self, inputs)
            inputs = inputs if replaced is None else replaced
        previous = getattr(_context, "training", None)
        depth = getattr(_context, "call_depth", 0)
        if depth == 0:  # an outermost call: the penalties of the previous one are spent
            for layer in self._walk():
                layer.__dict__.pop("_added_losses", None)
        _context.training, _context.call_depth = training, depth + 1
        try:
            outputs = self._invoke_call(inputs, args, kwargs, training)
        finally:
            _context.training, _context.call_depth = previous, depth
        self._attach_masks(inputs, outputs, mask)
        if self.activity_regularizer is not None:
            self._add_activity_losses(outputs)
        for hook in hooks or ():
            replaced = hook(self, inputs, outputs)
            outputs = outputs if replaced is None else replaced
        if isinstance(outputs, Tensor):
            object.__setattr__(self, "_last_output_shape", (None,) + outputs.shape[1:])
        else:
            object.__setattr__(self, "_last_output_shape", map_structure(
                lambda t: batchless(t.shape) if isinstance(t, Tensor) else None, outputs))
        return outputs

    def _add_activity_losses(self, outputs):
        for out in flatten(outputs):
            if isinstance(out, Tensor):
                penalty = self.activity_regularizer(out)
                self.add_loss(penalty / out.shape[0] if out.ndim and out.shape[0] else penalty)

    # -- hooks (nnkit.layers.hooks) --------------------------------------------------------
    def register_forward_hook(self, fn):
        """Call ``fn(layer, inputs, outputs)`` after every concrete call; a non-None return replaces the
        outputs.  Returns a handle whose ``remove()`` detaches it."""
        return self._add_hook("_forward_hooks", fn)

    def register_forward_pre_hook(self, fn):
        """Call ``fn(layer, inputs)`` before every concrete call; a non-None return replaces the inputs."""
        return self._add_hook("_forward_pre_hooks", fn)

    def _add_hook(self, table, fn):
        if not callable(fn):
            raise self._error(f"a hook must be callable, got {type(fn).__name__}", TypeError)
        hooks = self.__dict__.get(table)
        if hooks is None:
            hooks = []
            object.__setattr__(self, table, hooks)
        hooks.append(fn)
        return HookHandle(hooks, fn)

    def _check_output_budget(self, shapes):
        """While a file loads: the outputs this call would allocate, where their shapes can be known first."""
        if type(self).compute_output_shape is Layer.compute_output_shape:
            return  # the default would run the call itself to find out
        batches = []
        map_shapes(lambda s: batches.append(s[0] if s else 1), shapes)

        def check(shape):
            if is_shape(shape):
                check_activation_budget((batches[0],) + tuple(shape[1:]), self.describe)

        map_shapes(check, self.compute_output_shape(map_shapes(batchless, shapes)))

    def _takes_mask(self):
        cls = type(self)
        if cls._call_takes_mask is None:
            cls._call_takes_mask = "mask" in inspect.signature(self.call).parameters
        return cls._call_takes_mask

    def _invoke_call(self, inputs, args, kwargs, training):
        cls = type(self)
        if cls._call_takes_training is None:
            params = inspect.signature(self.call).parameters
            cls._call_takes_training = "training" in params or any(
                p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        if cls._call_takes_training:
            kwargs = {**kwargs, "training": training}
        return self.call(inputs, *args, **kwargs)

    def _to_tensor(self, value):
        if isinstance(value, Tensor):
            if self._dtype is not None and value.dtype != self._dtype:
                cast = ops.cast(value, self._dtype)
                set_keras_mask(cast, get_keras_mask(value))  # a cast keeps the mask
                return cast
            return value
        return Tensor(np.asarray(value), dtype=self.dtype)

    def _call_symbolic(self, inputs, args, training, kwargs):
        leaves = flatten(inputs)
        if not all(isinstance(t, SymbolicTensor) for t in leaves):
            raise self._error("cannot mix symbolic tensors (from nnkit.Input) with concrete values in one "
                              "call", TypeError)
        if args:
            raise self._error("functional-API calls take only the input tensor(s) and keyword arguments",
                              TypeError)
        shapes = map_structure(lambda t: t.shape, inputs)
        self._maybe_build(shapes, leaves[0].dtype if leaves[0].dtype in FLOAT_DTYPES else None)  # ids: no
        check_inputs(self, self.input_spec, shapes)
        out_shapes = self.compute_output_shape(shapes)
        call_kwargs = dict(kwargs)
        if training is not None:
            call_kwargs["training"] = bool(training)
        try:
            json.dumps(call_kwargs)
        except TypeError:
            raise self._error(f"functional-API call arguments must be JSON-serialisable, got {call_kwargs!r}",
                              TypeError) from None
        single_out = is_shape(out_shapes)
        outputs = [SymbolicTensor(s, self.dtype) for s in ([out_shapes] if single_out else out_shapes)]
        node = Node(self, leaves, not isinstance(inputs, (list, tuple, dict)), outputs, call_kwargs)
        for i, t in enumerate(outputs):
            t.node, t.index = node, i
        return outputs[0] if single_out else outputs

    # -- graph introspection (functional API) ------------------------------------------------
    def _first_node(self, what):
        if not self._inbound_nodes:
            raise AttributeError(f"{self.describe()} has no {what}: it was never called on symbolic "
                                 f"inputs (nnkit.Input)")
        return self._inbound_nodes[0]

    @property
    def input(self):
        """The symbolic input of this layer's first functional call."""
        node = self._first_node("input")
        return node.inputs[0] if node.single_input else list(node.inputs)

    @property
    def output(self):
        """The symbolic output of this layer's first functional call."""
        node = self._first_node("output")
        return node.outputs[0] if len(node.outputs) == 1 else list(node.outputs)

    @property
    def input_shape(self):
        if self._inbound_nodes:
            node = self._inbound_nodes[0]
            return node.inputs[0].shape if node.single_input else [t.shape for t in node.inputs]
        if self._build_shape is not None:
            return self._build_shape
        raise AttributeError(f"{self.describe()} has no input_shape yet: it was never built")

    @property
    def output_shape(self):
        if self._inbound_nodes:
            node = self._inbound_nodes[0]
            return node.outputs[0].shape if len(node.outputs) == 1 else [t.shape for t in node.outputs]
        if self._last_output_shape is not None:
            return self._last_output_shape
        if self._build_shape is not None:
            return self.compute_output_shape(self._build_shape)
        raise AttributeError(f"{self.describe()} has no output_shape yet: it was never called")

    # -- config ---------------------------------------------------------------------------------
    def get_config(self):
        """A JSON-serialisable dict from which ``from_config`` rebuilds the layer (not its weights).

        Subclasses add their arguments to ``super().get_config()``.  A custom
        layer that does not override this gets its ``__init__`` arguments
        recorded automatically when they are plain JSON values.
        """
        config = {"name": self.name, "trainable": self.trainable, "dtype": str(self.dtype)}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = nnregularizers.serialize(self.activity_regularizer)
        for prefix in self.penalized_weights:
            config[f"{prefix}_regularizer"] = nnregularizers.serialize(getattr(self, f"{prefix}_regularizer"))
            config[f"{prefix}_constraint"] = nnconstraints.serialize(getattr(self, f"{prefix}_constraint"))
        cls = type(self)
        if cls.get_config is Layer.get_config and cls.__init__ is not Layer.__init__:
            config.update(self._auto_config())
        return config

    def _auto_config(self):
        args, kwargs = self.__dict__.get("_init_args", ((), {}))
        init = getattr(type(self).__init__, "_original", type(self).__init__)
        try:
            bound = inspect.signature(init).bind(self, *args, **kwargs)
            bound.apply_defaults()
        except TypeError:
            bound = None
        values = {}
        if bound is not None:
            for key, value in list(bound.arguments.items())[1:]:
                kind = inspect.signature(init).parameters[key].kind
                if kind is inspect.Parameter.VAR_KEYWORD:
                    values.update(value)
                elif kind is not inspect.Parameter.VAR_POSITIONAL:
                    values[key] = value
        values = {k: v for k, v in values.items() if k not in _BASE_CONFIG_KEYS}
        try:
            json.dumps(values)
        except TypeError:
            raise self._error("get_config: the __init__ arguments are not all JSON-serialisable; "
                              "implement get_config() (and from_config if needed)", NotImplementedError) from None
        return values

    @classmethod
    def from_config(cls, config):
        """Rebuild a layer from ``get_config``'s output (new weights)."""
        config = dict(config)
        init = getattr(cls.__init__, "_original", cls.__init__)
        params = inspect.signature(init).parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        extra = {} if takes_any else {k: config.pop(k) for k in list(config)
                                     if k in _BASE_CONFIG_KEYS and k not in params}
        layer = cls(**config)
        if "name" in extra:
            layer.name = extra["name"]
        if "trainable" in extra:
            layer.trainable = extra["trainable"]
        if "activity_regularizer" in extra:
            layer.activity_regularizer = layer._lookup(nnregularizers, extra["activity_regularizer"],
                                                       "activity_regularizer")
        return layer


def _mask_leaves(mask):
    """The masks in a mask structure (a list of masks may hold Nones, which ``flatten`` would not open)."""
    if isinstance(mask, dict):
        return [m for v in mask.values() for m in _mask_leaves(v)]
    if isinstance(mask, (list, tuple)):
        return [m for v in mask for m in _mask_leaves(v)]
    return [mask]


def _penalty_arguments(cls):
    return {f"{prefix}_{kind}" for prefix in cls.penalized_weights for kind in ("regularizer", "constraint")}


def _check_name(kind, name):
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"{kind}: name must be a non-empty string without '/', got {name!r}")


def _layers_in(value):
    if isinstance(value, Layer):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, Layer)]
    if isinstance(value, dict):
        return [v for v in value.values() if isinstance(v, Layer)]
    return []
