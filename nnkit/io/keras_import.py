"""``load_keras``: a Keras 3 model file (``.keras``) or weights file (``.weights.h5``) into nnkit.

A ``.keras`` file is a zip of ``config.json`` (the architecture), ``metadata.json``
and ``model.weights.h5`` (HDF5, read with ``h5py``: ``pip install "nnkit[keras]"``).
nnkit's layers carry Keras's names, arguments and weight layouts, so the
architecture maps one layer to one layer and the weights are copied as they
are.  Nothing in the file is executed: the JSON is read with nnkit's bounded
reader, classes are looked up in a fixed table (a ``Lambda``, whose Python
code Keras stores in the file, is refused), and only the HDF5 datasets the
nnkit model expects, with the shapes it expects, are read.

In the weights file every layer's variables sit at
``<container>/layers/<key>/vars/<i>`` in the layer's own order (``vars`` is
tagged with the layer's name); nested models repeat the pattern.
"""
import inspect
import io
import re
import warnings
import zipfile

import numpy as np

from nnkit.io import config_json
from nnkit.io.errors import FileFormatError
from nnkit.layers.base import _penalty_arguments

__all__ = ["load_keras", "keras_layers"]

_MODELS = ("Functional", "Model", "Sequential")
_REFUSED = {"Lambda": "it holds Python code (Keras refuses it in safe mode too); rebuild the model without it"}
# Keras arguments nnkit does without, and the values with which that changes nothing
_HARMLESS = {"data_format": ("channels_last", None), "synchronized": (False,), "renorm": (False,),
             "renorm_clipping": (None,), "renorm_momentum": None, "noise_shape": (None,), "lora_rank": (None,),
             "lora_alpha": (None,), "quantization_config": (None,), "sparse": (False,), "ragged": (False,),
             "optional": (False,), "registered_name": None, "use_gate": (False,), "flash_attention": (None,),
             "sliding_window": (None,)}
_MAX_ZIP_MEMBER = 4 * 2 ** 30
_ALIASES = {"Model": "Functional", "MaxPool2D": "MaxPooling2D", "AvgPool2D": "AveragePooling2D",
            "Convolution2D": "Conv2D", "GlobalAvgPool2D": "GlobalAveragePooling2D",
            "GlobalMaxPool2D": "GlobalMaxPooling2D"}


def keras_layers():
    """The Keras layer classes nnkit builds: its own built-in layers, which carry Keras's class names."""
    from nnkit.layers import registry
    from nnkit.models.model import Model

    return sorted(name for name, cls in registry._REGISTRY.items()
                  if cls.__module__.startswith("nnkit.layers.") and not issubclass(cls, Model)
                  and name not in _REFUSED)


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError('load_keras needs h5py to read Keras weights: pip install "nnkit[keras]"') from None
    return h5py


def _class(entry):
    name = entry.get("class_name") if isinstance(entry, dict) else None
    return _ALIASES.get(name, name)


# -- architecture -----------------------------------------------------------------------------------

def _unsupported(entry, found, known):
    """Collect every class in a (nested) layer config that nnkit cannot build."""
    name = _class(entry)
    if name in _MODELS:
        for layer in entry.get("config", {}).get("layers", []):
            _unsupported(layer, found, known)
    elif name not in known:
        layer = entry.get("config", {}).get("name", "?") if isinstance(entry, dict) else "?"
        found.append(f"{layer!r} ({name}{': ' + _REFUSED[name] if name in _REFUSED else ''})")
    return found


def _snake(name):
    return re.sub("([a-z])([A-Z])", r"\1_\2", re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)).lower()


def _dtype(value, where, integers=False):
    """A layer's dtype policy; an Input may also hold integers or bools (token ids)."""
    name = value.get("config", {}).get("name") if isinstance(value, dict) else value
    if name in (None, "float32", "float64"):
        return name
    if integers and name in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool"):
        return name
    raise ValueError(f"{where}: dtype policy {name!r} is not supported (nnkit computes in float32 or float64)")


