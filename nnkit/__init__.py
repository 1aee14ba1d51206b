"""nnkit: a Cython-accelerated CPU neural-network and tensor engine.

The layers, lowest first: kernels (``nnkit.backend``) -> differentiable ops
(``nnkit.ops``, ``nnkit.functional``) on ``nnkit.Tensor`` -> layers -> models
and training.
"""
import os as _os

from nnkit import memory as _memory

_memory.apply_default()  # before any large array exists: freed arrays are reused, not page-faulted in again

from nnkit import functional, image, ops  # noqa: E402
from nnkit.backend import blas_info, get_backend, set_backend
from nnkit.random import set_seed
from nnkit.tensor import Tensor, backward_rules, enable_grad, is_grad_enabled, no_grad
from nnkit.threads import get_num_threads, set_num_threads

from nnkit import layers, models, utils  # noqa: E402  (layers and models sit above the ops)
from nnkit.layers import Input, register  # noqa: E402
from nnkit.models import Model, Sequential  # noqa: E402
from nnkit.io.model_io import load_model  # noqa: E402

models.load_model = load_model  # Keras's nnkit.models.load_model; nnkit.io sits above nnkit.models
from nnkit import callbacks, data, datasets, losses, metrics, optimizers, schedules  # noqa: E402  (training)
from nnkit import explain, landscape  # noqa: E402  (tools that look inside models)

__version__ = "0.1.0"

if _os.environ.get("NNKIT_NUM_THREADS"):
    from nnkit.threads import init_from_env as _init_threads

    _init_threads()
