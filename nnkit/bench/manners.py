"""Good manners on a shared machine: a LeNet-5 training step with and without another busy process.

Idle OpenMP workers that spin for their next parallel region steal the core a
competing process needs, and then wait for it themselves: with one busy
process on two cores a fixed 2-thread step ran at 0.43x of the 1-thread speed.
Each configuration (1 thread, then every policy at all cores) runs the step
(batch 64, SGD) in a fresh process, as a user's script would start: a warm-up
of half a second (the thread policy settles), then the median of the steps of
the next half second.  Rounds alternate the configurations, on a quiet
machine and beside a pure-Python busy loop; the medians over rounds give
images/s and the ratio to the 1-thread step under the same conditions.
nnkit's default (``nnkit.threads``: the team adapts to the load) must keep the
busy ratio at 0.9 or more and match the fixed team on a quiet machine.
"""
import multiprocessing
import os
import statistics
import subprocess
import sys
import time

from nnkit.bench.worker import NNKIT_HOME
from nnkit.threads import available_cores

__all__ = ["POLICIES", "run_manners"]

CHILD = """
import sys, time
import numpy as np
import nnkit
nnkit.set_num_threads(int(sys.argv[1]))
from nnkit.bench import model_cases as mc
step = mc.train_case("LeNet-5 28x28x1", mc.lenet5_layers, mc.torch_lenet5, (28, 28, 1)).nnkit("cython")
def run_for(seconds):
    times, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times
run_for(0.5)
print(64 / float(np.median(run_for(0.5))), nnkit.threads.team())
"""

# name -> environment: the default (adaptive team) and the fixed team with libgomp's waiting policies
POLICIES = {
    "adaptive (default)": {},
    "fixed": {"NNKIT_DYNAMIC_THREADS": "0"},
    "fixed, passive wait": {"NNKIT_DYNAMIC_THREADS": "0", "OMP_WAIT_POLICY": "PASSIVE"},
}
_CLEARED = ("NNKIT_DYNAMIC_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "NNKIT_NUM_THREADS")


def _spin(stop):
    while not stop.is_set():
        pass


def _images_per_s(env, threads):
    """(images/s, the team the child ended with) of one fresh process."""
    full = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    out = subprocess.run([sys.executable, "-c", CHILD, str(threads)], env={**full, **env}, capture_output=True,
                         text=True, check=True, cwd=NNKIT_HOME)
    speed, team = out.stdout.split()[-2:]
    return float(speed), int(team)


def run_manners(rounds=5, policies=None, progress=print):
    """One row per policy and machine state: images/s at 1 thread and at all cores, their ratio, and the
    adaptive team's last size."""
    cores = available_cores()
    policies = policies or POLICIES
    configs = [("1 thread", POLICIES["fixed"], 1)] + [(name, env, cores) for name, env in policies.items()]
    progress(f"LeNet-5 training step b64, images/s, fresh process per sample, median of {rounds} alternating "
             f"rounds; {cores} cores")
    progress(f"{'policy':<24} {'machine':<7} {'1 thread':>9} {f'{cores} threads':>11} {'ratio':>6} {'team':>5}")
    rows = []
    for busy in (False, True):
        stop = multiprocessing.Event()
        spinner = multiprocessing.Process(target=_spin, args=(stop,), daemon=True) if busy else None
        if spinner:
            spinner.start()
            time.sleep(0.5)
        try:
            samples = {name: [] for name, _, _ in configs}
            teams = {name: [] for name, _, _ in configs}
            for _ in range(rounds):
                for name, env, threads in configs:
                    speed, team = _images_per_s(env, threads)
                    samples[name].append(speed)
                    teams[name].append(team)
        finally:
            if spinner:
                stop.set()
                spinner.join()
        one = statistics.median(samples["1 thread"])
        for name in policies:
            many = statistics.median(samples[name])
            row = {"policy": name, "machine": "busy" if busy else "quiet", "threads": cores,
                   "one_thread_items_per_s": one, "items_per_s": many, "ratio": many / one,
                   "teams": teams[name]}
            rows.append(row)
            progress(f"{name:<24} {row['machine']:<7} {one:>9.0f} {many:>11.0f} {many / one:>5.2f}x "
                     f"{statistics.median(teams[name]):>5.0f}")
    return rows
