"""Training checkpoints: everything needed to resume a run bit for bit.

A checkpoint is a model file (``nnkit.io.model_io``) of kind
``"checkpoint"``: weights, architecture, compile settings and optimizer state,
plus a ``training`` entry holding the epoch and step reached, the History so
far, the state of every random generator (``nnkit.io.rng_state``) and any
further state the training loop hands over (e.g. where a data source stopped,
callback counters).  Arrays in these trees are stored as tensors under
``__training__/``.  ``nnkit.load_model`` also reads checkpoints.

Writes are atomic, so a run killed while saving leaves the previous
checkpoint intact; ``latest_checkpoint`` picks the most advanced readable
checkpoint in a directory and skips damaged files.
"""
import collections
import os

from nnkit.io import config_json, rng_state, state_tree
from nnkit.io.errors import FileFormatError
from nnkit.io.model_io import (assign_weights, check_header, model_file_contents, model_from_file_contents,
                               read_json_field, restore_compile_state, restore_optimizer, weight_tensors)
from nnkit.io.safetensors_io import read_metadata, read_safetensors, write_safetensors
from nnkit.io.training_state import MAX_COUNT, MAX_EPOCH, check_training

TRAINING_PREFIX = "__training__"

Checkpoint = collections.namedtuple("Checkpoint", ["model", "epoch", "step", "history", "state", "path"])
Checkpoint.__doc__ = """What ``load_checkpoint`` restored.

``epoch``: epochs completed (the ``initial_epoch`` to resume from); ``step``:
optimizer steps taken; ``history``: the History tree saved with it; ``state``:
the extra training-loop state; ``model``: the model, weights and optimizer
state restored."""


def save_checkpoint(path, model, *, epoch, step=None, history=None, state=None):
    """Atomically write a checkpoint of ``model`` after ``epoch`` completed epochs.

    ``history`` and ``state`` are trees of dicts, lists, numbers, strings and
    arrays (``History.history`` and whatever the loop needs to continue);
    the random-generator states are captured here, at the time of the call.
    """
    tensors, metadata = model_file_contents(model, "checkpoint", include_optimizer=True)
    training = {"epoch": int(epoch), "step": None if step is None else int(step),
                "history": state_tree.pack(history, f"{TRAINING_PREFIX}/history", tensors),
                "state": state_tree.pack(state, f"{TRAINING_PREFIX}/state", tensors),
                "rng": state_tree.pack(rng_state.capture(model), f"{TRAINING_PREFIX}/rng", tensors)}
    metadata["training"] = config_json.dumps(training)
    write_safetensors(path, tensors, metadata)


def load_checkpoint(path, model=None, custom_objects=None, restore_rng=True):
    """Restore a checkpoint; returns a ``Checkpoint``.

    With ``model``, its weights and optimizer state are overwritten in place
    (names and shapes must match; an uncompiled model is compiled as saved);
    without, the model is rebuilt from the file and compiled as saved.
    ``restore_rng`` puts every random generator back as it was when the
    checkpoint was written.
    """
    tensors, metadata = read_safetensors(path)
    check_header(metadata, path, required=True)
    if "training" not in metadata:
        raise FileFormatError(path, f"is a {metadata.get('kind', 'weights')} file, not a training checkpoint "
                                    "(no training state); use nnkit.load_model or model.load_weights")
    training = read_json_field(metadata, "training", path)
    if not isinstance(training, dict) or not {"epoch", "step", "history", "state", "rng"} <= training.keys():
        raise FileFormatError(path, "training entry must hold epoch, step, history, state and rng")
    history = state_tree.unpack(training["history"], tensors, path)
    state = state_tree.unpack(training["state"], tensors, path)
    check_training(path, {**training, "history": history, "state": state})  # all of it, before any use
    if model is None:
        model = model_from_file_contents(tensors, metadata, path, custom_objects)
        restore_compile_state(model, tensors, metadata, path, custom_objects)
    else:
        assign_weights(model, weight_tensors(tensors), path)
        if getattr(model, "optimizer", None) is None:  # not compiled yet: compile as saved
            restore_compile_state(model, tensors, metadata, path, custom_objects)
        elif "optimizer" in metadata:
            restore_optimizer(model, tensors, metadata, path)
    if restore_rng:
        try:
            rng_state.restore(state_tree.unpack(training["rng"], tensors, path), model)
        except ValueError as exc:
            raise FileFormatError(path, str(exc)) from None
    return Checkpoint(model, training["epoch"], training["step"], history, state, os.fspath(path))


def resume(path, model=None, custom_objects=None):
    """Load a checkpoint (``path`` may be a directory: its latest checkpoint) and arm the
    model so that its next ``fit`` continues exactly where the saved run stopped.

    Returns the ``Checkpoint`` (its ``model`` is the one to call ``fit`` on),
    or ``None`` when ``path`` is a directory holding no readable checkpoint.
    """
    if os.path.isdir(path):
        path = latest_checkpoint(path)
        if path is None:
            return None
    checkpoint = load_checkpoint(path, model, custom_objects)
    if isinstance(checkpoint.state, dict) and hasattr(checkpoint.model, "set_training_state"):
        try:
            checkpoint.model.set_training_state(checkpoint.state, history=checkpoint.history)
        except ValueError as exc:
            raise FileFormatError(path, f"training state cannot be restored: {exc}") from None
    return checkpoint


def checkpoint_progress(path):
    """``(epoch, step)`` recorded in a checkpoint, reading only its header."""
    metadata = read_metadata(path)
    check_header(metadata, path, required=True)
    if "training" not in metadata:
        raise FileFormatError(path, "not a training checkpoint")
    training = read_json_field(metadata, "training", path)
    epoch = training.get("epoch") if isinstance(training, dict) else None
    step = training.get("step") if isinstance(training, dict) else None
    if not (_is_int(epoch) and 0 <= epoch <= MAX_EPOCH) or not (step is None or _is_int(step) and 0 <= step <= MAX_COUNT):
        raise FileFormatError(path, "training entry lacks an integer epoch/step in range")
    return epoch, step or 0


def latest_checkpoint(directory):
    """The readable checkpoint in ``directory`` with the highest ``(epoch, step)``, or ``None``.

    Damaged or foreign files (and the temporaries of an interrupted save)
    are skipped, so an interrupted save falls back to the previous checkpoint.
    """
    best, best_key = None, None
    if not os.path.isdir(directory):
        return None
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        if not entry.is_file() or entry.name.startswith(".") or entry.name.endswith(".tmp"):
            continue
        try:
            key = checkpoint_progress(entry.path)
        except (ValueError, OSError):
            continue
        if best_key is None or key >= best_key:
            best, best_key = entry.path, key
    return best


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)
