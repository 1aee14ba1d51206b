"""The BLAS the kernels call: MKL when installed, else scipy's OpenBLAS; NNKIT_BLAS chooses.

The choice is made once per process, at import, so each setting runs in a
subprocess.  Both BLAS must give the same products (float32 rounding apart)
through every kernel module that calls sgemm/dgemm.
"""
import os
import pathlib
import re
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import nnkit
from nnkit.backend.cython import blas

ROOT = pathlib.Path(__file__).resolve().parents[2]

PRODUCTS = """
import json, sys
import numpy as np
import nnkit
from nnkit.backend.cython import conv, gemm, rnn
rng = np.random.default_rng(0)
a, b = rng.standard_normal((37, 50), dtype=np.float32), rng.standard_normal((50, 29), dtype=np.float32)
x = rng.standard_normal((2, 9, 9, 16), dtype=np.float32)
w3, w5 = rng.standard_normal((3, 3, 16, 16), dtype=np.float32), rng.standard_normal((5, 5, 16, 8), dtype=np.float32)
xs, h0 = rng.standard_normal((3, 6, 4), dtype=np.float32), np.zeros((3, 8), np.float32)
kernel, recurrent = rng.standard_normal((4, 8), dtype=np.float32), rng.standard_normal((8, 8), dtype=np.float32)
same = ((1, 1), (1, 1))
out = {"info": nnkit.blas_info(), "matmul": gemm.matmul(a, b).tolist(),
       "matmul64": gemm.matmul(a.astype(np.float64), b.astype(np.float64)).tolist(),
       "winograd": conv.conv2d_forward(x, w3, None, (1, 1), same, (1, 1), 1).tolist(),
       "im2col": conv.conv2d_forward(x, w5, None, (1, 1), ((2, 2), (2, 2)), (1, 1), 1).tolist(),
       "rnn": rnn.simple_rnn_forward(xs, h0, kernel, recurrent)[0].tolist()}
json.dump(out, sys.stdout)
"""


def run_with(setting, code=PRODUCTS):
    env = dict(os.environ, NNKIT_BLAS=setting)  # the rest kept: an ASan run's LD_PRELOAD, say
    # not from the checkout: there ``import nnkit`` would take the source tree, not the nnkit this run tests
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=tempfile.gettempdir())


def products(setting):
    import json
    done = run_with(setting)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_blas_info_names_the_blas_in_use_and_why():
    info = nnkit.blas_info()
    assert info["name"] in ("mkl", "openblas")
    assert info["reason"]
    if info["name"] == "mkl":
        assert pathlib.Path(info["library"]).exists() or info["library"].startswith("libmkl_rt")
    assert nnkit.blas_info() is not nnkit.blas_info()  # a copy: callers cannot change the record


def test_every_kernel_module_that_calls_blas_gets_the_choice():
    calling = {p.stem for p in (ROOT / "csrc").glob("*.pyx")
               if re.search(r"^from blas cimport", p.read_text(), re.M)
               or any(re.search(rf"^include .{d.name}|^from {d.stem} cimport", p.read_text(), re.M)
                      for d in (ROOT / "csrc").glob("conv_im2col*.pxd"))}
    assert calling == {m.__name__.rsplit(".", 1)[1] for m in blas._MODULES}
    for module in blas._MODULES:
        assert callable(module._use_blas)


def test_openblas_when_asked():
    out = products("openblas")
    assert out["info"]["name"] == "openblas"
    assert out["info"]["reason"] == "NNKIT_BLAS=openblas"


def test_an_unknown_setting_is_refused_by_name():
    done = run_with("atlas", "import nnkit.backend.cython")
    assert done.returncode != 0
    assert "NNKIT_BLAS: expected one of auto, mkl, openblas, got 'atlas'" in done.stderr


def test_mkl_asked_for_but_missing_says_how_to_get_it(monkeypatch):
    monkeypatch.setattr(blas, "_mkl_candidates", lambda: ["/nonexistent/libmkl_rt.so.3"])
    monkeypatch.setenv("NNKIT_BLAS", "mkl")
    try:
        with pytest.raises(ImportError, match=r"NNKIT_BLAS=mkl: MKL is not installed \(pip install nnkit\[mkl\]\)"):
            blas._choose()
        monkeypatch.setenv("NNKIT_BLAS", "auto")  # auto falls back to OpenBLAS and says why
        blas._choose()
        assert nnkit.blas_info()["name"] == "openblas"
        assert "MKL is not installed" in nnkit.blas_info()["reason"]
    finally:
        monkeypatch.undo()
        blas._choose()  # this process's own choice again


@pytest.mark.skipif(nnkit.blas_info()["name"] != "mkl", reason="MKL not in use (pip install nnkit[mkl])")
def test_mkl_and_openblas_give_the_same_products():
    mkl, openblas = products("mkl"), products("openblas")
    assert mkl["info"]["name"] == "mkl" and openblas["info"]["name"] == "openblas"
    for key in ("matmul", "winograd", "im2col", "rnn"):
        scale = np.abs(openblas[key]).max()  # float32 sums in another order: rounding at the size of the largest
        np.testing.assert_allclose(mkl[key], openblas[key], rtol=1e-5, atol=2e-6 * scale, err_msg=key)
    np.testing.assert_allclose(mkl["matmul64"], openblas["matmul64"], rtol=1e-13, atol=1e-12)
