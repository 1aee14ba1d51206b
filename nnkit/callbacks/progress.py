"""Progress output: a tqdm bar per epoch on a terminal, one line per epoch otherwise.

On a terminal (``verbose=1``) each epoch gets a bar with the batch count,
ETA, samples/s and the running loss and metrics while it runs.  Every epoch
then leaves exactly one complete line, whatever the terminal's width (the
bar is removed and the line printed in full, so no metric is cut off).  When
the output is not a terminal (a log file, a cluster job) or ``verbose=2``,
there is only that line — never carriage-return updates.
"""
import sys
import time

from .base import Callback

__all__ = ["ProgbarLogger", "format_logs"]


def format_logs(logs):
    parts = []
    for key, value in logs.items():
        if key == "size":
            continue
        fmt = ".4g" if key == "learning_rate" else ".4f"
        parts.append(f"{key}: {value:{fmt}}" if isinstance(value, float) else f"{key}: {value}")
    return " - ".join(parts)


def _is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class ProgbarLogger(Callback):
    """``verbose``: 1 = bar on a terminal, a line per epoch elsewhere; 2 = always a line per epoch."""

    def __init__(self, verbose=1, stream=None):
        super().__init__()
        self.verbose, self._stream = verbose, stream
        self.bar = None

    @property
    def stream(self):
        return self._stream if self._stream is not None else sys.stdout

    @property
    def use_bar(self):
        return self.verbose == 1 and _is_terminal(self.stream)

    # -- training ---------------------------------------------------------------------------
    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._samples, self._steps = time.perf_counter(), 0, 0
        self._desc = f"Epoch {epoch + 1}/{self.params.get('epochs', '?')}"
        if self.use_bar:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=self.params.get("steps"), desc=self._desc, unit="batch", file=self.stream,
                            dynamic_ncols=True, leave=False)

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        self._samples += int(logs.get("size", 0))
        self._steps += 1
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(f"{self._rate():.0f} samples/s - {format_logs(logs)}", refresh=False)

    def _rate(self):
        return self._samples / max(time.perf_counter() - self._start, 1e-9)

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.perf_counter() - self._start
        summary = f"{self._rate():.0f} samples/s - {format_logs(logs or {})}"
        if self.bar is not None:  # the bar goes; the complete record stays, however narrow the terminal
            self.bar.refresh()
            self.bar.close()
            self.bar = None
        print(f"{self._desc} - {self._steps} steps - {elapsed:.1f}s - {summary}", file=self.stream, flush=True)

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    # -- evaluate (standalone, not the validation inside fit) --------------------------------------
    def on_test_begin(self, logs=None):
        if self.params.get("in_fit"):
            return
        self._start, self._samples, self._steps = time.perf_counter(), 0, 0

    def on_test_batch_end(self, batch, logs=None):
        if self.params.get("in_fit"):
            return
        self._samples += int((logs or {}).get("size", 0))
        self._steps += 1

    def on_test_end(self, logs=None):
        if self.params.get("in_fit"):
            return
        elapsed = time.perf_counter() - self._start
        print(f"Evaluate - {self._steps} steps - {elapsed:.1f}s - {format_logs(logs or {})}", file=self.stream,
              flush=True)
