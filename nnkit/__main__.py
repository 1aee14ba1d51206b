"""``python -m nnkit``: the ``nnkit`` command."""
import sys

from nnkit.cli import main

sys.exit(main())
