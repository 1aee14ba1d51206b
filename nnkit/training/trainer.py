"""The ``Trainer`` mixin: ``compile``, ``fit``, ``evaluate``, ``predict`` and the ``*_on_batch`` methods.

``nnkit.models.Model`` inherits it (``class Model(Trainer, Layer)``).  It
needs from the model: ``self(x, training=bool)`` (a Tensor, or a list of
them for several outputs), ``trainable_weights`` (named Tensors the
optimizer updates in place), ``weights``, ``layers`` and ``name``.

As in Keras 3, the loops only loop: one step happens in ``train_step``,
``test_step`` or ``predict_step``, which are public and may be overridden;
``compute_loss`` and ``compute_metrics`` are the pieces they use.  The
default ``train_step`` hands the gradients to the optimizer through one call,
``optimizer.apply_gradients(zip(grads, weights))`` — except plain SGD through
a training plan, whose step the plan takes inside its backward
(``Optimizer.plain_sgd_rate``; an optimizer whose ``apply_gradients`` or update
is its own, such as a wrapper's, always gets the call).

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
from nnkit import metrics as nnmetrics
from nnkit import optimizers as nnoptimizers
from nnkit import random as nnrandom
from nnkit.callbacks.base import CallbackList
from nnkit.callbacks.history import History
from nnkit.callbacks.nan import TerminateOnNaN
from nnkit.callbacks.progress import ProgbarLogger
from nnkit.data.structure import batch_size as count_samples
from nnkit.data.structure import leaves, unpack_x_y_sample_weight
from nnkit.tensor import Tensor, grad_ready_hook, no_grad

from . import serialize
from .class_weight import check_class_weight, with_class_weight
from .compiled import CompiledLoss, CompiledMetrics
from .diagnose import Snapshot, find_nonfinite

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


def _per_sample_shapes(x):
    shapes = [tuple(np.shape(a)[1:]) for a in leaves(x)]
    return shapes[0] if len(shapes) == 1 else shapes


def _by_weight(grads, weights):
    return [grads.get(id(w)) for w in weights]


def _plus(planned, direct):
    """The plan's gradients plus any a custom loss gave a weight directly (a penalty on it)."""
    return [p if d is None else (d if p is None else p + d) for p, d in zip(planned, direct)]


def _clear_grads(weights):
    for w in weights:
        w.grad = None


def _check_initial_epoch(op, initial_epoch, epochs):
    if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, (int, np.integer)) or \
            not 0 <= initial_epoch < epochs:
        raise ValueError(f"{op}: initial_epoch must be an integer in [0, epochs={epochs}), got {initial_epoch!r}")


def _as_data(batch):
    """A batch as the steps receive it, as in Keras: ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``."""
    x, y, w = batch
    return (x,) if y is None and w is None else ((x, y) if w is None else (x, y, w))


def _epoch_hook(source, hook):
    """A Dataset's ``on_epoch_begin`` / ``on_epoch_end``, called by ``fit`` around every epoch."""
    method = getattr(source, hook, None)
    if method is not None:
        method()


def _outputs_to_arrays(out):
    if isinstance(out, Tensor):
        return out.data
    if isinstance(out, (list, tuple)):
        return [o.data for o in out]
    raise TypeError(f"the model returned {type(out).__name__}, expected a Tensor")


def _stateful_layers(model):
    """The layers that carry state from one batch to the next (stateful recurrent layers)."""
    walk = getattr(model, "_walk", None)
    return [layer for layer in (walk() if walk else []) if getattr(layer, "stateful", False) is True]


def _trial_batch_size(stateful):
    """Two samples, or the batch size a stateful layer's states were made for (no other size fits it)."""
    for layer in stateful:
        if layer.states is not None:
            return layer.states[0].shape[0]
    return 2


