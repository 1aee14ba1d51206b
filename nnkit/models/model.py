"""``Model``: a layer that contains layers and can be trained.

Three ways to build one, all giving a ``Model``:

- ``nnkit.Sequential([...])`` (``nnkit.models.sequential``),
- ``nnkit.Model(inputs, outputs)`` over symbolic tensors from ``nnkit.Input``
  (returns a ``Functional``, ``nnkit.models.functional``),
- subclassing: ``class MyNet(nnkit.Model)`` with layers assigned as attributes
  in ``__init__`` (tracked automatically) and a ``call(inputs, training=None)``.

Training (``compile``/``fit``/``evaluate``/``predict``) comes from the
``Trainer`` mixin.
"""
import json
import os
import warnings

import numpy as np

from nnkit.backend import get_backend as backend_name
from nnkit.layers import hooks
from nnkit.layers.base import Layer, check_activation_budget
from nnkit.layers.registry import register, serialize
from nnkit.layers.shapes import as_shape, map_shapes
from nnkit.models.plan import PLAN_CACHE_SIZE, InferencePlan
from nnkit.models.summary import summary_text
from nnkit.models.train_plan import plan_training
from nnkit.models.walk import creates_masks, traced_graph
from nnkit.tensor import Tensor, backward_rules_active, no_grad
from nnkit.training.trainer import Trainer


def _functional_arguments(args, kwargs):
    return len(args) == 2 or (len(args) == 1 and "outputs" in kwargs) or ("inputs" in kwargs and "outputs" in kwargs)


_FUNCTIONAL_SUBCLASSES = {}


def _functional_subclass(cls, functional):
    """``cls`` with the functional graph mixed in: what ``cls(inputs, outputs)`` builds for a subclass of
    ``Model`` (so a model that only overrides ``train_step`` keeps its graph, as in Keras)."""
    made = _FUNCTIONAL_SUBCLASSES.get(cls)
    if made is None:
        made = _FUNCTIONAL_SUBCLASSES[cls] = type(cls.__name__, (cls, functional),
                                                  {"__module__": cls.__module__, "__qualname__": cls.__qualname__})
    return made


