"""The ``nnkit`` command (also ``python -m nnkit``).

    nnkit train [--model lenet5] [--dataset fashion-mnist-sample] [--epochs N] [--batch-size B]
                [--optimizer adam] [--lr LR] [--schedule constant|cosine] [--threads T] [--seed S]
                [--checkpoint-dir DIR] [--resume] [--plot PNG | --no-plot] [--save PATH] [--verbose 0|1|2]
                [--distributed]
    mpiexec -n 4 nnkit train --distributed ...   data-parallel over 4 MPI ranks (nnkit.distributed)
    nnkit bench ...          side-by-side kernel benchmarks (nnkit.bench)
    nnkit bench --distributed [--ranks P]   all-reduce bandwidth, data-parallel throughput and overlap
    nnkit export-onnx MODEL.nnk OUT.onnx [--opset 17] [--batch-size N]

``nnkit train`` with no arguments trains LeNet-5 on the bundled Fashion-MNIST
sample, validating on the sample's test images each epoch, then reports the
test accuracy and the wall time and writes the learning curves to
``learning_curves.png`` (when matplotlib is installed).

``--checkpoint-dir DIR`` writes a full training checkpoint after every epoch
(``DIR/epoch-NNN.nnk``: weights, optimizer state, data-stream position,
random-generator states, History); ``--resume`` continues from the most
advanced readable checkpoint there, giving the same weights as an
uninterrupted run.
"""
import argparse
import os
import sys
import time

__all__ = ["main", "train"]

DEFAULTS = {  # per model: epochs, batch size, learning rate (Adam), learning-rate schedule
    "lenet5": {"epochs": 8, "batch_size": 128, "lr": 3e-3, "schedule": "constant"},
    "vgg-small": {"epochs": 10, "batch_size": 128, "lr": 2e-3, "schedule": "cosine"},
}
OTHER_DEFAULTS = {"epochs": 10, "batch_size": 128, "lr": 1e-3, "schedule": "cosine"}  # the rest of the zoo
SCHEDULES = ("constant", "cosine")


def _parser():
    from nnkit import optimizers
    from nnkit import recipes

    parser = argparse.ArgumentParser(prog="nnkit", description="nnkit: a Cython-accelerated CPU neural-network "
                                                               "engine with a Keras-style API")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    train = commands.add_parser("train", help="train a model on a dataset (default: LeNet-5 on the bundled "
                                              "Fashion-MNIST sample)",
                                description="Train a model; with no arguments LeNet-5 on the bundled "
                                            "Fashion-MNIST sample.")
    train.add_argument("--model", default="lenet5", choices=list(recipes.MODELS))
    train.add_argument("--dataset", default="fashion-mnist-sample", metavar="NAME_OR_PATH",
                       help="fashion-mnist-sample is bundled (6,000/1,000 images); fashion-mnist is the full set "
                            "(from NNKIT_DATA, the dataset-fashion-mnist package or a download); or a directory "
                            "of MNIST-style IDX files, or an .npz with x_train, y_train, x_test, y_test")
    train.add_argument("--epochs", type=int, help="default: 8 for lenet5, 10 for the others")
    train.add_argument("--batch-size", type=int, help="default: 128")
    train.add_argument("--optimizer", default="adam", choices=optimizers.names())
    train.add_argument("--lr", type=float, help="learning rate (default: 3e-3 for lenet5, 2e-3 for vgg-small)")
    train.add_argument("--schedule", choices=SCHEDULES, help="learning rate: constant, or cosine decay to 1 %% "
                                                              "over the run (default: constant for lenet5, cosine "
                                                              "for vgg-small)")
    train.add_argument("--threads", type=int, help="threads for the kernels and BLAS (default: all cores)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0): same seed, same weights")
    train.add_argument("--checkpoint-dir", help="write a full checkpoint here after every epoch")
    train.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in "
                                                             "--checkpoint-dir")
    train.add_argument("--plot", default="learning_curves.png", help="learning-curve PNG (default: %(default)s)")
    train.add_argument("--no-plot", action="store_true", help="do not write the learning-curve PNG")
    train.add_argument("--save", help="save the trained model to this file")
    train.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                       help="1: a progress bar on a terminal, one line per epoch otherwise; 2: one line per epoch")
    train.add_argument("--distributed", action="store_true",
                       help="data-parallel over the MPI ranks: mpiexec -n N nnkit train --distributed (each rank "
                            "trains on its shard with --batch-size samples per step; rank 0 writes and prints)")
    export = commands.add_parser("export-onnx", help="write a saved model (.nnk) as an ONNX file",
                                 description="Write a model saved by model.save() as one self-contained ONNX file "
                                             "(NHWC float32 input 'input', output 'output').")
    export.add_argument("model", help="the .nnk file")
    export.add_argument("out", help="the .onnx file to write")
    export.add_argument("--opset", type=int, default=17, help="ONNX opset, 13 to 21 (default: %(default)s)")
    export.add_argument("--batch-size", type=int, help="a fixed batch size (default: symbolic)")
    bench = commands.add_parser("bench", help="kernel benchmarks (nnkit.bench)", add_help=False)
    bench.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def _positive(name, value):
    if value is not None and value < 1:
        raise ValueError(f"--{name} must be a positive integer, got {value}")


def _resume_hook(model, directory, log):
    """Load the latest checkpoint in ``directory`` into ``model`` and arm ``fit`` to continue from it.

    Returns the epoch it resumes from (0 when there is nothing to resume).
    """
    from nnkit.io.checkpoint import latest_checkpoint, load_checkpoint

    path = latest_checkpoint(directory)
    if path is None:
        log(f"No checkpoint in {directory}: starting from scratch")
        return 0
    ckpt = load_checkpoint(path, model)
    model.set_training_state(ckpt.state, ckpt.history)
    log(f"Resuming from {path} (epoch {ckpt.epoch})")
    return ckpt.epoch


