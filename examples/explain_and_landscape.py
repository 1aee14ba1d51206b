"""Seeing inside small CNNs on the bundled Fashion-MNIST sample.

1. LeNet-5, trained briefly: LRP heatmaps of a few test images under two
   composites (EpsilonPlusFlat and EpsilonGammaBox), red for evidence for the
   predicted class, blue against.
2. A small ResNet with and without its skip connections: 2-D loss surfaces
   along two filter-normalised random directions (Li et al. 2018), and the
   1-D loss along the line between two solutions (Goodfellow et al. 2015).

    python examples/explain_and_landscape.py --out docs/images

A few minutes on 2 cores (``--quick``: seconds, for a smoke test).
"""
import argparse
import os
import time

import numpy as np

import nnkit
from nnkit import explain, landscape
from nnkit.datasets.fashionmnist import CLASS_NAMES
from nnkit.layers import Activation, Add, BatchNormalization, Conv2D, Dense, GlobalAveragePooling2D, Input, MaxPooling2D


def conv_bn(x, filters, strides=1):
    x = Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, kernel_initializer="he_normal")(x)
    return BatchNormalization(momentum=0.9)(x)  # moving statistics that settle within a short training


def block(x, filters, strides, skip):
    """relu(bn(conv(relu(bn(conv(x))))) + shortcut(x)); without ``skip`` the sum is left out."""
    y = conv_bn(Activation("relu")(conv_bn(x, filters, strides)), filters)
    if skip:
        shortcut = x if strides == 1 and x.shape[-1] == filters else conv_bn(x, filters, strides)
        y = Add()([y, shortcut])
    return Activation("relu")(y)


def small_resnet(skip, seed):
    nnkit.set_seed(seed)
    inputs = Input((28, 28, 1))
    x = MaxPooling2D(2)(Activation("relu")(conv_bn(inputs, 8)))
    for filters, strides in ((8, 1), (8, 1), (16, 2)):
        x = block(x, filters, strides, skip)
    model = nnkit.Model(inputs, Dense(10)(GlobalAveragePooling2D()(x)))
    model.compile(optimizer=nnkit.optimizers.Adam(3e-3), loss=nnkit.losses.SparseCategoricalCrossentropy(
        from_logits=True), metrics=["accuracy"])
    return model


def lrp_grid(model, x, labels, path, scale=4):
    """Rows: test images; columns: the image, then the heatmap under each composite."""
    composites = {"EpsilonPlusFlat": explain.composites.EpsilonPlusFlat(),
                  "EpsilonGammaBox": explain.composites.EpsilonGammaBox(low=0.0, high=1.0)}
    relevance = {name: explain.lrp(model, x, composite=c) for name, c in composites.items()}
    gap = np.full((28, 2, 3), 255, np.uint8)
    rows = []
    for i in range(len(x)):
        image = np.repeat(np.rint((1 - x[i]) * 255).astype(np.uint8), 3, axis=2)  # dark clothes on white
        tiles = [image] + [explain.heatmap(r[i]) for r in relevance.values()]
        rows.append(np.concatenate([t for tile in tiles for t in (tile, gap)][:-1], axis=1))
        rows.append(np.full((2, rows[-1].shape[1], 3), 255, np.uint8))
    grid = np.concatenate(rows[:-1]).repeat(scale, axis=0).repeat(scale, axis=1)
    explain.write_png(path, grid)
    print(f"  {path}: columns image, {', '.join(composites)}; rows {', '.join(labels)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/images", help="folder for the PNGs")
    parser.add_argument("--quick", action="store_true", help="tiny settings, for a smoke test")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    quick = args.quick
    (x_train, y_train), (x_test, y_test) = nnkit.datasets.fashion_mnist(sample=True)
    x_train = (x_train[..., None] / 255.0).astype(np.float32)
    x_test = (x_test[..., None] / 255.0).astype(np.float32)
    if quick:
        x_train, y_train = x_train[:128], y_train[:128]
    x_small, y_small = x_train[:3000], y_train[:3000]  # the ResNets train on half the sample, to stay quick
    x_eval, y_eval = x_test[:32 if quick else 200], y_test[:32 if quick else 200]
    epochs = 1 if quick else 3
    start = time.perf_counter()

    print("LeNet-5 and LRP heatmaps")
    nnkit.set_seed(0)
    lenet = nnkit.models.lenet5()
    lenet.compile(optimizer=nnkit.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    lenet.fit(x_train, y_train, batch_size=64, epochs=epochs, verbose=0)
    print(f"  test accuracy {lenet.evaluate(x_test, y_test, verbose=0, return_dict=True)['accuracy']:.3f}")
    picks = [int(np.flatnonzero(y_test == c)[0]) for c in (0, 1, 7, 9)]
    lrp_grid(lenet, x_test[picks], [CLASS_NAMES[c] for c in y_test[picks]],
             os.path.join(args.out, "lrp_fashion_mnist.png"))

    print("a small ResNet with and without skip connections")
    n = 3 if quick else 11
    xs = np.linspace(-1, 1, n)
    surfaces = {}
    for skip in (True, False):
        model = small_resnet(skip, seed=0)
        model.fit(x_small, y_small, batch_size=64, epochs=epochs, verbose=0)
        d1, d2 = (landscape.random_direction(model, seed=s) for s in (1, 2))
        surfaces[skip] = landscape.surface(model, [d1, d2], (xs, xs), x_eval, y_eval)
        print(f"  skip={skip}: loss at the solution {surfaces[skip][n // 2, n // 2]:.3f}, "
              f"largest on the grid {surfaces[skip].max():.3f}")
        if skip:
            solution_a = model
    both = np.concatenate([z.ravel() for z in surfaces.values()])
    levels = np.linspace(both.min(), np.percentile(both, 75), 12)
    for skip, name in ((True, "with"), (False, "without")):
        landscape.plot_contour(xs, xs, surfaces[skip], os.path.join(args.out, f"landscape_resnet_{name}_skip.png"),
                               levels=levels, title=f"small ResNet {name} skip connections: test loss")

    solution_b = small_resnet(True, seed=1)
    solution_b.fit(x_small, y_small, batch_size=64, epochs=epochs, verbose=0)
    alphas = np.linspace(0.0, 1.0, 5 if quick else 17)  # beyond [0, 1] moving variances can turn negative
    line = landscape.interpolate(solution_a, solution_b, x_eval, y_eval, alphas)
    landscape.plot_1d(alphas, {"(1 - a) w_A + a w_B": line}, os.path.join(args.out, "landscape_interpolation.png"),
                      xlabel="a", ylabel="test loss", title="between two ResNet solutions")
    print(f"  interpolation: loss {line[np.searchsorted(alphas, 0)]:.3f} at A, {line.max():.3f} at most "
          f"on the way, {line[np.searchsorted(alphas, 1)]:.3f} at B")
    print(f"done in {time.perf_counter() - start:.0f} s on {nnkit.get_num_threads()} threads")


if __name__ == "__main__":
    main()
