"""One docstring per backend op: a Cython-backed op takes its reference twin's.

The reference module (``nnkit.backend.reference.<family>``) defines each op, so its docstring is the op's
documentation; a Cython wrapper says how it runs in comments and in its module docstring.  The twins'
signatures are equal too (``tests/backend/test_twins.py``).
"""


def twin_of(reference):
    """Decorate a Cython-backed op: it takes ``reference``'s docstring."""
    def adopt(op):
        op.__doc__ = reference.__doc__
        return op
    return adopt
