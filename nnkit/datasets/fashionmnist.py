"""Fashion-MNIST (Zalando Research, MIT licence): 28x28 grey images of 10 clothing classes.

``fashion_mnist()`` returns ``(x_train, y_train), (x_test, y_test)`` as uint8
arrays of shapes (60000, 28, 28), (60000,), (10000, 28, 28), (10000,) read
from the four standard IDX gz files.  It looks, in order, in:

1. ``data_dir`` when given (and nowhere else);
2. ``$NNKIT_DATA`` (the files directly there or in ``fashion-mnist/``);
3. ``/usr/share/datasets/fashion-mnist`` (``apt-get install dataset-fashion-mnist``);
4. the cache (``nnkit.datasets.download.cache_dir()/fashion-mnist``), downloading
   the files there first when ``download=True``.

Every file is checked against its published SHA-256.  A missing set says
where it looked; a corrupt file names itself.

``fashion_mnist(sample=True)`` instead loads the small stratified sample
bundled with nnkit (6,000 training and 1,000 test images, 600 and 100 per
class): no download, the default of ``nnkit train``.
"""
import os

import numpy as np

from . import download as dl
from .idx import read_idx

__all__ = ["fashion_mnist", "CLASS_NAMES", "FILES", "SHA256", "BASE_URL", "DEBIAN_DIR", "SAMPLE_DIR"]

CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]
FILES = {"x_train": "train-images-idx3-ubyte.gz", "y_train": "train-labels-idx1-ubyte.gz",
         "x_test": "t10k-images-idx3-ubyte.gz", "y_test": "t10k-labels-idx1-ubyte.gz"}
SHA256 = {
    "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
}
SAMPLE_SHA256 = {  # the bundled sample (see data/README.md)
    "train-images-idx3-ubyte.gz": "0d42e6b1a24bc9c0f9ec0f614e0dc9420d8edacbe0855f5013f204e285c203a2",
    "train-labels-idx1-ubyte.gz": "d7ff7503705247d2b0d3be7d40f9cd4ca1366b305e0c3bb30907346fd40c50aa",
    "t10k-images-idx3-ubyte.gz": "c9b1b76bf3c06a92792291631f4e54f6e5840b816602c7faab6653a437039447",
    "t10k-labels-idx1-ubyte.gz": "3e6870542753da652b6d444c7372bc69cc989d033865745c9b7d4efea1a2a87f",
}
BASE_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
SAMPLE_DIR = os.path.join(os.path.dirname(__file__), "data")  # flat: pyproject ships datasets/data/*


def _candidates(data_dir):
    if data_dir is not None:
        return [os.fspath(data_dir)]
    dirs = []
    env = os.environ.get("NNKIT_DATA")
    if env:
        dirs += [os.path.join(env, "fashion-mnist"), env]
    dirs.append(DEBIAN_DIR)
    cache = os.path.join(dl.cache_dir(), "fashion-mnist")
    if cache not in dirs:
        dirs.append(cache)
    return dirs


def _complete(directory):
    return all(os.path.isfile(os.path.join(directory, f)) for f in FILES.values())


def _load(directory, verify, sums=None):
    sums = SHA256 if sums is None else sums
    arrays = {}
    for key, name in FILES.items():
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Fashion-MNIST file missing: {path}")
        if verify:
            got = dl.sha256sum(path)
            if got != sums[name]:
                raise dl.ChecksumError(f"{path}: sha256 {got} differs from the expected {sums[name]}; "
                                       f"the file is corrupt or not Fashion-MNIST (delete it to download afresh)")
        arrays[key] = read_idx(path)
    return _check(arrays, directory)


def _check(arrays, where):
    for part in ("train", "test"):
        x, y = arrays["x_" + part], arrays["y_" + part]
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
            raise ValueError(f"{where}: {part} images must be uint8 (N, 28, 28), got {x.dtype} {x.shape}")
        if y.dtype != np.uint8 or y.shape != (len(x),):
            raise ValueError(f"{where}: {part} labels must be uint8 ({len(x)},), got {y.dtype} {y.shape}")
        if y.size and y.max() > 9:
            raise ValueError(f"{where}: {part} labels must be in [0, 10), found {y.max()}")
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def fashion_mnist(sample=False, data_dir=None, download=True, base_url=None, verify=True):
    """``(x_train, y_train), (x_test, y_test)``; see the module docstring for where files are found."""
    if sample:
        return _load(SAMPLE_DIR, verify, SAMPLE_SHA256)
    dirs = _candidates(data_dir)
    for directory in dirs:
        if _complete(directory):
            return _load(directory, verify)
    partial = [d for d in dirs if os.path.isdir(d) and any(os.path.isfile(os.path.join(d, f)) for f in FILES.values())]
    target = os.path.join(dl.cache_dir(), "fashion-mnist")
    if not download or data_dir is not None:
        missing = ", ".join(FILES.values())
        hint = (f" {partial[0]} holds only some of them." if partial else "")
        raise FileNotFoundError(
            f"Fashion-MNIST files ({missing}) not found; looked in: {', '.join(dirs)}.{hint} Install them with "
            f"'apt-get install dataset-fashion-mnist', set NNKIT_DATA to a directory holding them, allow "
            f"download=True, or use the bundled sample: fashion_mnist(sample=True)")
    url = (base_url or BASE_URL).rstrip("/") + "/"
    for name in FILES.values():
        path = os.path.join(target, name)
        if not os.path.isfile(path):
            try:
                dl.fetch(url + name, path, SHA256[name])
            except OSError as e:
                raise FileNotFoundError(
                    f"Fashion-MNIST not found (looked in: {', '.join(dirs)}) and the download failed: {e}. Install "
                    f"'dataset-fashion-mnist', set NNKIT_DATA, or use fashion_mnist(sample=True)") from None
    return _load(target, verify)
