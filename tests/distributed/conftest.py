"""Where mpiexec is: next to this Python (the ``mpich`` wheel puts it there) or on PATH."""
import pytest

from nnkit.distributed.comm import find_mpiexec


@pytest.fixture(scope="session")
def mpiexec():
    pytest.importorskip("mpi4py")
    path = find_mpiexec()
    if path is None:
        pytest.skip("no mpiexec next to this Python or on PATH (pip install '.[distributed]')")
    return path
