"""Where mpiexec is: next to this Python (the ``mpich`` wheel puts it there) or on PATH."""
import os
import shutil
import sys
from pathlib import Path

import pytest


def find_mpiexec():
    return shutil.which("mpiexec", path=os.pathsep.join([str(Path(sys.executable).parent),
                                                         os.environ.get("PATH", "")]))


@pytest.fixture(scope="session")
def mpiexec():
    pytest.importorskip("mpi4py")
    path = find_mpiexec()
    if path is None:
        pytest.skip("no mpiexec next to this Python or on PATH (pip install '.[distributed]')")
    return path
