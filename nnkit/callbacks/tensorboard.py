"""``TensorBoard``: scalar summaries that TensorBoard reads, written with the optional ``tensorboardX``
package (``pip install 'nnkit[tensorboard]'``), laid out as Keras 3 lays them out."""
import numbers
import os
import time

from .base import Callback

__all__ = ["TensorBoard"]


class TensorBoard(Callback):
    """Write event files under ``log_dir/train`` and ``log_dir/validation`` (Keras's layout and tags).

    Each epoch: every training log as ``epoch_<name>`` (the loss as ``epoch_loss``) and the optimizer's
    learning rate as ``epoch_learning_rate`` in ``train``; the ``val_*`` logs without their prefix in
    ``validation``.  ``update_freq='batch'`` or an integer ``N`` also writes ``batch_<name>`` every
    ``N`` batches (the running means the progress bar shows); ``write_steps_per_second`` adds
    ``epoch_steps_per_second``.  Histograms, images, graphs, profiling and embeddings are not written:
    their arguments must keep their defaults.
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        super().__init__()
        unsupported = {"histogram_freq": histogram_freq, "write_images": write_images,
                       "profile_batch": profile_batch, "embeddings_freq": embeddings_freq,
                       "embeddings_metadata": embeddings_metadata}
        for name, value in unsupported.items():
            if value:
                raise ValueError(f"TensorBoard: {name}={value!r} is not supported (nnkit writes scalars only); "
                                 f"leave it at its default")
        if update_freq not in ("epoch", "batch") and not (isinstance(update_freq, int)
                                                          and not isinstance(update_freq, bool) and update_freq > 0):
            raise ValueError(f"TensorBoard: update_freq must be 'epoch', 'batch' or a positive int, got "
                             f"{update_freq!r}")
        self.log_dir = os.fspath(log_dir)
        self.write_graph = write_graph  # accepted for Keras scripts; no graph is written
        self.write_steps_per_second = bool(write_steps_per_second)
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self._writers = {}
        self._batches = 0

    def _writer(self, kind):
        if kind not in self._writers:
            try:
                from tensorboardX import SummaryWriter
            except ImportError:
                raise ImportError("TensorBoard: writing event files needs the optional package tensorboardX: "
                                  "pip install 'nnkit[tensorboard]'") from None
            self._writers[kind] = SummaryWriter(os.path.join(self.log_dir, kind))
        return self._writers[kind]

    def on_train_begin(self, logs=None):
        self._writer("train")  # fail before the first epoch when tensorboardX is missing
        self._batches = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start, self._epoch_batches = time.perf_counter(), 0

    def on_train_batch_end(self, batch, logs=None):
        self._batches += 1
        self._epoch_batches += 1
        if self.update_freq != "epoch" and self._batches % self.update_freq == 0:
            for name, value in _scalars(logs):
                self._writer("train").add_scalar(f"batch_{name}", value, self._batches)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        train = self._writer("train")
        for name, value in _scalars(logs):
            if name.startswith("val_"):
                self._writer("validation").add_scalar(f"epoch_{name[4:]}", value, epoch)
            elif name != "learning_rate":
                train.add_scalar(f"epoch_{name}", value, epoch)
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            train.add_scalar("epoch_learning_rate", float(optimizer.learning_rate), epoch)
        if self.write_steps_per_second and self._epoch_batches:
            elapsed = time.perf_counter() - self._epoch_start
            train.add_scalar("epoch_steps_per_second", self._epoch_batches / max(elapsed, 1e-12), epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


def _scalars(logs):
    for name, value in (logs or {}).items():
        if name != "size" and isinstance(value, numbers.Real) and not isinstance(value, bool):
            yield name, float(value)
