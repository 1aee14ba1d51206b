"""Forward hooks: functions a layer calls around each concrete call, for tools that watch or edit a pass.

``layer.register_forward_pre_hook(fn)``: ``fn(layer, inputs)`` runs before the
layer computes; a non-``None`` return replaces the inputs.
``layer.register_forward_hook(fn)``: ``fn(layer, inputs, outputs)`` runs after;
a non-``None`` return replaces the outputs.  Both return a ``HookHandle``
whose ``remove()`` detaches the hook (also usable as a context manager).
Hooks fire once per call, in registration order, on concrete (not symbolic)
calls, so a model's hooks fire in execution (topological) order.
"""

__all__ = ["HookHandle", "active"]

_registered = [0]  # hooks registered and not removed, over every layer


def active():
    """Whether any layer has a forward hook (inference plans step aside then, so that hooks fire)."""
    return _registered[0] > 0


class HookHandle:
    """Removes one registered hook; ``with layer.register_forward_hook(fn): ...`` removes it on exit."""

    def __init__(self, hooks, fn):
        self._hooks, self._fn = hooks, fn
        _registered[0] += 1

    def remove(self):
        if any(h is self._fn for h in self._hooks):
            self._hooks[:] = [h for h in self._hooks if h is not self._fn]
            _registered[0] -= 1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False
