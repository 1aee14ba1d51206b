"""The environment for a child Python process that must import the nnkit under test.

Subprocess tests run their child outside the checkout (``cwd`` a temporary
folder) and point ``PYTHONPATH`` at the package these tests imported: the
installed one in CI, the source tree in a development checkout.
"""
import os

import nnkit

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(nnkit.__file__)))


def child_env(drop=(), **extra):
    """``os.environ`` without the names in ``drop``, with PYTHONPATH at the nnkit under test, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, "PYTHONPATH": PACKAGE_ROOT, **extra}
