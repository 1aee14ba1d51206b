"""Learning curves: training and validation loss and metrics against epoch, as a PNG.

The picture for seeing over- and under-fitting: one panel per quantity
(loss first), the training curve solid and the validation curve dashed.
Needs matplotlib (``pip install nnkit[plot]``); ``have_matplotlib()`` tells
whether it is there.
"""
import os

__all__ = ["learning_curves", "have_matplotlib"]


def have_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _series(history):
    """``{key: (epochs, values)}`` from a History (or a plain ``{key: [values]}`` dict)."""
    logs = getattr(history, "history", history)
    epochs_of = getattr(history, "epochs_of", {})
    out = {}
    for key, values in logs.items():
        epochs = epochs_of.get(key) or list(range(len(values)))
        out[key] = ([e + 1 for e in epochs], [float(v) for v in values])
    return out


def learning_curves(history, path, metrics=None, title=None, val_label="validation"):
    """Write the learning curves of ``history`` to ``path`` (PNG); returns the path.

    ``metrics`` picks the quantities (default: every logged one except the
    learning rate, loss first); ``val_label`` names the ``val_`` curves in the
    legend (``nnkit train`` passes ``"test"``: its ``val_`` columns are the
    test set).  Epochs on the x axis are integers.  Raises ``ImportError``
    without matplotlib.
    """
    try:
        import matplotlib
        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise ImportError("learning_curves needs matplotlib: pip install 'nnkit[plot]'") from None
    series = _series(history)
    if not series:
        raise ValueError("learning_curves: the history is empty (no epoch has finished)")
    base = [k for k in series if not k.startswith("val_") and k != "learning_rate"]
    if metrics is None:
        metrics = sorted(base, key=lambda k: (k != "loss", base.index(k)))
    unknown = [m for m in metrics if m not in series and "val_" + m not in series]
    if unknown:
        raise ValueError(f"learning_curves: {unknown} not in the history; it has {sorted(series)}")
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
    for ax, key in zip(axes[0], metrics):
        for name, style, label in ((key, "-o", "train"), ("val_" + key, "--s", val_label)):
            if name in series:
                x, y = series[name]
                ax.plot(x, y, style, markersize=3, label=label)
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = os.fspath(path)
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return path
