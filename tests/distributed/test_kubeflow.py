"""deploy/kubeflow: the MPIJob manifest's fields, and its command line against nnkit's CLI."""
from pathlib import Path

import pytest

from nnkit import cli

yaml = pytest.importorskip("yaml")
DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubeflow"


@pytest.fixture(scope="module")
def job():
    with open(DEPLOY / "mpijob.yaml") as f:
        return yaml.safe_load(f)


def test_mpijob_fields(job):
    assert job["apiVersion"] == "kubeflow.org/v2beta1" and job["kind"] == "MPIJob"
    spec = job["spec"]
    assert spec["mpiImplementation"] == "MPICH"
    assert spec["runPolicy"]["cleanPodPolicy"] in ("Running", "All", "None")
    assert isinstance(spec["slotsPerWorker"], int) and spec["slotsPerWorker"] >= 1
    replicas = spec["mpiReplicaSpecs"]
    assert set(replicas) == {"Launcher", "Worker"} and replicas["Launcher"]["replicas"] == 1
    images = {c["image"] for r in replicas.values() for c in r["template"]["spec"]["containers"]}
    assert len(images) == 1  # launcher and workers run the same image
    worker = replicas["Worker"]["template"]["spec"]
    mounts = {m["name"] for c in worker["containers"] for m in c.get("volumeMounts", [])}
    assert mounts <= {v["name"] for v in worker.get("volumes", [])}


def test_launcher_command_runs_nnkit_train_distributed_on_every_slot(job):
    spec = job["spec"]
    command = spec["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]["command"]
    assert command[0] in ("mpirun", "mpiexec")
    ranks = int(command[command.index("-n") + 1])
    assert ranks == spec["slotsPerWorker"] * spec["mpiReplicaSpecs"]["Worker"]["replicas"]
    start = command.index("nnkit")
    args = cli._parser().parse_args(command[start + 1:])  # the CLI accepts every option as written
    assert args.command == "train" and args.distributed and args.dataset == "fashion-mnist"
    assert args.resume and args.checkpoint_dir.startswith("/checkpoints/")
    assert args.threads == 1 and args.no_plot
    mounts = [m["mountPath"] for c in spec["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["containers"]
              for m in c.get("volumeMounts", [])]
    assert any(args.checkpoint_dir.startswith(m) for m in mounts)  # rank 0 runs on a worker


def test_dockerfile_installs_nnkit_and_mpi4py_on_the_mpich_base():
    text = (DEPLOY / "Dockerfile").read_text()
    assert "mpioperator/mpich" in text and "mpi4py" in text and "/tmp/nnkit-src" in text
    assert "OMP_NUM_THREADS=1" in text and "NNKIT_DATA" in text
