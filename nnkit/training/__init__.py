"""The training loop: the ``Trainer`` mixin of ``Model``, ``History``, progress output."""
from nnkit.callbacks.history import History
from nnkit.callbacks.progress import ProgbarLogger

from .trainer import Trainer

__all__ = ["Trainer", "History", "ProgbarLogger"]
