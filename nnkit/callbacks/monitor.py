"""Callbacks that watch one logged value: ``EarlyStopping`` and ``ReduceLROnPlateau``.

``monitor`` names a key of the epoch logs (``'loss'``, ``'val_loss'``,
``'val_accuracy'``, ...).  ``mode='auto'`` maximises names containing
``acc``, ``auc``, ``precision`` or ``recall`` and minimises the rest.  A
value improves when it beats the best so far by more than ``min_delta``.
A monitor that the run will never log is an error before training starts.
"""
import numpy as np

from .base import Callback

__all__ = ["Monitor", "EarlyStopping", "ReduceLROnPlateau"]

_MAXIMISED = ("acc", "auc", "precision", "recall")


class Monitor:
    """Best-value bookkeeping for one monitored log key."""

    def __init__(self, owner, monitor, mode="auto", min_delta=0.0):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"{owner}: unknown mode {mode!r}; valid choices: 'auto', 'min', 'max'")
        if mode == "auto":
            name = monitor.lower().removeprefix("val_")
            mode = "max" if any(k in name for k in _MAXIMISED) else "min"
        self.owner, self.monitor, self.mode, self.min_delta = owner, monitor, mode, abs(float(min_delta))
        self.best = np.inf if mode == "min" else -np.inf

    def check_available(self, params):
        names = params.get("metrics")
        if names is not None and self.monitor not in names:
            raise ValueError(f"{self.owner}: monitor={self.monitor!r} will not be logged in this run; it logs "
                             f"{', '.join(names)}" + (" (pass validation_data or validation_split to get val_* "
                                                      "values)" if self.monitor.startswith("val_") else ""))

    def value(self, logs):
        v = (logs or {}).get(self.monitor)
        return None if v is None else float(v)

    def improved(self, value, reference=None):
        ref = self.best if reference is None else reference
        if value is None or not np.isfinite(value):
            return False
        if self.mode == "min":
            return value < ref - self.min_delta
        return value > ref + self.min_delta

    def reset(self):
        self.best = np.inf if self.mode == "min" else -np.inf


class MonitoredCallback(Callback):
    """A callback that watches one logged value through ``self.tracker`` (a ``Monitor``), as Keras's
    ``monitor`` and ``best``."""

    @property
    def monitor(self):
        return self.tracker.monitor

    @property
    def best(self):
        return self.tracker.best


class EarlyStopping(MonitoredCallback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs.

    ``restore_best_weights=True`` puts back the weights of the best epoch at
    the end of training, whether or not training stopped early.
    ``baseline``: the value to beat before any epoch counts as an improvement.
    ``start_from_epoch``: epochs of warm-up that are not monitored.
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        if int(patience) < 0:
            raise ValueError(f"EarlyStopping: patience must be >= 0, got {patience}")
        self.tracker = Monitor("EarlyStopping", monitor, mode, min_delta)
        self.patience, self.verbose, self.baseline = int(patience), verbose, baseline
        self.restore_best_weights, self.start_from_epoch = bool(restore_best_weights), int(start_from_epoch)
        self.wait, self.stopped_epoch, self.best_epoch, self.best_weights = 0, None, None, None

    def on_train_begin(self, logs=None):
        self.tracker.check_available(self.params)
        self.wait, self.stopped_epoch, self.best_epoch, self.best_weights = 0, None, None, None
        self.tracker.reset()

    def on_epoch_end(self, epoch, logs=None):
        value = self.tracker.value(logs)
        if value is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = [w.data.copy() for w in self.model.weights]
            self.best_epoch = epoch
        self.wait += 1
        if self.tracker.improved(value):
            self.tracker.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self.best_weights = [w.data.copy() for w in self.model.weights]
            if self.baseline is None or self.tracker.improved(value, self.baseline):
                self.wait = 0
                return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch is not None and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            for w, saved in zip(self.model.weights, self.best_weights):
                w.data[...] = saved
            if self.verbose:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")

    def get_state(self):
        return {"wait": self.wait, "best": float(self.tracker.best), "best_epoch": self.best_epoch}

    def set_state(self, state):
        self.wait, self.tracker.best, self.best_epoch = state["wait"], state["best"], state["best_epoch"]


class ReduceLROnPlateau(MonitoredCallback):
    """Multiply the learning rate by ``factor`` when ``monitor`` stalls for ``patience`` epochs."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        super().__init__()
        if not 0 < factor < 1:
            raise ValueError(f"ReduceLROnPlateau: factor must be in (0, 1), got {factor}")
        self.tracker = Monitor("ReduceLROnPlateau", monitor, mode, min_delta)
        self.factor, self.patience, self.verbose = float(factor), int(patience), verbose
        self.cooldown, self.min_lr = int(cooldown), float(min_lr)
        self.wait = self.cooldown_counter = 0

    def on_train_begin(self, logs=None):
        self.tracker.check_available(self.params)
        if self.model.optimizer.schedule is not None:
            raise ValueError("ReduceLROnPlateau: the optimizer follows a learning-rate schedule; use a constant "
                             "learning rate with this callback")
        self.wait = self.cooldown_counter = 0
        self.tracker.reset()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = self.model.optimizer.learning_rate
        value = self.tracker.value(logs)
        if value is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.tracker.improved(value):
            self.tracker.best, self.wait = value, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = self.model.optimizer.learning_rate
                new = max(old * self.factor, self.min_lr)
                if new < old:
                    self.model.optimizer.learning_rate = new
                    if self.verbose:
                        print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new:.4g}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0

    def get_state(self):
        return {"wait": self.wait, "cooldown_counter": self.cooldown_counter, "best": float(self.tracker.best)}

    def set_state(self, state):
        self.wait, self.cooldown_counter, self.tracker.best = state["wait"], state["cooldown_counter"], state["best"]
