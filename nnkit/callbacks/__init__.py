"""Callbacks: hooks into ``fit``, ``evaluate`` and ``predict`` (Keras names)."""
from .backup import BackupAndRestore
from .base import Callback, CallbackList
from .checkpoint import ModelCheckpoint
from .csv_logger import CSVLogger
from .lambda_callback import LambdaCallback
from .monitor import EarlyStopping, ReduceLROnPlateau
from .nan import TerminateOnNaN
from .schedule import LearningRateScheduler

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger", "ModelCheckpoint", "EarlyStopping",
           "ReduceLROnPlateau", "LearningRateScheduler", "TerminateOnNaN", "CSVLogger", "LambdaCallback",
           "BackupAndRestore"]


def __getattr__(name):  # History and the progress bar live with the training loop
    if name == "History":
        from nnkit.training.history import History
        return History
    if name == "ProgbarLogger":
        from nnkit.training.progress import ProgbarLogger
        return ProgbarLogger
    raise AttributeError(f"module 'nnkit.callbacks' has no attribute {name!r}")
