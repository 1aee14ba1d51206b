"""Weight initializers with Keras names, formulas and defaults.

An initializer is called as ``init(shape, dtype) -> ndarray``.  Random ones
draw from nnkit's seeded generator (``nnkit.set_seed``) unless given their own
``seed``, so a whole model is reproducible from one seed.

Fans follow Keras: for a dense kernel ``(in, out)`` ``fan_in = in`` and
``fan_out = out``; for a convolution kernel ``(kh, kw, in, out)`` both are
multiplied by the receptive field ``kh * kw``.

``get(identifier)`` accepts a name (``"he_normal"``), a class name
(``"HeNormal"``), a ``{"class_name": ..., "config": ...}`` dict from
``serialize``, an instance, or any callable ``f(shape, dtype)``.
"""
import math

import numpy as np

from nnkit import random as nnrandom
from nnkit.configurable import Configurable

__all__ = [
    "Initializer", "Zeros", "Ones", "Constant", "RandomNormal", "RandomUniform", "TruncatedNormal",
    "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeNormal", "HeUniform", "LecunNormal",
    "LecunUniform", "Orthogonal", "Identity", "get", "serialize", "compute_fans",
]


def compute_fans(shape):
    """(fan_in, fan_out) of a weight of ``shape`` (Keras's convention)."""
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


class Initializer(Configurable):
    """Base class: ``__call__(shape, dtype)`` returns a new array."""

    def __call__(self, shape, dtype="float32"):
        raise NotImplementedError

    def get_config(self):
        return {}


class _Seeded(Initializer):
    """An initializer with an optional private seed; otherwise nnkit's generator."""

    def __init__(self, seed=None):
        self.seed = seed
        self._rng = None if seed is None else np.random.default_rng(seed)

    def rng(self):
        return self._rng if self._rng is not None else nnrandom.get_rng()

    def get_config(self):
        return {"seed": self.seed}


def _uniform(rng, shape, dtype, low, high):
    out = rng.random(shape, dtype=dtype)  # in the target dtype: no float64 temporary
    out *= dtype.type(high - low)
    out += dtype.type(low)
    return out


def _truncated_normal(rng, shape, dtype, mean, stddev):
    """Normal values redrawn until within two standard deviations (as Keras)."""
    out = rng.standard_normal(shape, dtype=dtype)
    bad = np.abs(out) > 2
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()), dtype=dtype)
        bad = np.abs(out) > 2
    out *= dtype.type(stddev)
    out += dtype.type(mean)
    return out


def _float_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"initializers: expected a float32 or float64 dtype, got {dtype}")
    return dtype


class Zeros(Initializer):
    def __call__(self, shape, dtype="float32"):
        return np.zeros(shape, _float_dtype(dtype))


class Ones(Initializer):
    def __call__(self, shape, dtype="float32"):
        return np.ones(shape, _float_dtype(dtype))


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = float(value)

    def __call__(self, shape, dtype="float32"):
        return np.full(shape, self.value, _float_dtype(dtype))

    def get_config(self):
        return {"value": self.value}


class RandomNormal(_Seeded):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype="float32"):
        dtype = _float_dtype(dtype)
        out = self.rng().standard_normal(shape, dtype=dtype)
        out *= dtype.type(self.stddev)
        out += dtype.type(self.mean)
        return out

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class TruncatedNormal(RandomNormal):
    def __call__(self, shape, dtype="float32"):
        return _truncated_normal(self.rng(), shape, _float_dtype(dtype), self.mean, self.stddev)


class RandomUniform(_Seeded):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype="float32"):
        return _uniform(self.rng(), shape, _float_dtype(dtype), self.minval, self.maxval)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


class VarianceScaling(_Seeded):
    """Variance ``scale / n`` with ``n`` the fan_in, fan_out or their mean.

    ``distribution`` is ``"truncated_normal"`` (stddev corrected for the
    truncation, as Keras), ``"untruncated_normal"`` or ``"uniform"``
    (limit ``sqrt(3 * scale / n)``).
    """

    MODES = ("fan_in", "fan_out", "fan_avg")
    DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        if scale <= 0:
            raise ValueError(f"VarianceScaling: scale must be positive, got {scale}")
        if mode not in self.MODES:
            raise ValueError(f"VarianceScaling: unknown mode {mode!r}; valid choices: {', '.join(self.MODES)}")
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in self.DISTRIBUTIONS:
            raise ValueError(f"VarianceScaling: unknown distribution {distribution!r}; "
                             f"valid choices: {', '.join(self.DISTRIBUTIONS)}")
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def __call__(self, shape, dtype="float32"):
        dtype = _float_dtype(dtype)
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return _uniform(self.rng(), shape, dtype, -limit, limit)
        if self.distribution == "truncated_normal":
            # stddev of a standard normal truncated to (-2, 2)
            return _truncated_normal(self.rng(), shape, dtype, 0.0, math.sqrt(variance) / 0.87962566103423978)
        out = self.rng().standard_normal(shape, dtype=dtype)
        out *= dtype.type(math.sqrt(variance))
        return out

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                **super().get_config()}


