"""Run under mpiexec by test_mpi.py: ``mpiexec -n P python _worker.py <case> [args]``.

Every case writes one JSON file of results per rank into ``$RESULTS_DIR``
(rank 0 adds the reference comparisons); test_mpi.py reads them.
"""
import json
import os
import sys

import numpy as np

import nnkit
from nnkit import distributed as dist
from nnkit import layers
from nnkit.distributed.fit import install, uninstall

N_IN, N_CLASSES = 6, 3


def report(**values):
    """This rank's results, as JSON in $RESULTS_DIR/rank<r>.json (the ranks' stdout may interleave)."""
    path = os.path.join(os.environ["RESULTS_DIR"], f"rank{dist.rank()}.json")
    with open(path, "w") as f:
        json.dump({"rank": dist.rank(), "size": dist.size(), **values}, f)


def make_data(n, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, N_IN))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
    return x, y


def make_model(optimizer):
    nnkit.set_seed(0)  # the same start on every rank and in the reference
    model = nnkit.Sequential([layers.Input((N_IN,)), layers.Dense(8, activation="relu", dtype="float64", name="hidden"),
                              layers.Dense(N_CLASSES, activation="softmax", dtype="float64", name="out")])
    model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def optimizer(name):
    return nnkit.optimizers.SGD(0.1, momentum=0.9) if name == "sgd" else nnkit.optimizers.Adam(0.01)


def same_as_root(model):
    """Whether this rank's weights are bitwise rank 0's (all ranks agree on the answer)."""
    mine = [w.data.copy() for w in model.weights]
    ok = 1
    for a in mine:
        root = dist.broadcast(a.copy())
        ok &= int(np.array_equal(root, a))
    return bool(dist.allreduce(np.array([ok]), "min")[0])


