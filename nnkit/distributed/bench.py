"""``nnkit bench --distributed``: all-reduce bandwidth and data-parallel training throughput.

Under ``mpiexec -n P`` it measures this job: the all-reduce time and bus
bandwidth (``2 (P-1)/P * bytes / time``, the ring all-reduce's traffic per
rank) against the message size, then for each model the time of one
training step on a fixed global batch split over the ranks, with the
gradient all-reduce overlapped with backward and without, and the overlap
fraction (the share of the unoverlapped all-reduce time that overlap hid).
Without mpiexec (one process) it launches ``mpiexec`` itself for
1 rank x 1 thread, P ranks x 1 thread and 1 rank x P threads and prints
the throughput table side by side.  Rounds alternate; medians are reported.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

__all__ = ["main"]

MODELS = ("lenet5", "vgg-block", "resnet20")


def _model(name):
    from nnkit import Sequential, layers
    from nnkit.bench.model_cases import vgg_block_layers
    from nnkit import recipes
    if name == "lenet5":
        return recipes.build_model("lenet5", (28, 28, 1), 10), (28, 28, 1)
    if name == "vgg-block":
        model = Sequential([layers.Input((32, 32, 3))] + vgg_block_layers())
        return model, (32, 32, 3)
    return recipes.build_model("resnet20", (32, 32, 3), 10), (32, 32, 3)


def allreduce_table(sizes, repeats):
    from . import comm
    p, rows = comm.size(), []
    for nbytes in sizes:
        buf = np.ones(nbytes // 4, np.float32)
        times = []
        for _ in range(repeats):
            comm.barrier()
            start = time.perf_counter()
            comm.allreduce(buf, "sum")
            times.append(time.perf_counter() - start)
        t = float(comm.allreduce(np.array([np.median(times)]), "max")[0])
        rows.append({"bytes": nbytes, "seconds": t, "bus_GBps": 2 * (p - 1) / p * nbytes / t / 1e9 if p > 1 else None})
    return rows


def step_times(name, global_batch, steps, rounds):
    """Median seconds per step, with overlap and without, and the communication seconds per step."""
    import nnkit
    from . import comm
    from .optimizer import DistributedOptimizer
    p = comm.size()
    nnkit.set_seed(0)
    model, shape = _model(name)
    batch = global_batch // p
    rng = np.random.default_rng(comm.rank())
    x = rng.standard_normal((batch,) + shape).astype(np.float32)
    y = rng.integers(0, 10, batch)
    results = {}
    for overlap in (True, False) * rounds:
        opt = DistributedOptimizer(nnkit.optimizers.SGD(0.01, momentum=0.9), overlap=overlap)
        model.compile(opt, nnkit.losses.SparseCategoricalCrossentropy(from_logits=True))
        times, exposed, sync = [], 0.0, 0.0
        for i in range(steps + 1):
            comm.barrier()
            start = time.perf_counter()
            block = opt.overlap_step(model.trainable_weights)
            if block is not None:
                with block:
                    model.train_on_batch(x, y)
                opt.end_step()
            else:
                model.train_on_batch(x, y)
            if i:  # the first step builds and warms up
                times.append(time.perf_counter() - start)
        buckets = getattr(opt, "_buckets", None)
        exposed = buckets.exposed_seconds / (steps + 1) if buckets is not None else None
        sync = opt.comm_seconds / (steps + 1) if not overlap else None
        slot = results.setdefault(overlap, {"step": [], "exposed": [], "comm": []})
        slot["step"].append(float(np.median(times)))
        slot["exposed" if overlap else "comm"].append(exposed if overlap else sync)
    params = sum(w.data.nbytes for w in model.trainable_weights)
    on, off = results[True], results[False]
    row = {"model": name, "ranks": p, "threads": nnkit.get_num_threads(), "global_batch": global_batch,
           "grad_bytes": params, "step_overlap": float(np.median(on["step"])),
           "step_no_overlap": float(np.median(off["step"]))}
    if p > 1:
        comm_s, exposed_s = float(np.median(off["comm"])), float(np.median(on["exposed"]))
        row.update(comm_per_step=comm_s, exposed_per_step=exposed_s,
                   overlap_fraction=max(0.0, 1 - exposed_s / comm_s) if comm_s > 0 else None)
    for key in ("step_overlap", "step_no_overlap"):  # the slowest rank sets the pace
        row[key] = float(comm.allreduce(np.array([row[key]]), "max")[0])
    row["samples_per_s"] = global_batch / min(row["step_overlap"], row["step_no_overlap"])
    return row


def run_job(args):
    import nnkit
    from . import comm
    comm.init()
    nnkit.set_num_threads(args.threads)
    out = {"allreduce": allreduce_table([2 ** k for k in range(12, 27, 2)], args.repeats) if comm.size() > 1
           else [], "steps": [step_times(m, args.batch, args.steps, args.rounds) for m in args.models]}
    if comm.is_root():
        print(json.dumps(out) if args.json_only else _format(out), flush=True)


def _format(out):
    lines = []
    if out["allreduce"]:
        lines.append("all-reduce (float32, in place):  bytes  ->  median ms, bus GB/s")
        lines += [f"  {r['bytes']:>10}  {r['seconds'] * 1e3:9.3f} ms  {r['bus_GBps']:7.3f} GB/s" for r in out["allreduce"]]
    lines.append("training step (SGD momentum, global batch split over the ranks):")
    for r in out["steps"]:
        extra = (f", all-reduce {r['comm_per_step'] * 1e3:.2f} ms/step unoverlapped, exposed with overlap "
                 f"{r['exposed_per_step'] * 1e3:.2f} ms, overlap fraction {r['overlap_fraction']:.2f}"
                 if r.get("comm_per_step") is not None else "")
        lines.append(f"  {r['model']:10s} {r['ranks']} rank(s) x {r['threads']} thread(s), batch {r['global_batch']}: "
                     f"{r['step_overlap'] * 1e3:.1f} ms/step overlapped, {r['step_no_overlap'] * 1e3:.1f} ms "
                     f"not, {r['samples_per_s']:.0f} samples/s{extra}")
    return "\n".join(lines)


def compare(args, mpiexec):
    """1 x 1, P x 1 and 1 x P (ranks x threads), each in its own mpiexec job, rounds alternating."""
    configs = [(1, 1), (args.ranks, 1), (1, args.ranks)]
    rows = {c: [] for c in configs}
    for _ in range(args.rounds):
        for ranks, threads in configs:
            cmd = [mpiexec, "-n", str(ranks), sys.executable, "-m", "nnkit", "bench", "--distributed", "--json-only",
                   "--threads", str(threads), "--steps", str(args.steps), "--rounds", "1", "--batch",
                   str(args.batch), "--models", *args.models]
            env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
            if proc.returncode:
                raise SystemExit(f"nnkit bench --distributed: {' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
            rows[(ranks, threads)].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(f"training throughput, global batch {args.batch}, median of {args.rounds} alternating rounds "
          f"(samples/s; the step time of the slowest rank):")
    print(f"  {'model':10s} " + " ".join(f"{f'{r} rank x {t} thr':>16s}" for r, t in configs) + "   overlap")
    for i, model in enumerate(args.models):
        cells, fraction = [], ""
        for c in configs:
            best = [min(run["steps"][i]["step_overlap"], run["steps"][i]["step_no_overlap"]) for run in rows[c]]
            cells.append(f"{args.batch / float(np.median(best)):16.0f}")
            if c[0] > 1:
                values = [run["steps"][i].get("overlap_fraction") for run in rows[c]]
                values = [v for v in values if v is not None]
                fraction = f"{np.median(values):.2f}" if values else "n/a"
        print(f"  {model:10s} " + " ".join(cells) + f"   {fraction:>7s}")
    last = rows[(args.ranks, 1)][-1]
    print(_format({"allreduce": last["allreduce"], "steps": last["steps"]}))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="nnkit bench --distributed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="threads per rank (default 1)")
    parser.add_argument("--ranks", type=int, default=2, help="ranks to compare against, without mpiexec (default 2)")
    parser.add_argument("--batch", type=int, default=64, help="global batch per step (default 64)")
    parser.add_argument("--steps", type=int, default=8, help="timed steps per round (default 8)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--repeats", type=int, default=9, help="all-reduce repetitions per size (default 9)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--json-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    under_mpi = any(k in os.environ for k in ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK"))
    if under_mpi:
        return run_job(args)
    from .comm import find_mpiexec
    mpiexec = find_mpiexec()
    if mpiexec is None:
        raise SystemExit("nnkit bench --distributed: no mpiexec next to this Python or on PATH "
                         "(pip install 'nnkit[distributed]')")
    return compare(args, mpiexec)
