"""Callbacks: hooks into ``fit``, ``evaluate`` and ``predict`` (Keras names), including the two every ``fit``
uses: ``History`` and the progress output (``ProgbarLogger``)."""
from .backup import BackupAndRestore
from .base import Callback, CallbackList
from .checkpoint import ModelCheckpoint
from .csv_logger import CSVLogger
from .ema import SwapEMAWeights
from .history import History
from .lambda_callback import LambdaCallback
from .monitor import EarlyStopping, ReduceLROnPlateau
from .nan import TerminateOnNaN
from .progress import ProgbarLogger
from .schedule import LearningRateScheduler
from .tensorboard import TensorBoard

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger", "ModelCheckpoint", "EarlyStopping",
           "ReduceLROnPlateau", "LearningRateScheduler", "TerminateOnNaN", "CSVLogger", "LambdaCallback",
           "BackupAndRestore", "SwapEMAWeights", "TensorBoard"]

