"""The bench command runs end to end in its quick mode and writes its JSON."""
import json

import pytest

import nnkit
from nnkit.bench import cli, runner
from nnkit.bench.timing import compare


def test_quick_bench_writes_rows(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert cli.main(["--quick", "--threads", "1", "--no-torch", "--only", "softmax_xent,pool",
                     "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert {r["group"] for r in data["rows"]} == {"softmax_xent", "pool"}
    for row in data["rows"]:
        assert row["threads"] == 1 and row["ms"] > 0 and row["vs_numpy"] > 0 and row["vs_torch"] is None
    assert "x numpy" in capsys.readouterr().out


def test_scaling_rows_alternate_thread_counts(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert cli.main(["--quick", "--threads", "1,2", "--no-torch", "--only", "pool", "--scaling",
                     "--json", str(out)]) == 0
    scaling = json.loads(out.read_text())["scaling"]
    assert [r["group"] for r in scaling] == ["pool"]
    assert scaling[0]["speedup"]["1"] == 1.0 and scaling[0]["speedup"]["2"] > 0
    assert "scaling (nnkit" in capsys.readouterr().out


def test_compare_runs_each_setup_before_its_samples():
    log = []
    compare({"a": lambda: log.append("a"), "b": lambda: log.append("b")}, rounds=2, warmup=0, target_s=0.0,
            setup={"a": lambda: log.append("setup a")})
    assert all(log[i - 1] == "setup a" for i, x in enumerate(log) if x == "a")


def test_bad_arguments():
    with pytest.raises(SystemExit, match="no case matches"):
        cli.main(["--only", "nothing-like-this", "--no-torch"])
    with pytest.raises(SystemExit, match="thread counts must be positive"):
        cli.main(["--threads", "0", "--no-torch"])
    with pytest.raises(SystemExit, match="--scaling compares two or more thread counts"):
        cli.main(["--threads", "2", "--scaling", "--no-torch"])


def test_compare_alternates_and_reports_medians(monkeypatch):
    import nnkit.bench.timing as timing
    samples = {"a": iter([5.0, 1.0, 3.0]), "b": iter([2.0, 9.0, 4.0])}  # seconds per timed sample, by name
    clock = {"t": 0.0, "running": None}
    prepared = []

    def tick(name):
        def fn():
            if clock["running"] == "timed":
                clock["t"] += next(samples[name])
        return fn

    monkeypatch.setattr(timing.time, "perf_counter", lambda: clock["t"])
    monkeypatch.setattr(timing, "calibrate", lambda fn, target_s: 1)
    setup = {name: (lambda name=name: (prepared.append(name), clock.update(running="timed")))
             for name in ("a", "b")}
    result = compare({"a": tick("a"), "b": tick("b")}, rounds=3, warmup=0, target_s=0.0, setup=setup)
    assert prepared[-6:] == ["a", "b", "a", "b", "a", "b"]  # the timed samples alternate, round by round
    assert result == {"a": 3.0, "b": 4.0}  # medians of each one's samples


def test_compare_pauses_after_each_sample_as_long_as_its_function_needs(monkeypatch):
    import nnkit.bench.timing as timing
    order, pauses = [], []
    monkeypatch.setattr(timing.time, "sleep", lambda s: pauses.append((order[-1], s)))
    monkeypatch.setattr(timing, "calibrate", lambda fn, target_s: 1)
    fns = {name: (lambda name=name: order.append(name)) for name in ("nnkit", "numpy", "torch")}
    compare(fns, rounds=2, warmup=0, target_s=0.0, cooldown_s={"nnkit": 0.02, "numpy": 0.25})
    assert pauses == [("nnkit", 0.02), ("numpy", 0.25)] * 2  # none after torch: not in the dict


def test_the_numpy_reference_pauses_for_openblas_only_on_more_than_one_thread(monkeypatch):
    seen = []
    monkeypatch.setattr(runner, "compare", lambda fns, **kw: seen.append(kw["cooldown_s"]) or {k: 1.0 for k in fns})
    from nnkit.bench.kernel_cases import kernel_cases
    case = next(c for c in kernel_cases() if c.group == "pool")
    previous = nnkit.get_num_threads()
    try:
        for n in (1, 2):
            nnkit.set_num_threads(n)
            runner.run_case(case, rounds=1)
    finally:
        nnkit.set_num_threads(previous)
    assert seen[0]["numpy"] == runner.COOLDOWN_S and seen[1]["numpy"] == runner.OPENBLAS_COOLDOWN_S
    assert seen[1]["nnkit"] == runner.COOLDOWN_S


def test_format_row_handles_missing_values():
    row = {"case": "x", "threads": 1, "ms": 1.0, "items_per_s": 10.0, "gflops": None,
           "vs_numpy": 2.0, "vs_torch": None, "roofline": None}
    assert "2.00x" in runner.format_row(row)


def test_no_numpy_leaves_the_reference_column_out(tmp_path):
    out = tmp_path / "b.json"
    assert cli.main(["--quick", "--only", "pool", "--threads", "1", "--no-torch", "--no-numpy", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["meta"]["numpy"] is False and all(r["vs_numpy"] is None for r in data["rows"])


def test_dense_step_flops_counts_the_gemms_of_a_training_step():
    from nnkit.bench.model_cases import dense_step_flops
    # 3 -> 4 -> 5, batch 2: forward 2*2*(12+20), weight gradients the same, input gradient of the second layer only
    assert dense_step_flops(2, (3, 4, 5)) == 2 * 2 * (12 + 20) * 2 + 2 * 2 * 20


def test_the_header_and_json_name_the_blas(tmp_path, capsys):
    out = tmp_path / "b.json"
    assert cli.main(["--quick", "--only", "dense", "--threads", "1", "--no-torch", "--json", str(out)]) == 0
    blas = nnkit.blas_info()
    assert f"BLAS {blas['name']};" in capsys.readouterr().out
    assert json.loads(out.read_text())["meta"]["blas"] == blas
