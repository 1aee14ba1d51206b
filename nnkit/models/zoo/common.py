"""Argument checks shared by the zoo builders."""
from nnkit.layers import GlobalAveragePooling2D, GlobalMaxPooling2D

POOLINGS = (None, "avg", "max")


def check_weights(builder, weights):
    if weights is not None:
        raise ValueError(f"{builder}: pretrained weights are not shipped with nnkit; use weights=None (fresh "
                         f"initialisation) and load saved weights afterwards, got weights={weights!r}")


def check_pooling(builder, pooling):
    if pooling not in POOLINGS:
        raise ValueError(f"{builder}: unknown pooling {pooling!r}; valid choices: None, 'avg', 'max'")


def global_pool(x, pooling, name="global_pool"):
    """Apply the optional global pooling of a headless network."""
    if pooling == "avg":
        return GlobalAveragePooling2D(name=name)(x)
    if pooling == "max":
        return GlobalMaxPooling2D(name=name)(x)
    return x
