"""Fashion-MNIST lookup, download from a loopback HTTP server with checksums, and the bundled sample."""
import functools
import hashlib
import http.server
import os
import threading

import numpy as np
import pytest

from nnkit import datasets
from nnkit.datasets import fashionmnist as fm
from nnkit.datasets.idx import write_idx

rng = np.random.default_rng(0)
FAKE = {"x_train": rng.integers(0, 256, (20, 28, 28)).astype(np.uint8), "y_train": np.arange(20, dtype=np.uint8) % 10,
        "x_test": rng.integers(0, 256, (5, 28, 28)).astype(np.uint8), "y_test": np.arange(5, dtype=np.uint8)}


def write_set(directory):
    os.makedirs(directory, exist_ok=True)
    for key, name in fm.FILES.items():
        write_idx(os.path.join(directory, name), FAKE[key])
    return {name: hashlib.sha256(open(os.path.join(directory, name), "rb").read()).hexdigest()
            for name in fm.FILES.values()}


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Fake files served from loopback; the real lookup places point at empty temporary directories."""
    remote = tmp_path / "remote"
    sums = write_set(remote)
    monkeypatch.setattr(fm, "SHA256", sums)
    monkeypatch.setattr(fm, "DEBIAN_DIR", str(tmp_path / "debian"))
    monkeypatch.setenv("NNKIT_DATA", str(tmp_path / "cache"))
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(remote)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_address[1]}/", "remote": remote, "tmp": tmp_path,
               "requests": requests}
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def check(result):
    (xtr, ytr), (xte, yte) = result
    np.testing.assert_array_equal(xtr, FAKE["x_train"])
    np.testing.assert_array_equal(ytr, FAKE["y_train"])
    np.testing.assert_array_equal(xte, FAKE["x_test"])
    np.testing.assert_array_equal(yte, FAKE["y_test"])


def test_download_from_loopback_verifies_and_caches(env):
    check(fm.fashion_mnist(base_url=env["url"]))
    assert sorted(os.listdir(env["tmp"] / "cache" / "fashion-mnist")) == sorted(fm.FILES.values())
    assert len(env["requests"]) == 4
    check(fm.fashion_mnist(base_url=env["url"]))  # from the cache now
    assert len(env["requests"]) == 4


def test_bad_checksum_is_rejected_and_nothing_kept(env):
    (env["remote"] / "t10k-labels-idx1-ubyte.gz").write_bytes(b"tampered")
    with pytest.raises(datasets.ChecksumError, match="checksum mismatch for .*t10k-labels-idx1-ubyte.gz"):
        fm.fashion_mnist(base_url=env["url"])
    kept = os.listdir(env["tmp"] / "cache" / "fashion-mnist")
    assert "t10k-labels-idx1-ubyte.gz" not in kept and not [k for k in kept if k.endswith(".part")]


def test_failed_download_says_where_it_looked(env):
    with pytest.raises(FileNotFoundError, match=r"looked in: .*cache/fashion-mnist.*download failed.*404"):
        fm.fashion_mnist(base_url=env["url"] + "missing/")


def test_missing_files_without_download(env):
    with pytest.raises(FileNotFoundError, match=r"not found; looked in: .*debian.*apt-get install "
                                                r"dataset-fashion-mnist.*sample=True"):
        fm.fashion_mnist(download=False)
    with pytest.raises(FileNotFoundError, match=str(env["tmp"] / "nowhere")):
        fm.fashion_mnist(data_dir=env["tmp"] / "nowhere")


def test_lookup_order(env):
    write_set(env["tmp"] / "debian")
    check(fm.fashion_mnist(download=False))  # the Debian location
    data_dir = env["tmp"] / "cache" / "fashion-mnist"
    write_set(data_dir)
    with open(data_dir / "train-images-idx3-ubyte.gz", "r+b") as f:
        f.seek(100)
        f.write(b"corrupt")
    with pytest.raises(datasets.ChecksumError, match=r"cache/fashion-mnist/train-images-idx3-ubyte.gz: sha256"):
        fm.fashion_mnist()  # NNKIT_DATA comes first, and its corrupt file is reported, not skipped


def test_wrong_content_with_matching_checksum_is_still_checked(env, monkeypatch):
    directory = env["tmp"] / "odd"
    os.makedirs(directory)
    for key, name in fm.FILES.items():
        write_idx(directory / name, FAKE[key].astype(np.int16) if key == "y_train" else FAKE[key])
    with pytest.raises(ValueError, match="train labels must be uint8"):
        fm.fashion_mnist(data_dir=directory, verify=False)


def test_bundled_sample_is_stratified_and_small():
    (xtr, ytr), (xte, yte) = datasets.fashion_mnist(sample=True)
    assert xtr.shape == (6000, 28, 28) and xte.shape == (1000, 28, 28) and xtr.dtype == np.uint8
    assert np.bincount(ytr).tolist() == [600] * 10 and np.bincount(yte).tolist() == [100] * 10
    size = sum(os.path.getsize(os.path.join(fm.SAMPLE_DIR, f)) for f in fm.FILES.values())
    assert size <= 3 * 2 ** 20
    assert "MIT" in open(os.path.join(fm.SAMPLE_DIR, "README.md")).read()
    assert datasets.load("fashion-mnist-sample")[0][0].shape == (6000, 28, 28)
    with pytest.raises(ValueError, match="unknown dataset 'mnist'; valid names: fashion-mnist, fashion-mnist-sample"):
        datasets.load("mnist")
