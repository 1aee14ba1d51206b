"""Saving and loading models and weights: one safetensors file, no pickle.

A saved model is a single safetensors file (so any safetensors tool reads it)
whose tensors are the weights, named as the model names them
(``conv2d_1/kernel``), and whose ``__metadata__`` holds, as JSON strings:

- ``format`` = ``"nnkit"``, ``format_version``, ``nnkit_version`` and ``kind``
  (``"weights"``, ``"model"`` or ``"checkpoint"``);
- ``model_config``: ``{"class_name", "config"}`` of the whole model, as
  ``nnkit.layers.registry.serialize`` gives it, and ``build_config``;
- ``compile_config`` and ``optimizer`` (class, config and state; the state's
  arrays are tensors under ``__optimizer__/``) when the model was compiled;
- for checkpoints, ``training`` (see ``nnkit.io.checkpoint``).

Loading executes no code from the file: classes are looked up by name in the
registry (``@nnkit.register``) or in ``custom_objects``; an unknown name is a
``ValueError`` listing the known ones.  Every problem with a file is a
``FileFormatError`` (a ``ValueError``) naming the file; a file whose weights
do not fit the model is a ``WeightMismatchError`` listing the missing,
unexpected and mis-shaped weights.  Writes are atomic.
"""
import collections

import numpy as np

from nnkit.io import config_json, state_tree
from nnkit.io.errors import FileFormatError
from nnkit.io.safetensors_io import read_safetensors, write_safetensors

FORMAT = "nnkit"
FORMAT_VERSION = 1
RESERVED_PREFIX = "__"  # tensors named so hold optimizer/training state, never weights
OPTIMIZER_PREFIX = "__optimizer__"
_LIST_LIMIT = 20
# A model file may describe at most this many layers (every object with a class_name in its model config
# counts).  Loading is linear in the layer count (about 0.2 ms a layer); the 16 MiB config limit alone would let
# a file ask for some 350,000.
MAX_LAYERS = 20_000


class WeightMismatchError(FileFormatError):
    """The file's weights do not fit the model (missing, unexpected, mis-shaped or wrong dtype)."""


LoadResult = collections.namedtuple("LoadResult", ["missing", "unexpected"])
LoadResult.__doc__ = "Weight names the file lacked (``missing``) and had in excess (``unexpected``)."


# -- weights -------------------------------------------------------------------

def named_weights(model):
    """``{name: Tensor}`` of every weight (trainable and not) of ``model``, in ``model.weights`` order."""
    out = {}
    for i, w in enumerate(model.weights):
        name = w.name or f"weight_{i}"
        if name in out:
            raise ValueError(f"cannot save {getattr(model, 'name', 'model')!r}: two weights are named {name!r}")
        if name.startswith(RESERVED_PREFIX):
            raise ValueError(f"cannot save {getattr(model, 'name', 'model')!r}: weight name {name!r} starts with "
                             f"{RESERVED_PREFIX!r}, which is reserved for optimizer and training state")
        out[name] = w
    return out


def weight_tensors(tensors):
    """The tensors of a file that are weights (not optimizer or training state)."""
    return {k: v for k, v in tensors.items() if not k.startswith(RESERVED_PREFIX)}


def _listing(names):
    names = list(names)
    shown = ", ".join(map(str, names[:_LIST_LIMIT]))
    return shown + (f", ... and {len(names) - _LIST_LIMIT} more" if len(names) > _LIST_LIMIT else "")


