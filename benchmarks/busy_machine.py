"""Good manners on a shared machine: a LeNet-5 training step with and without another busy process.

Idle OpenMP workers that spin for their next parallel region steal the core a
competing process needs, and then wait for it themselves: with one busy
process on two cores a 2-thread step can run at half the 1-thread speed.
This runs the step (batch 64, SGD) in fresh processes for each waiting policy
given, at 1 and at all cores, on a quiet machine and beside a pure-Python
busy loop, and prints images/s and the ratio to the 1-thread step under the
same conditions.  The rule nnkit follows (``nnkit.threads``) must keep the
busy ratio at 0.9 or more and lose nothing measurable on a quiet machine.

    python benchmarks/busy_machine.py [--steps 60] [--policy default --policy GOMP_SPINCOUNT=1000 ...]
"""
import argparse
import multiprocessing
import os
import subprocess
import sys
import time

CHILD = """
import sys, time
import numpy as np
threads, steps = int(sys.argv[1]), int(sys.argv[2])
import nnkit
nnkit.set_num_threads(threads)
from nnkit.bench import model_cases as mc
step = mc.train_case("LeNet-5 28x28x1", mc.lenet5_layers, mc.torch_lenet5, (28, 28, 1)).nnkit("cython")
for _ in range(5):
    step()
times = []
for _ in range(steps):
    start = time.perf_counter()
    step()
    times.append(time.perf_counter() - start)
print(64 / float(np.median(times)))
"""


def _spin(stop):
    while not stop.is_set():
        pass


def images_per_s(policy, threads, steps):
    env = dict(os.environ)
    for key in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY"):
        env.pop(key, None)
    if policy != "default":
        key, _, value = policy.partition("=")
        env[key] = value
    out = subprocess.run([sys.executable, "-c", CHILD, str(threads), str(steps)], env=env, capture_output=True,
                         text=True, check=True)
    return float(out.stdout.split()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--policy", action="append", help="'default' or VAR=VALUE (GOMP_SPINCOUNT, OMP_WAIT_POLICY)")
    args = parser.parse_args(argv)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    policies = args.policy or ["default"]
    print(f"LeNet-5 training step, batch 64, images/s (median of {args.steps}); {cores} cores")
    print(f"{'policy':<28} {'machine':<7} {'1 thread':>9} {f'{cores} threads':>11} {'ratio':>6}")
    for busy in (False, True):
        stop = multiprocessing.Event()
        spinner = multiprocessing.Process(target=_spin, args=(stop,)) if busy else None
        if spinner:
            spinner.start()
            time.sleep(0.5)
        try:
            for policy in policies:
                one = images_per_s(policy, 1, args.steps)
                many = images_per_s(policy, cores, args.steps)
                print(f"{policy:<28} {'busy' if busy else 'quiet':<7} {one:>9.0f} {many:>11.0f} {many / one:>5.2f}x")
        finally:
            if spinner:
                stop.set()
                spinner.join()


if __name__ == "__main__":
    main()