def _arguments(cls, name, config, path):
    """nnkit constructor arguments from a Keras layer config; anything that would change the layer is an error."""
    from nnkit import initializers

    where = f"load_keras({path}): layer {config.get('name')!r} ({name})"
    accepted = set(inspect.signature(cls.__init__).parameters) | {"name", "trainable", "dtype"}
    if name == "InputLayer":
        accepted = {"batch_shape", "name", "dtype"}
    kwargs, dropped = {}, []
    for key, value in config.items():
        if key == "dtype":
            kwargs["dtype"] = _dtype(value, where, integers=name == "InputLayer")
        elif key.endswith("_initializer"):
            try:  # weights come from the file; the initializer matters only for a later re-initialisation
                kwargs[key] = initializers.get(value)
            except (ValueError, TypeError):
                pass
        elif key.endswith(("_regularizer", "_constraint")):
            if value is not None:
                penalty = _penalty(key, value)
                if penalty is not None and (key in accepted or key in _penalty_arguments(cls)
                                            or key == "activity_regularizer"):
                    kwargs[key] = penalty
                else:
                    dropped.append(key)
        elif key in _HARMLESS and (_HARMLESS[key] is None or value in _HARMLESS[key]):
            continue
        elif key in accepted:
            kwargs[key] = value
        else:
            raise ValueError(f"{where}: argument {key}={value!r} is not supported by nnkit's {cls.__name__}")
    if dropped:
        warnings.warn(f"{where}: {', '.join(dropped)} ignored (not one of Keras's built-in regularizers or "
                      f"constraints, or not an argument of nnkit's {cls.__name__}); predictions are unchanged, "
                      f"further training is not", stacklevel=4)
    if name == "BatchNormalization" and kwargs.get("axis", -1) not in (-1, 3):
        raise ValueError(f"{where}: axis={kwargs['axis']}: nnkit normalises the last (channels) axis only")
    return kwargs


def _penalty(key, value):
    """nnkit's built-in regularizer or constraint for a Keras config entry; None for one it does not have
    (a custom class: its code is not in the file, and none is run)."""
    from nnkit import constraints, regularizers

    module = regularizers if key.endswith("_regularizer") else constraints
    try:
        return module.get(value)
    except (ValueError, TypeError):
        return None


def _build(entry, path):
    """An nnkit layer or model from one Keras layer entry."""
    from nnkit import layers

    name, config = _class(entry), entry.get("config", {})
    if name == "Sequential":
        return _sequential(config, entry, path)
    if name == "Functional":
        return _functional(config, path)
    cls = layers.get(name)
    nested = {"Bidirectional": ("layer", "backward_layer"), "RNN": ("cell",)}.get(name, ())
    config = {**config, **{key: _build(config[key], path) for key in nested  # wrapped layers are layer entries
                           if isinstance(config.get(key), dict)}}
    if name == "StackedRNNCells":
        config = {**config, "cells": [_build(cell, path) for cell in config.get("cells", [])]}
    try:
        return cls(**_arguments(cls, name, config, path))
    except TypeError as e:
        raise ValueError(f"load_keras({path}): layer {config.get('name')!r} ({name}): {e}") from None


def _sequential(config, entry, path):
    from nnkit.models.sequential import Sequential

    model = Sequential(name=config.get("name"), trainable=config.get("trainable", True))
    for layer_entry in config.get("layers", []):
        model.add(_build(layer_entry, path))
    shape = (entry.get("build_config") or {}).get("input_shape")
    if shape is not None and not model._graph:
        model.build(tuple(shape))
    return model


def _tensor_ref(arg):
    """``(layer, node, index)`` of a serialized Keras tensor, or None if ``arg`` is not one."""
    if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
        return tuple(arg["config"]["keras_history"])
    if isinstance(arg, list) and len(arg) == 3 and isinstance(arg[0], str):
        return tuple(arg)
    return None


def _refs(value):
    """A single ref or a list of refs, as config.json writes input_layers/output_layers."""
    single = _tensor_ref(value)
    return [single] if single is not None else [_tensor_ref(v) for v in value]


def _functional(config, path):
    """Keras's functional graph in nnkit's own config form, rebuilt by ``Functional.from_config`` (one replay)."""
    from nnkit.layers.registry import serialize
    from nnkit.models.functional import Functional

    layers = []
    for entry in config.get("layers", []):
        layer = serialize(_build(entry, path))
        layer["name"] = name = entry.get("name", layer.get("config", {}).get("name"))
        layer["inbound_nodes"] = [_node(name, node, path) for node in entry.get("inbound_nodes", [])]
        layers.append(layer)
    single_in, single_out = _tensor_ref(config["input_layers"]), _tensor_ref(config["output_layers"])
    try:
        return Functional.from_config({
            "name": config.get("name"), "trainable": config.get("trainable", True), "layers": layers,
            "input_layers": _refs(config["input_layers"]), "output_layers": _refs(config["output_layers"]),
            "inputs_are_list": single_in is None, "outputs_are_list": single_out is None})
    except ValueError as e:
        raise ValueError(f"load_keras({path}): {e}") from None


