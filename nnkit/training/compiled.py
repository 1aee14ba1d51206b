"""What ``compile`` makes of ``loss``, ``loss_weights``, ``metrics`` and ``weighted_metrics``, per model output.

Keras 3's rules, for a model with outputs named ``output_names`` (the names
of the layers that produce them):

- ``loss``: one loss (used for every output), a list (one per output, in
  order) or a dict by output name (an output left out, or given ``None``,
  has no loss).  The total is ``sum(loss_weight_i * loss_i)``.
- ``loss_weights``: a list or a dict by output name; 1 where not given.
- ``metrics`` / ``weighted_metrics``: a list (every metric applied to every
  output), a list of lists (one list per output) or a dict by output name
  (one metric or a list each).  ``metrics`` ignore ``sample_weight``;
  ``weighted_metrics`` use it.
- Targets ``y`` and ``sample_weight`` may be one array (one output; a
  ``sample_weight`` array applies to every output), a list in output order or
  a dict by output name.

Log names: ``loss`` (the total), then for several outputs
``<output>_loss`` (each output's weighted loss) and ``<output>_<metric>``;
with one output a metric keeps its own name.  A weighted metric whose name
an unweighted one already has is logged as ``weighted_<name>``.

The structure is resolved on the first batch (``build``), when the number of
outputs is known for every kind of model.
"""
import numpy as np

from nnkit import losses as nnlosses
from nnkit import metrics as nnmetrics
from nnkit.data.structure import is_structure
from nnkit.tensor import Tensor, get_keras_mask

__all__ = ["CompiledLoss", "CompiledMetrics", "OutputMetric", "per_output"]


def _names_text(names):
    return "[" + ", ".join(repr(n) for n in names) + "]"


def per_output(op, what, value, names, allow_missing=False, broadcast=False):
    """``value`` as a list with one entry per output (in ``names`` order).

    ``value`` is one item (a single-output model, or ``broadcast`` to every
    output), a list/tuple in output order, or a dict by output name.
    """
    n = len(names)
    if isinstance(value, dict):
        unknown = [k for k in value if k not in names]
        missing = [k for k in names if k not in value]
        if unknown or (missing and not allow_missing):
            raise ValueError(f"{op}: the model has outputs {_names_text(names)}; got {what} as a dict with keys "
                             f"{_names_text(list(value))}")
        return [value.get(k) for k in names]
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{op}: the model has {n} output(s) {_names_text(names)}; got {what} as a list of "
                             f"{len(value)}")
        return list(value)
    if n == 1 or broadcast or value is None:
        return [value] * n
    raise ValueError(f"{op}: the model has {n} outputs {_names_text(names)}; give {what} as a list or a dict by "
                     f"output name, got one {type(value).__name__}")


def _each(fn, value):
    """Call ``fn`` on every item of a compile argument (one item, a list, a list of lists or a dict)."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        for v in value:
            _each(fn, v)
    elif value is not None:
        fn(value)


def _targets(op, what, value, names):
    """Targets or sample weights per output: a single array only fits a single output (weights: every output)."""
    if value is None:
        return [None] * len(names)
    if isinstance(value, (np.ndarray, Tensor)) or not (isinstance(value, dict) or is_structure(value)):
        if len(names) == 1 or what == "sample_weight":
            return [value] * len(names)
        raise ValueError(f"{op}: the model has {len(names)} outputs {_names_text(names)}; give {what} as a list or "
                         f"a dict by output name, got one array")
    return per_output(op, what, value, names, allow_missing=True)


class CompiledLoss:
    """The per-output losses and weights; ``__call__`` gives the total and each output's weighted loss."""

    def __init__(self, loss, loss_weights=None):
        _each(nnlosses.get, loss)  # an unknown name fails at compile, whatever the model
        self.spec, self.weight_spec = loss, loss_weights
        self.names = None
        self.losses = self.weights = None
        self.trackers = []

    def build(self, names, op="compile"):
        if self.names == names:
            return
        given = per_output(op, "loss", self.spec, names, allow_missing=True, broadcast=True)
        self.losses = [None if g is None else nnlosses.get(g) for g in given]
        if all(loss is None for loss in self.losses):
            raise ValueError(f"{op}: no output of {_names_text(names)} has a loss")
        weights = per_output(op, "loss_weights", self.weight_spec, names, allow_missing=True, broadcast=True) \
            if self.weight_spec is not None else [1.0] * len(names)
        for w in weights:
            if w is not None and (isinstance(w, bool) or not isinstance(w, (int, float, np.number))):
                raise ValueError(f"{op}: loss_weights must be numbers, got {w!r} (compile's third positional "
                                 f"argument is loss_weights, as in Keras 3: pass metrics=[...] by name)")
        self.weights = [1.0 if w is None else float(w) for w in weights]
        self.trackers = [nnmetrics.Mean(name=f"{name}_loss") if loss is not None else None
                         for name, loss in zip(names, self.losses)] if len(names) > 1 else []
        self.names = list(names)

    @property
    def single(self):
        """The one loss of a single-output model (None otherwise)."""
        return self.losses[0] if self.losses is not None and len(self.losses) == 1 else None

    def __call__(self, y_true, y_pred, sample_weight=None, op="compute_loss"):
        """``(total, [weighted loss per output or None])`` as Tensors."""
        preds = y_pred if len(self.names) > 1 else [y_pred]
        ys = _targets(op, "y", y_true, self.names)
        ws = _targets(op, "sample_weight", sample_weight, self.names)
        total, parts = None, []
        for loss, weight, y, p, w, name in zip(self.losses, self.weights, ys, preds, ws, self.names):
            if loss is None:
                parts.append(None)
                continue
            if y is None:
                raise ValueError(f"{op}: no targets for output {name!r}, which has the loss {loss.name!r}")
            value = loss(y, p, sample_weight=w)
            if value.ndim:  # reduction='none': the mean, as Keras's training loop takes it
                value = value.mean()
            if weight != 1.0:
                value = value * weight
            parts.append(value)
            total = value if total is None else total + value
        return total, parts

    @property
    def metrics(self):
        """Each output's loss tracker (``<output>_loss``, several outputs only)."""
        return [t for t in self.trackers if t is not None]

    def track(self, parts, n):
        for tracker, value in zip(self.trackers, parts):
            if tracker is not None:
                tracker.update_state(float(value.data), n)

    def check_targets(self, op, y_true, output_shapes):
        for loss, y, shape, name in zip(self.losses, _targets(op, "y", y_true, self.names), output_shapes,
                                        self.names):
            if loss is None:
                continue
            if y is None:
                raise ValueError(f"{op}: no targets for output {name!r}, which has the loss {loss.name!r}")
            loss.check_targets(y, shape)


