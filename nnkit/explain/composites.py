"""Composites: which rule explains which layer, with zennit's meaning.

A composite maps each Dense/convolution layer to a rule (``layer_map``; the
first layer, in topological order, that matches ``first_map`` gets that
rule instead).  Average pooling, global average pooling and residual sums
(``Add``, ``Average``) always get ``Norm(stabilizer)``: each input receives
relevance in proportion to its contribution.
"""
from nnkit.explain.linear import CONVOLUTIONS, LINEAR, PARAMETER_FREE
from nnkit.explain.rules import AlphaBeta, Epsilon, Flat, Gamma, Norm, Rule, ZBox, ZPlus
from nnkit.layers import Dense

__all__ = ["Composite", "EpsilonGammaBox", "EpsilonPlus", "EpsilonAlpha2Beta1", "EpsilonPlusFlat",
           "EpsilonAlpha2Beta1Flat"]


def _check_map(name, pairs):
    pairs = list(pairs)
    for pair in pairs:
        ok = isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[1], Rule)
        types = pair[0] if ok else None
        types = types if isinstance(types, tuple) else (types,)
        if not ok or not all(isinstance(t, type) for t in types):
            raise TypeError(f"Composite: {name} must hold (layer class or tuple of classes, Rule) pairs, "
                            f"got {pair!r}")
    return pairs


class Composite:
    """``layer_map``/``first_map``: lists of ``(layer class(es), rule)``; the first match wins."""

    def __init__(self, layer_map, first_map=(), stabilizer=1e-6):
        self.layer_map = _check_map("layer_map", layer_map)
        self.first_map = _check_map("first_map", first_map)
        self.stabilizer = float(stabilizer)

    def assign(self, graph, op="lrp"):
        """``{id(layer): rule}`` for the Dense, convolution, pooling and sum layers of ``graph``."""
        rules, first_seen, norm = {}, not self.first_map, Norm(self.stabilizer)
        for call in graph:
            layer = call.layer
            if isinstance(layer, PARAMETER_FREE):
                rules[id(layer)] = norm
            if not isinstance(layer, LINEAR) or id(layer) in rules:
                continue
            rule = None
            if not first_seen:
                rule = next((r for types, r in self.first_map if isinstance(layer, types)), None)
                first_seen = rule is not None
            rule = rule or next((r for types, r in self.layer_map if isinstance(layer, types)), None)
            if rule is None:
                raise ValueError(f"{op}: the composite {type(self).__name__} has no rule for layer "
                                 f"{layer.name!r} ({type(layer).__name__})")
            rules[id(layer)] = rule
        return rules

    @classmethod
    def uniform(cls, rule):
        """One rule for every Dense and convolution layer."""
        if not isinstance(rule, Rule):
            raise TypeError(f"lrp: rule must be a Rule from nnkit.explain.rules, got {rule!r}")
        return cls([(LINEAR, rule)], stabilizer=rule.stabilizer)

    def __repr__(self):
        return f"{type(self).__name__}({self.layer_map!r}, first_map={self.first_map!r})"


class EpsilonGammaBox(Composite):
    """ZBox(low, high) on the first convolution, Gamma on the other convolutions, Epsilon on Dense."""

    def __init__(self, low, high, epsilon=1e-6, gamma=0.25, stabilizer=1e-6, zero_params=None):
        super().__init__([(CONVOLUTIONS, Gamma(gamma, stabilizer, zero_params)),
                          (Dense, Epsilon(epsilon, zero_params))],
                         first_map=[(CONVOLUTIONS, ZBox(low, high, stabilizer, zero_params))], stabilizer=stabilizer)


class EpsilonPlus(Composite):
    """ZPlus on convolutions, Epsilon on Dense."""

    def __init__(self, epsilon=1e-6, stabilizer=1e-6, zero_params=None):
        super().__init__([(CONVOLUTIONS, ZPlus(stabilizer, zero_params)), (Dense, Epsilon(epsilon, zero_params))],
                         stabilizer=stabilizer)


class EpsilonAlpha2Beta1(Composite):
    """AlphaBeta(2, 1) on convolutions, Epsilon on Dense."""

    def __init__(self, epsilon=1e-6, stabilizer=1e-6, zero_params=None):
        super().__init__([(CONVOLUTIONS, AlphaBeta(2.0, 1.0, stabilizer, zero_params)),
                          (Dense, Epsilon(epsilon, zero_params))], stabilizer=stabilizer)


class EpsilonPlusFlat(Composite):
    """EpsilonPlus, with Flat on the first Dense or convolution."""

    def __init__(self, epsilon=1e-6, stabilizer=1e-6, zero_params=None):
        super().__init__([(CONVOLUTIONS, ZPlus(stabilizer, zero_params)), (Dense, Epsilon(epsilon, zero_params))],
                         first_map=[(LINEAR, Flat(stabilizer, zero_params))], stabilizer=stabilizer)


class EpsilonAlpha2Beta1Flat(Composite):
    """EpsilonAlpha2Beta1, with Flat on the first Dense or convolution."""

    def __init__(self, epsilon=1e-6, stabilizer=1e-6, zero_params=None):
        super().__init__([(CONVOLUTIONS, AlphaBeta(2.0, 1.0, stabilizer, zero_params)),
                          (Dense, Epsilon(epsilon, zero_params))],
                         first_map=[(LINEAR, Flat(stabilizer, zero_params))], stabilizer=stabilizer)