def _node(name, node, path):
    """One Keras call of layer ``name`` as nnkit's node: tensor refs, single or list input, keyword arguments."""
    args, kwargs = list(node.get("args", [])), dict(node.get("kwargs", {}) or {})
    for keyword in ("value", "key"):  # attention's other tensors, passed by name: positional, in order
        if _tensor_ref(kwargs.get(keyword)) is not None and len(args) == (1 if keyword == "value" else 2):
            args.append(kwargs.pop(keyword))
    if len(args) > 1 and all(_tensor_ref(a) is not None for a in args):
        args = [args]  # several tensors, as MultiHeadAttention(query, value, key) takes them: one list
    single = _tensor_ref(args[0]) is not None if args else True
    refs = [_tensor_ref(args[0])] if single else [_tensor_ref(a) for a in args[0]]
    if None in refs or len(args) > 1:
        raise ValueError(f"load_keras({path}): layer {name!r} is called with arguments other than tensors "
                         f"({args!r}); nnkit cannot replay that call")
    return {"args": refs, "single_input": single,
            "kwargs": {k: v for k, v in kwargs.items() if v is not None and k != "mask"}}


def model_from_keras_config(config, path="<config>"):
    """The nnkit model for a parsed Keras ``config.json`` (architecture only, fresh weights)."""
    if not isinstance(config, dict) or _class(config) not in _MODELS:
        raise FileFormatError(path, f"config.json does not describe a Keras model (class_name "
                                    f"{config.get('class_name') if isinstance(config, dict) else None!r})")
    known = keras_layers()
    missing = _unsupported(config, [], known)
    if missing:
        raise ValueError(f"load_keras({path}): nnkit has no equivalent for these layers: {', '.join(missing)}; "
                         f"it supports {', '.join(known)}")
    return _build(config, path)


# -- weights --------------------------------------------------------------------------------------------

def _children(model):
    from nnkit.layers.input import InputLayer

    return [layer for layer in model._children() if not isinstance(layer, InputLayer)]


def _keras_keys(layers):
    """The group names Keras gives a container's layers: snake-case class name, then ``_1``, ``_2``, ..."""
    used, keys = {}, []
    for layer in layers:
        key = _snake(type(layer).__name__)
        used[key] = used.get(key, -1) + 1
        keys.append(key if used[key] == 0 else f"{key}_{used[key]}")
    return keys


def _collect(model, group, arrays, path, where):
    """``{nnkit weight name: dataset}`` for ``model``'s layers from its Keras container ``group``."""
    from nnkit.models.model import Model

    sub = group.get("layers")
    children = _children(model)
    if sub is None:
        if any(layer._own_weights or isinstance(layer, Model) for layer in children):
            raise FileFormatError(path, f"{where}: no 'layers' group for the layers of {model.name!r}")
        return
    by_name = {}
    for key in sub:
        tagged = sub[key].get("vars")
        name = tagged.attrs.get("name") if tagged is not None else None
        by_name[name.decode() if isinstance(name, bytes) else name] = sub[key]
    for layer, key in zip(children, _keras_keys(children)):
        layer_group = by_name.get(layer.name, sub.get(key))
        if layer_group is None:
            if layer._own_weights or isinstance(layer, Model):
                raise FileFormatError(path, f"{where}: no weights for layer {layer.name!r} (looked for "
                                            f"{layer.name!r} and {key!r} under {sub.name})")
            continue
        if isinstance(layer, Model):
            _collect(layer, layer_group, arrays, path, where)
            continue
        own = [w for w, _ in layer._own_weights] or layer.weights
        variables = _variables(layer, layer_group)
        if len(variables) != len(own):
            raise FileFormatError(path, f"{where}: layer {layer.name!r} ({type(layer).__name__}) has {len(own)} "
                                        f"weights in nnkit, the file has {len(variables)} under {layer_group.name}")
        for w, dataset in zip(own, variables):
            arrays[w.name] = dataset


