"""``History``: the per-epoch logs of a ``fit`` run, returned by it."""
from nnkit.plot import learning_curves

from .base import Callback

__all__ = ["History"]


class History(Callback):
    """``history[key]`` lists the value of ``key`` at the end of each epoch that logged it;
    ``epoch`` lists the (0-based) epochs; ``epochs_of[key]`` the epochs where ``key`` was logged
    (validation may run only every few epochs)."""

    def __init__(self):
        super().__init__()
        self.history, self.epoch, self.epochs_of = {}, [], {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
            self.epochs_of.setdefault(key, []).append(epoch)

    def to_tree(self):
        """Plain lists and floats (JSON-able), for checkpoints."""
        return {"epoch": list(self.epoch), "history": {k: [float(v) for v in vs] for k, vs in self.history.items()},
                "epochs_of": {k: list(v) for k, v in self.epochs_of.items()}}

    @classmethod
    def from_tree(cls, tree):
        h = cls()
        h.load_tree(tree)
        return h

    def load_tree(self, tree):
        """Continue the History a ``to_tree()`` describes (nothing happens for an empty tree)."""
        if tree:
            self.epoch = [int(e) for e in tree.get("epoch", [])]
            self.history = {k: list(v) for k, v in tree.get("history", {}).items()}
            self.epochs_of = {k: [int(e) for e in v] for k, v in tree.get("epochs_of", {}).items()}
            for k, v in self.history.items():  # trees without epochs_of: assume every epoch logged it
                self.epochs_of.setdefault(k, self.epoch[-len(v):] if v else [])

    def plot(self, path, metrics=None, title=None, val_label="validation"):
        """Write a PNG of the learning curves (see ``nnkit.plot.learning_curves``)."""
        return learning_curves(self, path, metrics=metrics, title=title, val_label=val_label)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"
