"""``nnkit bench``: the side-by-side table, printed and written as JSON."""
import argparse
import json
import os
import platform

from nnkit.backend import blas_info
from nnkit.bench import runner
from nnkit.io.atomic import atomic_write_text
from nnkit.threads import available_cores

def groups(cases):
    """The case groups, in the order the cases come (``--only`` takes these or name fragments)."""
    return list(dict.fromkeys(c.group for c in cases))


def all_cases():
    from nnkit.bench.kernel_cases import kernel_cases
    cases = kernel_cases()
    try:
        from nnkit.bench.model_cases import model_cases
    except ImportError:  # models not available in this build
        return cases
    return cases + model_cases()


def build_parser(parser=None):
    parser = parser or argparse.ArgumentParser(prog="nnkit bench", description=__doc__)
    parser.add_argument("--threads", default=None,
                        help="comma-separated thread counts (default: 1,2 and all cores where more exist)")
    parser.add_argument("--only", default=None, help="comma-separated case groups (conv, pool, dense, ..., model) "
                                                      "or name fragments")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds per case; the median is reported")
    parser.add_argument("--quick", action="store_true", help="one round, first case of each group (a smoke test)")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even when installed")
    parser.add_argument("--no-numpy", action="store_true",
                        help="skip the NumPy reference (on a shared VM its BLAS threads disturb the 2-thread rows)")
    parser.add_argument("--scaling", action="store_true",
                        help="also time nnkit alone at every thread count, alternating them, for the speed-ups")
    parser.add_argument("--manners", action="store_true",
                        help="also time a LeNet-5 step on a quiet machine and beside a busy process, with the "
                             "adaptive team (the default) and fixed ones, each against 1 thread")
    parser.add_argument("--json", default="bench.json", help="where to write the results")
    return parser


def default_threads():
    cores = available_cores()
    return sorted({1, min(2, cores), cores})


def select(cases, only, quick):
    if only:
        keys = [k.strip() for k in only.split(",") if k.strip()]
        cases = [c for c in cases if c.group in keys or any(k in c.name for k in keys)]
    if quick:
        seen, picked = set(), []
        for c in cases:
            if c.group not in seen:
                seen.add(c.group)
                picked.append(c)
        cases = picked
    return cases


def main(argv=None):
    args = build_parser().parse_args(argv)
    threads = [int(t) for t in args.threads.split(",")] if args.threads else default_threads()
    if any(t < 1 for t in threads):
        raise SystemExit(f"nnkit bench: thread counts must be positive, got {args.threads}")
    if args.scaling and len(set(threads)) < 2:
        raise SystemExit(f"nnkit bench: --scaling compares two or more thread counts, got --threads {threads}")
    every = all_cases()
    cases = select(every, args.only, args.quick)
    if not cases:
        raise SystemExit(f"nnkit bench: no case matches --only {args.only!r}; groups: {', '.join(groups(every))}")
    with_torch = not args.no_torch and runner.torch_available()
    blas = blas_info()
    print(f"nnkit bench on {platform.machine()} with {os.cpu_count()} cores; threads {threads} (a fixed team); "
          f"BLAS {blas['name']}; PyTorch {'on' if with_torch else 'not installed / off'} (in worker processes)")
    print(runner.HEADER)
    rounds = 1 if args.quick else args.rounds
    rows = runner.run(cases, threads=threads, rounds=rounds, with_torch=with_torch, with_numpy=not args.no_numpy)
    meta = {"machine": platform.machine(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "threads": threads, "torch": with_torch, "numpy": not args.no_numpy, "blas": blas}
    result = {"meta": meta, "rows": rows}
    if args.scaling:
        result["scaling"] = runner.run_scaling(cases, threads, rounds=rounds)
    if args.manners:
        from nnkit.bench.manners import run_manners
        result["manners"] = run_manners(rounds=1 if args.quick else 5)
    atomic_write_text(args.json, json.dumps(result, indent=2))
    print(f"wrote {args.json}")
    return 0
