"""Optimizers: in-place, vectorised updates of weight Tensors from their ``.grad``.

``optimizer.apply_gradients(weights)`` updates every weight that has a
gradient, in place (``w.data`` is modified, never replaced), with whole-array
NumPy operations.  The formulas follow Keras 3, including its epsilon
placement; ``weight_decay`` is decoupled (``w -= lr * weight_decay * w``
before the gradient step, as AdamW), ``clipnorm`` clips each gradient's L2
norm, ``global_clipnorm`` the norm of all gradients together, ``clipvalue``
each element.

``use_ema=True`` keeps an exponential moving average of every updated weight
(Keras 3: ``ema = m ema + (1 - m) w`` after each step, ``m = ema_momentum``
except 0 on the first step), stored as the slot ``ema``;
``ema_overwrite_frequency=k`` copies it into the weights every ``k`` steps,
and the ``SwapEMAWeights`` callback swaps it in for evaluation.

State (``get_state``/``set_state``) is a plain dict: the step count, the
current learning rate and one flat ``{"<slot>/<weight name>": ndarray}``
mapping, ready for safetensors plus JSON.  ``get_config`` round-trips the
hyper-parameters (a schedule as ``{"class_name", "config"}``).
"""
import numpy as np

from nnkit import backend, constraints, schedules

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Nadam", "Adamax", "Adadelta", "Lion",
           "Ftrl", "get", "names"]


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
                 global_clipnorm=None, exclude_from_weight_decay=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, name=None):
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
        self.use_ema = bool(use_ema)
        self.ema_momentum = _check(cls, "ema_momentum", ema_momentum, 0.0, 1.0 + 1e-12)
        if ema_overwrite_frequency is not None and (isinstance(ema_overwrite_frequency, bool)
                                                    or int(ema_overwrite_frequency) != ema_overwrite_frequency
                                                    or ema_overwrite_frequency < 1):
            raise ValueError(f"{cls}: ema_overwrite_frequency must be a positive integer or None, "
                             f"got {ema_overwrite_frequency!r}")
        self.ema_overwrite_frequency = None if ema_overwrite_frequency is None else int(ema_overwrite_frequency)
        if self.use_ema:
            self.slot_names = tuple(self.slot_names) + ("ema",)
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
        if self.use_ema:
            self._update_ema([(key, w) for key, w, _ in live])
        for _, w, _ in live:  # after the update, as Keras: the weight projected by its layer's constraint
            constraint = constraints.attached(w)
            if constraint is not None:
                w.data[...] = constraint(w.data)
        self.iterations += 1

    def _update_ema(self, keyed):
        momentum = self.ema_momentum if self.iterations else 0.0
        overwrite = self.ema_overwrite_frequency and (self.iterations + 1) % self.ema_overwrite_frequency == 0
        for key, w in keyed:
            ema = self._slot("ema", key, w.data)
            ema *= momentum
            ema += (1 - momentum) * w.data
            if overwrite:
                w.data[...] = ema

    def swap_ema_weights(self, weights):
        """Exchange each weight's values with its moving average (the ``SwapEMAWeights`` callback's job)."""
        if not self.use_ema:
            raise ValueError(f"{type(self).__name__}: swap_ema_weights needs an optimizer built with use_ema=True")
        for key, w in _keyed(weights):
            ema = self.slots["ema"].get(key)
            if ema is not None:
                held = w.data.copy()
                w.data[...] = ema
                ema[...] = held

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

    def plain_sgd_rate(self, weights):
        """The rate ``lr`` when ``apply_gradients`` on ``weights`` would step each of them by plain ``w -= lr g``
        and count one step, with nothing else to do, so the step may be taken inside a backward (a training plan
        does); else None.  Only ``SGD`` says yes (``plain_sgd_step`` is then its one-weight step)."""
        return None

    # -- config and state --------------------------------------------------------------------------
    def _hyper(self):
        return {}

    def get_config(self):
        lr = schedules.serialize(self._lr) if self.schedule is not None else self._lr
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm,
                "exclude_from_weight_decay": list(self.exclude_from_weight_decay), "use_ema": self.use_ema,
                "ema_momentum": self.ema_momentum, "ema_overwrite_frequency": self.ema_overwrite_frequency,
                **self._hyper()}

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

    def plain_sgd_rate(self, weights):
        cls = type(self)
        plain = (not self.momentum and not self.weight_decay and not self.use_ema and self.clipnorm is None
                 and self.clipvalue is None and self.global_clipnorm is None
                 and cls.apply_gradients is Optimizer.apply_gradients and cls._update is SGD._update
                 and "apply_gradients" not in self.__dict__ and "_update" not in self.__dict__)
        if not plain or any(constraints.attached(w) is not None for w in weights):
            return None  # momentum, decay, clipping, EMA, a constraint, or a subclass's own update (a wrapper's)
        _keyed(weights)  # apply_gradients' check: unique weight names
        return self.learning_rate

    def plain_sgd_step(self, w, g, lr):
        """``w -= lr g`` in place for one weight array, exactly as ``apply_gradients`` steps it."""
        self._update(w, g, lr, {})

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


