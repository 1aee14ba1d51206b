"""The ``Trainer`` mixin: ``compile``, ``fit``, ``evaluate``, ``predict`` and the ``*_on_batch`` methods.

``nnkit.models.Model`` inherits it (``class Model(Trainer, Layer)``).  It
needs from the model: ``self(x, training=bool) -> Tensor``,
``trainable_weights`` (named Tensors the optimizer updates in place),
``weights``, ``layers`` and ``name``.

Epochs, batches and the data stream are described in ``nnkit.data.stream``.
Everything is checked before the first update: argument ranges, lengths of
``x``/``y``/``sample_weight``, NaN or infinity in the data, that the model
takes the input (one probe forward pass in inference mode, which draws no
random numbers), and that the targets fit the model's output and the loss
(label range, one-hot width).  A bad run therefore fails before any callback
has written anything.

Reproducibility: with ``nnkit.set_seed(s)`` two identical runs give bitwise
identical weights — initialisation, shuffling and dropout all draw from
``nnkit.random.get_rng()`` in a fixed order.  ``get_training_state`` exposes
where a run stands (epochs completed, step within the epoch, the data
stream's pass and position, callback counters, the generator state) and
``set_training_state`` arms the next ``fit`` to continue from there exactly.
"""
import warnings

import numpy as np

from nnkit import data as nndata
from nnkit import losses as nnlosses
from nnkit import metrics as nnmetrics
from nnkit import ops
from nnkit import optimizers as nnoptimizers
from nnkit import random as nnrandom
from nnkit.callbacks.base import CallbackList
from nnkit.callbacks.nan import TerminateOnNaN
from nnkit.tensor import Tensor, no_grad

from . import serialize
from .diagnose import Snapshot, find_nonfinite
from .history import History
from .progress import ProgbarLogger

__all__ = ["Trainer"]

DEFAULT_BATCH_SIZE = 32


def _positive_int(op, name, value, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{op}: {name} must be a positive integer, got {value!r}")
    return int(value)


def _verbosity(op, verbose):
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):
        raise ValueError(f"{op}: verbose must be 'auto', 0, 1 or 2, got {verbose!r}")
    return verbose


def _outputs_to_arrays(out):
    if isinstance(out, Tensor):
        return out.data
    if isinstance(out, (list, tuple)):
        return [o.data for o in out]
    raise TypeError(f"the model returned {type(out).__name__}, expected a Tensor")


