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

    python examples/margin_verification.py [--epochs 12] [--plot margin_embeddings.png]
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
    trunk = [nnkit.Input((784,)), layers.Dense(256, activation="relu"), layers.Dense(64),
             layers.BatchNormalization(name="embedding")]
    if head == "softmax":
        return nnkit.Sequential(trunk + [layers.Dense(classes, name="head")]), \
            losses.SparseCategoricalCrossentropy(from_logits=True)
    loss = {"cosface": losses.CosFace(s=16.0, m=0.35), "arcface": losses.ArcFace(s=16.0, m=0.5)}[head]
    return nnkit.Sequential(trunk + [layers.NormalizedDense(classes, name="head")]), loss


def evaluate(model, x, y, seed=0):
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
    parser.add_argument("--plot", default="margin_embeddings.png", help="'' for no figure")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--held-out", type=int, nargs=2, default=HELD_OUT, metavar="CLASS")
    args = parser.parse_args()
    held_out = tuple(args.held_out)

    (x, y), (x_new, y_new) = load(held_out)
    print(f"trained on {len(x)} images of 8 classes; verification on {len(x_new)} images of "
          f"{', '.join(CLASSES[c] for c in held_out)} (never seen); {nnkit.get_num_threads()} threads")
    rows, embeddings = [], {}
    for head in ("softmax", "cosface", "arcface"):
        nnkit.set_seed(args.seed)
        model, loss = build(head, 8)
        model.compile(optimizer=nnkit.optimizers.Adam(1e-3), loss=loss, metrics=["accuracy"])
        start = time.perf_counter()
        history = model.fit(x, y, epochs=args.epochs, batch_size=64, verbose=0)
        seconds = time.perf_counter() - start
        result, embeddings[head] = evaluate(model, x_new, y_new, seed=args.seed)
        rows.append((head, history.history["accuracy"][-1], result, seconds))

    print(f"\n| head | train acc (8 seen) | 10-fold acc (held out) | EER | TAR@FAR=1e-3 | TAR@FAR=1e-4 | fit s |")
    print("|---|---|---|---|---|---|---|")
    for head, acc, r, seconds in rows:
        print(f"| {head} | {acc:.3f} | {r['kfold']:.3f} ± {r['kfold_std']:.3f} | {r['eer']:.3f} | "
              f"{r['tar@1e-3']:.3f} | {r['tar@1e-4']:.3f} | {seconds:.0f} |")
    print(f"(EER and TAR over all {rows[0][2]['pairs']:,} pairs of held-out images)")
    if args.plot:
        plot(embeddings, y_new, args.plot)


if __name__ == "__main__":
    main()
