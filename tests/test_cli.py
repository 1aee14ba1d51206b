"""The nnkit command: train (on a tiny slice of the bundled sample), resume, errors, bench dispatch."""
import os
import subprocess
import sys

import numpy as np
import pytest

from child import child_env
from nnkit import cli, plot
from nnkit import recipes


@pytest.fixture
def tiny(monkeypatch):
    """The bundled sample cut to 256 training and 64 test images, so that a run takes about a second."""
    full = recipes.DATASETS["fashion-mnist-sample"]

    def small():
        (x, y), (xt, yt) = full()
        return (x[:256], y[:256]), (xt[:64], yt[:64])
    monkeypatch.setitem(recipes.DATASETS, "fashion-mnist-sample", small)


def run(argv, capsys):
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_train_prints_one_line_per_epoch_and_writes_the_png(tiny, tmp_path, capsys):
    png = tmp_path / "curves.png"
    code, out, err = run(["train", "--epochs", "2", "--batch-size", "64", "--plot", str(png)], capsys)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith("nnkit ") and "lenet5 on fashion-mnist-sample (256 train / 64 test images)" in lines[0]
    epoch_lines = [line for line in lines if line.startswith("Epoch ")]
    assert [line.split(" - ")[0] for line in epoch_lines] == ["Epoch 1/2", "Epoch 2/2"]
    assert "val_accuracy" in epoch_lines[-1] and "\r" not in out
    assert any(line.startswith("Test accuracy: ") for line in lines)
    if plot.have_matplotlib():
        assert png.read_bytes()[:4] == b"\x89PNG"
    else:
        assert "matplotlib is not installed" in out


def test_missing_matplotlib_is_reported_not_fatal(tiny, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(plot, "have_matplotlib", lambda: False)
    code, out, _ = run(["train", "--epochs", "1", "--plot", str(tmp_path / "c.png")], capsys)
    assert code == 0 and "matplotlib is not installed: skipping" in out
    assert not (tmp_path / "c.png").exists()


def test_checkpoints_and_resume_match_an_uninterrupted_run(tiny, tmp_path, capsys):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    base = ["train", "--batch-size", "64", "--no-plot", "--verbose", "0"]
    assert cli.main(base + ["--epochs", "2", "--checkpoint-dir", str(straight)]) == 0
    assert cli.main(base + ["--epochs", "1", "--checkpoint-dir", str(resumed)]) == 0
    assert cli.main(base + ["--epochs", "2", "--checkpoint-dir", str(resumed), "--resume"]) == 0
    out = capsys.readouterr().out
    assert "Resuming from" in out and "epoch-001.nnk (epoch 1)" in out
    assert sorted(os.listdir(straight)) == sorted(os.listdir(resumed)) == ["epoch-001.nnk", "epoch-002.nnk"]
    from nnkit.io.safetensors_io import read_safetensors
    a, _ = read_safetensors(straight / "epoch-002.nnk")
    b, _ = read_safetensors(resumed / "epoch-002.nnk")
    weights = [k for k in a if not k.startswith("__")]
    assert weights and all(np.array_equal(a[k], b[k]) for k in weights)


@pytest.mark.parametrize("argv,message", [
    (["--epochs", "0"], "--epochs must be a positive integer, got 0"),
    (["--batch-size", "-1"], "--batch-size must be a positive integer"),
    (["--lr", "0"], "--lr must be positive"),
    (["--resume"], "--resume needs --checkpoint-dir"),
])
def test_bad_arguments(argv, message, capsys):
    code, out, err = run(["train", "--no-plot"] + argv, capsys)
    assert code == 2 and message in err and "Traceback" not in err


def test_unknown_choices_list_the_valid_ones(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["train", "--optimizer", "adamm"])
    assert e.value.code == 2
    assert "adadelta, adagrad, adam, adamax, adamw, ftrl, lion, nadam, rmsprop, sgd" in capsys.readouterr().err.replace("'", "")


def test_bench_dispatches(monkeypatch):
    import nnkit.bench
    seen = []
    monkeypatch.setattr(nnkit.bench, "main", lambda argv: seen.append(argv) or 0)
    assert cli.main(["bench", "--quick", "x"]) == 0
    assert seen == [["--quick", "x"]]


def test_python_dash_m(tmp_path):
    result = subprocess.run([sys.executable, "-m", "nnkit", "train", "--help"], capture_output=True, text=True,
                            cwd=tmp_path, env=child_env())
    assert result.returncode == 0 and "--checkpoint-dir" in result.stdout and "--resume" in result.stdout


@pytest.mark.slow
def test_readme_command_reaches_80_percent_in_two_minutes(tmp_path, capsys, monkeypatch):
    """`nnkit train` as the README states it: LeNet-5 on the bundled sample, >= 80 % test accuracy, < 2 min."""
    import time
    monkeypatch.chdir(tmp_path)
    start = time.perf_counter()
    code = cli.main(["train"])
    elapsed = time.perf_counter() - start
    out = capsys.readouterr().out
    assert code == 0
    accuracy = float(out.split("Test accuracy: ")[1].split()[0])
    assert accuracy >= 0.80, out
    assert elapsed < 120, f"took {elapsed:.0f}s\n{out}"
    if plot.have_matplotlib():
        assert (tmp_path / "learning_curves.png").exists()


def test_train_recipes_build_every_zoo_model_for_the_data_or_say_why():
    assert recipes.build_model("resnet20", (28, 28, 1), 7).output_shape == (None, 7)
    assert recipes.build_model("lenet5", (28, 28, 1), 4).output_shape == (None, 4)
    with pytest.raises(ValueError, match=r"model 'vgg16' cannot be built for images of shape \(28, 28, 1\)"):
        recipes.build_model("vgg16", (28, 28, 1), 10)


def test_train_reads_a_directory_of_idx_files_or_an_npz(tmp_path):
    from nnkit.datasets.idx import write_idx
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (10, 5, 5), dtype=np.uint8), rng.integers(0, 3, 10).astype(np.uint8)
    (tmp_path / "idx").mkdir()
    for stem, a in (("train-images-idx3-ubyte", x[:8]), ("train-labels-idx1-ubyte", y[:8]),
                    ("t10k-images-idx3-ubyte", x[8:]), ("t10k-labels-idx1-ubyte", y[8:])):
        write_idx(tmp_path / "idx" / stem, a)
    (xt, yt), (xs, ys) = recipes.load_data(str(tmp_path / "idx"))
    assert xt.shape == (8, 5, 5, 1) and xt.dtype == np.float32 and xt.max() <= 1 and ys.tolist() == y[8:].tolist()
    np.savez(tmp_path / "data.npz", x_train=x[:8], y_train=y[:8], x_test=x[8:], y_test=y[8:])
    (xt2, _), _ = recipes.load_data(str(tmp_path / "data.npz"))
    np.testing.assert_array_equal(xt, xt2)
    np.savez(tmp_path / "bad.npz", x=x)
    with pytest.raises(ValueError, match=r"missing arrays \['x_train'"):
        recipes.load_data(str(tmp_path / "bad.npz"))
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        recipes.load_data("nope")
