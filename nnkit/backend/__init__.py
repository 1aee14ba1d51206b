"""Kernel backends: the Cython kernels and their pure-NumPy reference twins.

Both backends expose the same functions with identical signatures and
semantics; ``nnkit.set_backend("numpy")`` (or ``NNKIT_BACKEND=numpy``) runs the
whole engine on the reference, which is also the tests' oracle and the
benchmarks' baseline.

Kernels work on NumPy arrays, never on Tensors.  Layout is channels-last:
images are ``(N, H, W, C)``, convolution kernels ``(KH, KW, C // groups, F)``.
Geometry arguments arrive already resolved by ``nnkit.functional``:
``strides=(sh, sw)``, ``padding=((top, bottom), (left, right))``,
``dilation=(dh, dw)``, ``pool_size=(ph, pw)``.

Every entry point validates its inputs (``nnkit.backend.validate``) before any
compiled code runs, so both backends raise the same errors.

Kernel families (one file per family in csrc/, reference/ and cython/):

conv        conv2d_forward, conv2d_backward, im2col, col2im (the Cython backend runs
            3x3 stride-1 layers through csrc/winograd.pyx)
pool        max_pool2d_forward, max_pool2d_backward,
            avg_pool2d_forward, avg_pool2d_backward
batchnorm   batch_norm_forward_train, batch_norm_backward, batch_norm_inference
softmax_xent softmax_cross_entropy_forward, softmax_cross_entropy_backward
margin_xent  margin_cross_entropy_forward, margin_cross_entropy_backward (ArcFace, CosFace,
             SphereFace and combined angular margins on a cosine matrix, loss and gradient in one pass)
gemm        matmul, batched_matmul (OpenMP-blocked single-threaded BLAS calls: MKL when installed,
            else scipy's OpenBLAS; blas_info() says which)
activation  bias_relu (a layer's epilogue), relu_backward
affine      affine_forward, affine_backward (projective image resampling, Keras's
            affine_transform: rotation, zoom, translation)
rnn         simple_rnn_forward/_backward, lstm_forward/_backward, gru_forward/_backward (a whole
            sequence per call, Keras 3's weight layout, masks, go_backwards, recurrent dropout)
optim       sgd_update, adam_update, rmsprop_update, adagrad_update, nadam_update, adamax_update,
            adadelta_update, lion_update, ftrl_update (in place, one pass)

The Cython backend alone has two more, for the inference plans: ``prepared`` (kernel calls
checked once per signature) and ``chain`` (a run of small conv, max-pool and dense layers as
one call); both compute what the kernels above compute, bit for bit.
"""
import importlib
import os

from nnkit import threads

BACKENDS = {"cython": "nnkit.backend.cython", "numpy": "nnkit.backend.reference"}

_current = None


def set_backend(name):
    """Select the kernel backend: ``"cython"`` (default) or ``"numpy"``."""
    global _current
    if name not in BACKENDS:
        raise ValueError(f"set_backend: unknown backend {name!r}; valid choices: {sorted(BACKENDS)}")
    _current = (name, importlib.import_module(BACKENDS[name]))
    threads.get_num_threads()  # the thread pools are configured before any kernel runs


def blas_info():
    """The BLAS the Cython kernels' GEMMs call, and why: ``{'name': 'mkl' or 'openblas', 'library', 'reason'}``
    (``nnkit.backend.cython.blas`` chooses, at its import; ``NNKIT_BLAS`` overrides)."""
    from nnkit.backend.cython.blas import blas_info as info
    return info()


def get_backend():
    """Name of the active backend."""
    return current_name()


def current():
    """The module of the active backend (its kernels are attributes)."""
    if _current is None:
        set_backend(os.environ.get("NNKIT_BACKEND", "cython"))
    return _current[1]


def current_name():
    current()
    return _current[0]
