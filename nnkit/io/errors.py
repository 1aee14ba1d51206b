"""The one error type for files nnkit refuses to load.

A ``FileFormatError`` is a ``ValueError`` whose message names the file and the
problem, so a user handed a truncated, corrupt or hostile file learns which
file and what is wrong with it, never a traceback from deep inside a parser.
"""
import os


class FileFormatError(ValueError):
    """A file that is not a valid nnkit/safetensors file; names the file and the problem."""

    def __init__(self, path, problem):
        self.path = os.fspath(path) if path is not None else "<memory>"
        self.problem = problem
        super().__init__(f"cannot load {self.path!r}: {problem}")
