"""Optimizers: in-place, vectorised updates of weight Tensors from their ``.grad``.

``optimizer.apply_gradients(weights)`` updates every weight that has a
gradient, in place (``w.data`` is modified, never replaced), with whole-array
NumPy operations.  The formulas follow Keras 3, including its epsilon
placement; ``weight_decay`` is decoupled (``w -= lr * weight_decay * w``
before the gradient step, as AdamW), ``clipnorm`` clips each gradient's L2
norm, ``global_clipnorm`` the norm of all gradients together, ``clipvalue``
each element.

State (``get_state``/``set_state``) is a plain dict: the step count, the
current learning rate and one flat ``{"<slot>/<weight name>": ndarray}``
mapping, ready for safetensors plus JSON.  ``get_config`` round-trips the
hyper-parameters (a schedule as ``{"class_name", "config"}``).
"""
import numpy as np

from nnkit import backend, schedules

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "get", "names"]


def _check(cls, name, value, lo=0.0, hi=None, lo_open=False):
    ok = value is not None and (value > lo if lo_open else value >= lo) and (hi is None or value < hi)
    if not ok:
        bound = f"({lo}, {hi})" if hi is not None else (f"> {lo}" if lo_open else f">= {lo}")
        raise ValueError(f"{cls}: {name} must be {bound}, got {value!r}")
    return float(value)


