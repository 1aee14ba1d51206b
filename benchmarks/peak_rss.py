"""Peak resident memory of a VGG-block training step, nnkit against PyTorch.

Each framework runs five training steps (batch 64, 32x32x3, SGD) in a fresh
Python process, which then reports its peak RSS (``ru_maxrss``), and the
resident memory right after importing the framework, before any model
exists.  The difference is what the training itself needs (model, the step's
activations, gradients and workspaces): the import alone differs a lot
(``import torch`` is about 220 MiB, ``import nnkit`` about 60 MiB).

    python benchmarks/peak_rss.py [--steps 5] [--threads 2]
"""
import argparse
import subprocess
import sys

CHILD = """
import resource, sys
import numpy as np
framework, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024

__import__("nnkit" if framework == "nnkit" else "torch")
baseline = rss_kib()
from nnkit.bench import model_cases as mc
case = mc.train_case("VGG block 32x32x3", mc.vgg_block_layers, mc.torch_vgg_block, (32, 32, 3))
if framework == "nnkit":
    import nnkit
    nnkit.set_num_threads(threads)
    step = case.nnkit("cython")
else:
    import torch
    torch.set_num_threads(threads)
    step = case.torch()
for _ in range(steps):
    step()
print(baseline, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss_mib(framework, steps, threads):
    """``(RSS after the import, peak RSS)`` in MiB (Linux: both read in KiB)."""
    out = subprocess.run([sys.executable, "-c", CHILD, framework, str(steps), str(threads)],
                         capture_output=True, text=True, check=True)
    baseline, peak = out.stdout.split()[-2:]
    return int(baseline) / 1024, int(peak) / 1024


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    for framework in ("nnkit", "torch"):
        try:
            baseline, peak = peak_rss_mib(framework, args.steps, args.threads)
            print(f"{framework:6s} peak RSS {peak:7.0f} MiB: {baseline:5.0f} MiB after the import, "
                  f"{peak - baseline:5.0f} MiB above it")
        except subprocess.CalledProcessError as err:
            print(f"{framework:6s} failed: {err.stderr.strip().splitlines()[-1]}")


if __name__ == "__main__":
    main()
