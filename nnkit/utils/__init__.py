"""Utilities: drawing models (``plot_model``, ``model_to_dot``), ``clear_session``, and the helpers Keras keeps in
``keras.utils``: ``to_categorical``, ``pad_sequences``, ``set_random_seed``, ``PyDataset``, ``unpack_x_y_sample_weight``."""
from nnkit.data.dataset import Dataset as PyDataset
from nnkit.data.structure import unpack_x_y_sample_weight
from nnkit.layers.naming import clear_session
from nnkit.random import set_seed as set_random_seed
from nnkit.utils.arrays import to_categorical
from nnkit.utils.dot import model_to_dot
from nnkit.utils.plot import plot_model
from nnkit.utils.sequences import pad_sequences

__all__ = ["plot_model", "model_to_dot", "clear_session", "to_categorical", "pad_sequences", "set_random_seed", "PyDataset",
           "unpack_x_y_sample_weight"]