def _preset(name, scale, mode, distribution, doc):
    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return _Seeded.get_config(self)

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config, "__doc__": doc})


GlorotUniform = _preset("GlorotUniform", 1.0, "fan_avg", "uniform",
                        "Uniform in +-sqrt(6 / (fan_in + fan_out)); Keras's default kernel initializer.")
GlorotNormal = _preset("GlorotNormal", 1.0, "fan_avg", "truncated_normal",
                       "Truncated normal with stddev sqrt(2 / (fan_in + fan_out)).")
HeNormal = _preset("HeNormal", 2.0, "fan_in", "truncated_normal",
                   "Truncated normal with stddev sqrt(2 / fan_in); for ReLU networks.")
HeUniform = _preset("HeUniform", 2.0, "fan_in", "uniform", "Uniform in +-sqrt(6 / fan_in).")
LecunNormal = _preset("LecunNormal", 1.0, "fan_in", "truncated_normal",
                      "Truncated normal with stddev sqrt(1 / fan_in).")
LecunUniform = _preset("LecunUniform", 1.0, "fan_in", "uniform", "Uniform in +-sqrt(3 / fan_in).")


class Orthogonal(_Seeded):
    """A (semi-)orthogonal matrix times ``gain``: the weight viewed as ``(prod(shape[:-1]), shape[-1])`` has
    orthonormal columns (or rows, when it is wide); from the QR of a normal draw with the signs fixed by
    R's diagonal, so the result is uniform over orthogonal matrices (as Keras)."""

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = float(gain)

    def __call__(self, shape, dtype="float32"):
        dtype = _float_dtype(dtype)
        shape = tuple(shape)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: the weight must be at least 2-D, got shape {shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = self.rng().standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape).astype(dtype, order="C")  # q.T is F-ordered: weights are C arrays

    def get_config(self):
        return {"gain": self.gain, **super().get_config()}


class Identity(Initializer):
    """``gain`` times the identity matrix (2-D weights only; a rectangular one gets ones on its diagonal)."""

    def __init__(self, gain=1.0):
        self.gain = float(gain)

    def __call__(self, shape, dtype="float32"):
        dtype = _float_dtype(dtype)
        if len(shape) != 2:
            raise ValueError(f"Identity: only 2-D weights can be initialised to the identity, got shape "
                             f"{tuple(shape)} of rank {len(shape)}")
        return self.gain * np.eye(*shape, dtype=dtype)

    def get_config(self):
        return {"gain": self.gain}


_CLASSES = {cls.__name__: cls for cls in (
    Zeros, Ones, Constant, RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling,
    GlorotUniform, GlorotNormal, HeNormal, HeUniform, LecunNormal, LecunUniform, Orthogonal, Identity)}
_ALIASES = {
    "zeros": Zeros, "zero": Zeros, "ones": Ones, "one": Ones, "constant": Constant,
    "random_normal": RandomNormal, "random_uniform": RandomUniform, "truncated_normal": TruncatedNormal,
    "normal": RandomNormal, "uniform": RandomUniform,  # Keras's short names (Embedding uses "uniform")
    "variance_scaling": VarianceScaling, "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "he_normal": HeNormal, "he_uniform": HeUniform, "lecun_normal": LecunNormal, "lecun_uniform": LecunUniform,
    "orthogonal": Orthogonal, "identity": Identity,
}


def get(identifier, custom_objects=None):
    """An initializer from a name, a serialized dict, an instance or a callable."""
    custom_objects = custom_objects or {}
    if isinstance(identifier, Initializer) or (callable(identifier) and not isinstance(identifier, type)):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if isinstance(identifier, dict):
        name, config = identifier.get("class_name"), identifier.get("config", {})
        cls = custom_objects.get(name) or _CLASSES.get(name) or _ALIASES.get(name)
        if cls is None:
            raise ValueError(_unknown(name, custom_objects))
        return cls.from_config(config) if hasattr(cls, "from_config") else cls(**config)
    if isinstance(identifier, str):
        found = custom_objects.get(identifier) or _ALIASES.get(identifier) or _CLASSES.get(identifier)
        if found is None:
            raise ValueError(_unknown(identifier, custom_objects))
        return found() if isinstance(found, type) else found
    raise TypeError(f"initializers: cannot interpret {identifier!r} as an initializer; pass a name, "
                    f"an Initializer or a callable f(shape, dtype)")


def _unknown(name, custom_objects):
    choices = sorted(_ALIASES) + sorted(custom_objects)
    return f"unknown initializer {name!r}; valid choices: {', '.join(choices)}"


def serialize(initializer):
    """A JSON-able description that ``get`` turns back into the initializer."""
    if isinstance(initializer, Initializer):
        return {"class_name": type(initializer).__name__, "config": initializer.get_config()}
    name = getattr(initializer, "__name__", None)
    if name is None:
        raise ValueError(f"initializers: cannot serialize {initializer!r}; give it a __name__ and pass it "
                         f"in custom_objects when loading")
    return name