class Optimizer:
    """Base class.  Subclasses declare ``slot_names`` and implement ``_update``."""

    slot_names = ()

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, exclude_from_weight_decay=None, name=None):
        cls = type(self).__name__
        self.name = name or cls.lower()
        self.learning_rate = learning_rate
        self.weight_decay = None if weight_decay is None else _check(cls, "weight_decay", weight_decay)
        self.clipnorm = None if clipnorm is None else _check(cls, "clipnorm", clipnorm, lo_open=True)
        self.clipvalue = None if clipvalue is None else _check(cls, "clipvalue", clipvalue, lo_open=True)
        self.global_clipnorm = None if global_clipnorm is None else _check(cls, "global_clipnorm", global_clipnorm,
                                                                           lo_open=True)
        if sum(c is not None for c in (self.clipnorm, self.global_clipnorm)) > 1:
            raise ValueError(f"{cls}: give at most one of clipnorm and global_clipnorm")
        self.exclude_from_weight_decay = list(exclude_from_weight_decay or [])
        self.iterations = 0
        self.slots = {s: {} for s in self.slot_names}

    # -- learning rate -----------------------------------------------------------------------------
    @property
    def learning_rate(self):
        """The rate the next update uses (a schedule is evaluated at the current step)."""
        lr = self._lr
        return float(lr(self.iterations)) if isinstance(lr, schedules.LearningRateSchedule) else lr

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, schedules.LearningRateSchedule):
            self._lr = value
        else:
            self._lr = _check(type(self).__name__, "learning_rate", value)

    @property
    def schedule(self):
        """The schedule object, or ``None`` for a constant rate."""
        return self._lr if isinstance(self._lr, schedules.LearningRateSchedule) else None

    # -- updates -----------------------------------------------------------------------------------
    def apply_gradients(self, grads_and_vars):
        """Update weights in place from their gradients; the one call through which gradients reach the
        optimizer (a wrapper may transform them first: all-reduce, clip, accumulate).

        ``grads_and_vars`` is Keras's form, an iterable of ``(gradient, weight)`` pairs
        (``zip(grads, model.trainable_weights)``), or nnkit's, an iterable of weights whose ``.grad`` is
        set.  A ``None`` gradient leaves its weight alone.
        """
        live = [(key, w, g) for key, (g, w) in _keyed(_pairs(grads_and_vars)) if g is not None]
        if not live:
            return
        grads = [self._clip(g, w) for _, w, g in live]
        if self.global_clipnorm is not None:
            norm = np.sqrt(sum(float(np.vdot(g, g)) for g in grads))
            if norm > self.global_clipnorm:
                grads = [g * (self.global_clipnorm / norm) for g in grads]
        lr = self.learning_rate
        for (key, w, _), g in zip(live, grads):
            if g.shape != w.data.shape:
                raise ValueError(f"{type(self).__name__}: gradient of {key!r} has shape {g.shape}, "
                                 f"the weight {w.data.shape}")
            g = g.astype(w.data.dtype, copy=False)
            if self.weight_decay and not any(p in key for p in self.exclude_from_weight_decay):
                w.data -= (lr * self.weight_decay) * w.data
            self._update(w.data, g, lr, {s: self._slot(s, key, w.data) for s in self.slot_names})
        self.iterations += 1

    def apply(self, grads, trainable_variables):
        """Keras 3's ``optimizer.apply(grads, weights)``: the same as ``apply_gradients(zip(grads, weights))``."""
        grads, trainable_variables = list(grads), list(trainable_variables)
        if len(grads) != len(trainable_variables):
            raise ValueError(f"{type(self).__name__}.apply: {len(grads)} gradients for {len(trainable_variables)} "
                             f"weights")
        self.apply_gradients(zip(grads, trainable_variables))

    step = apply_gradients

    def _clip(self, g, w):
        if self.clipvalue is not None:
            g = np.clip(g, -self.clipvalue, self.clipvalue)
        if self.clipnorm is not None:
            norm = float(np.sqrt(np.vdot(g, g)))
            if norm > self.clipnorm:
                g = g * (self.clipnorm / norm)
        return g

    def _slot_init(self, slot, w):
        return np.zeros_like(w)

    def _slot(self, slot, key, w):
        table = self.slots[slot]
        arr = table.get(key)
        if arr is None:
            arr = table[key] = self._slot_init(slot, w)
        elif arr.shape != w.shape:
            raise ValueError(f"{type(self).__name__}: state {slot!r} of weight {key!r} has shape {arr.shape}, "
                             f"but the weight has shape {w.shape}")
        elif arr.dtype != w.dtype:
            arr = table[key] = arr.astype(w.dtype)
        return arr

    def _update(self, w, g, lr, slots):
        raise NotImplementedError

    # -- config and state --------------------------------------------------------------------------
    def _hyper(self):
        return {}

    def get_config(self):
        lr = schedules.serialize(self._lr) if self.schedule is not None else self._lr
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm,
                "exclude_from_weight_decay": list(self.exclude_from_weight_decay), **self._hyper()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"])
        return cls(**config)

    def get_state(self):
        """``{"iterations": int, "learning_rate": float|None, "slots": {"<slot>/<weight name>": ndarray}}``.

        ``learning_rate`` is the constant rate (it may have been changed by a
        callback such as ``ReduceLROnPlateau``), or ``None`` under a schedule.
        """
        return {"iterations": int(self.iterations),
                "learning_rate": None if self.schedule is not None else float(self._lr),
                "slots": {f"{s}/{k}": a.copy() for s, table in self.slots.items() for k, a in table.items()}}

    def set_state(self, state, weights=None):
        """Restore ``get_state()`` output; with ``weights``, check every slot names one of them with its shape."""
        cls = type(self).__name__
        slots = {s: {} for s in self.slot_names}
        for full, arr in state.get("slots", {}).items():
            slot, _, key = full.partition("/")
            if slot not in slots or not key:
                raise ValueError(f"{cls}.set_state: unknown state entry {full!r}; expected '<slot>/<weight name>' "
                                 f"with slot in {list(self.slot_names)}")
            slots[slot][key] = np.array(arr, copy=True)
        if weights is not None:
            known = {k: w.data for k, w in _keyed(weights)}
            for slot, table in slots.items():
                for key, arr in table.items():
                    if key not in known:
                        raise ValueError(f"{cls}.set_state: state {slot!r} is for weight {key!r}, which the model "
                                         f"does not have")
                    if arr.shape != known[key].shape:
                        raise ValueError(f"{cls}.set_state: state {slot!r} of {key!r} has shape {arr.shape}, "
                                         f"the weight {known[key].shape}")
        self.slots = slots
        self.iterations = int(state.get("iterations", 0))
        if state.get("learning_rate") is not None and self.schedule is None:
            self.learning_rate = state["learning_rate"]

    def __repr__(self):
        return f"{type(self).__name__}(learning_rate={self._lr!r})"


def _pairs(grads_and_vars):
    """``[(gradient array or None, weight)]`` from Keras's ``(grad, weight)`` pairs or from weights with ``.grad``."""
    out = []
    for item in grads_and_vars:
        g, w = item if isinstance(item, tuple) else (item.grad, item)
        if not hasattr(w, "data") or not hasattr(w, "grad"):
            raise TypeError(f"apply_gradients: expected (gradient, weight) pairs or weights, got "
                            f"{type(w).__name__}")
        out.append((None if g is None else np.asarray(getattr(g, "data", g)), w))
    return out


