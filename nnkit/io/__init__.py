"""Reading and writing files safely (atomic writes; no pickle anywhere)."""
from nnkit.io.atomic import atomic_open, atomic_write_bytes, atomic_write_text

__all__ = ["atomic_open", "atomic_write_bytes", "atomic_write_text"]
