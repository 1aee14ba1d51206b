"""Lambda (a layer around a function of ``nnkit.ops``) and Identity.

Saving a model never writes a Lambda's code, and loading never runs code
from a file: the config names the function, and loading finds it again
among ``custom_objects``, the functions registered with ``nnkit.register``,
or ``nnkit.ops`` (``"nnkit.ops.relu"``); any other name is a clear error.
"""
import json

from nnkit import ops
from nnkit.layers import registry
from nnkit.layers.base import Layer
from nnkit.layers.registry import register
from nnkit.layers.shapes import as_shape, is_shape, map_shapes

OPS_PREFIX = "nnkit.ops."


def function_name(fn):
    """The name a config records for ``fn``: ``nnkit.ops.<name>``, its registered name, or ``__name__``."""
    if getattr(ops, getattr(fn, "__name__", ""), None) is fn:
        return OPS_PREFIX + fn.__name__
    registered = getattr(fn, "_registered_name", None)
    return registered or getattr(fn, "__name__", type(fn).__name__)


def resolve_function(layer, name, what):
    """The function a config names, from custom_objects, the registry or nnkit.ops; never from code."""
    found = registry.current_custom_objects().get(name) or registry._REGISTRY.get(name)
    if found is None and isinstance(name, str) and name.startswith(OPS_PREFIX):
        found = getattr(ops, name[len(OPS_PREFIX):], None)
    if not callable(found) or isinstance(found, type):
        raise ValueError(f"{type(layer).__name__}: cannot restore the {what} {name!r}: nnkit never saves or loads "
                         f"code. Register the function (@nnkit.register(\"{name}\")) or pass "
                         f"custom_objects={{\"{name}\": fn}} when loading")
    return found


@register
class Identity(Layer):
    """Return the input unchanged."""
    _supports_masking = True  # passes masks on unchanged (Keras 3)

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


@register
class Lambda(Layer):
    """Wrap ``function(inputs, **arguments)``, a function of ``nnkit.ops`` Tensors, as a layer.

    Parameters
    ----------
    function : callable
    output_shape : tuple (no batch axis), callable or None
        None: found by running the function on zeros of the input's shape.
    arguments : dict, optional
        Extra JSON-serialisable keyword arguments for ``function``.
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(function, str):  # from a config
            function = resolve_function(self, function, "function")
        if not callable(function):
            raise self._error(f"function must be callable, got {function!r}", TypeError)
        if mask is not None:
            raise self._error("mask is not supported (nnkit has no masking)", NotImplementedError)
        if isinstance(output_shape, str):
            output_shape = resolve_function(self, output_shape, "output_shape function")
        if output_shape is not None and not callable(output_shape):
            if not is_shape(output_shape):
                raise self._error(f"output_shape must be None, a callable or a shape without the batch axis, "
                                  f"got {output_shape!r}")
            output_shape = as_shape(output_shape)
        self.arguments = dict(arguments or {})
        try:
            json.dumps(self.arguments)
        except TypeError:
            raise self._error(f"arguments must be JSON-serialisable, got {self.arguments!r}", TypeError) from None
        self.function, self.output_shape_spec = function, output_shape

    def call(self, inputs):
        return self.function(inputs, **self.arguments)

    def compute_output_shape(self, input_shape):
        spec = self.output_shape_spec
        if spec is None:
            return super().compute_output_shape(input_shape)
        if callable(spec):
            return map_shapes(as_shape, spec(input_shape))
        batch = input_shape[0] if is_shape(input_shape) else input_shape[0][0]
        return (batch,) + spec

    def get_config(self):
        spec = self.output_shape_spec
        return {**super().get_config(), "function": function_name(self.function),
                "output_shape": function_name(spec) if callable(spec) else (None if spec is None else list(spec)),
                "arguments": self.arguments}