def _variables(layer, group):
    """A layer's variables in nnkit's order: its own ``vars``; for a recurrent layer its cell's (a stack's cells
    one after the other); for a Bidirectional its forward layer's then its backward layer's; for a
    MultiHeadAttention its query, key, value and output projections' (kernel, then bias, each)."""
    variables = group.get("vars")
    if variables is not None and len(variables):
        return [variables[str(i)] for i in range(len(variables))]
    if group.get("cell") is not None:
        return _variables(getattr(layer, "cell", layer), group["cell"])
    if group.get("cells") is not None and hasattr(layer, "cells"):
        return [v for cell, key in zip(layer.cells, _keras_keys(layer.cells)) if key in group["cells"]
                for v in _variables(cell, group["cells"][key])]
    if group.get("forward_layer") is not None and group.get("backward_layer") is not None:
        return _variables(layer.forward_layer, group["forward_layer"]) + \
            _variables(layer.backward_layer, group["backward_layer"])
    projections = ("query_dense", "key_dense", "value_dense", "output_dense")  # MultiHeadAttention's EinsumDenses
    if all(group.get(key) is not None for key in projections):
        return [v for key in projections for v in _variables(layer, group[key])]
    return []


def _read(datasets, model, path):
    """Check every dataset's shape and dtype against the model before reading any of them."""
    from nnkit.io.model_io import named_weights

    weights, problems = named_weights(model), []
    for name, ds in datasets.items():
        if not hasattr(ds, "shape") or tuple(ds.shape) != weights[name].data.shape:
            problems.append(f"{name}: file {getattr(ds, 'shape', 'a group')} vs model {weights[name].data.shape}")
        elif ds.dtype.kind != "f":
            problems.append(f"{name}: file dtype {ds.dtype}, expected floats")
    if problems:
        raise FileFormatError(path, "weights do not fit the model: " + "; ".join(problems))
    return {name: np.asarray(ds[()]).astype(weights[name].data.dtype) for name, ds in datasets.items()}


def load_keras_weights(model, source, path=None):
    """Copy the weights of a Keras 3 weights file (a path or a file object) into ``model`` in place."""
    from nnkit.io.model_io import assign_weights

    h5py = _h5py()
    path = path or source
    try:
        handle = h5py.File(source, "r")
    except OSError as e:
        raise FileFormatError(path, f"not a readable HDF5 weights file ({e})") from None
    with handle:
        datasets = {}
        _collect(model, handle, datasets, path, "Keras weights")
        assign_weights(model, _read(datasets, model, path), path, strict=True)
    return model


def _zip_member(archive, name, path, limit):
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise FileFormatError(path, f"the .keras archive has no {name}") from None
    if info.file_size > limit:
        raise FileFormatError(path, f"{name} is {info.file_size:,} bytes, more than the limit of {limit:,}")
    return archive.read(name)


def load_keras(path, model=None):
    """Read a Keras 3 ``.keras`` model file, or a ``.weights.h5`` file, into nnkit.

    ``.keras``: returns the equivalent nnkit model (Sequential or functional,
    nested models included) with the file's weights; layers nnkit lacks are
    one error listing them all.  ``.weights.h5`` (no architecture): pass the
    nnkit ``model`` to load into (e.g. from the zoo, whose layer names are
    Keras's); it is returned with the weights copied in.  Needs h5py.
    """
    path = str(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            config = config_json.loads(_zip_member(archive, "config.json", path, config_json.MAX_JSON_BYTES),
                                       path, what="config.json")
            built = model_from_keras_config(config, path)
            if model is not None:
                raise ValueError(f"load_keras({path}): a .keras file brings its own model; pass model= only with "
                                 f"a .weights.h5 file")
            weights = io.BytesIO(_zip_member(archive, "model.weights.h5", path, _MAX_ZIP_MEMBER))
        return load_keras_weights(built, weights, path)
    if path.endswith(".keras"):
        raise FileFormatError(path, "not a .keras file (a zip archive)")
    if model is None:
        raise ValueError(f"load_keras({path}): a weights file has no architecture; pass the nnkit model to load "
                         f"it into (model=...), or give a .keras file")
    return load_keras_weights(model, path)
