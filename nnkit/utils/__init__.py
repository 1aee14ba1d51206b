"""Utilities: drawing models (``plot_model``, ``model_to_dot``) and ``clear_session``."""
from nnkit.layers.naming import clear_session
from nnkit.utils.dot import model_to_dot
from nnkit.utils.plot import plot_model

__all__ = ["plot_model", "model_to_dot", "clear_session"]