class OutputMetric(nnmetrics.Metric):
    """A compiled metric bound to one output: it picks that output's targets, predictions and (when
    ``weighted``) sample weights out of whole-model structures, so ``update_state(y, y_pred)`` works as in
    Keras's custom-``train_step`` loop for any number of outputs."""

    def __init__(self, metric, index, output_names, weighted, name):
        self.metric, self.index, self.output_names, self.weighted = metric, index, list(output_names), weighted
        super().__init__(name)

    def reset_state(self):
        self.metric.reset_state()

    def _pick(self, value, what):
        if len(self.output_names) == 1:
            return value
        return _targets("metrics", what, value, self.output_names)[self.index]

    def update_state(self, y_true, y_pred, sample_weight=None):
        p = y_pred[self.index] if len(self.output_names) > 1 else y_pred
        w = self._pick(sample_weight, "sample_weight") if self.weighted else None
        if isinstance(p, Tensor) and get_keras_mask(p) is None:
            p = p.data  # a masked output stays a Tensor: the metric reads its mask
        self.metric.update_state(self._pick(y_true, "y"), p, w)

    def result(self):
        return self.metric.result()

    def __repr__(self):
        return f"OutputMetric({self.metric!r}, output={self.index}, name={self.name!r})"


def _clone(metric):
    return type(metric).from_config(metric.get_config())


class CompiledMetrics:
    """The per-output metric objects of ``metrics`` and ``weighted_metrics``, with their log names."""

    def __init__(self, metrics=None, weighted_metrics=None):
        for spec in (metrics, weighted_metrics):
            _each(nnmetrics.get, spec)  # an unknown name fails at compile, whatever the model
            if isinstance(spec, (list, tuple)) and not any(isinstance(m, (list, tuple)) for m in spec):
                names = [nnmetrics.get(m).name for m in spec]  # a flat list: the same names for every output
                dupes = sorted({n for n in names if names.count(n) > 1})
                if dupes:
                    raise ValueError(f"compile: metric names must be unique, {dupes} appear twice; pass name= "
                                     f"to tell them apart")
        self.spec, self.weighted_spec = metrics, weighted_metrics
        self.names = None
        self.metrics = []

    def _per_output(self, op, what, spec, names, losses):
        if spec is None:
            return [[] for _ in names]
        if isinstance(spec, dict):
            given = per_output(op, what, spec, names, allow_missing=True)
        elif isinstance(spec, (list, tuple)) and spec and all(isinstance(s, (list, tuple)) for s in spec):
            if len(spec) != len(names):
                raise ValueError(f"{op}: {what} as a list of lists needs one list per output "
                                 f"{_names_text(names)}, got {len(spec)}")
            given = list(spec)
        elif isinstance(spec, (list, tuple)):
            given = [list(spec)] * len(names)  # every metric for every output
        else:
            given = [[spec]] * len(names)
        out = []
        for i, (items, loss) in enumerate(zip(given, losses)):
            items = [] if items is None else (list(items) if isinstance(items, (list, tuple)) else [items])
            made = [nnmetrics.get(m, loss) for m in items]
            taken = [m for ms in out for m in ms]  # one object per output: an instance given twice is copied
            out.append([_clone(m) if any(m is t for t in taken) else m for m in made])
        return out

    def build(self, names, losses, op="compile"):
        if self.names == names:
            return
        plain = self._per_output(op, "metrics", self.spec, names, losses)
        weighted = self._per_output(op, "weighted_metrics", self.weighted_spec, names, losses)
        prefix = (lambda i: f"{names[i]}_") if len(names) > 1 else (lambda i: "")
        built, seen = [], {"loss"} | ({f"{n}_loss" for n in names} if len(names) > 1 else set())
        for flag, table in ((False, plain), (True, weighted)):
            for i, items in enumerate(table):
                for m in items:
                    name = prefix(i) + m.name
                    if flag and name in seen:
                        name = prefix(i) + "weighted_" + m.name
                    if name in seen:
                        raise ValueError(f"{op}: metric names must be unique, {name!r} appears twice; pass name= "
                                         f"to tell them apart")
                    seen.add(name)
                    built.append(OutputMetric(m, i, names, flag, name))
        self.metrics, self.names = built, list(names)

    def update_state(self, y_true, y_pred, sample_weight=None):
        for m in self.metrics:
            m.update_state(y_true, y_pred, sample_weight)

