"""Kernels give the same results when OpenMP starts fewer threads than nnkit asks for, and they leave the
calling thread's floating-point mode alone.

``OMP_THREAD_LIMIT`` (or ``OMP_DYNAMIC``, or a call from inside another
parallel region) can cap a team below ``num_threads``; a kernel that cut its
work by the requested team size would skip the missing threads' share.  The
check runs in a subprocess, since the limit is read when OpenMP starts.
"""
import subprocess
import sys

import numpy as np

from child import child_env

SCRIPT = """
import numpy as np
import nnkit
from nnkit.backend import cython as cy, reference as ref
nnkit.set_num_threads(4)
rng = np.random.default_rng(0)
f32 = lambda *s: rng.standard_normal(s).astype(np.float32)

def same(name, got, want, tol=1e-5):
    for g, w in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
        if g is not None:
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol, err_msg=name)

x, b = f32(300, 1000), f32(1000)
same("bias_relu", cy.bias_relu(x, b), ref.bias_relu(x, b))
same("relu_backward", cy.relu_backward(x, x + 0.5), ref.relu_backward(x, x + 0.5))
a, w = f32(256, 300), f32(300, 200)
same("matmul", cy.matmul(a, w), ref.matmul(a, w), 1e-3)
for name, extra, scalars in [("adam_update", 2, (0.01, 0.9, 0.999, 1e-7)),
                             ("adagrad_update", 1, (0.01, 1e-7))]:
    state = [f32(400, 300) for _ in range(2)] + [np.abs(f32(400, 300)) for _ in range(extra)]
    if name == "adam_update":
        state.append(None)
    mine = [None if s is None else s.copy() for s in state]
    getattr(ref, name)(*state, *scalars)
    getattr(cy, name)(*mine, *scalars)
    same(name, tuple(mine), tuple(state))
img, k3 = f32(8, 16, 16, 32), f32(3, 3, 32, 32) * 0.1
geom = ((1, 1), ((1, 1), (1, 1)), (1, 1), 1)
y = ref.conv2d_forward(img, k3, None, *geom)
same("conv (Winograd)", cy.conv2d_forward(img, k3, None, *geom), y, 1e-3)
same("conv backward", cy.conv2d_backward(y, img, k3, *geom), ref.conv2d_backward(y, img, k3, *geom), 1e-2)
print("ok")
"""


def test_kernels_cover_every_element_when_openmp_starts_fewer_threads(tmp_path):
    env = child_env(OMP_THREAD_LIMIT="1", NNKIT_NUM_THREADS="4")
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")


def test_kernels_leave_the_callers_floating_point_mode_alone():
    """Denormals are flushed on the OpenMP workers only: NumPy code after a kernel still sees 1e-310."""
    import nnkit
    from nnkit import functional as F
    x = np.random.default_rng(0).standard_normal((8, 16, 16, 8)).astype(np.float32)
    w = np.random.default_rng(1).standard_normal((3, 3, 8, 8)).astype(np.float32)
    for threads in (1, 2):
        nnkit.set_num_threads(threads)
        F.conv2d(x, w, padding="same", activation="relu")
        F.max_pool2d(x, 2)
        assert np.float64(1e-310) * np.float64(1.0) == np.float64(1e-310)
        assert np.float32(1e-40) * np.float32(1.0) != 0
