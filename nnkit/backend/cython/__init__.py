"""The Cython kernels (``csrc/``) behind thin wrappers that validate inputs first.

One module per kernel family, mirroring ``csrc/<family>.pyx`` and
``nnkit/backend/reference/<family>.py``.
"""
from .activation import *  # noqa: F401,F403
from .affine import *  # noqa: F401,F403
from .batchnorm import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .gemm import *  # noqa: F401,F403
from .margin_xent import *  # noqa: F401,F403
from .optim import *  # noqa: F401,F403
from .pool import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
from .softmax_xent import *  # noqa: F401,F403
from . import chain, prepared  # noqa: F401  (kernel calls checked once, for the inference plans)
from .blas import blas_info  # noqa: F401  (chooses MKL or OpenBLAS at import, before any kernel runs)

from nnkit import threads as _threads

# The kernels call the BLAS from inside their OpenMP workers: set up the one
# thread pool (OpenMP n, BLAS 1) before any of them can run.
_threads.get_num_threads()
