"""Activation functions by name, as layers' ``activation=`` argument takes them.

``get("relu")`` returns the differentiable op; ``get(None)`` and
``get("linear")`` the identity; a callable is returned as it is.
``serialize(fn)`` gives the name that ``get`` maps back.
"""
from nnkit import ops

__all__ = ["get", "serialize", "linear", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu",
           "sigmoid", "hard_sigmoid", "tanh", "softmax", "log_softmax", "softplus", "softsign",
           "silu", "swish", "exponential"]


def fusable(fn):
    """The name ``nnkit.functional.linear``/``conv2d`` take to fuse ``fn`` into their bias pass, or None."""
    return "relu" if fn is relu else None


def linear(x):
    """The identity."""
    return x


relu = ops.relu
relu6 = ops.relu6
gelu = ops.gelu
sigmoid = ops.sigmoid
tanh = ops.tanh
softplus = ops.softplus
exponential = ops.exp


def leaky_relu(x, negative_slope=0.2):  # Keras 3's default for the function and the string
    return ops.leaky_relu(x, negative_slope)


def elu(x, alpha=1.0):
    return ops.elu(x, alpha)


_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


def selu(x):
    """scale * elu(x, alpha) with the self-normalising constants."""
    return ops.elu(x, _SELU_ALPHA) * _SELU_SCALE


def hard_sigmoid(x):
    """Piecewise-linear sigmoid: clip(x / 6 + 1 / 2, 0, 1) (Keras 3)."""
    return ops.clip(x * (1 / 6) + 0.5, 0.0, 1.0)


def softmax(x, axis=-1):
    return ops.softmax(x, axis)


def log_softmax(x, axis=-1):
    return ops.log_softmax(x, axis)


def softsign(x):
    return x / (ops.abs(x) + 1)


def silu(x):
    """x * sigmoid(x), also called swish."""
    return x * ops.sigmoid(x)


swish = silu

_BY_NAME = {
    "linear": linear, "relu": relu, "relu6": relu6, "leaky_relu": leaky_relu, "elu": elu, "selu": selu,
    "gelu": gelu, "sigmoid": sigmoid, "hard_sigmoid": hard_sigmoid, "tanh": tanh, "softmax": softmax,
    "log_softmax": log_softmax, "softplus": softplus, "softsign": softsign, "silu": silu, "swish": swish,
    "exponential": exponential,
}
_NAMES = {fn: name for name, fn in _BY_NAME.items() if name != "swish"}


def get(identifier, custom_objects=None):
    """The activation function for a name, ``None`` (identity) or a callable."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        fn = (custom_objects or {}).get(identifier) or _BY_NAME.get(identifier)
        if fn is None:
            choices = sorted(_BY_NAME) + sorted(custom_objects or {})
            raise ValueError(f"unknown activation {identifier!r}; valid choices: {', '.join(choices)}, "
                             f"or None or a callable")
        return fn
    if callable(identifier):
        return identifier
    raise TypeError(f"activations: cannot interpret {identifier!r} as an activation; pass a name, "
                    f"None or a callable")


def serialize(fn):
    """The name of ``fn``: a built-in's registered name, else its ``__name__``."""
    name = _NAMES.get(fn) or getattr(fn, "__name__", None)
    if name is None or name == "<lambda>":
        raise ValueError(f"activations: cannot serialize {fn!r}; use a named function and pass it in "
                         f"custom_objects when loading")
    return name
