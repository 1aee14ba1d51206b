"""The training loop: the ``Trainer`` mixin of ``Model``, ``History``, progress output."""
from .history import History
from .progress import ProgbarLogger
from .trainer import Trainer

__all__ = ["Trainer", "History", "ProgbarLogger"]
