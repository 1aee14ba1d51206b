"""A process forked after the parent ran the OpenMP kernels must not hang.

Each check runs in its own Python process (a hang there must not hang the
suite), which warms the 2-thread kernels up and then forks in one of the ways
data-loading workers do.  The children compute a convolution and a GEMM and
compare them with the parent's results; a hung child is a timeout here.
"""
import subprocess
import sys
import textwrap

import pytest

from child import child_env

PRELUDE = textwrap.dedent("""
    import os, sys, threading
    import numpy as np
    import nnkit
    from nnkit import functional as F
    from nnkit.backend.cython import conv, gemm

    nnkit.set_num_threads(2)
    rng = np.random.default_rng(0)
    A = rng.standard_normal((400, 300))
    X = rng.standard_normal((8, 20, 20, 16)).astype(np.float32)
    W = rng.standard_normal((3, 3, 16, 16)).astype(np.float32)

    def work():
        return gemm.matmul(A, A, trans_b=True), conv.conv2d_forward(X, W, None, (1, 1), ((1, 1), (1, 1)), (1, 1), 1)

    EXPECTED = work()  # the parent's OpenMP workers now exist

    def check(threads=1):
        assert nnkit.get_num_threads() == threads, nnkit.get_num_threads()
        for got, want in zip(work(), EXPECTED):
            np.testing.assert_allclose(got, want, rtol=1e-5)

    def fork_and_wait(body):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                body()
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
""")

CASES = {
    "os_fork": "fork_and_wait(check)",
    "child_asks_for_more_threads": """
        def more():
            nnkit.set_num_threads(2)
            check(threads=2)
        fork_and_wait(more)
        """,
    "grandchild": """
        def child():
            check()
            fork_and_wait(check)
        fork_and_wait(child)
        """,
    "grandchild_after_the_child_used_two_threads": """
        def child():
            nnkit.set_num_threads(2)
            check(threads=2)
            fork_and_wait(check)
        fork_and_wait(child)
        """,
    "multiprocessing_fork": """
        import multiprocessing as mp
        def task(i):
            check()
            return i
        with mp.get_context("fork").Pool(2) as pool:
            assert pool.map(task, range(4)) == list(range(4))
        """,
    "fork_while_another_thread_runs_kernels": """
        stop = threading.Event()
        def busy():
            while not stop.is_set():
                work()
        t = threading.Thread(target=busy)
        t.start()
        try:
            for _ in range(5):
                fork_and_wait(check)
        finally:
            stop.set()
            t.join()
        check(threads=2)  # the parent still runs on its two threads
        """,
    "parent_keeps_its_threads": """
        fork_and_wait(check)
        check(threads=2)
        """,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_forked_child_does_not_hang(case, tmp_path):
    script = PRELUDE + textwrap.dedent(CASES[case]) + "\nprint('ok')\n"
    try:
        result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=child_env(drop=("NNKIT_NUM_THREADS",)),
                                capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{case}: a forked process hung")
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stdout + result.stderr
