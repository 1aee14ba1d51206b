"""nnkit.memory: freed arrays are reused instead of page-faulted in again (glibc)."""
import platform
import subprocess
import sys
import tempfile

import pytest

from child import child_env

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")

# A training step's pattern: several 0.2-1.6 MB arrays live at once, then all freed; 200 steps.
# Prints the minor page faults the steps cost.
CHURN = """
import resource
import numpy as np
{setup}
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def step():
    arrays = [np.ones(n, np.float32) for n in (400_000, 262_144, 400_000, 262_144, 50_000, 400_000)]
    del arrays
for _ in range(5):
    step()
before = faults()
for _ in range(200):
    step()
print(faults() - before)
"""


def _faults(setup, **env):
    return int(_run(CHURN.format(setup=setup), **env).stdout.split()[-1])


MALLOC_SETTINGS = ("NNKIT_KEEP_HEAP", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                   "MALLOC_MMAP_MAX_", "GLIBC_TUNABLES")


def _run(code, **env):
    """Run ``code`` in a fresh interpreter that imports the nnkit these tests import."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_clean_env(**env),
                          cwd=tempfile.gettempdir(), check=True)


def _clean_env(**env):
    """This environment without any malloc setting a CI machine might carry, plus ``env``."""
    return child_env(drop=MALLOC_SETTINGS, **env)


@glibc_only
def test_keep_heap_reports_success():
    code = "import nnkit.memory as m; print(m.keep_heap())"
    assert _run(code).stdout.strip() == "True"


@glibc_only
def test_import_nnkit_stops_the_page_faults_of_array_churn():
    plain = _faults("", NNKIT_KEEP_HEAP="0")
    kept = _faults("import nnkit")
    assert plain > 200 * 500  # glibc's defaults give the freed heap top back: ~1000 faults a step
    assert kept < 200  # nnkit's settings reuse it


@glibc_only
def test_opt_out_and_user_malloc_settings_are_respected():
    code = "import nnkit, nnkit.memory as m; print(m._applied)"
    for env, expected in (({"NNKIT_KEEP_HEAP": "0"}, "False"), ({"MALLOC_TRIM_THRESHOLD_": "131072"}, "False"),
                          ({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=131072"}, "False"), ({}, "True")):
        assert _run(code, **env).stdout.strip() == expected, env

