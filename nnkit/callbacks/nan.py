"""``TerminateOnNaN``: stop at the first non-finite loss and say where it came from."""
import math
import sys

from .base import Callback

__all__ = ["TerminateOnNaN"]


class TerminateOnNaN(Callback):
    """Stop training when a batch loss is NaN or infinite.

    The report (printed to stderr and kept in ``self.report``) names the
    first layer whose output went non-finite when the batch is replayed, and
    the first layer whose gradient did.  The update computed from the bad
    batch is not applied, so the model keeps the last finite weights.
    """

    def __init__(self):
        super().__init__()
        self.report = None

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(loss):
            return
        self.model.stop_training = True
        diagnose = getattr(self.model, "diagnose_nonfinite", None)
        where = diagnose() if diagnose is not None else "no diagnosis available"
        self.report = f"Batch {batch}: invalid loss {loss}, terminating training. {where}"
        print(self.report, file=sys.stderr)
