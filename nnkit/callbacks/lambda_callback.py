"""``LambdaCallback``: a callback from plain functions, as Keras's."""
from .base import Callback

__all__ = ["LambdaCallback"]

_HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
          "on_train_batch_end", "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
          "on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end")


class LambdaCallback(Callback):
    """Each keyword names a hook and gives the function to call there, with the hook's arguments:
    ``on_epoch_end=lambda epoch, logs: ...``, ``on_train_begin=lambda logs: ...``.  ``on_batch_begin`` and
    ``on_batch_end`` are Keras's names for the training-batch hooks."""

    def __init__(self, on_batch_begin=None, on_batch_end=None, **hooks):
        super().__init__()
        hooks.setdefault("on_train_batch_begin", on_batch_begin)
        hooks.setdefault("on_train_batch_end", on_batch_end)
        for name, fn in hooks.items():
            if name not in _HOOKS:
                raise TypeError(f"LambdaCallback: unknown hook {name!r}; valid: {', '.join(_HOOKS)}")
            if fn is not None:
                if not callable(fn):
                    raise TypeError(f"LambdaCallback: {name} must be callable, got {type(fn).__name__}")
                setattr(self, name, _with_logs(fn, 2 if "epoch" in name or "batch" in name else 1))


def _with_logs(fn, arity):
    """``fn`` called with the hook's full arguments: ``logs`` is passed (``None`` when the loop gave none)."""
    def hook(*args, logs=None):
        args = args + (logs,) if len(args) < arity else args
        return fn(*args)
    return hook