class CheckEveryStep(nnkit.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.all_identical = True

    def on_train_batch_end(self, batch, logs=None):
        self.all_identical &= same_as_root(self.model)


def global_order(n, b, p):
    """The sample order of one process whose batch k is the concatenation of the ranks' batches k."""
    shards = [np.arange(r, n, p) for r in range(p)]
    return np.concatenate([np.concatenate([s[k:k + b] for s in shards]) for k in range(0, n // p, b)])


def rel(a, b):
    """Largest difference relative to the weight's scale (a zero-initialised bias: relative to 1)."""
    scale = np.max(np.abs(b))
    return float(np.max(np.abs(a - b)) / (scale if scale > 0 else 1.0))


def case_equivalence(opt_name, b=4, steps=5, epochs=2):
    p = dist.size()
    n = p * b * steps
    x, y = make_data(n)
    weights_by_threshold = {}
    identical, overlapped = True, True
    for threshold in (0, 256, dist.DEFAULT_FUSION_THRESHOLD, "no overlap"):
        opt = dist.DistributedOptimizer(optimizer(opt_name), overlap=threshold != "no overlap",
                                        fusion_threshold_bytes=0 if threshold == "no overlap" else threshold)
        model = make_model(opt)
        check = CheckEveryStep()
        model.fit(x, y, batch_size=b, epochs=epochs, shuffle=False, verbose=0, callbacks=[check])
        identical &= check.all_identical
        weights_by_threshold[threshold] = [w.data.copy() for w in model.weights]
        iterations = model.optimizer.iterations
        if threshold != "no overlap":  # the buckets were all-reduced during backward (a planned one: see below)
            overlapped &= opt._buckets is not None and len(opt._buckets.groups) >= (1 if threshold else 4)
            overlapped &= opt._buckets.launched_in_backward > 0
    out = {"identical_every_step": identical, "iterations": iterations, "overlap_used": overlapped}
    if dist.is_root():
        uninstall()  # the reference: one process on the concatenated global batches
        ref = make_model(optimizer(opt_name))
        order = global_order(n, b, p)
        ref.fit(x[order], y[order], batch_size=p * b, epochs=epochs, shuffle=False, verbose=0)
        install()
        got = weights_by_threshold[dist.DEFAULT_FUSION_THRESHOLD]
        out["max_rel_vs_single"] = max(rel(a, r.data) for a, r in zip(got, ref.weights))
        others = (0, 256, "no overlap")
        out["max_rel_between_thresholds"] = max(rel(a, c) for t in others
                                                for a, c in zip(weights_by_threshold[t], got))
        out["bitwise_between_thresholds"] = all(np.array_equal(a, c) for t in others
                                                for a, c in zip(weights_by_threshold[t], got))
        out["moved"] = max(float(np.max(np.abs(a - w.data))) for a, w in zip(got, make_model(optimizer(opt_name)).weights))
    report(**out)


def case_planned_overlap(b=4, steps=5):
    """A float32 model trains through its training plan: its buckets start all-reducing during the planned
    backward, and the weights equal those of the same run without overlap, bit for bit."""
    x, y = make_data(dist.size() * b * steps)
    x = x.astype(np.float32)
    weights, launched, planned = {}, 0, False
    for overlap in (True, False):
        opt = dist.DistributedOptimizer(optimizer("sgd"), overlap=overlap, fusion_threshold_bytes=64)
        nnkit.set_seed(0)
        model = nnkit.Sequential([layers.Input((N_IN,)), layers.Dense(8, activation="relu"),
                                  layers.Dense(8, activation="tanh"), layers.Dense(N_CLASSES)])
        model.compile(opt, nnkit.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, batch_size=b, epochs=1, shuffle=False, verbose=0)
        weights[overlap] = [w.data.copy() for w in model.weights]
        if overlap:
            launched = opt._buckets.launched_in_backward
            planned = any(type(p).__name__ == "TrainingPlan" for p in model.__dict__.get("_plans", {}).values())
    report(planned=planned, launched_in_backward=launched, identical=same_as_root(model),
           bitwise_vs_no_overlap=all(np.array_equal(a, c) for a, c in zip(weights[True], weights[False])))


def case_sync_bn(b=4, steps=4, epochs=2):
    """SyncBatchNormalization on per-rank batches b == BatchNormalization on the global batch."""
    p = dist.size()
    n = p * b * steps
    x, y = make_data(n)

    def build(norm):
        nnkit.set_seed(0)
        model = nnkit.Sequential([layers.Input((N_IN,)),
                                  layers.Dense(8, use_bias=False, dtype="float64", name="hidden"),
                                  norm(momentum=0.5, dtype="float64", name="bn"), layers.Activation("relu"),
                                  layers.Dense(N_CLASSES, activation="softmax", dtype="float64", name="out")])
        model.compile(nnkit.optimizers.SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy")
        return model

    synced, local = build(dist.SyncBatchNormalization), build(layers.BatchNormalization)
    for model in (synced, local):
        model.fit(x, y, batch_size=b, epochs=epochs, shuffle=False, verbose=0)
    out = {"identical": same_as_root(synced)}
    if dist.is_root():
        uninstall()
        ref = build(layers.BatchNormalization)
        order = global_order(n, b, p)
        ref.fit(x[order], y[order], batch_size=p * b, epochs=epochs, shuffle=False, verbose=0)
        install()
        out["max_rel_sync_vs_single"] = max(rel(a.data, r.data) for a, r in zip(synced.weights, ref.weights))
        out["max_rel_local_vs_single"] = max(rel(a.data, r.data) for a, r in zip(local.weights, ref.weights))
    report(**out)


def case_dataset(batches):
    x, y = make_data(batches * 4)
    seen = []

    class Batches(nnkit.data.Dataset):
        def __len__(self):
            return batches

        def __getitem__(self, i):
            seen.append(i)
            return x[4 * i:4 * i + 4], y[4 * i:4 * i + 4]

    model = make_model(nnkit.optimizers.SGD(0.1))
    model.fit(Batches(), epochs=2, verbose=0)
    report(seen=seen, identical=same_as_root(model))


def case_chunked(directory, n):
    """One epoch of the sharded stream over a chunked source: which samples each rank got."""
    from nnkit.distributed.sharding import ShardedStream
    x = np.arange(n, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    np.save(os.path.join(directory, "x.npy"), x)
    np.save(os.path.join(directory, "y.npy"), np.arange(n) % 3)
    source = nnkit.data.ChunkedSource(nnkit.data.npy_chunks(os.path.join(directory, "x.npy"),
                                                            os.path.join(directory, "y.npy"), chunk_size=8))
    stream = ShardedStream(source, 4, shuffle=True, seed=5)
    seen = [int(v) for batch in stream.epoch() for v in batch[0][:, 0]]
    report(seen=seen, array_order=dist.shard(n, shuffle=True, seed=5, epoch=0).tolist())


def case_shard(n):
    p, r = dist.size(), dist.rank()
    out = {}
    for epoch in (0, 1):
        mine = dist.shard(n, shuffle=True, seed=7, epoch=epoch)
        gathered = dist.comm.comm().allgather(mine.tolist())
        out[f"epoch{epoch}"] = gathered
    out["plain"] = dist.comm.comm().allgather(dist.shard(n).tolist())
    out["drop_last"] = dist.comm.comm().allgather(dist.shard(n, drop_last=True).tolist())
    report(**out)


def case_rank0_writes(directory):
    x, y = make_data(dist.size() * 8)
    model = make_model(nnkit.optimizers.SGD(0.1))
    own = os.path.join(directory, f"rank{dist.rank()}")
    os.makedirs(own, exist_ok=True)
    cbs = [nnkit.callbacks.ModelCheckpoint(os.path.join(own, "ckpt-{epoch}.nnk")),
           nnkit.callbacks.CSVLogger(os.path.join(own, "log.csv")),
           nnkit.callbacks.BackupAndRestore(os.path.join(own, "backup"), delete_checkpoint=False)]
    history = model.fit(x, y, batch_size=4, epochs=2, verbose=2, callbacks=cbs)
    report(files=sorted(os.listdir(own)), loss=history.history["loss"])


def case_nan(bad_rank, bad_step):
    x, y = make_data(dist.size() * 4 * 6)
    model = make_model(nnkit.optimizers.SGD(0.1))

    class Poison(nnkit.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if dist.rank() == bad_rank and batch == bad_step:
                model.weights[0].data[0, 0] = np.nan  # this rank alone goes non-finite

    terminate = nnkit.callbacks.TerminateOnNaN()
    model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0, callbacks=[Poison(), terminate])
    report(iterations=model.optimizer.iterations, stopped=model.stop_training)


def case_die(how, at_step):
    x, y = make_data(dist.size() * 4 * 50)
    model = make_model(nnkit.optimizers.SGD(0.1))

    class Die(nnkit.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if dist.rank() == 1 and batch == at_step:
                print(f"rank 1 {how} at step {batch}", flush=True)
                if how == "kill":
                    os.kill(os.getpid(), 9)
                elif how == "hang":
                    import time
                    time.sleep(3600)
                else:
                    raise RuntimeError("rank 1 fails alone")

    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[Die()])
    report(finished=True)


def case_resume(directory, epochs_first):
    x, y = make_data(dist.size() * 4 * 5)

    def train(epochs, backup):
        model = make_model(nnkit.optimizers.Adam(0.01))
        restore = nnkit.callbacks.BackupAndRestore(backup, delete_checkpoint=False)
        history = model.fit(x, y, batch_size=4, epochs=epochs, shuffle=True, verbose=0, callbacks=[restore])
        return model, restore.restored_from is not None, len(history.epoch)

    nnkit.set_seed(0)
    whole, _, _ = train(3, os.path.join(directory, "whole"))
    backup = os.path.join(directory, "interrupted")

    class Stop(nnkit.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == epochs_first:
                self.model.stop_training = True

    nnkit.set_seed(0)
    first = make_model(nnkit.optimizers.Adam(0.01))
    first.fit(x, y, batch_size=4, epochs=3, shuffle=True, verbose=0,
              callbacks=[nnkit.callbacks.BackupAndRestore(backup, delete_checkpoint=False), Stop()])
    nnkit.set_seed(123)  # a different generator: everything must come from the backup
    resumed, restored, epochs = train(3, backup)
    rel_diff = max(rel(a.data, b.data) for a, b in zip(resumed.weights, whole.weights))
    report(restored=restored, epochs=epochs, iterations=resumed.optimizer.iterations,
           max_rel_resumed_vs_whole=rel_diff, bitwise=all(np.array_equal(a.data, b.data)
                                                         for a, b in zip(resumed.weights, whole.weights)),
           identical=same_as_root(resumed))


if __name__ == "__main__":
    dist.init()
    case, args = sys.argv[1], sys.argv[2:]
    if case == "equivalence":
        case_equivalence(args[0])
    elif case == "sync_bn":
        case_sync_bn()
    elif case == "planned_overlap":
        case_planned_overlap()
    elif case == "dataset":
        case_dataset(int(args[0]))
    elif case == "chunked":
        case_chunked(args[0], int(args[1]))
    elif case == "shard":
        case_shard(int(args[0]))
    elif case == "rank0_writes":
        case_rank0_writes(args[0])
    elif case == "nan":
        case_nan(int(args[0]), int(args[1]))
    elif case == "die":
        dist.set_timeout(float(args[2]))
        case_die(args[0], int(args[1]))
    elif case == "resume":
        case_resume(args[0], int(args[1]))
    else:
        raise SystemExit(f"unknown case {case}")