class Trainer:
    """Training-loop mixin; see the module docstring."""

    optimizer = None
    loss = None
    stop_training = False
    history = None
    run_eagerly = True
    jit_compile = "auto"
    steps_per_execution = 1
    _compiled = False
    _compile_spec = None
    _compiled_loss = None
    _compiled_metrics = None
    _loss_tracker = None
    _resume = None
    _nonfinite = None
    _step_context = None
    _watch_nan = True
    _nan_warned = False
    _distributed = None  # nnkit.distributed.init() with several ranks sets it: see nnkit.distributed.fit

    # -- compile ------------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True):
        """Set the optimizer, the loss(es) and the metrics (Keras 3's arguments and meaning).

        ``optimizer``: a name (``'sgd'``, ``'adam'``, ``'adamw'``, ``'rmsprop'``,
        ``'adagrad'``) or an ``Optimizer``.  ``loss``: a name, a ``Loss`` or a
        function ``(y_true, y_pred) -> Tensor``; for several outputs a list or
        a dict by output name (``nnkit.training.compiled`` has the rules, also
        for ``loss_weights``, ``metrics`` and ``weighted_metrics``).  Metrics in
        ``metrics`` ignore sample weights; those in ``weighted_metrics`` use them.
        Logs show each metric under the name it was given (``'acc'`` stays ``acc``).

        ``jit_compile=False`` keeps ``predict`` off the compiled inference plans
        (``nnkit.models.plan``).  ``run_eagerly``, ``steps_per_execution`` and
        ``auto_scale_loss`` are accepted for Keras compatibility: nnkit's
        training steps run on its kernels, one batch per step, in float32 or
        float64, so they change nothing today.
        """
        opt = nnoptimizers.get(optimizer)
        steps_per_execution = _positive_int("compile", "steps_per_execution", steps_per_execution)
        compiled_loss = None if loss is None else CompiledLoss(loss, loss_weights)
        if loss is None and loss_weights is not None:
            raise ValueError("compile: loss_weights given without a loss")
        compiled_metrics = CompiledMetrics(metrics, weighted_metrics)
        names = self._known_output_names()
        if names is not None:  # build now, so that a wrong name or count fails here
            if compiled_loss is not None:
                compiled_loss.build(names)
            compiled_metrics.build(names, compiled_loss.losses if compiled_loss else [None] * len(names))
        self.optimizer, self.loss = opt, loss
        self._compiled_loss, self._compiled_metrics = compiled_loss, compiled_metrics
        # As in Keras, no loss tracker without a compiled loss (a custom train_step reports its own logs).
        self._loss_tracker = None if compiled_loss is None else nnmetrics.Mean(name="loss")
        self.run_eagerly, self.jit_compile = bool(run_eagerly), jit_compile
        self.steps_per_execution = steps_per_execution
        self._compile_spec = {"optimizer": optimizer, "loss": loss, "loss_weights": loss_weights,
                              "metrics": metrics, "weighted_metrics": weighted_metrics}
        self._compiled = True

    def _known_output_names(self):
        """The output names when the model knows them before any call (functional, built Sequential)."""
        try:
            return list(self.output_names)
        except (AttributeError, ValueError):
            return None

    def _build_compiled(self, y_pred):
        """Resolve the compiled losses and metrics against the outputs of a first forward pass."""
        count = len(y_pred) if isinstance(y_pred, (list, tuple)) else 1
        names = self._known_output_names()
        if names is None or len(names) != count:
            names = ["output"] if count == 1 else [f"output_{i}" for i in range(count)]
        if self._compiled_loss is not None:
            self._compiled_loss.build(names)
        losses = self._compiled_loss.losses if self._compiled_loss is not None else [None] * count
        self._compiled_metrics.build(names, losses)

    @property
    def metrics(self):
        """The loss tracker (``loss``) first, then the compiled metrics, as in Keras.

        A subclass with a custom ``train_step`` may override this to list its
        own trackers: ``fit`` and ``evaluate`` reset them at every epoch.
        """
        if not self._compiled:
            return []
        tracker = [self._loss_tracker] if self._loss_tracker is not None else []
        return tracker + list(self._compiled_metrics.metrics)

    @property
    def metrics_names(self):
        return [m.name for m in self._all_metrics()]

    def _all_metrics(self):
        """``metrics`` with each output's loss tracker after the total loss (several outputs)."""
        metrics = list(self.metrics)
        extra = self._compiled_loss.metrics if self._compiled_loss is not None else []
        if extra and metrics and metrics[0] is self._loss_tracker:
            return metrics[:1] + extra + metrics[1:]
        return metrics + extra

    def reset_metrics(self):
        """Clear every metric's state (``fit`` does it at every epoch, ``evaluate`` at its start)."""
        for m in self._all_metrics():
            m.reset_state()

    def get_metrics_result(self):
        """``{name: value}`` of every metric, in ``metrics_names`` order."""
        return {m.name: float(m.result()) for m in self._all_metrics()}

    def _metrics_result_or_logs(self, last_logs):
        """An epoch's logs: the metrics' results, or (as Keras) the last step's logs when a custom step
        reports values the metrics do not hold."""
        result = self.get_metrics_result()
        if last_logs is None:
            return result
        last = {k: float(v) for k, v in last_logs.items() if k != "size"}
        return result if set(last) == set(result) else last

    def get_compile_config(self):
        """JSON-able compile settings (``None`` if not compiled); see ``nnkit.training.serialize``."""
        if not self._compiled:
            return None
        return serialize.compile_config(self.optimizer, self._compile_spec)

    def compile_from_config(self, config):
        kwargs = serialize.compile_arguments(config)
        self.compile(**kwargs)

    def _custom_step(self, name):
        return getattr(type(self), name) is not getattr(Trainer, name)

    def _require_compiled(self, op, need_loss=True):
        if not self._compiled:
            raise RuntimeError(f"{op}: the model must be compiled first: "
                               f"model.compile(optimizer, loss, metrics=[...])")
        if need_loss and self._compiled_loss is None:
            raise RuntimeError(f"{op}: the model was compiled without a loss; pass loss= to compile (or override "
                               f"train_step / test_step to compute the loss yourself)")

    # -- the steps: Keras 3's public extension points ---------------------------------------------------
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The total loss of a batch: the compiled losses (weighted, summed over outputs) plus the
        model's own added losses (``self.losses``, when the model has them).  Updates each output's
        loss tracker; returns a scalar Tensor that ``backward`` can start from."""
        if self._compiled_loss is None:
            raise RuntimeError("compute_loss: the model was compiled without a loss")
        if self._compiled_loss.names is None:
            self._build_compiled(y_pred)
        total, parts = self._compiled_loss(y, y_pred, sample_weight)
        self._compiled_loss.track(parts, count_samples(y_pred))
        extra = getattr(self, "losses", None)
        if isinstance(extra, (list, tuple)) and extra:
            total = total + sum(extra)
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Update the compiled metrics with a batch; returns ``get_metrics_result()``."""
        if self._compiled_metrics.names is None:
            self._build_compiled(y_pred)
        self._compiled_metrics.update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()

    def train_step(self, data):
        """One training step on one batch ``data`` (``x``, ``(x, y)`` or ``(x, y, sample_weight)``).

        Forward, ``compute_loss``, ``backward``, then the gradients go to the
        optimizer through one call, ``optimizer.apply_gradients(zip(grads,
        weights))`` (where a wrapper may all-reduce, clip or accumulate them),
        and the metrics are updated.  Returns the logs.  Override it (Keras 3
        style) to train differently; ``fit`` runs whatever it does.

        Through a training plan (``nnkit.models.train_plan``) the plan may compute the loss itself (the
        same bits) and, for plain SGD, take the update inside its backward; whether to update is decided
        from the loss value first (``_accept_update``), as always.
        """
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        weights = self.trainable_weights
        _clear_grads(weights)
        plan = self._training_plan(x, weights)
        if plan is None:
            y_pred = self(x, training=True)
        else:  # the same ops on arrays, without the per-op Tensor graph (nnkit.models.train_plan)
            y_pred, record = plan.forward(x)
        loss = None
        value = None if plan is None else self._planned_loss(plan, y, y_pred, record, sample_weight)
        if value is None:
            loss = self.compute_loss(x, y, y_pred, sample_weight)
            value = float(loss.data)
        self._loss_tracker.update_state(value, count_samples(y_pred))
        if loss is not None and loss.requires_grad:
            loss.backward()
        lr = None if plan is None else self._plain_sgd_rate(plan, weights)
        if lr is not None:
            if self._accept_update(value):  # taken from the loss, before the backward that takes the step
                plan.backward(y_pred, record, sgd=(self.optimizer, lr))
                if weights:
                    self.optimizer.iterations += 1  # as apply_gradients counts a step
        else:
            grads = [w.grad for w in weights]  # all of them without a plan; with one, what the loss gave directly
            if plan is not None:
                grads = _plus(_by_weight(plan.backward(y_pred, record), weights), grads)
            if self._accept_update(value):
                self.optimizer.apply_gradients(zip(grads, weights))
        _clear_grads(weights)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def _planned_loss(self, plan, y, y_pred, record, sample_weight):
        """The loss value when the plan computes it on arrays (``nnkit.models.plan_loss``; its gradient is then
        set for the planned backward), or None (``compute_loss`` and ``loss.backward()``)."""
        if self._compiled_loss is None or self._custom_step("compute_loss") or plan.adds_losses():
            return None
        return plan.loss(self._compiled_loss, y, y_pred, record, sample_weight)

    def _plain_sgd_rate(self, plan, weights):
        """The rate when the plan may take the optimizer's step inside its backward (plain SGD, one process,
        nobody waiting for the gradients themselves), else None."""
        if self._distributed is not None or grad_ready_hook() is not None or \
                any(w.grad is not None for w in weights):  # a gradient the loss gave a weight directly
            return None
        lr = self.optimizer.plain_sgd_rate(weights)
        return lr if lr is not None and plan.can_step_sgd({id(w) for w in weights}) else None

    def _training_plan(self, x, weights=None):
        """A compiled training plan for inputs like ``x`` and these trainable ``weights``, or None (eager); see
        ``nnkit.models.train_plan``."""
        return None

    def test_step(self, data):
        """One evaluation step (inference mode, no update); returns the logs."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False)
        loss = self.compute_loss(x, y, y_pred, sample_weight, training=False)
        self._loss_tracker.update_state(float(loss.data), count_samples(y_pred))
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def predict_step(self, data):
        """The model's outputs for one batch, in inference mode."""
        x, _, _ = unpack_x_y_sample_weight(data)
        return self(x, training=False)

    def zero_grad(self):
        """Clear the ``.grad`` of every trainable weight."""
        _clear_grads(self.trainable_weights)

    def _accept_update(self, value):
        """Whether a step whose loss is ``value`` may update the weights.

        A non-finite loss keeps a snapshot for ``diagnose_nonfinite`` and warns once; its update is
        skipped only when ``TerminateOnNaN`` is there to stop the run (the weights stay finite).
        """
        if self._distributed is not None:
            value = self._distributed.agree_loss(value)  # all ranks take the same decision
        if np.isfinite(value):
            return True
        context = self._step_context
        if context is not None:
            batch, rng_before, epoch, step = context
            self._nonfinite = Snapshot(batch, [t.data.copy() for t in self.weights], rng_before, epoch, step, value)
            if self._watch_nan and not self._nan_warned:
                warnings.warn(f"fit: the loss became {value} at epoch {epoch + 1}, batch {step}; training goes "
                              f"on. Add nnkit.callbacks.TerminateOnNaN() to stop there and name the layer.",
                              RuntimeWarning, stacklevel=4)
                self._nan_warned = True
        return self._watch_nan

    # -- fit -------------------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=None,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1,
            sampling="without_replacement"):
        """Train; returns a ``History``.

        ``x`` is an array, a list (in the model's input order) or a dict (by
        input name) of arrays, a generator, a ``nnkit.data.Dataset`` or a
        chunked source; ``y`` and ``sample_weight`` likewise by output.
        ``class_weight`` (``{class: weight}``, single-output models) multiplies
        each sample's weight by its class's.  ``initial_epoch`` defaults to 0,
        or to where ``set_training_state`` left off.
        ``sampling='with_replacement'`` draws each pass's samples with
        replacement (a bootstrap) instead of shuffling.
        """
        op = "fit"
        self._require_compiled(op, need_loss=not self._custom_step("train_step"))
        epochs = _positive_int(op, "epochs", epochs)
        verbose = _verbosity(op, verbose)
        steps_per_epoch = _positive_int(op, "steps_per_epoch", steps_per_epoch, allow_none=True)
        validation_steps = _positive_int(op, "validation_steps", validation_steps, allow_none=True)
        validation_freq = _positive_int(op, "validation_freq", validation_freq)
        if sampling not in nndata.SAMPLING:
            raise ValueError(f"{op}: unknown sampling {sampling!r}; valid choices: {', '.join(nndata.SAMPLING)}")
        class_weight = check_class_weight(op, class_weight)
        if initial_epoch is not None:
            _check_initial_epoch(op, initial_epoch, epochs)
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
        dist = self._distributed
        if dist is not None:  # this rank's shard; the callbacks below act on rank 0 only where they write
            stream, verbose = dist.stream(source, stream, batch_size, shuffle, sampling), dist.verbose(verbose)
        history = History()
        self.history = history
        metric_names = self.metrics_names
        log_names = metric_names + (["val_" + n for n in metric_names] if val_source is not None else [])
        params = {"epochs": epochs, "steps": stream.steps_for_epoch(steps_per_epoch), "batch_size": batch_size,
                  "samples": source.num_samples, "verbose": verbose, "do_validation": val_source is not None,
                  "metrics": log_names, "in_fit": True}
        user = list(callbacks or [])
        extra = [history] + ([ProgbarLogger(verbose)] if verbose else [])
        cbs = CallbackList((user if dist is None else dist.callbacks(user)) + extra, model=self, params=params)
        self._callbacks = user

        self.stop_training = False
        self._nan_warned = False
        self._watch_nan = not any(isinstance(cb, TerminateOnNaN) for cb in user)
        epoch_logs = {}
        try:
            cbs.on_train_begin()  # BackupAndRestore restores an interrupted run here, as in Keras
            resume, self._resume = self._resume, None
            if initial_epoch is None:
                initial_epoch = resume["epoch"] if resume else 0
                _check_initial_epoch(op, initial_epoch, epochs)
            start_step = 0
            if resume:
                if resume.get("stream") is not None:
                    stream.set_state(resume["stream"])
                    start_step = int(resume.get("step_in_epoch", 0))
                history.load_tree(resume.get("history"))
                self._restore_callback_states(resume.get("callbacks", {}))
            self._stream, self._epochs_completed, self._step_in_epoch = stream, initial_epoch, start_step
            for epoch in range(initial_epoch, epochs):
                self.reset_metrics()
                _epoch_hook(source, "on_epoch_begin")
                cbs.on_epoch_begin(epoch)
                steps = None if steps_per_epoch is None else steps_per_epoch - start_step
                step, batch_logs = start_step, None
                for batch in stream.epoch(steps):
                    cbs.on_train_batch_begin(step)
                    batch = with_class_weight(op, batch, class_weight)
                    batch_logs = self._run_train_step(batch, epoch, step)
                    self._step_in_epoch = step + 1
                    cbs.on_train_batch_end(step, batch_logs)
                    step += 1
                    if self.stop_training:
                        break
                start_step = 0
                self._epochs_completed, self._step_in_epoch = epoch + 1, 0
                epoch_logs = self._metrics_result_or_logs(batch_logs)
                _epoch_hook(source, "on_epoch_end")
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

    def _run_train_step(self, batch, epoch=0, step=0):
        """``train_step`` with what a non-finite loss needs for its diagnosis, and the batch size in the logs."""
        if self._compiled_loss is not None and batch[1] is None and not self._custom_step("train_step"):
            raise ValueError("fit: a batch without targets; the data must provide (x, y)")
        self._step_context = (batch, nnrandom.get_state(), epoch, step)  # replays a step whose loss is non-finite
        try:
            logs = dict(self.train_step(_as_data(batch)))
        finally:
            self._step_context = None
        logs["size"] = count_samples(batch[0])
        return logs

    def _batch_size(self, op, name, batch_size, source):
        if isinstance(source, nndata.GeneratorSource):
            if batch_size is not None:
                raise ValueError(f"{op}: {name} does not apply when the data comes from a generator or a Dataset "
                                 f"(it yields whole batches); leave it out")
            return None
        return _positive_int(op, name, DEFAULT_BATCH_SIZE if batch_size is None else batch_size)

    def _validation_source(self, op, source, validation_split, validation_data):
        if validation_split and validation_data is not None:
            raise ValueError(f"{op}: give validation_split or validation_data, not both")
        if validation_split:
            if not isinstance(source, nndata.ArraySource):
                raise ValueError(f"{op}: validation_split needs in-memory arrays; pass validation_data for "
                                 f"generators, Datasets and chunked sources")
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
        custom = self._custom_step("train_step") or self._custom_step("test_step")
        need_targets = need_targets and self._compiled_loss is not None and not custom
        if need_targets and not source.has_targets:
            raise ValueError(f"{op}: no targets: pass y (or a source whose samples include targets)")
        # The trial forward depends only on the per-sample input signature: repeated train_on_batch calls with
        # the same kind of batch skip it (targets are still checked).  In-memory arrays show their signature as
        # they are; other sources show it in the trial samples.
        in_memory = isinstance(source, nndata.ArraySource)
        trial = None if in_memory else self._trial_batch(source)
        shapes = tuple((np.shape(a)[1:], np.asarray(a).dtype) for a in leaves(source.x if in_memory else trial[1]))
        signature = (id(self._compiled_loss), tuple(map(id, self.layers)), shapes)
        cached = getattr(self, "_preflight_cache", None)
        if cached is not None and cached[0] == signature:
            out_shapes = cached[1]
        else:
            stateful, x, _ = trial or self._trial_batch(source)
            try:
                kept = [layer.states for layer in stateful]
                try:
                    with no_grad():
                        out = self(x, training=False)
                finally:
                    for layer, states in zip(stateful, kept):  # the trial must not advance carried states
                        layer.states = states
            except ValueError as e:
                raise ValueError(f"{op}: the model cannot take x of per-sample shape "
                                 f"{_per_sample_shapes(x)}{self._first_layer_hint()}: {e}") from e
            outs = list(out) if isinstance(out, (list, tuple)) else [out]
            if not all(isinstance(o, Tensor) for o in outs):
                raise TypeError(f"{op}: the model returned {type(out).__name__}; training needs a Tensor output "
                                f"or a list of them")
            self._build_compiled(out)
            out_shapes = [o.shape for o in outs]
            self._preflight_cache = (signature, out_shapes)
        if need_targets:
            self._compiled_loss.check_targets(op, source.y if in_memory else trial[2], out_shapes)

    def _trial_batch(self, source):
        """``(stateful layers, x, y)``: the preflight's few samples (as many as a stateful layer needs)."""
        stateful = _stateful_layers(self)
        x, y, _ = source.take(np.arange(min(_trial_batch_size(stateful), source.num_samples)))
        return stateful, x, y

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

    def diagnose_nonfinite(self):
        """Which layer's output and gradient first went non-finite in the last bad training step."""
        if self._nonfinite is None:
            return "No non-finite loss has been seen."
        return find_nonfinite(self, self._nonfinite, self._compiled_loss)

    def _restore_callback_states(self, states):
        for i, cb in enumerate(self._callbacks):
            state = states.get(f"{i}:{type(cb).__name__}")
            if state:
                cb.set_state(state)

    # -- evaluate / predict ----------------------------------------------------------------------------
    def _run_evaluation(self, source, batch_size, steps, cbs):
        stream = nndata.make_stream(source, batch_size, shuffle=False, op="evaluate")
        self.reset_metrics()
        cbs.on_test_begin()
        logs = None
        with no_grad():
            for i, batch in enumerate(stream.epoch(steps)):
                cbs.on_test_batch_begin(i)
                if batch[1] is None and not self._custom_step("test_step"):
                    raise ValueError("evaluate: a batch without targets; the data must provide (x, y)")
                logs = dict(self.test_step(_as_data(batch)))
                logs["size"] = count_samples(batch[0])
                cbs.on_test_batch_end(i, logs)
        logs = self._metrics_result_or_logs(logs)
        cbs.on_test_end(logs)
        return logs

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        """Loss and metrics over the data (exact over all samples): a float, a list, or a dict."""
        op = "evaluate"
        self._require_compiled(op, need_loss=not self._custom_step("test_step"))
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
        return self._format_logs(logs, return_dict)

    def predict(self, x, batch_size=None, verbose=0, steps=None, callbacks=None):
        """Model outputs for ``x`` in inference mode, computed ``batch_size`` samples at a time
        (a list of arrays for a model with several outputs)."""
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
                for i, batch in enumerate(stream.epoch(steps)):
                    cbs.on_predict_batch_begin(i)
                    out = self._predict_arrays(batch[0])
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

    def _batch_source(self, op, x, y, sample_weight):
        src = nndata.ArraySource(x, y, sample_weight, op)
        self._preflight(op, src)
        return src

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One update on one batch; returns the loss and metrics.

        As in Keras 3, the metrics keep accumulating across calls (they are
        running values) until ``reset_metrics()``.
        """
        op = "train_on_batch"
        self._require_compiled(op, need_loss=not self._custom_step("train_step"))
        src = self._batch_source(op, x, y, sample_weight)
        self._watch_nan, self._nan_warned = True, False
        batch = with_class_weight(op, (src.x, src.y, src.sample_weight), check_class_weight(op, class_weight))
        logs = self._run_train_step(batch)
        return self._format_logs(logs, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Loss and metrics on one batch, without updating (running values, as ``train_on_batch``)."""
        op = "test_on_batch"
        self._require_compiled(op, need_loss=not self._custom_step("test_step"))
        src = self._batch_source(op, x, y, sample_weight)
        with no_grad():
            logs = self.test_step(_as_data((src.x, src.y, src.sample_weight)))
        return self._format_logs(logs, return_dict)

    def predict_on_batch(self, x):
        with no_grad():
            return self._predict_arrays(x)

    def _predict_arrays(self, x):
        """One batch's outputs as arrays: through an inference plan when the model has one for this input
        (``_inference_plan``; a custom ``predict_step`` always runs), else through ``predict_step``."""
        plan = None if self._custom_step("predict_step") else self._inference_plan(x)
        if plan is not None:
            return plan(*(x if isinstance(x, (list, tuple)) else [x]))
        return _outputs_to_arrays(self.predict_step((x,)))

    def _inference_plan(self, x):
        """A compiled inference plan for inputs like ``x``, or None (eager); see ``nnkit.models.plan``."""
        return None

    def _format_logs(self, logs, return_dict):
        """Logs as a dict, or as Keras's list in ``metrics_names`` order (one value: a float)."""
        logs = {k: float(v) for k, v in logs.items() if k != "size"}
        if return_dict:
            return logs
        names = [n for n in self.metrics_names if n in logs] + [k for k in logs if k not in self.metrics_names]
        values = [logs[n] for n in names]
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

