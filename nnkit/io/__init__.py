"""Reading and writing files safely: atomic writes, safetensors, no pickle anywhere.

- ``atomic``: every write goes to a temporary file that replaces the target
  only once complete and fsynced.
- ``safetensors_io`` and ``config_json``: validating readers for tensors and
  JSON that may come from anyone; problems are ``FileFormatError`` (a
  ``ValueError`` naming the file).
- ``model_io``: ``save_model``/``load_model``, ``save_weights``/``load_weights``.
- ``checkpoint``: training checkpoints and exact resume.
- ``torch_state_dict``: PyTorch-style state dicts (NCHW/OIHW layouts).
- ``onnx_export``, ``onnx_import``, ``keras_import``: ONNX files out and in, Keras 3 files in (the
  optional ``onnx`` and ``keras`` extras are imported only when these are called).
"""
from nnkit.io.atomic import atomic_open, atomic_write_bytes, atomic_write_text
from nnkit.io.checkpoint import Checkpoint, latest_checkpoint, load_checkpoint, resume, save_checkpoint
from nnkit.io.errors import FileFormatError
from nnkit.io.model_io import WeightMismatchError, load_model, load_weights, save_model, save_weights
from nnkit.io.safetensors_io import read_safetensors, write_safetensors
from nnkit.io import model_io as _model_io
from nnkit.io.torch_state_dict import export_state_dict, import_state_dict
from nnkit.io.onnx_export import OnnxExportError, export_onnx
from nnkit.io.keras_import import load_keras
from nnkit.io.onnx_import import load_onnx
from nnkit.io import checkpoint as _checkpoint
from nnkit.callbacks.checkpoint import ModelCheckpoint as _ModelCheckpoint
from nnkit.models.model import Model as _Model

# The floors below reach the files through these two hooks, never by importing nnkit.io.
_Model._persistence = _model_io  # Model.save / save_weights / load_weights (see nnkit.models.model)
_ModelCheckpoint._checkpoints = _checkpoint  # ModelCheckpoint and BackupAndRestore (see nnkit.callbacks.checkpoint)

__all__ = ["atomic_open", "atomic_write_bytes", "atomic_write_text", "Checkpoint", "latest_checkpoint",
           "load_checkpoint", "resume", "save_checkpoint", "FileFormatError", "WeightMismatchError", "load_model",
           "load_weights", "save_model", "save_weights", "read_safetensors", "write_safetensors",
           "export_state_dict", "import_state_dict", "OnnxExportError", "export_onnx", "load_keras", "load_onnx"]
