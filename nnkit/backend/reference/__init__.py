"""The pure-NumPy reference kernels: the tests' oracle and the benchmarks' baseline.

One module per kernel family, mirroring ``csrc/<family>.pyx`` and
``nnkit/backend/cython/<family>.py``.
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
