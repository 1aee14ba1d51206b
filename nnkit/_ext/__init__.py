"""The compiled kernels (built from csrc/ by ``pip install .`` or ``python setup.py build_ext --inplace``)."""
import importlib
import os


def __getattr__(name):
    # Reached when ``from nnkit._ext import conv`` finds no compiled module: say why instead of a bare ImportError.
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"{__name__}.{name}":
            raise
        source = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        raise ImportError(
            f"nnkit's compiled kernel {name!r} is not built in {source}. If you run Python from a source checkout, "
            f"that checkout's nnkit is imported: build it in place with `pip install -e .` (or "
            f"`python setup.py build_ext --inplace`), or run from another directory to use the installed nnkit. "
            f"NNKIT_BACKEND=numpy runs without the kernels."
        ) from None