class Trainer:
    """Training-loop mixin; see the module docstring."""

    optimizer = None
    loss = None
    compiled_metrics = ()
    stop_training = False
    history = None
    _compiled = False
    _compile_spec = None
    _resume = None
    _nonfinite = None

    # -- compile ------------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None):
        """Set the optimizer, the loss and the metrics.

        ``optimizer``: a name (``'sgd'``, ``'adam'``, ``'adamw'``, ``'rmsprop'``,
        ``'adagrad'``) or an ``Optimizer``; ``loss``: a name, a ``Loss`` or a
        function ``(y_true, y_pred) -> Tensor``; ``metrics``: a list of names,
        ``Metric`` objects or functions.  Logs show each metric under the
        name it was given (``'acc'`` stays ``acc``).
        """
        opt = nnoptimizers.get(optimizer)
        loss_obj = None if loss is None else nnlosses.get(loss)
        if metrics is None:
            metrics = []
        elif isinstance(metrics, (str, nnmetrics.Metric)) or callable(metrics) and not isinstance(metrics, type):
            metrics = [metrics]
        elif isinstance(metrics, dict):
            raise TypeError("compile: metrics must be a list (one output per model)")
        compiled = [nnmetrics.get(m, loss_obj) for m in metrics]
        names = ["loss"] + [m.name for m in compiled]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"compile: metric names must be unique, {dupes} appear twice; pass name= to tell "
                             f"them apart")
        self.optimizer, self.loss, self.compiled_metrics = opt, loss_obj, compiled
        self._loss_tracker = nnmetrics.Mean(name="loss")
        self._compile_spec = {"optimizer": optimizer, "loss": loss, "metrics": list(metrics)}
        self._compiled = True

    @property
    def metrics_names(self):
        return ["loss"] + [m.name for m in self.compiled_metrics]

    def get_compile_config(self):
        """JSON-able compile settings (``None`` if not compiled); see ``nnkit.training.serialize``."""
        if not self._compiled:
            return None
        return serialize.compile_config(self.optimizer, self._compile_spec, self.loss, self.compiled_metrics)

    def compile_from_config(self, config):
        kwargs = serialize.compile_arguments(config)
        self.compile(**kwargs)

    def _require_compiled(self, op, need_loss=True):
        if not self._compiled:
            raise RuntimeError(f"{op}: the model must be compiled first: model.compile(optimizer, loss, metrics)")
        if need_loss and self.loss is None:
            raise RuntimeError(f"{op}: the model was compiled without a loss; pass loss= to compile")

    # -- fit -------------------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, sample_weight=None, initial_epoch=None, steps_per_epoch=None,
            validation_steps=None, validation_batch_size=None, validation_freq=1, sampling="without_replacement"):
        """Train; returns a ``History``.

        ``initial_epoch`` defaults to 0, or to where ``set_training_state``
        left off.  ``sampling='with_replacement'`` draws each pass's samples
        with replacement (a bootstrap) instead of shuffling.
        """
        op = "fit"
        self._require_compiled(op)
        epochs = _positive_int(op, "epochs", epochs)
        verbose = _verbosity(op, verbose)
        steps_per_epoch = _positive_int(op, "steps_per_epoch", steps_per_epoch, allow_none=True)
        validation_steps = _positive_int(op, "validation_steps", validation_steps, allow_none=True)
        validation_freq = _positive_int(op, "validation_freq", validation_freq)
        if sampling not in nndata.SAMPLING:
            raise ValueError(f"{op}: unknown sampling {sampling!r}; valid choices: {', '.join(nndata.SAMPLING)}")
        resume = self._resume
        if initial_epoch is None:
            initial_epoch = resume["epoch"] if resume else 0
        if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, (int, np.integer)) or \
                not 0 <= initial_epoch < epochs:
            raise ValueError(f"{op}: initial_epoch must be an integer in [0, epochs={epochs}), got {initial_epoch!r}")
        if not self.trainable_weights and getattr(self, "built", True):
            warnings.warn(f"{op}: the model has no trainable weights; nothing will be learned", stacklevel=2)

        source = nndata.as_source(x, y, sample_weight, op)
        batch_size = self._batch_size(op, "batch_size", batch_size, source)
        val_source = self._validation_source(op, source, validation_split, validation_data)
        if validation_split:
            source, val_source = source.split(validation_split, op)
        val_batch = None
        if val_source is not None:
            default = None if isinstance(val_source, nndata.GeneratorSource) else batch_size
            val_batch = self._batch_size(op, "validation_batch_size", validation_batch_size or default, val_source)
        self._preflight(op, source)
        if val_source is not None:
            self._preflight(op + " (validation data)", val_source)

        stream = nndata.make_stream(source, batch_size, shuffle, sampling, op)
        start_step = 0
        if resume and resume.get("stream") is not None:
            stream.set_state(resume["stream"])
            start_step = int(resume.get("step_in_epoch", 0))
        self._stream, self._epochs_completed, self._step_in_epoch = stream, initial_epoch, start_step

        history = History.from_tree(resume.get("history")) if resume else History()
        self.history = history
        metric_names = self.metrics_names
        log_names = metric_names + (["val_" + n for n in metric_names] if val_source is not None else [])
        params = {"epochs": epochs, "steps": stream.steps_for_epoch(steps_per_epoch), "batch_size": batch_size,
                  "samples": source.num_samples, "verbose": verbose, "do_validation": val_source is not None,
                  "metrics": log_names, "in_fit": True}
        user = list(callbacks or [])
        extra = [history] + ([ProgbarLogger(verbose)] if verbose else [])
        cbs = CallbackList(user + extra, model=self, params=params)
        self._callbacks = user

        self.stop_training = False
        self._nan_warned = False
        self._watch_nan = not any(isinstance(cb, TerminateOnNaN) for cb in user)
        epoch_logs = {}
        try:
            cbs.on_train_begin()
            if resume:
                self._restore_callback_states(resume.get("callbacks", {}))
            self._resume = None
            for epoch in range(initial_epoch, epochs):
                self._reset_metrics()
                cbs.on_epoch_begin(epoch)
                steps = None if steps_per_epoch is None else steps_per_epoch - start_step
                step = start_step
                for batch in stream.epoch(steps):
                    cbs.on_train_batch_begin(step)
                    batch_logs = self._train_step(batch, epoch, step)
                    self._step_in_epoch = step + 1
                    cbs.on_train_batch_end(step, batch_logs)
                    step += 1
                    if self.stop_training:
                        break
                start_step = 0
                self._epochs_completed, self._step_in_epoch = epoch + 1, 0
                epoch_logs = self._results()
                if val_source is not None and (epoch + 1) % validation_freq == 0:
                    val_logs = self._run_evaluation(val_source, val_batch, validation_steps, cbs)
                    epoch_logs.update({"val_" + k: v for k, v in val_logs.items()})
                cbs.on_epoch_end(epoch, epoch_logs)
                if self.stop_training:
                    break
            cbs.on_train_end(epoch_logs)
        finally:
            for s in (source, val_source):
                if s is not None:
                    s.close()
        return history

    def _batch_size(self, op, name, batch_size, source):
        if isinstance(source, nndata.GeneratorSource):
            if batch_size is not None:
                raise ValueError(f"{op}: {name} does not apply when the data comes from a generator (it yields "
                                 f"whole batches); leave it out")
            return None
        return _positive_int(op, name, DEFAULT_BATCH_SIZE if batch_size is None else batch_size)

    def _validation_source(self, op, source, validation_split, validation_data):
        if validation_split and validation_data is not None:
            raise ValueError(f"{op}: give validation_split or validation_data, not both")
        if validation_split:
            if not isinstance(source, nndata.ArraySource):
                raise ValueError(f"{op}: validation_split needs in-memory arrays; pass validation_data for "
                                 f"generators and chunked sources")
            if not 0 < validation_split < 1:
                raise ValueError(f"{op}: validation_split must be in (0, 1), got {validation_split}")
            return None
        if validation_data is None:
            return None
        if isinstance(validation_data, tuple):
            if not 2 <= len(validation_data) <= 3:
                raise ValueError(f"{op}: validation_data must be (x, y) or (x, y, sample_weight), got a tuple of "
                                 f"{len(validation_data)}")
            return nndata.as_source(*validation_data, op=op + " (validation data)")
        return nndata.as_source(validation_data, op=op + " (validation data)")

    def _preflight(self, op, source, need_targets=True):
        """Run one tiny inference batch: the model must take the input, the targets must fit the output."""
        if isinstance(source, nndata.GeneratorSource):
            return  # batches are checked as they arrive
        if need_targets and not source.has_targets:
            raise ValueError(f"{op}: no targets: pass y (or a source whose samples include targets)")
        x, y, _ = source.take(np.arange(min(2, source.num_samples)))
        # The trial forward depends only on the per-sample input signature: repeated
        # train_on_batch calls with the same kind of batch skip it (targets are still checked).
        signature = (id(self.loss), tuple(map(id, self.layers)), tuple(np.shape(x)[1:]), np.asarray(x).dtype)
        cached = getattr(self, "_preflight_cache", None)
        if cached is not None and cached[0] == signature:
            out_shape = cached[1]
        else:
            try:
                with no_grad():
                    out = self(x, training=False)
            except ValueError as e:
                raise ValueError(f"{op}: the model cannot take x of per-sample shape {tuple(np.shape(x)[1:])}"
                                 f"{self._first_layer_hint()}: {e}") from e
            if not isinstance(out, Tensor):
                raise TypeError(f"{op}: the model returned {type(out).__name__}; "
                                f"training needs a single Tensor output")
            out_shape = out.shape
            self._preflight_cache = (signature, out_shape)
        if need_targets:
            targets = source.y if isinstance(source, nndata.ArraySource) else y
            self.loss.check_targets(targets, out_shape)

    def _first_layer_hint(self):
        layers = getattr(self, "layers", None) or []
        if not layers:
            return ""
        first = layers[0]
        name = first.describe() if hasattr(first, "describe") else f"'{getattr(first, 'name', first)}'"
        try:
            expected = self.input_shape
        except Exception:  # not built, or no single input
            expected = None
        if isinstance(expected, tuple):
            return f"; its first layer {name} expects input of shape {tuple(expected)}"
        return f"; its first layer is {name}"

    # -- one step ------------------------------------------------------------------------------------
    def _forward_loss(self, x, y, w, training):
        out = self(x, training=training)
        if not isinstance(out, Tensor):
            raise TypeError(f"the model returned {type(out).__name__}; training needs a single Tensor output")
        loss = self.loss(y, out, sample_weight=w)
        if loss.ndim:
            loss = ops.mean(loss)
        extra = getattr(self, "losses", None)
        if training and isinstance(extra, (list, tuple)) and extra:
            loss = loss + sum(extra)
        return out, loss

    def _batch_weight(self, y, w):
        """The weight of one batch's loss in the epoch mean: its samples, or its total sample weight."""
        if w is not None and self.loss.reduction == "sum_over_batch_size":
            return float(np.sum(w))
        return float(len(y))

    def _train_step(self, batch, epoch=0, step=0):
        x, y, w = batch
        if y is None:
            raise ValueError("fit: a batch without targets; the data must provide (x, y)")
        weights = self.trainable_weights
        rng_before = nnrandom.get_state()  # for replaying this step if its loss turns out non-finite
        for t in weights:
            t.grad = None
        out, loss = self._forward_loss(x, y, w, training=True)
        loss.backward()
        value = float(loss.data)
        if not np.isfinite(value):
            self._nonfinite = Snapshot(batch, [t.data.copy() for t in self.weights], rng_before, epoch, step, value)
            if self._watch_nan and not self._nan_warned:
                warnings.warn(f"fit: the loss became {value} at epoch {epoch + 1}, batch {step}; training goes on. "
                              f"Add nnkit.callbacks.TerminateOnNaN() to stop there and name the layer.",
                              RuntimeWarning, stacklevel=3)
                self._nan_warned = True
        if np.isfinite(value) or self._watch_nan:
            self.optimizer.apply_gradients(weights)
        # else: TerminateOnNaN will stop the run; the bad update is not applied, the weights stay finite
        for t in weights:
            t.grad = None
        return self._update_metrics(value, y, out, w)

    def _update_metrics(self, value, y, out, w):
        self._loss_tracker.update_state(value, self._batch_weight(y, w))
        for m in self.compiled_metrics:
            m.update_state(y, out.data, w)
        logs = self._results()
        logs["size"] = len(y)
        return logs

    def _reset_metrics(self):
        self._loss_tracker.reset_state()
        for m in self.compiled_metrics:
            m.reset_state()

    def _results(self):
        logs = {"loss": float(self._loss_tracker.result())}
        for m in self.compiled_metrics:
            logs[m.name] = float(m.result())
        return logs

    def diagnose_nonfinite(self):
        """Which layer's output and gradient first went non-finite in the last bad training step."""
        if self._nonfinite is None:
            return "No non-finite loss has been seen."
        return find_nonfinite(self, self._nonfinite, self.loss)

    def _restore_callback_states(self, states):
        for i, cb in enumerate(self._callbacks):
            state = states.get(f"{i}:{type(cb).__name__}")
            if state:
                cb.set_state(state)

    # -- evaluate / predict ----------------------------------------------------------------------------
    def _run_evaluation(self, source, batch_size, steps, cbs):
        stream = nndata.make_stream(source, batch_size, shuffle=False, op="evaluate")
        self._reset_metrics()
        cbs.on_test_begin()
        with no_grad():
            for i, (x, y, w) in enumerate(stream.epoch(steps)):
                cbs.on_test_batch_begin(i)
                if y is None:
                    raise ValueError("evaluate: a batch without targets; the data must provide (x, y)")
                out, loss = self._forward_loss(x, y, w, training=False)
                cbs.on_test_batch_end(i, self._update_metrics(float(loss.data), y, out, w))
        logs = self._results()
        cbs.on_test_end(logs)
        return logs

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        """Loss and metrics over the data (exact over all samples): a float, a list, or a dict."""
        op = "evaluate"
        self._require_compiled(op)
        verbose = _verbosity(op, verbose)
        steps = _positive_int(op, "steps", steps, allow_none=True)
        source = nndata.as_source(x, y, sample_weight, op)
        batch_size = self._batch_size(op, "batch_size", batch_size, source)
        self._preflight(op, source)
        params = {"verbose": verbose, "steps": steps, "in_fit": False, "metrics": self.metrics_names}
        cbs = CallbackList(list(callbacks or []) + ([ProgbarLogger(verbose)] if verbose else []),
                           model=self, params=params)
        try:
            logs = self._run_evaluation(source, batch_size, steps, cbs)
        finally:
            source.close()
        if return_dict:
            return logs
        values = [logs[n] for n in self.metrics_names]
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose=0, steps=None, callbacks=None):
        """Model outputs for ``x`` in inference mode, computed ``batch_size`` samples at a time."""
        op = "predict"
        _verbosity(op, verbose)
        steps = _positive_int(op, "steps", steps, allow_none=True)
        source = nndata.as_source(x, op=op)
        batch_size = self._batch_size(op, "batch_size", batch_size, source)
        stream = nndata.make_stream(source, batch_size, shuffle=False, op=op)
        cbs = CallbackList(list(callbacks or []), model=self, params={"steps": steps})
        outputs = []
        cbs.on_predict_begin()
        try:
            with no_grad():
                for i, (xb, _, _) in enumerate(stream.epoch(steps)):
                    cbs.on_predict_batch_begin(i)
                    out = _outputs_to_arrays(self(xb, training=False))
                    outputs.append(out)
                    cbs.on_predict_batch_end(i, {"outputs": out})
        finally:
            source.close()
        cbs.on_predict_end()
        if not outputs:
            raise ValueError(f"{op}: no input batches")
        if isinstance(outputs[0], list):
            return [np.concatenate(parts) for parts in zip(*outputs)]
        return np.concatenate(outputs)

    def train_on_batch(self, x, y, sample_weight=None, return_dict=False):
        """One update on one batch; returns that batch's loss and metrics."""
        self._require_compiled("train_on_batch")
        src = nndata.ArraySource(x, y, sample_weight, "train_on_batch")
        self._preflight("train_on_batch", src)
        self._reset_metrics()
        self._watch_nan, self._nan_warned = True, False
        logs = self._train_step((src.x, src.y, src.sample_weight))
        return self._format_batch_logs(logs, return_dict)

    def test_on_batch(self, x, y, sample_weight=None, return_dict=False):
        """Loss and metrics on one batch, without updating."""
        self._require_compiled("test_on_batch")
        src = nndata.ArraySource(x, y, sample_weight, "test_on_batch")
        self._preflight("test_on_batch", src)
        self._reset_metrics()
        with no_grad():
            out, loss = self._forward_loss(src.x, src.y, src.sample_weight, training=False)
            logs = self._update_metrics(float(loss.data), src.y, out, src.sample_weight)
        return self._format_batch_logs(logs, return_dict)

    def predict_on_batch(self, x):
        with no_grad():
            return _outputs_to_arrays(self(x, training=False))

    def _format_batch_logs(self, logs, return_dict):
        logs = {k: v for k, v in logs.items() if k != "size"}
        if return_dict:
            return logs
        values = [logs[n] for n in self.metrics_names]
        return values[0] if len(values) == 1 else values

    # -- where a run stands ----------------------------------------------------------------------------
    def get_training_state(self, include_rng=True):
        """Plain data (ints, floats, lists, arrays) saying exactly where training stands.

        ``epoch``: epochs completed; ``step_in_epoch``: batches done in the
        running epoch (0 at an epoch boundary); ``iterations``: optimizer
        updates so far; ``stream``: the data stream's pass count, position
        and current order; ``callbacks``: counters of the callbacks passed
        to ``fit`` (keyed ``"<index>:<class>"``); ``rng``: nnkit's generator.
        """
        stream = getattr(self, "_stream", None)
        state = {"epoch": int(getattr(self, "_epochs_completed", 0)),
                 "step_in_epoch": int(getattr(self, "_step_in_epoch", 0)),
                 "iterations": int(self.optimizer.iterations) if self.optimizer is not None else 0,
                 "stream": None if stream is None or isinstance(stream, nndata.GeneratorStream) else
                 stream.get_state(),
                 "callbacks": {f"{i}:{type(cb).__name__}": cb.get_state()
                               for i, cb in enumerate(getattr(self, "_callbacks", []))}}
        if include_rng:
            state["rng"] = nnrandom.get_state()
        return state

    def set_training_state(self, state, history=None):
        """Arm the next ``fit`` to continue from ``state`` (see ``get_training_state``).

        ``fit`` then starts at ``state['epoch']`` (unless given
        ``initial_epoch``), restores the data stream and the callback
        counters, and returns a History that continues ``history`` (a
        ``History.to_tree()``).  The generator state is restored now when the
        state holds one.  The optimizer state is restored separately
        (``optimizer.set_state``).  A run stopped in the middle of an epoch
        resumes with the remaining batches of that epoch; that epoch's logged
        metrics then cover only those batches.
        """
        if not isinstance(state, dict) or "epoch" not in state:
            raise ValueError("set_training_state: expected the dict get_training_state returned")
        if state.get("rng") is not None:
            nnrandom.set_state(state["rng"])
        self._resume = {**state, "history": history}

