"""Seeing which inputs made a model decide: layer-wise relevance propagation (LRP) with zennit's
rules and composites, gradient x input and integrated gradients, and heatmaps.

>>> R = nnkit.explain.lrp(model, x, target=3, composite=nnkit.explain.composites.EpsilonPlusFlat())
>>> nnkit.explain.save_heatmap(R[0], "why.png", image=x[0])
"""
from nnkit.explain import composites, rules
from nnkit.explain.attribution import gradient, gradient_x_input, integrated_gradients
from nnkit.explain.canonize import fold_batch_norms
from nnkit.explain.heatmap import heatmap, save_heatmap
from nnkit.explain.png import write_png
from nnkit.explain.lrp import lrp

__all__ = ["lrp", "gradient", "gradient_x_input", "integrated_gradients", "heatmap", "save_heatmap",
           "write_png", "fold_batch_norms", "rules", "composites"]