def train(args, out=None):
    import nnkit
    from nnkit import callbacks, optimizers, plot, schedules
    from nnkit import recipes

    log = (lambda *a: print(*a, file=out or sys.stdout, flush=True))
    ranks, root = 1, True
    if args.distributed:
        from nnkit import distributed
        ranks, root = distributed.init()[1], distributed.is_root()
        if not root:
            log = (lambda *a: None)
    defaults = DEFAULTS.get(args.model, OTHER_DEFAULTS)
    epochs = args.epochs if args.epochs is not None else defaults["epochs"]
    batch_size = args.batch_size if args.batch_size is not None else defaults["batch_size"]
    lr = args.lr if args.lr is not None else defaults["lr"]
    schedule = args.schedule or defaults["schedule"]
    for name, value in (("epochs", epochs), ("batch-size", batch_size), ("threads", args.threads)):
        _positive(name, value)
    if not lr > 0:
        raise ValueError(f"--lr must be positive, got {lr}")
    if args.resume and not args.checkpoint_dir:
        raise ValueError("--resume needs --checkpoint-dir (where to find the checkpoints)")
    plot_path = None if args.no_plot or not root else args.plot
    if plot_path and not plot.have_matplotlib():
        log("matplotlib is not installed: skipping the learning-curve PNG (pip install 'nnkit[plot]')")
        plot_path = None

    if args.threads:
        nnkit.set_num_threads(args.threads)
    (x_train, y_train), (x_test, y_test) = recipes.load_data(args.dataset)
    nnkit.set_seed(args.seed)
    model = recipes.build_model(args.model, x_train.shape[1:], int(max(y_train.max(), y_test.max())) + 1)
    rate = lr
    if schedule == "cosine":
        per_rank = -(-len(x_train) // ranks)  # each rank steps through its shard
        rate = schedules.CosineDecay(lr, decay_steps=epochs * -(-per_rank // batch_size), alpha=0.01)
    model.compile(optimizers.get(args.optimizer, learning_rate=rate), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    log(f"nnkit {nnkit.__version__}: training {args.model} on {args.dataset} ({len(x_train)} train / "
        f"{len(x_test)} test images), {epochs} epochs, batch {batch_size}, {args.optimizer} lr {lr:g} {schedule}, "
        f"{nnkit.get_num_threads()} threads, backend {nnkit.get_backend()}, seed {args.seed}"
        f"{f', {ranks} MPI ranks (global batch {ranks * batch_size})' if args.distributed else ''}; "
        f"the val_ columns are the test set (nothing is tuned on them)")

    cbs, initial_epoch = [], 0
    if args.checkpoint_dir:
        os.makedirs(args.checkpoint_dir, exist_ok=True)
        if args.resume and root:  # under MPI, fit gives the other ranks rank 0's state
            initial_epoch = _resume_hook(model, args.checkpoint_dir, log)
        if args.distributed:
            initial_epoch = distributed.broadcast_object(initial_epoch)
        if args.resume:
            if initial_epoch >= epochs:
                log(f"Already trained for {initial_epoch} epochs (>= --epochs {epochs}): nothing to do")
        cbs.append(callbacks.ModelCheckpoint(os.path.join(args.checkpoint_dir, "epoch-{epoch:03d}.nnk")))

    start = time.perf_counter()
    history = model.history
    if initial_epoch < epochs:
        history = model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, validation_data=(x_test, y_test),
                            callbacks=cbs, verbose=args.verbose, initial_epoch=initial_epoch)
    elapsed = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    log(f"Test accuracy: {accuracy:.4f} (loss {loss:.4f}) after {epochs} epochs; training took {elapsed:.1f}s")
    if plot_path and history is not None and history.epoch:
        history.plot(plot_path, title=f"{args.model} on {args.dataset}", val_label="test")
        log(f"Learning curves: {plot_path}")
    if args.save and root:
        model.save(args.save)
        log(f"Model saved: {args.save}")
    return accuracy


def export_onnx(args):
    import nnkit
    from nnkit.io.onnx_export import export_onnx as export

    export(nnkit.load_model(args.model, compile=False), args.out, opset=args.opset, batch_size=args.batch_size)
    print(f"Wrote {args.out} (opset {args.opset})")


def bench(argv):
    try:
        from nnkit.bench import main as bench_main
    except ImportError as e:
        print(f"nnkit bench: the benchmark module is not available ({e})", file=sys.stderr)
        return 2
    return bench_main(argv)


def _end_other_ranks(args):
    """Under mpiexec an error on one rank ends the job: the other ranks would wait for this one forever."""
    if getattr(args, "distributed", False):
        from nnkit.distributed import comm
        if comm.is_initialized() and comm.size() > 1:
            comm.abort("nnkit train stopped on the error above")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:2] == ["bench", "--distributed"]:  # under mpiexec: all-reduce and data-parallel training speed
        from nnkit.distributed.bench import main as distributed_bench
        return distributed_bench(argv[2:]) or 0
    if argv[:1] == ["bench"]:  # everything after 'bench' belongs to the benchmark runner
        return bench(argv[1:]) or 0
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        export_onnx(args) if args.command == "export-onnx" else train(args)
    except (ValueError, FileNotFoundError, RuntimeError, ImportError) as e:
        print(f"nnkit {args.command}: error: {e}", file=sys.stderr)
        _end_other_ranks(args)
        return 2
    except KeyboardInterrupt:
        print("nnkit train: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
