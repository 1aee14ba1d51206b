"""Loss landscapes: random and target directions in weight space, 1-D and 2-D loss surfaces,
interpolation between two solutions, and their plots (Li et al. 2018; Goodfellow et al. 2015).

>>> d1, d2 = landscape.random_direction(model, seed=1), landscape.random_direction(model, seed=2)
>>> xs = np.linspace(-1, 1, 21)
>>> Z = landscape.surface(model, [d1, d2], (xs, xs), x_test, y_test)
>>> landscape.plot_contour(xs, xs, Z, "surface.png")
"""
from nnkit.landscape.directions import random_direction, target_direction
from nnkit.landscape.plot import plot_1d, plot_contour
from nnkit.landscape.surface import interpolate, surface

__all__ = ["random_direction", "target_direction", "surface", "interpolate", "plot_1d", "plot_contour"]