def _keyed(weights):
    """``(key, item)`` pairs, the key a weight's name, or ``param_<i>`` when it has none; names must be unique.

    ``weights`` holds Tensors, or ``(gradient, Tensor)`` pairs.
    """
    out, seen = [], set()
    for i, item in enumerate(weights):
        w = item[1] if isinstance(item, tuple) else item
        if not getattr(w, "requires_grad", True):
            continue
        key = w.name or f"param_{i}"
        if key in seen:
            raise ValueError(f"optimizer: two weights share the name {key!r}; weight names must be unique")
        seen.add(key)
        out.append((key, item))
    return out


class SGD(Optimizer):
    """``v = momentum v - lr g; w += v`` (Nesterov: ``w += momentum v - lr g``); plain ``w -= lr g`` without momentum."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        self.momentum = _check("SGD", "momentum", momentum, 0.0, 1.0)
        self.nesterov = bool(nesterov)
        self.slot_names = ("momentum",) if self.momentum else ()
        super().__init__(learning_rate, **kwargs)

    def _update(self, w, g, lr, slots):
        backend.current().sgd_update(w, g, slots.get("momentum"), lr, self.momentum, self.nesterov)  # one pass

    def _hyper(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """``m += (1-b1)(g-m); v += (1-b2)(g^2-v); w -= lr sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps)``."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        cls = type(self).__name__
        self.beta_1 = _check(cls, "beta_1", beta_1, 0.0, 1.0)
        self.beta_2 = _check(cls, "beta_2", beta_2, 0.0, 1.0)
        self.epsilon = _check(cls, "epsilon", epsilon)
        self.amsgrad = bool(amsgrad)
        self.slot_names = ("m", "v", "vhat") if self.amsgrad else ("m", "v")
        super().__init__(learning_rate, **kwargs)

    def _update(self, w, g, lr, slots):
        t = self.iterations + 1
        alpha = lr * np.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        backend.current().adam_update(w, g, slots["m"], slots["v"], slots.get("vhat"), alpha,
                                      self.beta_1, self.beta_2, self.epsilon)  # one fused pass

    def _hyper(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.004, as Keras)."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)


class RMSprop(Optimizer):
    """``v = rho v + (1-rho) g^2``; ``w -= lr g / sqrt(v + eps)`` (centred: ``v - mean_g^2``), with optional momentum."""

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        self.rho = _check("RMSprop", "rho", rho, 0.0, 1.0)
        self.momentum = _check("RMSprop", "momentum", momentum, 0.0, 1.0)
        self.epsilon = _check("RMSprop", "epsilon", epsilon)
        self.centered = bool(centered)
        self.slot_names = ("velocity",) + (("average_gradient",) if self.centered else ()) + \
            (("momentum",) if self.momentum else ())
        super().__init__(learning_rate, **kwargs)

    def _update(self, w, g, lr, slots):
        backend.current().rmsprop_update(w, g, slots["velocity"], slots.get("average_gradient"),
                                         slots.get("momentum"), lr, self.rho, self.momentum, self.epsilon)

    def _hyper(self):
        return {"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon, "centered": self.centered}


class Adagrad(Optimizer):
    """``acc += g^2; w -= lr g / sqrt(acc + eps)``, the accumulator starting at ``initial_accumulator_value``."""

    slot_names = ("accumulator",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        self.initial_accumulator_value = _check("Adagrad", "initial_accumulator_value", initial_accumulator_value)
        self.epsilon = _check("Adagrad", "epsilon", epsilon)
        super().__init__(learning_rate, **kwargs)

    def _slot_init(self, slot, w):
        return np.full_like(w, self.initial_accumulator_value)

    def _update(self, w, g, lr, slots):
        backend.current().adagrad_update(w, g, slots["accumulator"], lr, self.epsilon)

    def _hyper(self):
        return {"initial_accumulator_value": self.initial_accumulator_value, "epsilon": self.epsilon}


_NAMES = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}


def names():
    return sorted(_NAMES)


def get(identifier, **kwargs):
    """An ``Optimizer`` from a name (``kwargs`` such as ``learning_rate`` go to its constructor) or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _NAMES.get(identifier.lower())
        if cls is None:
            raise ValueError(f"unknown optimizer {identifier!r}; valid names: {', '.join(names())}")
        return cls(**kwargs)
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier(**kwargs)
    raise TypeError(f"cannot interpret {identifier!r} as an optimizer; valid names: {', '.join(names())}")


def from_config(config, class_name):
    """Rebuild an optimizer from ``class_name`` (e.g. ``"Adam"``) and ``get_config()`` output."""
    cls = {c.__name__: c for c in _NAMES.values()}.get(class_name)
    if cls is None:
        raise ValueError(f"unknown optimizer class {class_name!r}; valid: {sorted(c.__name__ for c in _NAMES.values())}")
    return cls.from_config(config)
