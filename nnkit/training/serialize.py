"""Compile settings as JSON-able data, and back (for saved models and checkpoints).

A loss or metric is stored as the string the user gave (``"mse"``,
``"accuracy"``), as ``{"class_name", "config"}`` for an object, or as
``{"function": name, "config"}`` for a plain function.  Classes and functions
that are not built in are found on load through the explicit registry
(``@nnkit.register`` or ``custom_objects=``), never by importing or
evaluating anything named in the file.
"""
from nnkit import losses as nnlosses
from nnkit import metrics as nnmetrics
from nnkit import optimizers as nnoptimizers

__all__ = ["compile_config", "compile_arguments"]


def _registered(obj):
    from nnkit.layers import registry
    return registry.registered_name(obj) if isinstance(obj, type) else \
        getattr(obj, "_registered_name", None) or obj.__name__


def _lookup(name):
    from nnkit.layers import registry
    return registry.get(name)


def _map(fn, value):
    """``fn`` on each loss or metric of a compile argument (one item, a list, a list of lists or a dict by
    output name); a dict by output name is saved as ``{"by_output": {...}}``, apart from an item's own spec."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {"by_output": {k: _map(fn, v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return [_map(fn, v) for v in value]
    return fn(value)


def _unmap(fn, value):
    """The inverse of ``_map``: rebuild each item of a saved compile argument."""
    if value is None:
        return None
    if isinstance(value, dict) and set(value) == {"by_output"} and isinstance(value["by_output"], dict):
        return {k: _unmap(fn, v) for k, v in value["by_output"].items()}
    if isinstance(value, list):
        return [_unmap(fn, v) for v in value]
    return fn(value)


def _loss_spec(given):
    if isinstance(given, str):
        return given
    loss = nnlosses.get(given)
    if isinstance(loss, nnlosses.LossFunctionWrapper):
        return {"function": _registered(loss.fn), "config": loss.get_config()}
    return {"class_name": _registered(type(loss)), "config": loss.get_config()}


def _metric_spec(given):
    if isinstance(given, str):
        return given
    metric = nnmetrics.get(given)
    if isinstance(metric, nnmetrics.MeanMetricWrapper) and type(metric) is nnmetrics.MeanMetricWrapper:
        fn = given if callable(given) and not isinstance(given, nnmetrics.Metric) else metric.fn
        return {"function": _registered(fn), "config": {"name": metric.name}}
    return {"class_name": _registered(type(metric)), "config": metric.get_config()}


def compile_config(optimizer, spec):
    """``spec``: the arguments ``compile`` was given (loss, loss_weights, metrics, weighted_metrics)."""
    return {"optimizer": {"class_name": type(optimizer).__name__, "config": optimizer.get_config()},
            "loss": _map(_loss_spec, spec["loss"]),
            "loss_weights": _map(float, spec.get("loss_weights")),
            "metrics": _map(_metric_spec, spec["metrics"]),
            "weighted_metrics": _map(_metric_spec, spec.get("weighted_metrics"))}


def _build_loss(spec):
    if spec is None or isinstance(spec, str):
        return spec
    if "function" in spec:
        config = dict(spec.get("config", {}))
        config.pop("name", None)
        return nnlosses.LossFunctionWrapper(_lookup(spec["function"]), name=spec["function"], **config)
    cls = getattr(nnlosses, spec["class_name"], None)
    if not (isinstance(cls, type) and issubclass(cls, nnlosses.Loss)):
        cls = _lookup(spec["class_name"])
    return cls.from_config(spec.get("config", {}))


def _build_metric(spec):
    if isinstance(spec, str):
        return spec
    if "function" in spec:
        return nnmetrics.MeanMetricWrapper(nnmetrics._as_array_fn(_lookup(spec["function"])),
                                           name=spec.get("config", {}).get("name", spec["function"]))
    cls = getattr(nnmetrics, spec["class_name"], None)
    if not (isinstance(cls, type) and issubclass(cls, nnmetrics.Metric)):
        cls = _lookup(spec["class_name"])
    return cls.from_config(spec.get("config", {}))


def compile_arguments(config):
    """``compile(**compile_arguments(config))`` rebuilds what ``compile_config`` recorded."""
    if not isinstance(config, dict) or not isinstance(config.get("optimizer"), dict):
        raise ValueError("compile config: expected a dict with an 'optimizer' entry")
    opt = config["optimizer"]
    return {"optimizer": nnoptimizers.from_config(opt.get("config", {}), opt.get("class_name")),
            "loss": _unmap(_build_loss, config.get("loss")),
            "loss_weights": _unmap(float, config.get("loss_weights")),
            "metrics": _unmap(_build_metric, config.get("metrics")),
            "weighted_metrics": _unmap(_build_metric, config.get("weighted_metrics"))}
