"""Checks of a checkpoint's training state and optimizer state, all of it, when the file is read.

A field of the wrong type or out of range used to load and fail at the next
``fit`` (``AttributeError: 'list' object has no attribute 'get'``), or was
silently cast (an integer optimizer slot).  Here each is a ``FileFormatError``
naming the file and the field (``training.state.stream.position``).

The layouts checked are those the writers produce: ``History.to_tree()``,
``Model.get_training_state()`` (its known keys; a caller's own ``state``
tree may hold other keys, which pass unchecked) and ``Optimizer.get_state()``.
"""
import numbers

import numpy as np

from nnkit.io.errors import FileFormatError

MAX_EPOCH = 2**31 - 1   # epochs completed; far beyond any run, and 10**30 is no epoch count
MAX_COUNT = 2**62       # steps, iterations, positions, passes


def _fail(path, where, expected, value):
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:60] + "..."
    raise FileFormatError(path, f"{where} must be {expected}, got {shown}")


def _int(path, where, value, high):
    if isinstance(value, np.integer) and np.ndim(value) == 0:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= high:
        _fail(path, where, f"an integer in [0, {high}]", value)
    return value


def _real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and np.ndim(value) == 0


def _dict(path, where, value, keys=None):
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        _fail(path, where, "an object with string keys", value)
    if keys is not None and not set(value) <= set(keys):
        _fail(path, where, f"an object with keys among {sorted(keys)}", sorted(value))
    return value


def _list(path, where, value, item_ok, expected):
    if not isinstance(value, list):
        _fail(path, where, f"a list of {expected}", value)
    for i, item in enumerate(value):
        if not item_ok(item):
            _fail(path, f"{where}[{i}]", expected, item)


def check_training(path, training):
    """The ``training`` entry of a checkpoint (tensors already unpacked into ``history`` and ``state``)."""
    _int(path, "training.epoch", training["epoch"], MAX_EPOCH)
    if training["step"] is not None:
        _int(path, "training.step", training["step"], MAX_COUNT)
    if training["history"] is not None:
        check_history(path, training["history"])
    if training["state"] is not None:
        check_loop_state(path, training["state"])


def _epoch_number(value):
    return _real(value) and float(value).is_integer() and 0 <= value <= MAX_EPOCH


def check_history(path, history, where="training.history"):
    """``History.to_tree()`` (``{"epoch": [int], "history": {name: [number]}, "epochs_of": {name: [int]}}``,
    what ``ModelCheckpoint`` saves) or a plain ``History.history`` (``{name: [number]}``)."""
    _dict(path, where, history)
    if not (set(history) <= {"epoch", "history", "epochs_of"} and isinstance(history.get("history", {}), dict)):
        for name, values in history.items():
            _list(path, f"{where}.{name}", values, _real, "numbers")
        return
    _list(path, f"{where}.epoch", history.get("epoch", []), _epoch_number, "epoch numbers")
    for name, values in _dict(path, f"{where}.history", history.get("history", {})).items():
        _list(path, f"{where}.history.{name}", values, _real, "numbers")
    for name, epochs in _dict(path, f"{where}.epochs_of", history.get("epochs_of", {})).items():
        _list(path, f"{where}.epochs_of.{name}", epochs, _epoch_number, "epoch numbers")


def check_loop_state(path, state, where="training.state"):
    """The keys of ``Model.get_training_state()`` that ``state`` holds (a caller's own tree passes otherwise)."""
    if not isinstance(state, dict):
        return
    if "epoch" in state:
        _int(path, f"{where}.epoch", state["epoch"], MAX_EPOCH)
    for key in ("step_in_epoch", "iterations"):
        if key in state:
            _int(path, f"{where}.{key}", state[key], MAX_COUNT)
    if state.get("stream") is not None:
        check_stream(path, state["stream"], f"{where}.stream")
    if "callbacks" in state:
        for name, counters in _dict(path, f"{where}.callbacks", state["callbacks"]).items():
            for key, value in _dict(path, f"{where}.callbacks.{name}", counters).items():
                if not (value is None or _real(value) or isinstance(value, str)):
                    _fail(path, f"{where}.callbacks.{name}.{key}", "a number, a string or null", value)
    if state.get("rng") is not None:
        from nnkit import random as nnrandom

        probe = type(nnrandom.get_rng().bit_generator)()  # a fresh generator: nothing of nnkit's changes
        try:
            probe.state = state["rng"]
        except Exception:  # numpy raises TypeError, ValueError or KeyError for a state that does not fit
            _fail(path, f"{where}.rng", f"a {type(probe).__name__} generator state", state["rng"])


def check_stream(path, stream, where):
    """A data stream's ``{"passes", "position", "order"}``: counts, and an int64 order the position lies in;
    a data-parallel stream (``nnkit.distributed``) adds its shuffle ``seed``."""
    _dict(path, where, stream, ("passes", "position", "order", "seed"))
    _int(path, f"{where}.passes", stream.get("passes", 0), MAX_COUNT)
    _int(path, f"{where}.seed", stream.get("seed", 0), MAX_COUNT)
    position = _int(path, f"{where}.position", stream.get("position", 0), MAX_COUNT)
    order = stream.get("order")
    if order is not None:
        if not isinstance(order, np.ndarray) or order.ndim != 1 or order.dtype.kind not in "iu":
            _fail(path, f"{where}.order", "a 1-D integer array", order)
        if order.size and order.min() < 0:
            _fail(path, f"{where}.order", "non-negative sample indices", int(order.min()))
        if position > order.size:
            _fail(path, f"{where}.position", f"at most the order's length {order.size}", position)


def check_optimizer_state(path, state, weight_dtypes, where="optimizer.state"):
    """``Optimizer.get_state()``: counts, a learning rate, and float slots of their weight's dtype."""
    _dict(path, where, state, ("iterations", "learning_rate", "slots"))
    _int(path, f"{where}.iterations", state.get("iterations", 0), MAX_COUNT)
    rate = state.get("learning_rate")
    if rate is not None and not (_real(rate) and np.isfinite(rate) and rate >= 0):
        _fail(path, f"{where}.learning_rate", "a finite non-negative number or null", rate)
    for key, slot in _dict(path, f"{where}.slots", state.get("slots", {})).items():
        field = f"{where}.slots.{key}"
        if not isinstance(slot, np.ndarray):
            _fail(path, field, "an array", slot)
        weight = key.partition("/")[2]
        expected = weight_dtypes.get(weight)
        if slot.dtype.kind != "f" or (expected is not None and slot.dtype != expected):
            _fail(path, field, f"an array of the weight's dtype {expected or 'float'}", f"dtype {slot.dtype}")
