"""Layer arguments checked in the words of ``nnkit/backend/validate.py`` (one rule, one message), the error
naming the layer ("Conv2D 'conv2d': expected strides to be ...") and a ValueError, as Keras raises for every bad
layer argument, a float size included."""
from nnkit.backend import validate


def _checked(layer, check, name, value, *args):
    try:
        return check(layer.describe(), name, value, *args)
    except (TypeError, ValueError) as e:
        raise ValueError(str(e)) from None


def positive_int(layer, name, value):
    """An int >= 1 (units, filters, heads, a size)."""
    return _checked(layer, validate.positive_int, name, value)


def positive_int_1d(layer, name, value):
    """An int >= 1, or a one-element tuple or list of one (Keras's 1-D sizes: ``Conv1D(kernel_size=(3,))``)."""
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    return positive_int(layer, name, value)


def positive_pair(layer, name, value):
    """Two ints >= 1 (a kernel, pool or upsampling size, strides, dilation); an int stands for both."""
    return _checked(layer, validate.int_pair, name, value, 1, True)


def non_negative_pair(layer, name, value):
    """Two ints >= 0 (padding or cropping at the two ends); an int stands for both."""
    return _checked(layer, validate.int_pair, name, value, 0, True)
