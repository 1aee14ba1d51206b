"""Open-set verification on the bundled Fashion-MNIST sample: softmax against
CosFace and ArcFace heads.

One small network is trained three times on 8 of the 10 classes, each time
with a different head; the 2 held-out classes are never seen in training.
Each trained network then embeds the held-out images (the L2-normalised
output of the layer before the head, ``nnkit.verification.embed``) and is
scored on pairs of them: same class or not?  The table gives the LFW-style
10-fold accuracy on 6,000 sampled pairs, and the EER and TAR at FAR 1e-3 and
1e-4 over every pair of held-out images (about a million).  A figure shows
each embedding space, projected to 2-D.

    python examples/margin_verification.py [--epochs 12] [--seeds 3] [--plot margin_embeddings.png]

The margins and scales (CosFace s=16, m=0.35; ArcFace s=30, m=0.3) were
chosen among a few tried on this split (ArcFace s=16, m=0.5 and CosFace
s=30, m=0.2 did less well); the README gives the table.
"""
import argparse
import time

import numpy as np

import nnkit
from nnkit import layers, losses
from nnkit import verification as V

CLASSES = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
HELD_OUT = (8, 9)  # Bag and Ankle boot: the last two classes


def load(held_out):
    (x_train, y_train), (x_test, y_test) = nnkit.datasets.fashion_mnist(sample=True)
    x = np.concatenate([x_train, x_test]).reshape(-1, 784).astype(np.float32) / 255.0
    y = np.concatenate([y_train, y_test]).astype(np.int64)
    unseen = np.isin(y, held_out)
    seen_classes = [c for c in range(10) if c not in held_out]
    relabel = np.full(10, -1)
    relabel[seen_classes] = np.arange(len(seen_classes))
    return (x[~unseen], relabel[y[~unseen]]), (x[unseen], y[unseen])


def build(head, classes):
    """The same trunk each time; only the head and the loss change."""
    trunk = [nnkit.Input((784,)), layers.Dense(256, activation="relu"), layers.Dense(64, name="embedding")]
    if head == "softmax":
        return nnkit.Sequential(trunk + [layers.Dense(classes, name="head")]), \
            losses.SparseCategoricalCrossentropy(from_logits=True)
    loss = {"cosface": losses.CosFace(s=16.0, m=0.35), "arcface": losses.ArcFace(s=30.0, m=0.3)}[head]
    return nnkit.Sequential(trunk + [layers.NormalizedDense(classes, name="head")]), loss


def evaluate(model, x, y, seed=0):
    """Verification metrics on pairs of held-out images, and their embeddings."""
    emb = V.embed(model, x, layer="embedding")
    i, j, same = V.make_pairs(y, 6000, seed=seed)
    kfold, kfold_std, _ = V.kfold_accuracy(V.pair_scores(emb[i], emb[j]), same, folds=10)
    upper = np.triu_indices(len(y), k=1)  # every pair of held-out images
    scores, same_all = (emb @ emb.T)[upper], (y[:, None] == y[None, :])[upper]
    return {"kfold": kfold, "kfold_std": kfold_std, "eer": V.equal_error_rate(scores, same_all)[0],
            "tar@1e-3": V.tar_at_far(scores, same_all, 1e-3)[0], "tar@1e-4": V.tar_at_far(scores, same_all, 1e-4)[0],
            "pairs": len(scores)}, emb


def plot(embeddings, y, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(embeddings), figsize=(4.2 * len(embeddings), 4.2))
    for ax, (head, emb) in zip(np.atleast_1d(axes), embeddings.items()):
        centred = emb - emb.mean(axis=0)
        xy = centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T  # the first two principal axes
        for c in np.unique(y):
            ax.scatter(*xy[y == c].T, s=3, alpha=0.5, label=CLASSES[c])
        ax.set_title(f"{head}: held-out embeddings (PCA)")
        ax.set_xticks([]), ax.set_yticks([])
    np.atleast_1d(axes)[0].legend(markerscale=4, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"embedding plot: {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seeds", type=int, default=3, help="train each head this many times (seeds 0, 1, ...)")
    parser.add_argument("--held-out", type=int, nargs=2, default=HELD_OUT, metavar="CLASS")
    parser.add_argument("--plot", default="margin_embeddings.png", help="'' for no figure")
    args = parser.parse_args()
    held_out = tuple(args.held_out)

    (x, y), (x_new, y_new) = load(held_out)
    print(f"trained on {len(x)} images of 8 classes; verification on {len(x_new)} images of "
          f"{', '.join(CLASSES[c] for c in held_out)} (never seen); {nnkit.get_num_threads()} threads")
    keys = ("train_acc", "kfold", "eer", "tar@1e-3", "tar@1e-4")
    table, embeddings = {}, {}
    start = time.perf_counter()
    for head in ("softmax", "cosface", "arcface"):
        runs = []
        for seed in range(args.seeds):
            nnkit.set_seed(seed)
            model, loss = build(head, 8)
            model.compile(optimizer=nnkit.optimizers.Adam(1e-3), loss=loss, metrics=["accuracy"])
            history = model.fit(x, y, epochs=args.epochs, batch_size=64, verbose=0)
            result, emb = evaluate(model, x_new, y_new, seed=seed)
            runs.append([history.history["accuracy"][-1]] + [result[k] for k in keys[1:]])
            embeddings.setdefault(head, emb)  # seed 0's for the figure
        table[head] = np.array(runs)

    print(f"\nmean ± std over {args.seeds} seeds; EER and TAR over all {result['pairs']:,} pairs of held-out images, "
          f"10-fold accuracy on 6,000 of them ({time.perf_counter() - start:.0f} s)\n")
    print("| head | train acc (8 seen) | 10-fold acc (held out) | EER | TAR@FAR=1e-3 | TAR@FAR=1e-4 |")
    print("|---|---|---|---|---|---|")
    for head, runs in table.items():
        cells = [f"{m:.3f} ± {s:.3f}" for m, s in zip(runs.mean(axis=0), runs.std(axis=0))]
        print(f"| {head} | " + " | ".join(cells) + " |")
    if args.plot:
        plot(embeddings, y_new, args.plot)


if __name__ == "__main__":
    main()
