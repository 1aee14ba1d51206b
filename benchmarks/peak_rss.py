"""Peak resident memory of a VGG-block training step, nnkit against PyTorch.

Each framework runs five training steps (batch 64, 32x32x3, SGD) in a fresh
Python process, which then reports its peak RSS (``ru_maxrss``): the import,
the model, the step's activations, gradients and workspaces, all included.

    python benchmarks/peak_rss.py [--steps 5] [--threads 2]
"""
import argparse
import subprocess
import sys

CHILD = """
import resource, sys
import numpy as np
framework, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
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
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss_mib(framework, steps, threads):
    out = subprocess.run([sys.executable, "-c", CHILD, framework, str(steps), str(threads)],
                         capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1]) / 1024  # ru_maxrss is in KiB on Linux


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    for framework in ("nnkit", "torch"):
        try:
            print(f"{framework:6s} peak RSS {peak_rss_mib(framework, args.steps, args.threads):7.0f} MiB")
        except subprocess.CalledProcessError as err:
            print(f"{framework:6s} failed: {err.stderr.strip().splitlines()[-1]}")


if __name__ == "__main__":
    main()
