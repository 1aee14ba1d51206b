"""Learning-rate schedules: objects mapping the optimizer's step count to a rate.

A schedule is called with ``step``, the number of updates already applied
(0 for the first update), and returns a float.  ``get_config`` and
``deserialize`` round-trip it through plain JSON-able dicts.
"""
import math

from nnkit.configurable import Configurable

__all__ = ["LearningRateSchedule", "StepDecay", "ExponentialDecay", "CosineDecay", "PiecewiseConstantDecay",
           "CosineDecayRestarts", "PolynomialDecay", "InverseTimeDecay", "serialize", "deserialize"]


def _positive(cls, name, value):
    if not value > 0:
        raise ValueError(f"{cls}: {name} must be positive, got {value!r}")
    return value


class LearningRateSchedule(Configurable):
    def __call__(self, step):
        raise NotImplementedError


class StepDecay(LearningRateSchedule):
    """``initial_learning_rate * gamma ** (step // step_size)``."""

    def __init__(self, initial_learning_rate, step_size, gamma=0.1):
        self.initial_learning_rate = float(_positive("StepDecay", "initial_learning_rate", initial_learning_rate))
        self.step_size = int(_positive("StepDecay", "step_size", step_size))
        self.gamma = float(gamma)

    def __call__(self, step):
        return self.initial_learning_rate * self.gamma ** (int(step) // self.step_size)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "step_size": self.step_size, "gamma": self.gamma}


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (the exponent floored if ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        self.initial_learning_rate = float(_positive("ExponentialDecay", "initial_learning_rate", initial_learning_rate))
        self.decay_steps = int(_positive("ExponentialDecay", "decay_steps", decay_steps))
        self.decay_rate = float(_positive("ExponentialDecay", "decay_rate", decay_rate))
        self.staircase = bool(staircase)

    def __call__(self, step):
        p = step / self.decay_steps
        return self.initial_learning_rate * self.decay_rate ** (math.floor(p) if self.staircase else p)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase}


class CosineDecay(LearningRateSchedule):
    """Optional linear warm-up, then cosine decay (Keras semantics).

    For ``step < warmup_steps`` the rate goes linearly from
    ``initial_learning_rate`` to ``warmup_target`` (when given); then over
    ``decay_steps`` it follows ``peak * ((1 - alpha) * 0.5 (1 + cos(pi t)) + alpha)``
    with ``t`` the fraction of the decay done (held at 1 afterwards), where
    ``peak`` is ``warmup_target`` or ``initial_learning_rate``.
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
        if initial_learning_rate < 0:
            raise ValueError(f"CosineDecay: initial_learning_rate must be >= 0, got {initial_learning_rate}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = int(_positive("CosineDecay", "decay_steps", decay_steps))
        self.alpha = float(alpha)
        self.warmup_target = None if warmup_target is None else float(warmup_target)
        self.warmup_steps = int(warmup_steps)
        if self.warmup_steps < 0:
            raise ValueError(f"CosineDecay: warmup_steps must be >= 0, got {warmup_steps}")

    def __call__(self, step):
        peak = self.initial_learning_rate if self.warmup_target is None else self.warmup_target
        if self.warmup_target is not None and step < self.warmup_steps:
            return self.initial_learning_rate + (peak - self.initial_learning_rate) * step / self.warmup_steps
        t = min(max(step - self.warmup_steps, 0), self.decay_steps) / self.decay_steps
        return peak * ((1 - self.alpha) * 0.5 * (1 + math.cos(math.pi * t)) + self.alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[i]`` for ``boundaries[i-1] < step <= boundaries[i]`` (``values`` one longer than ``boundaries``)."""

    def __init__(self, boundaries, values):
        self.boundaries, self.values = [int(b) for b in boundaries], [float(v) for v in values]
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError(f"PiecewiseConstantDecay: expected len(values) == len(boundaries) + 1, got "
                             f"{len(self.values)} values and {len(self.boundaries)} boundaries")
        if any(b2 <= b1 for b1, b2 in zip(self.boundaries, self.boundaries[1:])):
            raise ValueError(f"PiecewiseConstantDecay: boundaries must increase, got {self.boundaries}")

    def __call__(self, step):
        for b, v in zip(self.boundaries, self.values):
            if step <= b:
                return v
        return self.values[-1]

    def get_config(self):
        return {"boundaries": list(self.boundaries), "values": list(self.values)}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR, Keras semantics): period ``i`` lasts
    ``first_decay_steps * t_mul^i`` steps and peaks at ``initial_learning_rate * m_mul^i``;
    within a period the rate is ``lr0 ((1 - alpha) 0.5 m_mul^i (1 + cos(pi t)) + alpha)``."""

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0,
                 name="SGDRDecay"):
        self.initial_learning_rate = float(initial_learning_rate)
        self.first_decay_steps = _positive("CosineDecayRestarts", "first_decay_steps", first_decay_steps)
        self.t_mul = float(_positive("CosineDecayRestarts", "t_mul", t_mul))
        self.m_mul, self.alpha, self.name = float(m_mul), float(alpha), name

    def __call__(self, step):
        done = step / self.first_decay_steps
        if self.t_mul == 1.0:
            restart = math.floor(done)
            done -= restart
        else:  # periods grow geometrically: find the one ``done`` falls in
            restart = math.floor(math.log(1.0 - done * (1.0 - self.t_mul)) / math.log(self.t_mul))
            elapsed = (1.0 - self.t_mul ** restart) / (1.0 - self.t_mul)
            done = (done - elapsed) / self.t_mul ** restart
        cosine = 0.5 * self.m_mul ** restart * (1.0 + math.cos(math.pi * done))
        return self.initial_learning_rate * ((1 - self.alpha) * cosine + self.alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "first_decay_steps": self.first_decay_steps,
                "t_mul": self.t_mul, "m_mul": self.m_mul, "alpha": self.alpha, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """``(lr0 - end) (1 - step / decay_steps)^power + end``, held at ``end`` after ``decay_steps``; with
    ``cycle`` the horizon grows to the next multiple of ``decay_steps`` instead (Keras semantics)."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False,
                 name="PolynomialDecay"):
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = _positive("PolynomialDecay", "decay_steps", decay_steps)
        self.end_learning_rate, self.power, self.cycle, self.name = \
            float(end_learning_rate), float(power), bool(cycle), name

    def __call__(self, step):
        horizon = self.decay_steps
        if self.cycle:
            horizon = horizon * (1.0 if step == 0 else math.ceil(step / self.decay_steps))
        else:
            step = min(step, horizon)
        fraction = step / horizon
        return (self.initial_learning_rate - self.end_learning_rate) * (1 - fraction) ** self.power + \
            self.end_learning_rate

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle,
                "name": self.name}


class InverseTimeDecay(LearningRateSchedule):
    """``lr0 / (1 + decay_rate * step / decay_steps)`` (the ratio floored if ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="InverseTimeDecay"):
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = _positive("InverseTimeDecay", "decay_steps", decay_steps)
        self.decay_rate, self.staircase, self.name = float(decay_rate), bool(staircase), name

    def __call__(self, step):
        p = step / self.decay_steps
        return self.initial_learning_rate / (1 + self.decay_rate * (math.floor(p) if self.staircase else p))

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


_CLASSES = {c.__name__: c for c in (StepDecay, ExponentialDecay, CosineDecay, PiecewiseConstantDecay,
                                    CosineDecayRestarts, PolynomialDecay, InverseTimeDecay)}


def serialize(schedule):
    """``{"class_name": ..., "config": {...}}``, JSON-able."""
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(data):
    cls = _CLASSES.get(data.get("class_name"))
    if cls is None:
        raise ValueError(f"unknown learning-rate schedule {data.get('class_name')!r}; valid names: {sorted(_CLASSES)}")
    return cls.from_config(data["config"])