def assign_weights(model, arrays, source=None, strict=True):
    """Copy ``arrays`` (name -> array) into the model's weights, in place, all or nothing.

    Checks everything first: shapes must match, dtypes must be floats that
    convert without loss, and with ``strict`` the names must match exactly.
    Returns a ``LoadResult`` of missing and unexpected names.
    """
    weights = named_weights(model)
    missing = [n for n in weights if n not in arrays]
    unexpected = [n for n in arrays if n not in weights]
    misshaped, wrong_dtype = [], []
    for name in weights.keys() & arrays.keys():
        have, got = weights[name].data, arrays[name]
        if have.shape != got.shape:
            misshaped.append(f"{name}: file {tuple(got.shape)} vs model {have.shape}")
        elif got.dtype.kind != "f" or not np.can_cast(got.dtype, have.dtype, "safe"):
            wrong_dtype.append(f"{name}: file {got.dtype} vs model {have.dtype}")
    problems = []
    if strict and missing:
        problems.append(f"missing from the file: {_listing(missing)}")
    if strict and unexpected:
        problems.append(f"unexpected in the file: {_listing(unexpected)}")
    if misshaped:
        problems.append(f"mis-shaped: {_listing(sorted(misshaped))}")
    if wrong_dtype:
        problems.append(f"wrong dtype: {_listing(sorted(wrong_dtype))}")
    if problems:
        hint = ""
        if not weights:
            hint = " (the model has no weights yet: build it, or call it on data, before loading weights)"
        elif strict and missing and unexpected and not misshaped:
            hint = (" (layer auto-names depend on how many layers were created before; name the layers, "
                    "call nnkit.layers.naming.clear_session() first, or use nnkit.load_model)")
        raise WeightMismatchError(source, f"weights do not fit model {getattr(model, 'name', '')!r}: "
                                          + "; ".join(problems) + hint)
    for name in weights.keys() & arrays.keys():
        weights[name].data[...] = arrays[name]
    return LoadResult(missing, unexpected)


def save_weights(model, path):
    """Write the model's weights (only) to ``path`` as safetensors, atomically."""
    tensors = {name: w.data for name, w in named_weights(model).items()}
    write_safetensors(path, tensors, _header("weights"))


def load_weights(model, path, strict=True):
    """Load weights saved by ``save_weights``/``save``/a checkpoint (or any safetensors file
    with matching names) into ``model`` in place.  ``strict=False`` tolerates missing and
    unexpected names (shapes must still match) and returns them as a ``LoadResult``."""
    tensors, metadata = read_safetensors(path)
    check_header(metadata, path, required=False)
    return assign_weights(model, weight_tensors(tensors), path, strict)


# -- whole models -----------------------------------------------------------------

def model_file_contents(model, kind, include_optimizer=True):
    """``(tensors, metadata)`` of a model file: weights, architecture and, if compiled, optimizer."""
    from nnkit.layers import registry

    tensors = {name: w.data for name, w in named_weights(model).items()}
    metadata = _header(kind)
    metadata["model_config"] = config_json.dumps(registry.serialize(model))
    build = _build_config(model)
    if build is not None:
        metadata["build_config"] = config_json.dumps(build)
    get_compile_config = getattr(model, "get_compile_config", None)
    compile_config = get_compile_config() if get_compile_config is not None else None
    if compile_config is not None:
        metadata["compile_config"] = config_json.dumps(compile_config)
    optimizer = getattr(model, "optimizer", None)
    if include_optimizer and optimizer is not None:
        packed = state_tree.pack(optimizer.get_state(), OPTIMIZER_PREFIX, tensors)
        metadata["optimizer"] = config_json.dumps(
            {"class_name": type(optimizer).__name__, "config": optimizer.get_config(), "state": packed})
    return tensors, metadata


def save_model(model, path, include_optimizer=True):
    """Write architecture, weights and (if compiled) optimizer state to one file, atomically."""
    tensors, metadata = model_file_contents(model, "model", include_optimizer)
    write_safetensors(path, tensors, metadata)


def load_model(path, custom_objects=None, compile=True):
    """Rebuild the model saved at ``path`` with its weights (and, with ``compile``, its
    compile settings and optimizer state).  ``custom_objects`` maps class names to classes
    for layers not registered with ``@nnkit.register``."""
    tensors, metadata = read_safetensors(path)
    model = model_from_file_contents(tensors, metadata, path, custom_objects)
    if compile:
        restore_compile_state(model, tensors, metadata, path, custom_objects)
    return model


def model_from_file_contents(tensors, metadata, path, custom_objects=None):
    """Rebuild the model of a model/checkpoint file and load its weights (strictly)."""
    check_header(metadata, path, required=True)
    if "model_config" not in metadata:
        raise FileFormatError(path, f"holds {metadata.get('kind', 'weights')} only, no model architecture: build "
                                    "the model in code and call model.load_weights(path)")
    from nnkit.layers.base import weight_budget

    config = read_json_field(metadata, "model_config", path)
    weights = weight_tensors(tensors)
    # The architecture may create no more weight elements than the file holds.
    with weight_budget(sum(int(t.size) for t in weights.values())):
        model = _rebuild(config, custom_objects, path)
        if "build_config" in metadata and not getattr(model, "built", True):
            build = read_json_field(metadata, "build_config", path)
            _guard(path, "build_config cannot be applied", lambda: _apply_build_config(model, build))
    assign_weights(model, weights, path)
    return model


