"""``Callback``: the no-op hooks the training loop calls, and ``CallbackList`` that fans them out.

Order of calls in ``fit``::

    on_train_begin
      on_epoch_begin(epoch)
        on_train_batch_begin(step) / on_train_batch_end(step, logs)   per batch
        on_test_begin / on_test_batch_* / on_test_end                  validation
      on_epoch_end(epoch, logs)          logs hold the epoch's metrics and val_* metrics
    on_train_end(logs)

``evaluate`` calls the ``on_test_*`` hooks and ``predict`` the
``on_predict_*`` hooks.  A callback stops training by setting
``self.model.stop_training = True``.  Batch logs also carry ``size``, the
number of samples in the batch.
"""

__all__ = ["Callback", "CallbackList"]

HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
         "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
         "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
         "on_predict_batch_begin", "on_predict_batch_end")


class Callback:
    """Base class; override the hooks you need.  ``self.model`` and ``self.params`` are set by the loop."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_batch_begin(self, batch, logs=None): pass
    def on_train_batch_end(self, batch, logs=None): pass
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass

    # -- helpers shared by monitoring callbacks -------------------------------------------------
    def get_state(self):
        """JSON-able counters a checkpoint keeps so that a resumed run behaves as an unbroken one."""
        return {}

    def set_state(self, state):
        pass


class CallbackList:
    """Calls each hook on every callback, in the order given."""

    def __init__(self, callbacks=(), model=None, params=None):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be nnkit.callbacks.Callback instances, got {type(cb).__name__}")
            if model is not None:
                cb.set_model(model)
            if params is not None:
                cb.set_params(params)

    def __iter__(self):
        return iter(self.callbacks)

    def __getattr__(self, hook):
        if hook not in HOOKS:
            raise AttributeError(hook)

        def call(*args):
            for cb in self.callbacks:
                getattr(cb, hook)(*args)
        return call
