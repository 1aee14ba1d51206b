"""``ModelCheckpoint``: save the model every epoch or every N batches.

Without ``save_weights_only`` the file is a full training checkpoint
(``nnkit.io.checkpoint.save_checkpoint``: weights, architecture, optimizer
state, epoch and step, History, every random-generator state and where the
data stream stood), from which ``nnkit train --resume`` continues exactly.
Writes are atomic: a run killed while saving keeps the previous file.

``filepath`` may be a template with ``{epoch}`` (1-based, as printed),
``{batch}`` and any log key, e.g. ``"ckpt/{epoch:02d}-{val_loss:.3f}.nnk"``.
"""
import os
import warnings

from .monitor import Monitor, MonitoredCallback

__all__ = ["ModelCheckpoint"]


class ModelCheckpoint(MonitoredCallback):
    """Parameters
    ----------
    filepath : str or path, possibly a template (see module doc)
    monitor, mode : the value that decides what is best (``save_best_only``)
    save_best_only : only write when ``monitor`` improved
    save_weights_only : write weights only (``model.save_weights``)
    save_freq : ``'epoch'`` or a number of batches
    initial_value_threshold : the value the first save must beat
    """

    # nnkit.io.checkpoint, set by nnkit.io when it is imported (the persistence layer sits above the callbacks,
    # as Model._persistence does for Model.save); None only if nnkit.io was never imported.
    _checkpoints = None

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        self.filepath = os.fspath(filepath)
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"ModelCheckpoint: save_freq must be 'epoch' or a positive number of batches, "
                             f"got {save_freq!r}")
        self.tracker = Monitor("ModelCheckpoint", monitor, mode)
        if initial_value_threshold is not None:
            self.tracker.best = float(initial_value_threshold)
        self.verbose, self.save_best_only, self.save_weights_only = verbose, save_best_only, save_weights_only
        self.save_freq = save_freq
        self._batches_seen = 0
        self._epoch = 0
        self.saved = []  # paths written, in order

    def on_train_begin(self, logs=None):
        if self.save_best_only:
            self.tracker.check_available(self.params)
        needed = "save_weights" if self.save_weights_only else "save"
        if not callable(getattr(self.model, needed, None)):
            raise TypeError(f"ModelCheckpoint: the model has no {needed}() method")
        directory = os.path.dirname(self.filepath)
        if directory:
            os.makedirs(directory, exist_ok=True)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_seen += 1
        if self._batches_seen % self.save_freq == 0:
            self._save(self._epoch, batch + 1, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch + 1, None, logs or {})

    def _path(self, epoch, batch, logs):
        try:
            return self.filepath.format(epoch=epoch, batch=batch, **{k: v for k, v in logs.items()
                                                                      if k not in ("epoch", "batch")})
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"ModelCheckpoint: cannot fill the file-name template {self.filepath!r} ({e!r}); "
                             f"available keys: epoch, batch, {', '.join(sorted(logs))}") from None

    def _save(self, completed, batch, logs):
        """``completed``: epochs completed; ``batch``: batches done in the running epoch (``None`` at its end)."""
        if self.save_best_only:
            value = self.tracker.value(logs)
            if value is None:
                warnings.warn(f"ModelCheckpoint: {self.monitor!r} is not in the logs; not saving", stacklevel=2)
                return
            if not self.tracker.improved(value):
                return
            self.tracker.best = value
        path = self._path(completed if batch is None else completed + 1, batch, logs)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self._save_checkpoint(path, completed, logs if batch is None else None)
        self.saved.append(path)
        if self.verbose:
            print(f"ModelCheckpoint: saved {path}")

    def _save_checkpoint(self, path, epoch, epoch_logs=None):
        if self._checkpoints is None:  # persistence layer absent: a plain model file
            self.model.save(path)
            return
        history = getattr(self.model, "history", None)
        if history is not None and epoch_logs is not None and epoch - 1 not in history.epoch:
            # History records an epoch after the user's callbacks: the checkpoint must already hold this one.
            history = type(history).from_tree(history.to_tree())
            history.on_epoch_end(epoch - 1, dict(epoch_logs))
        self._checkpoints.save_checkpoint(path, self.model, epoch=epoch, step=self.model.optimizer.iterations,
                                          history=None if history is None else history.to_tree(),
                                          state=self.model.get_training_state(include_rng=False))

    def get_state(self):
        return {"best": float(self.tracker.best), "batches_seen": self._batches_seen}

    def set_state(self, state):
        self.tracker.best, self._batches_seen = state["best"], state["batches_seen"]