def restore_compile_state(model, tensors, metadata, path, custom_objects=None):
    """Compile ``model`` as saved (if it was) and restore the optimizer state into it."""
    if "compile_config" in metadata and hasattr(model, "compile_from_config"):
        compile_config = read_json_field(metadata, "compile_config", path)
        from nnkit.layers import registry

        with registry.custom_object_scope(custom_objects):
            _guard(path, "compile_config cannot be applied", lambda: model.compile_from_config(compile_config))
    if "optimizer" in metadata:
        restore_optimizer(model, tensors, metadata, path)


def restore_optimizer(model, tensors, metadata, path):
    """Load the saved optimizer state into ``model.optimizer`` (created from the file if absent)."""
    saved = read_json_field(metadata, "optimizer", path)
    if not isinstance(saved, dict) or not {"class_name", "config", "state"} <= saved.keys():
        raise FileFormatError(path, "optimizer entry must hold class_name, config and state")
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        from nnkit import optimizers

        optimizer = _guard(path, "optimizer cannot be rebuilt",
                           lambda: optimizers.from_config(saved["config"], saved["class_name"]))
        model.optimizer = optimizer
    elif type(optimizer).__name__ != saved["class_name"]:
        raise ValueError(f"{path}: the file holds {saved['class_name']} state but the model is compiled with "
                         f"{type(optimizer).__name__}; compile with the same optimizer or load with compile=False")
    state = state_tree.unpack(saved["state"], tensors, path)
    from nnkit.io.training_state import check_optimizer_state

    check_optimizer_state(path, state, {name: w.data.dtype for name, w in named_weights(model).items()})
    _guard(path, "optimizer state does not fit the model",
           lambda: optimizer.set_state(state, weights=model.trainable_weights))
    return optimizer


# -- helpers -----------------------------------------------------------------------

def _header(kind):
    import nnkit

    return {"format": FORMAT, "format_version": str(FORMAT_VERSION), "nnkit_version": nnkit.__version__,
            "kind": kind}


def check_header(metadata, path, required):
    """Refuse foreign and newer files; with ``required=False`` a plain safetensors file passes."""
    if "format" not in metadata and not required:
        return  # a plain safetensors file: weights by name
    if metadata.get("format") != FORMAT:
        raise FileFormatError(path, f"not an nnkit file (format {metadata.get('format')!r})")
    version = metadata.get("format_version", "")
    if not (version.isascii() and version.isdigit()) or int(version) > FORMAT_VERSION:
        raise FileFormatError(path, f"format version {version!r} is not supported (this nnkit reads up to "
                                    f"{FORMAT_VERSION}; the file may come from a newer nnkit)")


def read_json_field(metadata, key, path):
    """Parse the JSON metadata entry ``key`` with the bounds of ``config_json``."""
    return config_json.loads(metadata[key], path, what=key)


def _guard(path, what, action):
    """Run ``action``; any error it raises on file-supplied data becomes a FileFormatError."""
    try:
        return action()
    except FileFormatError:
        raise
    except Exception as exc:  # a hostile config can make constructors raise anything
        raise FileFormatError(path, f"{what}: {type(exc).__name__}: {exc}") from exc


def _rebuild(config, custom_objects, path):
    from nnkit.layers import registry

    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise FileFormatError(path, "model_config must be an object with a class_name string")
    count = _count_class_names(config)
    if count > MAX_LAYERS:
        raise FileFormatError(path, f"model_config describes {count:,} layers, more than the limit of {MAX_LAYERS:,}")
    return _guard(path, "model config cannot be rebuilt", lambda: registry.deserialize(config, custom_objects))


def _count_class_names(config):
    """Objects with a ``class_name`` anywhere in a parsed JSON config (iteratively: no recursion limit)."""
    count, stack = 0, [config]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            count += "class_name" in value
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return count


def _build_config(model):
    get_build_config = getattr(model, "get_build_config", None)
    if get_build_config is not None:
        return get_build_config()
    shape = getattr(model, "_build_shape", None)
    return None if shape is None else {"input_shape": shape}


def _apply_build_config(model, build):
    build_from_config = getattr(model, "build_from_config", None)
    if build_from_config is not None:
        build_from_config(build)
    elif isinstance(build, dict) and "input_shape" in build:
        model.build(build["input_shape"])
