"""The README's layer table is the one the code generates, and lists every built-in layer."""
import pathlib

import pytest

import nnkit.layers as layers
from nnkit.layers import catalogue
from nnkit.layers.base import Layer

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def test_readme_table_equals_the_generated_one():
    if not README.exists():
        pytest.skip("README.md is not beside the tests (installed package)")
    text = README.read_text(encoding="utf-8")
    start, end = text.index(catalogue.BEGIN), text.index(catalogue.END) + len(catalogue.END)
    assert text[start:end] == catalogue.table(), "the README's layer table is stale: paste the output of " \
                                                 "`python -m nnkit.layers.catalogue`"


def test_every_exported_layer_class_is_in_the_catalogue():
    listed = {cls for classes in catalogue.builtin_layers().values() for cls in classes}
    exported = {getattr(layers, name) for name in layers.__all__}
    exported = {obj for obj in exported if isinstance(obj, type) and issubclass(obj, Layer) and obj is not Layer}
    assert exported == listed
    assert all(f"`{cls.__name__}`" in catalogue.table() for cls in listed)


def test_readme_training_catalogue_is_generated_and_complete():
    from nnkit import catalogue as training
    if not README.exists():
        pytest.skip("README.md is not beside the tests (installed package)")
    text = README.read_text(encoding="utf-8")
    start, end = text.index(training.BEGIN), text.index(training.END) + len(training.END)
    assert text[start:end] == training.table(), "the README's training table is stale: paste the output of " \
                                                "`python -m nnkit.catalogue`"
    for name, module, base, machinery in training.FAMILIES:
        listed = training.classes(module, base, machinery)
        assert listed, name
        assert all(f"`{cls.__name__}`" in training.table() for cls in listed)
