"""Inference chains: conv, max-pool and dense layers checked once, then run as one call (``csrc/chain.pyx``).

``ChainBuilder(x_shape, dtype)`` takes the layers in order; each ``add``
method checks its arguments as the kernel's wrapper does (errors name the
op) and returns False where the step cannot be chained: a kernel that
would run on more than one thread, or an algorithm the chain lacks
(Winograd, depthwise; DIRECT with more than 16 kernel rows).  ``build()`` returns the ``Chain``, whose call
``chain(x, weights)`` returns the output as a fresh array, or None when
``x`` or the weight arrays are not those it was built for (the caller then
takes the checked path).

A chain computes what the kernels compute, bit for bit: the same code, in
the same order, on one thread.  That is why it refuses any step whose kernel
would start a team (its work at or above the family's threshold): at batch
1 no LeNet-sized layer comes near one.
"""
import numpy as np

from nnkit._ext import chain as _chain

from ..reference.conv import check_conv2d
from ..reference.gemm import check_matmul
from ..reference.pool import check_forward
from . import activation, conv, gemm, pool

__all__ = ["ChainBuilder"]


class ChainBuilder:
    """The steps of one chain, for an input of ``x_shape`` and ``dtype`` (float32 or float64)."""

    def __init__(self, x_shape, dtype):
        self.shape, self.dtype = tuple(int(d) for d in x_shape), np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"inference chain: expected a float32 or float64 input, got {self.dtype}")
        self._chain = _chain.Chain(self.shape, self.dtype)
        self.weights = []  # the arrays the chain reads, in the order its call takes them
        self.steps = 0

    def _readable(self, *arrays):
        """Whether the chain can read these weights in place (it checks their identity on each call)."""
        return all(a is None or (type(a) is np.ndarray and a.dtype == self.dtype and a.flags.c_contiguous)
                   for a in arrays)

    def _added(self, arrays, shape):
        self.weights += [a for a in arrays if a is not None]
        self.shape, self.steps = shape, self.steps + 1
        return True

    def _probe(self):
        return np.empty(self.shape, self.dtype)

    def conv2d(self, w, b, strides, padding, dilation, groups, relu):
        """``conv.conv2d_forward`` (then ``bias_relu`` with ``b`` when ``relu``, as ``F.conv2d`` fuses it)."""
        probe = self._probe()
        _, w_, _, strides, padding, dilation, groups, out = check_conv2d("conv2d", probe, w, b, strides,
                                                                          padding, dilation, groups)
        algorithm = conv._algorithm(self.shape, w_.shape, strides, padding, dilation, groups)
        y_shape = (self.shape[0],) + out + (w_.shape[3],)
        if (algorithm not in (conv._k.IM2COL, conv._k.IM2COL_T, conv._k.POINTWISE, conv._k.DIRECT)
                or (algorithm == conv._k.DIRECT and w_.shape[0] > _chain.MAX_DIRECT_KERNEL_ROWS)
                or not np.prod(y_shape)):
            return False
        if (conv._flop(self.shape[0], w_.shape, out) >= conv._MIN_PARALLEL_FLOP
                or (relu and np.prod(y_shape) >= activation._MIN_PARALLEL_ELEMENTS) or not self._readable(w, b)):
            return False
        chunk, _ = conv._plan(probe, w_.shape, out, strides, dilation, backward=False)  # one thread's chunks
        self._chain.add_conv2d(w, None if relu else b, b if relu else None, bool(relu), y_shape,
                               *conv._geometry(strides, padding, dilation), groups, algorithm, chunk)
        return self._added((w, b), y_shape)

    def max_pool2d(self, pool_size, strides, padding):
        """``pool.max_pool2d_forward``'s values (no argmax)."""
        _, pool_size, strides, pads, (oh, ow) = check_forward("max_pool2d", self._probe(), pool_size, strides,
                                                              padding)
        if int(np.prod(self.shape)) >= pool._MIN_PARALLEL_ELEMENTS or not int(np.prod(self.shape)):
            return False
        y_shape = (self.shape[0], oh, ow, self.shape[3])
        self._chain.add_max_pool2d(y_shape, *pool_size, *strides, pads[0][0], pads[1][0])
        return self._added((), y_shape)

    def dense(self, w, b, relu):
        """``gemm.matmul`` of the (rows, K) input by ``w``, then ``bias_relu`` with ``b`` when either applies."""
        if len(self.shape) != 2:
            raise ValueError(f"dense: an inference chain multiplies a 2-D input, got shape {self.shape}")
        _, w_, m, k, n = check_matmul(self._probe(), w, False, False, None)
        if b is not None and (np.ndim(b) != 1 or np.shape(b)[0] != n):
            raise ValueError(f"dense: expected a bias of shape {(n,)}, got {np.shape(b)}")
        if (m * n * k >= gemm._MIN_PARALLEL_MACS or m * n >= activation._MIN_PARALLEL_ELEMENTS
                or not m * n * k or not self._readable(w, b)):
            return False
        self._chain.add_dense(w, b, bool(relu))
        return self._added((w, b), (m, n))

    def reshape(self, shape):
        """The current output taken as ``shape`` (same size; C order, as ``ndarray.reshape``)."""
        shape = tuple(int(d) for d in shape)
        if int(np.prod(shape)) != int(np.prod(self.shape)):
            raise ValueError(f"reshape: cannot take an output of shape {self.shape} as {shape}")
        self._chain.reshape(shape)
        self.shape = shape
        return True

    def build(self):
        """The ``Chain`` (None when no step was added)."""
        return self._chain.finish() if self.steps else None
