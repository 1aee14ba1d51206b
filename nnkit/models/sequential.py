"""``Sequential``: a plain stack of layers, each feeding the next.

When the input shape is known (an ``Input`` first, ``input_shape=`` on the
first layer, ``build(shape)``, or the first call), the model traces its layers
on a symbolic input: every layer is built and checked at that moment, so a
mismatch is reported by ``add`` naming the layer and shapes, and
``layer.output`` is available for feature extraction.
"""
from nnkit.layers.base import Layer
from nnkit.layers.input import Input, InputLayer, to_input_dtype
from nnkit.layers.input_spec import InputSpec
from nnkit.layers.registry import deserialize, register, serialize
from nnkit.layers.shapes import as_shape, format_shape
from nnkit.layers.symbolic import SymbolicTensor
from nnkit.models.model import Model
from nnkit.tensor import set_keras_mask


@register
class Sequential(Model):
    """A linear stack of layers (which may themselves be ``Sequential`` blocks).

    >>> model = Sequential([Conv2D(16, 3, padding="same", input_shape=(100, 100, 3)), Conv2D(32, 3)])
    """

    def __init__(self, layers=None, name=None, trainable=True, dtype=None):
        super().__init__(name=name, trainable=trainable, dtype=dtype)
        self._layers = []
        self._input_layer = None      # an InputLayer given by the user
        self._auto_input = None       # the one we made from a known shape
        self._batch_shape = None      # the known input shape, batch axis included
        self._graph = []              # (layer, node) of the traced graph, in order
        self._names = {}              # layer name -> layer: add() checks a name in O(1), not over every layer
        for layer in layers or []:
            self.add(layer)

    def _children(self):
        return list(self._layers)

    # -- editing --------------------------------------------------------------------
    def add(self, layer):
        """Append a layer (or put an ``Input`` first); traced at once when the input shape is known."""
        if isinstance(layer, SymbolicTensor):
            if not isinstance(layer.layer, InputLayer):
                raise TypeError(f"{self.describe()}: add() takes a layer or an nnkit.Input(...), got the output "
                                f"of layer {layer.layer.name!r}; use the functional API for graphs")
            layer = layer.layer
        if isinstance(layer, InputLayer):
            if self._layers or self._input_layer is not None:
                raise ValueError(f"{self.describe()}: an Input can only be the first element of a Sequential")
            self._claim_name(layer)
            self._input_layer = layer
            if self._dtype is None:
                self._dtype = layer.dtype
            self._set_input_shape(layer.batch_shape)
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"{self.describe()}: add() expects a Layer, got {type(layer).__name__}: {layer!r}")
        if layer is self:
            raise ValueError(f"{self.describe()}: a model cannot contain itself")
        self._claim_name(layer)
        self._layers.append(layer)
        if self._batch_shape is None and len(self._layers) == 1 and layer._batch_input_shape is not None:
            self._set_input_shape(layer._batch_input_shape)
        elif self._graph or (self._batch_shape is not None and len(self._layers) == 1):
            try:
                self._trace_from(len(self._layers) - 1)
            except Exception:
                self._release_name(self._layers.pop())
                raise

    def pop(self):
        """Remove the last layer (and retrace the rest)."""
        if not self._layers:
            raise TypeError(f"{self.describe()}: there are no layers to pop")
        layer = self._layers.pop()
        self._release_name(layer)
        self._untrace()
        if self._batch_shape is not None and self._layers:
            self._trace_from(0)
        return layer

    def _claim_name(self, layer):
        """Record ``layer``'s name; another layer of that name already here is an error."""
        self._check_unique_names([self._names.get(layer.name, layer), layer])
        self._names[layer.name] = layer

    def _release_name(self, layer):
        if layer not in self._layers:  # the same layer may have been added twice
            self._names.pop(layer.name, None)

    def _named(self):
        return ([self._input_layer] if self._input_layer is not None else []) + self._layers

    # -- tracing --------------------------------------------------------------------
    def _set_input_shape(self, batch_shape):
        self._batch_shape = as_shape(batch_shape)
        self.input_spec = InputSpec(ndim=len(self._batch_shape),
                                    axes={i: v for i, v in enumerate(self._batch_shape) if i and v is not None})
        self._untrace()
        if self._layers:
            self._trace_from(0)

    def _input_tensor(self):
        if self._input_layer is not None and self._input_layer.batch_shape == self._batch_shape:
            return self._input_layer.output
        if self._auto_input is None or self._auto_input.shape != self._batch_shape:
            self._auto_input = Input(batch_shape=self._batch_shape, dtype=self.dtype)
        return self._auto_input

    def _trace_from(self, start):
        """Call layers ``start:`` symbolically on the traced output so far."""
        x = self._graph[start - 1][1].outputs[0] if start else self._input_tensor()
        try:
            for layer in self._layers[start:]:
                y = layer(x)
                if not isinstance(y, SymbolicTensor):
                    raise ValueError(f"{self.describe()}: layer {layer.name!r} returns several outputs; a "
                                     f"Sequential needs one tensor between layers (use the functional API)")
                self._graph.append((layer, y.node))
                x = y
        except Exception:
            del self._graph[start:]
            self._untrace(start)
            raise
        self.built = True

    def _untrace(self, start=0):
        for _, node in self._graph[start:]:
            node.detach()
        del self._graph[start:]

    def build(self, input_shape=None):
        """Build every layer for inputs of ``input_shape`` (batch axis included)."""
        if input_shape is None:
            if self._batch_shape is None:
                raise ValueError(f"{self.describe()}: build() needs an input_shape (batch axis included), e.g. "
                                 f"(None, 28, 28, 1)")
            input_shape = self._batch_shape
        if self._batch_shape != as_shape(input_shape) or not self._graph:
            self._set_input_shape(input_shape)

    # -- computing --------------------------------------------------------------------
    def _to_tensor(self, value):
        if self._input_layer is not None and self._input_layer.input_dtype.kind != "f":
            return to_input_dtype(value, self._input_layer.input_dtype)  # token ids stay exact integers
        return super()._to_tensor(value)

    def call(self, inputs, training=None, mask=None):
        x = inputs
        if mask is not None:  # the input's mask, as Keras 3's Sequential takes it
            set_keras_mask(x, mask)
        for layer in self._layers:
            x = layer(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        shape = as_shape(input_shape)
        for layer in self._layers:
            shape = layer.compute_output_shape(shape)
        return shape

    # -- introspection ------------------------------------------------------------------
    @property
    def output_names(self):
        """``[name of the last layer]``, as in Keras (the key of a per-output loss or metric dict)."""
        if not self._layers:
            raise ValueError(f"{self.describe()}: no layers, so no output")
        return [self._layers[-1].name]

    @property
    def input(self):
        if not self._graph:
            raise AttributeError(f"{self.describe()} has no input yet: its input shape is unknown")
        return self._graph[0][1].inputs[0]

    @property
    def output(self):
        if not self._graph:
            raise AttributeError(f"{self.describe()} has no output yet: its input shape is unknown")
        return self._graph[-1][1].outputs[0]

    @property
    def inputs(self):
        return [self.input]

    @property
    def outputs(self):
        return [self.output]

    @property
    def input_shape(self):
        if self._batch_shape is None:
            raise AttributeError(f"{self.describe()} has no input_shape yet")
        return self._batch_shape

    @property
    def output_shape(self):
        return self.output.shape

    def _output_shape_of(self, layer):
        for traced, node in self._graph:
            if traced is layer:
                return node.outputs[0].shape
        return super()._output_shape_of(layer)

    # -- config -----------------------------------------------------------------------------
    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, "dtype": str(self.dtype),
                  "layers": [serialize(layer) for layer in self._layers]}
        if self._batch_shape is not None:
            config["build_input_shape"] = list(self._batch_shape)
        return config

    @classmethod
    def from_config(cls, config):
        model = cls(name=config.get("name"), trainable=config.get("trainable", True), dtype=config.get("dtype"))
        for layer_config in config.get("layers", []):
            model.add(deserialize(layer_config))
        shape = config.get("build_input_shape")
        if shape is not None and not model._graph:
            model.build(as_shape(shape))
        return model

    def __repr__(self):
        shape = format_shape(self._batch_shape) if self._batch_shape else "unknown input shape"
        return f"<Sequential name={self.name!r} layers={len(self._layers)} {shape}>"
