"""Open-set verification from embeddings: is this pair the same identity?

(Also reachable as ``nnkit.metrics.verification``.)  A model trained with a
margin loss (``nnkit.losses.ArcFace``...) on known classes is used on classes
it never saw by comparing embeddings: ``embed`` takes the L2-normalised
output of the layer before the head, ``pair_scores`` the cosine of each pair,
and the metrics below read scores (higher = more alike) against pair labels
``same`` (1 genuine, 0 impostor), as face-verification benchmarks report them:

- ``roc_curve``: FAR (false accepts / impostor pairs) and TAR (true accepts /
  genuine pairs) at every distinct threshold, a pair accepted when ``score >= t``;
- ``tar_at_far``: the best TAR whose FAR is at most a target (1e-3, 1e-4);
  meaningful only with well over ``1 / far`` impostor pairs;
- ``equal_error_rate``: where FAR equals FRR = 1 - TAR (linear between ROC points);
- ``best_accuracy``: the best accuracy over thresholds, and a threshold giving it;
- ``kfold_accuracy``: the LFW protocol, 10 contiguous folds of the pairs, each
  scored at the threshold that is best on the other nine (mean and std);
- ``report``: all of them in one dict.
"""
import numpy as np

__all__ = ["embed", "pair_scores", "make_pairs", "roc_curve", "tar_at_far", "equal_error_rate", "best_accuracy",
           "kfold_accuracy", "report"]


# -- embeddings and pairs -------------------------------------------------------------------------
def embed(model, x, layer=None, batch_size=256):
    """L2-normalised outputs of ``layer`` for inputs ``x`` (predict mode, in batches).

    ``layer``: a name, an index into ``model.layers`` or a Layer of the
    model; by default the layer before the last (the embedding under a
    classification or ``NormalizedDense`` head).  The model must be a
    Sequential or functional model (its layers' outputs are graph nodes).
    """
    from nnkit.models import Model  # models sit above this module's other users

    layers = getattr(model, "layers", None)
    if not layers:
        raise ValueError(f"embed: expected a built Sequential or functional model with layers, got {model!r}")
    if layer is None:
        if len(layers) < 2:
            raise ValueError(f"embed: the model has {len(layers)} layer(s); name the embedding layer with layer=")
        layer = layers[-2]
    elif isinstance(layer, str):
        layer = model.get_layer(layer)
    elif isinstance(layer, (int, np.integer)):
        layer = layers[layer]
    if not any(layer is candidate for candidate in layers):
        raise ValueError(f"embed: layer {getattr(layer, 'name', layer)!r} is not a layer of this model")
    try:
        inputs, output = model.inputs, layer.output
    except (AttributeError, ValueError) as e:
        raise ValueError(f"embed: cannot read layer {layer.name!r}'s output as a graph node ({e}); embed works on "
                         f"Sequential and functional models") from None
    features = Model(inputs, output).predict(x, batch_size=batch_size, verbose=0)
    features = np.asarray(features).reshape(len(features), -1)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, 1e-12)


def pair_scores(a, b):
    """Cosine similarity of rows ``a[i]`` and ``b[i]`` (any scale; both (P, D))."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"pair_scores: expected two (pairs, features) arrays of one shape, got {a.shape} "
                         f"and {b.shape}")
    dot = np.einsum("ij,ij->i", a, b)
    return dot / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


def make_pairs(labels, n_pairs, seed=0):
    """``(i, j, same)``: ``n_pairs`` index pairs into ``labels``, half genuine (same label) and half
    impostor, in random order (so that contiguous folds are balanced)."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"make_pairs: expected labels (N,), got shape {labels.shape}")
    classes = np.unique(labels)
    groups = [np.flatnonzero(labels == c) for c in classes]
    if len(classes) < 2 or all(len(g) < 2 for g in groups):
        raise ValueError("make_pairs: needs at least two classes and a class with two samples")
    rng = np.random.default_rng(seed)
    half = n_pairs // 2
    usable = [g for g in groups if len(g) >= 2]
    genuine = [rng.choice(usable[rng.integers(len(usable))], 2, replace=False) for _ in range(half)]
    impostor = []
    while len(impostor) < n_pairs - half:
        i, j = rng.integers(len(labels), size=2)
        if labels[i] != labels[j]:
            impostor.append((i, j))
    pairs = np.array(genuine + impostor, dtype=np.int64).reshape(-1, 2)
    same = np.r_[np.ones(half, np.int64), np.zeros(n_pairs - half, np.int64)]
    order = rng.permutation(n_pairs)
    return pairs[order, 0], pairs[order, 1], same[order]