class Nadam(Optimizer):
    """Adam with Nesterov momentum and Keras's momentum schedule ``u_t = b1 (1 - 0.5 * 0.96^t)``:
    ``w -= lr (u_{t+1} m / (1 - prod u_{..t+1}) + (1 - u_t) g / (1 - prod u_{..t})) / (sqrt(v / (1 - b2^t)) + eps)``."""

    slot_names = ("momentum", "velocity")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        self.beta_1 = _check("Nadam", "beta_1", beta_1, 0.0, 1.0)
        self.beta_2 = _check("Nadam", "beta_2", beta_2, 0.0, 1.0)
        self.epsilon = _check("Nadam", "epsilon", epsilon)
        self._u_product = (0, 1.0)  # (step, prod_{s <= step} u_s): a function of the step count, kept incrementally
        super().__init__(learning_rate, **kwargs)

    def _u(self, t):
        return self.beta_1 * (1 - 0.5 * 0.96 ** t)

    def _product(self, t):
        step, product = self._u_product if self._u_product[0] <= t else (0, 1.0)
        for s in range(step + 1, t + 1):
            product *= self._u(s)
        self._u_product = (t, product)
        return product

    def _update(self, w, g, lr, slots):
        t = self.iterations + 1
        u_t, u_next = self._u(t), self._u(t + 1)
        product = self._product(t)
        a, b = u_next / (1 - product * u_next), (1 - u_t) / (1 - product)
        backend.current().nadam_update(w, g, slots["momentum"], slots["velocity"], self.beta_1, self.beta_2,
                                       a, b, lr, 1 - self.beta_2 ** t, self.epsilon)

    def _hyper(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Adamax(Optimizer):
    """Adam with the infinity norm: ``m += (1-b1)(g-m); u = max(b2 u, |g|); w -= lr m / ((1 - b1^t)(u + eps))``."""

    slot_names = ("momentum", "norm")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        self.beta_1 = _check("Adamax", "beta_1", beta_1, 0.0, 1.0)
        self.beta_2 = _check("Adamax", "beta_2", beta_2, 0.0, 1.0)
        self.epsilon = _check("Adamax", "epsilon", epsilon)
        super().__init__(learning_rate, **kwargs)

    def _update(self, w, g, lr, slots):
        bias_1 = 1 - self.beta_1 ** (self.iterations + 1)
        backend.current().adamax_update(w, g, slots["momentum"], slots["norm"], lr, self.beta_1, self.beta_2,
                                        bias_1, self.epsilon)

    def _hyper(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Adadelta(Optimizer):
    """``acc_g = rho acc_g + (1-rho) g^2; d = -sqrt(acc_d + eps) g / sqrt(acc_g + eps);
    acc_d = rho acc_d + (1-rho) d^2; w += lr d`` (Keras's default rate 0.001)."""

    slot_names = ("accumulated_grad", "accumulated_delta_var")

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, **kwargs):
        self.rho = _check("Adadelta", "rho", rho, 0.0, 1.0)
        self.epsilon = _check("Adadelta", "epsilon", epsilon)
        super().__init__(learning_rate, **kwargs)

    def _update(self, w, g, lr, slots):
        backend.current().adadelta_update(w, g, slots["accumulated_grad"], slots["accumulated_delta_var"], lr,
                                          self.rho, self.epsilon)

    def _hyper(self):
        return {"rho": self.rho, "epsilon": self.epsilon}


class Lion(Optimizer):
    """``w -= lr sign(b1 m + (1-b1) g); m = b2 m + (1-b2) g``."""

    slot_names = ("momentum",)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, **kwargs):
        if not 0 < beta_1 <= 1:
            raise ValueError(f"Lion: beta_1 must be in (0, 1] (otherwise Lion degenerates to SignSGD), got {beta_1!r}")
        self.beta_1 = float(beta_1)
        self.beta_2 = _check("Lion", "beta_2", beta_2, 0.0, 1.0)
        super().__init__(learning_rate, **kwargs)

    def _update(self, w, g, lr, slots):
        backend.current().lion_update(w, g, slots["momentum"], lr, self.beta_1, self.beta_2)

    def _hyper(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2}


class Ftrl(Optimizer):
    """Follow-the-regularized-leader (Keras 3's formulation, with L1, L2, L2-shrinkage and ``beta``)."""

    slot_names = ("accumulator", "linear")

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, **kwargs):
        if learning_rate_power > 0:
            raise ValueError(f"Ftrl: learning_rate_power must be <= 0, got {learning_rate_power!r}")
        self.learning_rate_power = float(learning_rate_power)
        self.initial_accumulator_value = _check("Ftrl", "initial_accumulator_value", initial_accumulator_value)
        self.l1_regularization_strength = _check("Ftrl", "l1_regularization_strength", l1_regularization_strength)
        self.l2_regularization_strength = _check("Ftrl", "l2_regularization_strength", l2_regularization_strength)
        self.l2_shrinkage_regularization_strength = _check("Ftrl", "l2_shrinkage_regularization_strength",
                                                           l2_shrinkage_regularization_strength)
        self.beta = _check("Ftrl", "beta", beta)
        super().__init__(learning_rate, **kwargs)

    def _slot_init(self, slot, w):
        return np.full_like(w, self.initial_accumulator_value) if slot == "accumulator" else np.zeros_like(w)

    def _update(self, w, g, lr, slots):
        if lr <= 0:
            raise ValueError(f"Ftrl: the learning rate must be > 0 (it divides), got {lr}")
        l2 = self.l2_regularization_strength + self.beta / (2 * lr)
        backend.current().ftrl_update(w, g, slots["accumulator"], slots["linear"], lr, -self.learning_rate_power,
                                      self.l1_regularization_strength, l2,
                                      self.l2_shrinkage_regularization_strength)

    def _hyper(self):
        return {"learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
                "beta": self.beta}


_NAMES = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad, "nadam": Nadam,
          "adamax": Adamax, "adadelta": Adadelta, "lion": Lion, "ftrl": Ftrl}


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
