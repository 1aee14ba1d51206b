"""Callbacks for data-parallel training (``fit`` already does what they do; they serve custom loops
and Horovod-style scripts)."""
from nnkit.callbacks.base import Callback

from .broadcast import broadcast_optimizer_state, broadcast_weights

__all__ = ["BroadcastWeightsCallback"]


class BroadcastWeightsCallback(Callback):
    """At the start of training, give every rank ``root``'s weights (batch-norm statistics included) and,
    when the model has one, its optimizer's state."""

    def __init__(self, root=0):
        super().__init__()
        self.root = int(root)

    def on_train_begin(self, logs=None):
        broadcast_weights(self.model, self.root)
        if getattr(self.model, "optimizer", None) is not None:
            broadcast_optimizer_state(self.model.optimizer, self.root)
