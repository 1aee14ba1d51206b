"""Loss-landscape pictures (PNG, matplotlib: ``pip install nnkit[plot]``)."""
import numpy as np

__all__ = ["plot_1d", "plot_contour"]


def _pyplot():
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    return plt


def plot_1d(alphas, Z, path, xlabel="alpha", ylabel="loss", title=None, logy=False):
    """Loss against the coordinate; ``Z`` is an array or ``{label: array}`` for several curves."""
    alphas = np.asarray(alphas, dtype=np.float64)
    curves = Z if isinstance(Z, dict) else {None: Z}
    for label, z in curves.items():
        if np.shape(z) != alphas.shape:
            raise ValueError(f"plot_1d: curve {label!r} has shape {np.shape(z)}, expected {alphas.shape}")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    try:
        for label, z in curves.items():
            ax.plot(alphas, z, marker=".", label=label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if logy:
            ax.set_yscale("log")
        if title:
            ax.set_title(title)
        if not (len(curves) == 1 and None in curves):
            ax.legend()
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
    return path


def plot_contour(xs, ys, Z, path, levels=None, title=None):
    """A contour plot with labelled levels beside a 3-D surface of ``Z[i, j]`` at ``(xs[i], ys[j])``.
    ``levels``: an int (how many) or the level values; default 20 evenly spaced over the finite range."""
    xs, ys, Z = (np.asarray(a, dtype=np.float64) for a in (xs, ys, Z))
    if Z.shape != (xs.size, ys.size) or xs.ndim != 1 or ys.ndim != 1:
        raise ValueError(f"plot_contour: expected Z of shape (len(xs), len(ys)) = {(xs.size, ys.size)}, got {Z.shape}")
    finite = Z[np.isfinite(Z)]
    if not finite.size:
        raise ValueError("plot_contour: Z has no finite value")
    if levels is None:
        levels = np.linspace(finite.min(), finite.max(), 20)
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    plt = _pyplot()
    fig = plt.figure(figsize=(10, 4.2))
    try:
        ax = fig.add_subplot(1, 2, 1)
        cs = ax.contour(X, Y, Z, levels=levels, cmap="viridis")
        ax.clabel(cs, inline=True, fontsize=7, fmt="%.2f")
        ax.plot([0], [0], "k+")
        ax.set_xlabel("direction 1")
        ax.set_ylabel("direction 2")
        ax3 = fig.add_subplot(1, 2, 2, projection="3d")
        ax3.plot_surface(X, Y, np.clip(Z, finite.min(), finite.max()), cmap="viridis", linewidth=0)
        ax3.set_xlabel("direction 1")
        ax3.set_ylabel("direction 2")
        ax3.set_zlabel("loss")
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
    return path
