"""Build the Fashion-MNIST sample bundled in ``nnkit/datasets/data/``.

    python -m nnkit.datasets.make_sample --source /usr/share/datasets/fashion-mnist

Stratified: the same number of images of each class, drawn without
replacement with a fixed seed from the official training and test files
(which ``apt-get install dataset-fashion-mnist`` installs), then shuffled.
Written as the standard IDX gz files (gzip level 9, no timestamp), so the
same reader loads sample and full set, and the build is reproducible
byte for byte.
"""
import argparse
import os

import numpy as np

from .fashionmnist import DEBIAN_DIR, FILES, SAMPLE_DIR, fashion_mnist
from .idx import write_idx


def stratified(y, per_class, rng):
    picks = [rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in range(10)]
    index = np.concatenate(picks)
    rng.shuffle(index)
    return index


def build(source, out, train_per_class=600, test_per_class=100, seed=20240601):
    (x_train, y_train), (x_test, y_test) = fashion_mnist(data_dir=source)
    rng = np.random.default_rng(seed)
    tr, te = stratified(y_train, train_per_class, rng), stratified(y_test, test_per_class, rng)
    os.makedirs(out, exist_ok=True)
    arrays = {"x_train": x_train[tr], "y_train": y_train[tr], "x_test": x_test[te], "y_test": y_test[te]}
    for key, name in FILES.items():
        write_idx(os.path.join(out, name), arrays[key])
    return {name: os.path.getsize(os.path.join(out, name)) for name in FILES.values()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=DEBIAN_DIR, help="directory with the four official IDX gz files")
    parser.add_argument("--out", default=SAMPLE_DIR)
    parser.add_argument("--train-per-class", type=int, default=600)
    parser.add_argument("--test-per-class", type=int, default=100)
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args(argv)
    sizes = build(args.source, args.out, args.train_per_class, args.test_per_class, args.seed)
    for name, size in sizes.items():
        print(f"{name}: {size} bytes")
    print(f"total: {sum(sizes.values()) / 2**20:.2f} MiB")


if __name__ == "__main__":
    main()