# -- metrics --------------------------------------------------------------------------------------
def _check(op, scores, same):
    scores = np.asarray(scores, dtype=np.float64)
    same = np.asarray(same)
    if scores.ndim != 1 or same.shape != scores.shape:
        raise ValueError(f"{op}: expected scores and same of one shape (pairs,), got {scores.shape} and {same.shape}")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"{op}: scores must be finite")
    if same.dtype.kind not in "biuf" or not np.all((same == 0) | (same == 1)):
        raise ValueError(f"{op}: same must hold 1 (genuine pair) or 0 (impostor pair)")
    same = same.astype(bool)
    if same.all() or not same.any():
        raise ValueError(f"{op}: needs both genuine and impostor pairs, got {int(same.sum())} genuine "
                         f"of {same.size}")
    return scores, same


def _roc_counts(op, scores, same):
    """``(fp, tp, thresholds, genuine, impostor)``: accepted pair counts per distinct threshold (exact ints)."""
    scores, same = _check(op, scores, same)
    order = np.argsort(-scores, kind="stable")
    s = scores[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]   # the end of each group of tied scores
    tp = np.r_[0, np.cumsum(same[order])[last]]
    fp = np.r_[0, last + 1] - tp
    return fp, tp, np.r_[np.inf, s[last]], int(same.sum()), int((~same).sum())


def roc_curve(scores, same):
    """``(far, tar, thresholds)``: one point per distinct score, thresholds descending from ``+inf``
    (nothing accepted: FAR = TAR = 0) to the lowest score (everything accepted: 1, 1)."""
    fp, tp, thresholds, genuine, impostor = _roc_counts("roc_curve", scores, same)
    return fp / impostor, tp / genuine, thresholds


def tar_at_far(scores, same, far=1e-3):
    """``(tar, threshold)``: the highest TAR among thresholds whose FAR is at most ``far``."""
    if not 0 < far <= 1:
        raise ValueError(f"tar_at_far: far must be in (0, 1], got {far!r}")
    fars, tars, thresholds = roc_curve(scores, same)
    ok = np.flatnonzero(fars <= far)[-1]   # FAR and TAR only grow along the curve
    return float(tars[ok]), float(thresholds[ok])


def equal_error_rate(scores, same):
    """``(eer, threshold)``: the rate where FAR = FRR, linear between the two ROC points around it;
    the threshold is the score of the first point at or past the crossing."""
    fp, tp, thresholds, genuine, impostor = _roc_counts("equal_error_rate", scores, same)
    gap = fp * genuine - (genuine - tp) * impostor   # (FAR - FRR) * genuine * impostor, exact
    i = int(np.argmax(gap >= 0))                     # gap rises from negative to positive
    t = gap[i - 1] / (gap[i - 1] - gap[i])
    far = fp / impostor
    return float(far[i - 1] + t * (far[i] - far[i - 1])), float(thresholds[i])


def best_accuracy(scores, same):
    """``(accuracy, threshold)``: the best fraction of pairs classified right by ``score >= threshold``.

    The threshold lies midway between the lowest accepted and the highest
    rejected score (the boundary that generalises, as k-fold needs); on ties
    the highest boundary wins.
    """
    fp, tp, thresholds, genuine, impostor = _roc_counts("best_accuracy", scores, same)
    correct = tp + (impostor - fp)
    i = int(np.argmax(correct))
    if i == 0:            # reject everything: just above the highest score
        threshold = np.nextafter(thresholds[1], np.inf)
    elif i == len(thresholds) - 1:
        threshold = thresholds[i]
    else:
        threshold = (thresholds[i] + thresholds[i + 1]) / 2
    return float(correct[i] / (genuine + impostor)), float(threshold)


def kfold_accuracy(scores, same, folds=10):
    """``(mean, std, thresholds)`` of the LFW protocol: ``folds`` contiguous folds, each scored at the
    threshold with the best accuracy on the others."""
    scores, same = _check("kfold_accuracy", scores, same)
    if not isinstance(folds, (int, np.integer)) or not 2 <= folds <= scores.size:
        raise ValueError(f"kfold_accuracy: folds must be an integer in [2, {scores.size}], got {folds!r}")
    accuracies, thresholds = [], []
    for test in np.array_split(np.arange(scores.size), folds):
        train = np.setdiff1d(np.arange(scores.size), test)
        _, threshold = best_accuracy(scores[train], same[train])
        accuracies.append(np.mean((scores[test] >= threshold) == same[test]))
        thresholds.append(threshold)
    return float(np.mean(accuracies)), float(np.std(accuracies)), np.array(thresholds)


def report(scores, same, fars=(1e-3, 1e-4), folds=10):
    """All the metrics above in one dict (``tar@far=0.001`` and so on)."""
    out = {"pairs": int(np.size(scores)), "eer": equal_error_rate(scores, same)[0],
           "best_accuracy": best_accuracy(scores, same)[0]}
    out["kfold_accuracy"], out["kfold_std"], _ = kfold_accuracy(scores, same, folds)
    for far in fars:
        out[f"tar@far={far:g}"] = tar_at_far(scores, same, far)[0]
    return out
