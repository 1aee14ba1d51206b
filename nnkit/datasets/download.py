"""Downloads with checksum verification into nnkit's data cache.

The cache is ``$NNKIT_DATA`` when set, else ``$XDG_CACHE_HOME/nnkit`` (by
default ``~/.cache/nnkit``).  A file is streamed to a temporary name in the
target directory while its SHA-256 is computed; only a file whose checksum
matches is renamed into place, so a failed or tampered download never
leaves a file that looks valid.
"""
import hashlib
import os
import tempfile
import urllib.error
import urllib.request

__all__ = ["cache_dir", "fetch", "sha256sum", "ChecksumError"]

_BLOCK = 1 << 20


class ChecksumError(ValueError):
    """A file's SHA-256 differs from the expected one."""


def cache_dir():
    """Where downloads go: ``$NNKIT_DATA``, else ``$XDG_CACHE_HOME/nnkit`` or ``~/.cache/nnkit``."""
    if os.environ.get("NNKIT_DATA"):
        return os.environ["NNKIT_DATA"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "nnkit")


def sha256sum(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(url, dest, sha256, timeout=60):
    """Download ``url`` to ``dest`` atomically, verifying its SHA-256; returns ``dest``.

    Raises ``ChecksumError`` (and keeps nothing) when the checksum differs,
    ``OSError`` when the download fails.
    """
    dest = os.fspath(dest)
    directory = os.path.dirname(dest) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(dest) + ".", suffix=".part")
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    for block in iter(lambda: response.read(_BLOCK), b""):
                        digest.update(block)
                        out.write(block)
            except urllib.error.HTTPError as e:
                raise OSError(f"download of {url} failed: HTTP {e.code} {e.reason}") from None
            except (urllib.error.URLError, TimeoutError) as e:
                raise OSError(f"download of {url} failed: {getattr(e, 'reason', e)}") from None
            out.flush()
            os.fsync(out.fileno())
        got = digest.hexdigest()
        if got != sha256:
            raise ChecksumError(f"checksum mismatch for {url}: got sha256 {got}, expected {sha256}; the download "
                                f"is corrupt or not the expected file, and was discarded")
        os.replace(tmp, dest)
        tmp = None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
    return dest


def check_bundled(path, expected):
    """Raise ChecksumError unless the file bundled with nnkit at ``path`` has SHA-256 ``expected``."""
    got = sha256sum(path)
    if got != expected:
        raise ChecksumError(f"{path}: sha256 {got} differs from the expected {expected}; the bundled file is "
                            f"damaged (reinstall nnkit)")