@register
class Model(Trainer, Layer):
    """Base class of Sequential, functional and subclassed models."""

    _is_graph_network = False  # True for functional models: summary shows connections
    _warns_on_dropped_mask = False  # the outputs carry the masks the model's own layers attached
    # The file format lives in nnkit.io, a floor above the models; it installs its model_io module here when it is
    # imported (``import nnkit`` always does), so the models never import it.
    _persistence = None

    def __new__(cls, *args, **kwargs):
        if _functional_arguments(args, kwargs):
            from nnkit.models.functional import Functional  # a subclass: imported late
            if cls is Model:
                return Functional.__new__(Functional)
            if not issubclass(cls, Functional):  # e.g. a subclass that only overrides train_step
                return Functional.__new__(_functional_subclass(cls, Functional))
        return super().__new__(cls)

    def __init__(self, *args, **kwargs):
        if args:
            raise TypeError(f"{type(self).__name__}: unexpected positional arguments {args!r}; a functional "
                            f"model is nnkit.Model(inputs, outputs)")
        super().__init__(**kwargs)

    # -- layers ---------------------------------------------------------------------
    @property
    def layers(self):
        """The model's direct layers, in order."""
        return self._children()

    def get_layer(self, name=None, index=None):
        """A direct layer by ``name`` or by position ``index``."""
        layers = self.layers
        if index is not None:
            if name is not None:
                raise ValueError(f"{self.describe()}: get_layer takes name or index, not both")
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"{self.describe()}: get_layer index {index} is out of range for "
                                 f"{len(layers)} layers")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"{self.describe()}: no layer named {name!r}; layers: "
                         f"{', '.join(repr(layer.name) for layer in layers) or 'none'}")

    def _check_unique_names(self, layers):
        seen = {}
        for layer in layers:
            other = seen.get(layer.name)
            if other is not None and other is not layer:
                raise ValueError(f"{self.describe()}: the layer name {layer.name!r} is used twice "
                                 f"({type(other).__name__} and {type(layer).__name__}); layer names in a model "
                                 f"must be unique: pass name= to one of them")
            seen[layer.name] = layer

    # -- build -------------------------------------------------------------------------
    def build(self, input_shape):
        """Create the weights by running the model once on zeros of
        ``input_shape`` (batch axis included; a ``None`` batch becomes 1)."""
        def zeros(shape):
            shape = as_shape(shape)
            if any(d is None for d in shape[1:]):
                raise self._error(f"build: cannot build from {shape} with unknown sizes; call the model on "
                                  f"data instead")
            check_activation_budget((1,) + shape[1:], self.describe)  # a loaded file's claim, before allocating
            return Tensor(np.zeros((1,) + shape[1:], self.dtype))

        if type(self).call is Layer.call:
            return
        inputs = map_shapes(zeros, input_shape)
        with no_grad():
            self._invoke_call(inputs, (), {}, False)

    def _maybe_build(self, input_shape, dtype=None):
        if type(self).build is Model.build and not self.built:
            # A subclassed model creates its weights during its first call.
            if self._dtype is None:
                self._dtype = np.dtype(dtype) if dtype is not None else np.dtype(np.float32)
            self.built = True
            self._build_shape = input_shape
            return
        super()._maybe_build(input_shape, dtype)

    # -- inference plans (nnkit.models.plan) ------------------------------------------------
    def compile_for_inference(self, batch_size=1, dtype=None):
        """A callable ``plan(*inputs) -> outputs`` for inputs of ``batch_size`` samples: the model traced once
        into a flat list of kernel calls, with no per-op Tensor, Function or argument-checking work — nnkit's
        lowest inference latency.  Outputs equal ``model.predict``'s bit for bit."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise self._error(f"compile_for_inference: batch_size must be a positive integer, got {batch_size!r}")
        inputs = self._plan_inputs()
        if inputs is None:
            raise self._error("compile_for_inference: a subclassed model has no static graph to plan; build it "
                              "with the functional API or Sequential", TypeError)
        signature = [((int(batch_size),) + tuple(t.shape[1:]), dtype or t.dtype) for t in inputs]
        return InferencePlan(self, signature)

    def _plan_inputs(self):
        """The symbolic inputs of a plannable model (a built Sequential or functional graph), else None."""
        try:
            inputs = self.inputs if (self._is_graph_network or getattr(self, "_graph", None)) else None
        except (AttributeError, ValueError):
            return None
        # The plans' kernels take floats: a model fed token ids or flags runs eagerly.
        return inputs if inputs is not None and all(t.dtype.kind == "f" for t in inputs) else None

    def _inference_plan(self, x):
        if not self._plans_allowed():
            return None
        arrays = list(x) if isinstance(x, (list, tuple)) else [x]
        inputs = self._plan_inputs()
        if inputs is None or len(arrays) != len(inputs) or not all(isinstance(a, np.ndarray) for a in arrays):
            return None
        key = (backend_name(), tuple(map(id, self.layers)), tuple((a.shape, a.dtype.str) for a in arrays))
        cache = self.__dict__.setdefault("_plans", {})
        if key in cache:
            plan = cache.pop(key)
        else:
            if any(a.shape[1:] != tuple(t.shape[1:]) or a.dtype != t.dtype for a, t in zip(arrays, inputs)):
                return None  # let the eager path cast or raise its usual error
            # a model that makes masks runs eagerly (the masks would be lost between planned steps)
            plan = None if creates_masks(traced_graph(self)[0]) else \
                InferencePlan(self, [(a.shape, a.dtype) for a in arrays])
            while len(cache) >= PLAN_CACHE_SIZE:
                cache.pop(next(iter(cache)))
        cache[key] = plan  # most recently used last
        return plan

    def _training_plan(self, x, weights=None):
        if not self._plans_allowed() or not isinstance(x, np.ndarray) or backward_rules_active():
            return None
        if weights is None:
            weights = self.trainable_weights
        # which weights train is part of the key: a plan passes gradients back only as far as one is needed
        key = ("train", backend_name(), tuple(map(id, self.layers)), x.shape, x.dtype.str, tuple(map(id, weights)))
        cache = self.__dict__.setdefault("_plans", {})
        if key not in cache:
            while len(cache) >= PLAN_CACHE_SIZE:
                cache.pop(next(iter(cache)))
            inputs = self._plan_inputs()
            fits = inputs is not None and len(inputs) == 1 and x.shape[1:] == tuple(inputs[0].shape[1:]) \
                and x.dtype == inputs[0].dtype
            cache[key] = plan_training(self, x) if fits else None
        return cache[key]

    def _plans_allowed(self):
        return (os.environ.get("NNKIT_EAGER", "") in ("", "0") and self.jit_compile is not False
                and not hooks.active())

    def to_json(self, **kwargs):
        """The architecture as a JSON string (``nnkit.models.model_from_json`` rebuilds it, no weights)."""
        return json.dumps(serialize(self), **kwargs)

    # -- saving (delegates to nnkit.io.model_io) ----------------------------------------
    def save(self, filepath, include_optimizer=True):
        """Write architecture (JSON), weights (safetensors) and, if compiled, the
        optimizer state to one file, atomically; ``nnkit.load_model`` reads it back.

        The file is nnkit's format (safetensors with JSON metadata) whatever its
        name: a ``.keras`` or ``.h5`` name gets a warning, since Keras cannot read it.
        """
        if str(filepath).lower().endswith((".keras", ".h5", ".hdf5")):
            warnings.warn(f"{self.describe()}.save({str(filepath)!r}): nnkit writes its own format (safetensors + "
                          f"JSON), not Keras's .keras/.h5; Keras cannot read this file. Name it .nnk to avoid "
                          f"confusion; nnkit.load_model reads it back.", UserWarning, stacklevel=2)
        self._persistence.save_model(self, filepath, include_optimizer=include_optimizer)

    def save_weights(self, filepath):
        """Write the weights only (safetensors, named ``layer/weight``), atomically."""
        self._persistence.save_weights(self, filepath)

    def load_weights(self, filepath, strict=True):
        """Load weights by name, in place; a mismatch raises a ValueError listing missing,
        unexpected and mis-shaped weights (``strict=False`` tolerates missing/unexpected)."""
        return self._persistence.load_weights(self, filepath, strict=strict)

    # -- recurrent state ---------------------------------------------------------------------
    def reset_states(self):
        """Zero the carried states of every stateful layer inside (Keras 2's ``Model.reset_states``, which
        Keras 3 dropped: there one calls each layer's ``reset_states()``)."""
        for layer in self._walk():
            if layer is not self and getattr(layer, "stateful", False) and hasattr(layer, "reset_states"):
                layer.reset_states()

    # -- presentation ------------------------------------------------------------------
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False):
        """Print a table of layers, output shapes and parameter counts, then the
        totals (trainable / non-trainable) with their memory size."""
        text = summary_text(self, line_length=line_length, positions=positions, expand_nested=expand_nested,
                            show_trainable=show_trainable)
        for line in text.split("\n"):
            (print_fn or print)(line)

    def _output_shape_of(self, layer):
        """Output shape of a direct ``layer`` as this model uses it (None if unknown)."""
        try:
            return layer.output_shape
        except AttributeError:
            return None

    def _connections_of(self, layer):
        """For graphs: the inbound tensors of each call of ``layer``; None otherwise."""
        return None

    @classmethod
    def from_config(cls, config):
        if "input_layers" in config:
            from nnkit.models.functional import Functional
            if cls is Model:
                return Functional.from_config(config)
            if not issubclass(cls, Functional):  # a subclass built as cls(inputs, outputs)
                return Functional.from_config.__func__(cls, config)
        return super().from_config(config)
