"""``CSVLogger``: one CSV row of epoch logs per epoch."""
import csv
import os

from .base import Callback

__all__ = ["CSVLogger"]


class CSVLogger(Callback):
    """Append ``epoch`` and every epoch log to ``filename`` (flushed each epoch).

    ``append=True`` continues an existing file (for resumed runs) without a
    second header.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.sep, self.append = os.fspath(filename), separator, append
        self._file = self._writer = self._keys = None

    def on_train_begin(self, logs=None):
        directory = os.path.dirname(self.filename)
        if directory and not os.path.isdir(directory):
            raise FileNotFoundError(f"CSVLogger: directory {directory!r} does not exist")
        has_rows = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self._keys = None
        if has_rows:
            with open(self.filename, newline="") as f:
                header = next(csv.reader(f, delimiter=self.sep), None)
            self._keys = header[1:] if header else None
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._keys is None:
            self._keys = sorted(logs)
            self._writer = csv.writer(self._file, delimiter=self.sep)
            self._writer.writerow(["epoch"] + self._keys)
        elif self._writer is None:
            self._writer = csv.writer(self._file, delimiter=self.sep)
        self._writer.writerow([epoch] + [_fmt(logs.get(k, "")) for k in self._keys])
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None


def _fmt(value):
    return repr(float(value)) if isinstance(value, float) else value
