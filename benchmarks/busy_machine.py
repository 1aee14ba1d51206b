"""Good manners on a shared machine: a LeNet-5 training step with and without another busy process.

The measurement lives in ``nnkit.bench.manners`` (``nnkit bench --manners`` runs it too); this prints it.

    python benchmarks/busy_machine.py [--rounds 5] [--policy GOMP_SPINCOUNT=1000 ...]

``--policy VAR=VALUE`` adds a fixed-team policy with that variable set (GOMP_SPINCOUNT, OMP_WAIT_POLICY).
"""
import argparse

from nnkit.bench.manners import POLICIES, run_manners


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--policy", action="append", default=[], help="VAR=VALUE on top of the fixed team")
    args = parser.parse_args(argv)
    policies = dict(POLICIES)
    for policy in args.policy:
        key, _, value = policy.partition("=")
        policies[f"fixed, {policy}"] = {**POLICIES["fixed"], key: value}
    run_manners(rounds=args.rounds, policies=policies)


if __name__ == "__main__":
    main()
