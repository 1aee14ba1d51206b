"""Chunked out-of-core sources: same samples as in memory, local shuffling, prefetch."""
import numpy as np
import pytest

import nnkit
from nnkit import data
from nnkit.datasets.idx import write_idx

rng = np.random.default_rng(0)
X = rng.integers(0, 255, (103, 4, 3)).astype(np.uint8)
Y = rng.integers(0, 10, 103).astype(np.uint8)


@pytest.fixture(params=["npy", "npz", "idx"])
def chunks(request, tmp_path):
    if request.param == "npy":
        np.save(tmp_path / "x.npy", X)
        np.save(tmp_path / "y.npy", Y)
        return data.npy_chunks(tmp_path / "x.npy", tmp_path / "y.npy", chunk_size=20)
    if request.param == "idx":
        write_idx(tmp_path / "x.idx", X)
        write_idx(tmp_path / "y.idx", Y)
        return data.idx_chunks(tmp_path / "x.idx", tmp_path / "y.idx", chunk_size=20)
    paths = []
    for i, a in enumerate(range(0, 103, 30)):
        np.savez(tmp_path / f"shard{i}.npz", x=X[a:a + 30], y=Y[a:a + 30])
        paths.append(tmp_path / f"shard{i}.npz")
    return data.npz_shards(paths)


def batches(source, batch_size, steps, shuffle):
    nnkit.set_seed(0)
    stream = data.make_stream(source, batch_size, shuffle=shuffle)
    return [tuple(None if a is None else a.copy() for a in b) for b in stream.epoch(steps)]


def test_unshuffled_equals_in_memory(chunks):
    source = data.ChunkedSource(chunks, shuffle_buffer=2)
    got = batches(source, 16, 14, shuffle=False)
    want = batches(data.ArraySource(X, Y), 16, 14, shuffle=False)
    assert len(got) == len(want) == 14
    for (gx, gy, _), (wx, wy, _) in zip(got, want):
        np.testing.assert_array_equal(gx, wx)
        np.testing.assert_array_equal(gy, wy)
    source.close()


def test_shuffled_pass_covers_every_sample_once_with_local_mixing(chunks):
    source = data.ChunkedSource(chunks, shuffle_buffer=2)
    nnkit.set_seed(5)
    order = source.pass_order(nnkit.random.get_rng())
    assert sorted(order) == list(range(103))
    cids = np.searchsorted(source.offsets, order, side="right") - 1
    sizes = [len(c) for c in source.chunks]
    ids_seen, start = [], 0
    for g in range(0, len(sizes), 2):  # each buffer of two chunks is contiguous in the order
        group = list(dict.fromkeys(cids[start:].tolist()))[:2] if g + 1 < len(sizes) else [cids[start]]
        n = sum(sizes[c] for c in group)
        assert set(cids[start:start + n].tolist()) == set(group)
        ids_seen += group
        start += n
    assert sorted(ids_seen) == list(range(len(sizes)))
    got = np.concatenate([b[1] for b in batches(source, 10, 11, shuffle=True)])
    assert sorted(got.tolist()) == sorted(Y.tolist())
    source.close()


def test_prefetch_bounds_memory_and_loads_each_chunk_once_per_pass(tmp_path):
    np.save(tmp_path / "x.npy", X)
    source = data.ChunkedSource(data.npy_chunks(tmp_path / "x.npy", chunk_size=10), shuffle_buffer=1)
    stream = data.make_stream(source, 5, shuffle=False)
    for _ in stream.epoch():
        assert len(source._cache) <= 2
    assert source.loads == len(source.chunks)
    source.close()


def test_chunked_nan_is_reported_with_its_chunk(tmp_path):
    bad = X.astype(np.float32)
    bad[45, 0, 0] = np.nan
    np.save(tmp_path / "x.npy", bad)
    source = data.ChunkedSource(data.npy_chunks(tmp_path / "x.npy", chunk_size=20), prefetch=False)
    with pytest.raises(ValueError, match=r"NaN.*x.npy\[40:60\]"):
        list(data.make_stream(source, 50, shuffle=False).epoch())


def test_bad_chunk_arguments(tmp_path):
    with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
        np.save(tmp_path / "x.npy", X)
        data.npy_chunks(tmp_path / "x.npy", chunk_size=0)
    np.savez(tmp_path / "s.npz", x=X, y=Y[:5])
    with pytest.raises(ValueError, match="'x' has 103 samples but 'y' has 5"):
        data.npz_shards([tmp_path / "s.npz"])
    with pytest.raises(ValueError, match="no array 'img'"):
        data.npz_shards([tmp_path / "s.npz"], x_key="img")
    with pytest.raises(ValueError, match="no chunks"):
        data.ChunkedSource([])
    write_idx(tmp_path / "x.idx.gz", X)
    with pytest.raises(ValueError, match="cannot be memory-mapped"):
        data.idx_chunks(tmp_path / "x.idx.gz")
