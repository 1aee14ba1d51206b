"""``SwapEMAWeights``: evaluate (and predict) with the optimizer's moving average of the weights (Keras 3)."""
from .base import Callback

__all__ = ["SwapEMAWeights"]


class SwapEMAWeights(Callback):
    """Swap the optimizer's EMA weights (``use_ema=True``) into the model for validation, ``evaluate`` and
    ``predict``, and back afterwards; with ``swap_on_epoch=True`` they are also in the model at the end of
    each epoch (so that checkpoints made there save the averages; after the last epoch they stay, as in
    Keras) and swapped out when the next one begins.  Evaluation leaves the model as it found it."""

    def __init__(self, swap_on_epoch=False):
        super().__init__()
        self.swap_on_epoch = bool(swap_on_epoch)
        self._ema_in_model = False

    def _swap(self, want_ema):
        if self._ema_in_model == want_ema:
            return
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None or not getattr(optimizer, "use_ema", False):
            raise ValueError("SwapEMAWeights: the model's optimizer must be built with use_ema=True")
        optimizer.swap_ema_weights(self.model.trainable_weights)
        self._ema_in_model = want_ema

    def on_epoch_begin(self, epoch, logs=None):
        if self.swap_on_epoch:
            self._swap(False)

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch:
            self._swap(True)

    def on_test_begin(self, logs=None):
        self._was_in_model = self._ema_in_model
        self._swap(True)

    def on_test_end(self, logs=None):
        self._swap(self._was_in_model)

    def on_predict_begin(self, logs=None):
        self._was_in_model = self._ema_in_model
        self._swap(True)

    def on_predict_end(self, logs=None):
        self._swap(self._was_in_model)
