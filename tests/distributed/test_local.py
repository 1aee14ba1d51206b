"""nnkit.distributed pieces that need no second process: shard arithmetic, fusion buckets, the optimizer
wrapper's identity and state, bad input, and single-rank collectives (need mpi4py, not mpiexec)."""
import numpy as np
import pytest

import nnkit
from nnkit import distributed as dist
from nnkit.distributed.optimizer import buckets


@pytest.mark.parametrize("n,size", [(10, 2), (11, 3), (7, 2), (5, 4), (1, 3)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_shard_covers_every_index_and_pads_by_wrapping(n, size, shuffle):
    parts = [dist.shard(n, shuffle=shuffle, seed=3, epoch=2, rank=r, size=size) for r in range(size)]
    assert len({len(p) for p in parts}) == 1 and len(parts[0]) == -(-n // size)
    flat = np.concatenate(parts)
    assert set(flat.tolist()) == set(range(n))
    order = np.random.default_rng(5).permutation(n) if shuffle else np.arange(n)
    padded = np.resize(order, len(flat))
    for r in range(size):  # DistributedSampler: rank r takes order[r::size] of the padded order
        assert parts[r].tolist() == padded[r::size].tolist()


def test_shard_reshuffles_per_epoch_and_drop_last_truncates():
    a = [dist.shard(12, shuffle=True, epoch=0, rank=r, size=3).tolist() for r in range(3)]
    b = [dist.shard(12, shuffle=True, epoch=1, rank=r, size=3).tolist() for r in range(3)]
    assert a != b and sorted(sum(a, [])) == sorted(sum(b, [])) == list(range(12))
    d = [dist.shard(11, drop_last=True, rank=r, size=3).tolist() for r in range(3)]
    assert d == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]


@pytest.mark.parametrize("kwargs,match", [({"n": 0}, "n must be"), ({"n": 4, "rank": 2, "size": 2}, "rank must"),
                                          ({"n": 1, "size": 2, "rank": 0, "drop_last": True}, "drop_last with 1 samples over 2 ranks leaves no sample"),
                                          ({"n": 4, "seed": -1, "rank": 0, "size": 1}, "seed must")])
def test_shard_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=f"shard: {match}"):
        dist.shard(**kwargs)


def test_fusion_buckets():
    f32 = [np.zeros(s, np.float32) for s in (10, 20, 100, 5)]  # 40, 80, 400, 20 bytes
    assert buckets(f32, 0) == [[0], [1], [2], [3]]
    assert buckets(f32, 128) == [[0, 1], [2], [3]]  # the 400-byte gradient goes alone
    assert buckets(f32, 2 ** 20) == [[0, 1, 2, 3]]
    mixed = [np.zeros(4, np.float32), np.zeros(4, np.float64), np.zeros(4, np.float64)]
    assert buckets(mixed, 2 ** 20) == [[0], [1, 2]]  # one dtype per buffer


@pytest.fixture
def one_rank():
    pytest.importorskip("mpi4py")
    return dist.init()


def test_single_rank_collectives(one_rank):
    assert one_rank == (0, 1) and dist.is_initialized() and dist.is_root()
    a = np.arange(4.0)
    assert dist.allreduce(a, "average") is a and a.tolist() == [0, 1, 2, 3]
    assert dist.allreduce([1, 2], "sum").tolist() == [1, 2]
    assert dist.broadcast_object({"k": 1}) == {"k": 1}
    dist.barrier()
    with pytest.raises(ValueError, match="allreduce: op must be one of"):
        dist.allreduce(a, "mean")
    with pytest.raises(TypeError, match="allreduce: op='average' needs a float array, got dtype int64"):
        dist.allreduce(np.arange(3), "average")
    with pytest.raises(ValueError, match="set_timeout: seconds must be a positive number"):
        dist.set_timeout(0)


@pytest.mark.parametrize("opt", [nnkit.optimizers.SGD(0.1, momentum=0.9), nnkit.optimizers.Adam(0.01), "rmsprop"])
def test_distributed_optimizer_is_the_same_class_with_the_same_state(one_rank, opt):
    base = nnkit.optimizers.get(opt)
    wrapped = dist.DistributedOptimizer(base, fusion_threshold_bytes=256)
    assert isinstance(wrapped, type(base)) and type(wrapped).__name__ == type(base).__name__
    assert dist.is_distributed(wrapped) and not dist.is_distributed(base)
    assert wrapped.get_config() == base.get_config()
    again = dist.DistributedOptimizer(wrapped, fusion_threshold_bytes=0)  # re-wrapping keeps one level
    assert type(again) is type(wrapped) and again.fusion_threshold_bytes == 0
    # On one rank the update is the wrapped optimizer's, bit for bit.
    w1 = nnkit.Tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True, name="w")
    w2 = nnkit.Tensor(w1.data.copy(), requires_grad=True, name="w")
    plain = nnkit.optimizers.get(type(base).__name__.lower())
    distributed = dist.DistributedOptimizer(nnkit.optimizers.get(type(base).__name__.lower()))
    for step in range(3):
        g = np.full((2, 3), 0.1 * (step + 1))
        plain.apply_gradients([(g, w1)])
        distributed.apply_gradients([(g, w2)])
    assert np.array_equal(w1.data, w2.data) and distributed.iterations == 3


def test_distributed_optimizer_compiles_and_saves(one_rank, tmp_path):
    model = nnkit.Sequential([nnkit.layers.Input((3,)), nnkit.layers.Dense(2, name="d")])
    model.compile(dist.DistributedOptimizer(nnkit.optimizers.Adam(0.01)), "mse")
    model.fit(np.ones((4, 3)), np.zeros((4, 2)), epochs=1, verbose=0)
    assert model.get_compile_config()["optimizer"]["class_name"] == "Adam"
    path = tmp_path / "m.nnk"
    model.save(path)
    loaded = nnkit.load_model(path)
    assert type(loaded.optimizer).__name__ == "Adam" and loaded.optimizer.iterations == 1


@pytest.mark.parametrize("kwargs,match", [({"op": "mean"}, "op must be 'average' or 'sum'"),
                                          ({"fusion_threshold_bytes": -1}, "fusion_threshold_bytes must be")])
def test_distributed_optimizer_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=f"DistributedOptimizer: {match}"):
        dist.DistributedOptimizer("sgd", **kwargs)


def test_sync_batch_norm_on_one_rank_is_batch_norm():
    x = np.random.default_rng(0).standard_normal((8, 5))
    outs = []
    for cls in (dist.SyncBatchNormalization, nnkit.layers.BatchNormalization):
        layer = cls(momentum=0.5, dtype="float64", name="bn")
        outs.append((layer(nnkit.Tensor(x), training=True).data, layer.moving_mean.data.copy()))
    assert np.array_equal(outs[0][0], outs[1][0]) and np.array_equal(outs[0][1], outs[1][1])
    config = dist.SyncBatchNormalization(momentum=0.7).get_config()
    assert dist.SyncBatchNormalization.from_config(config).momentum == 0.7
