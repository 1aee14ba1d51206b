"""``BackupAndRestore``: survive an interrupted ``fit`` (Keras's callback, on nnkit's exact resume).

Every epoch (or every ``save_freq`` batches) it writes a full training
checkpoint to ``backup_dir``.  When ``fit`` starts and a backup is there (the
run was killed, or the machine was preempted), the model, optimizer, random
generators, data-stream position, History and callback counters are restored
from it, so the run continues exactly where the backup was taken: the final
weights are bitwise those of an uninterrupted run.  A run that completes
deletes the backup (``delete_checkpoint=True``).
"""
import os

from .checkpoint import ModelCheckpoint

__all__ = ["BackupAndRestore"]


class BackupAndRestore(ModelCheckpoint):
    """Parameters
    ----------
    backup_dir : directory for the backup (created if needed)
    save_freq : ``'epoch'`` or a number of batches
    delete_checkpoint : remove the backup when ``fit`` completes
    """

    FILENAME = "backup.nnk"

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        if not backup_dir:
            raise ValueError("BackupAndRestore: backup_dir is required")
        self.backup_dir = os.fspath(backup_dir)
        super().__init__(os.path.join(self.backup_dir, self.FILENAME), save_freq=save_freq)
        self.delete_checkpoint = bool(delete_checkpoint)
        self.restored_from = None

    def on_train_begin(self, logs=None):
        """Restore the backup, if there is one: ``fit`` then continues from where it was taken."""
        super().on_train_begin(logs)
        if not os.path.isfile(self.filepath):
            return
        if self._checkpoints is None:
            raise RuntimeError("BackupAndRestore: restoring a backup needs nnkit.io (import nnkit)")
        self._checkpoints.resume(self.filepath, self.model)
        self.restored_from = self.filepath

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.isfile(self.filepath):
            os.remove(self.filepath)
