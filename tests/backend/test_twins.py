"""Each Cython-backed op is its reference twin's contract: the same name, signature and docstring."""
import inspect
import types

import pytest

from nnkit.backend import cython as cy
from nnkit.backend import reference as ref

FAMILIES = sorted(name for name, module in vars(ref).items() if isinstance(module, types.ModuleType))
OPS = sorted(name for family in FAMILIES for name in getattr(ref, family).__all__)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_reference_op_has_a_cython_twin(family):
    ops = getattr(ref, family).__all__
    assert ops and set(ops) <= set(getattr(cy, family).__all__)


@pytest.mark.parametrize("name", OPS)
def test_twins_share_signature_and_docstring(name):
    reference, compiled = getattr(ref, name), getattr(cy, name)
    assert inspect.signature(compiled) == inspect.signature(reference)
    assert reference.__doc__ and compiled.__doc__ == reference.__doc__
