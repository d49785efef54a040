"""The benchmark command runs on a fresh machine and writes what chapter 17 renders.

Not a timing test: it runs `benchmarks/bench.py --quick` (a few steps of everything) and checks the
structure of its JSON and the invariants that hold whatever the machine's speed.
"""

import json
import shutil
import subprocess
import statistics
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    run = subprocess.run([sys.executable, str(BENCHMARKS / "bench.py"), "--quick", "--no-torch", "--out", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "MLP 784-64-64-10 training step" in run.stdout
    return json.loads(out.read_text())


def test_every_table_has_its_rows(quick_results):
    assert [row["batch"] for row in quick_results["mlp"]] == [1, 32, 128, 1024]
    assert [row["batch"] for row in quick_results["default_allocator"]] == [128, 1024]
    assert [row["batch"] for row in quick_results["fresh_processes"]] == [128, 1024]
    assert [row["nodes"] for row in quick_results["deep_chain"]] == [10_000, 100_000]
    assert len(quick_results["losses"]) == 5
    assert "torch" not in quick_results["mlp"][0]  # --no-torch


def test_every_row_times_its_steps_in_rounds(quick_results):
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from bench import timed_steps
    finally:
        sys.path.remove(str(BENCHMARKS))
    settings = quick_results["settings"]
    for row in quick_results["mlp"]:
        steps = timed_steps(row["batch"], settings["steps"])
        expected = settings["rounds"] * (steps // settings["rounds"])
        assert row["numpy"]["n"] == row["minigrad"]["n"] == expected


def test_ratios_are_ratios_of_the_medians(quick_results):
    for row in quick_results["mlp"] + quick_results["default_allocator"]:
        assert row["minigrad_ratio"] == pytest.approx(row["minigrad"]["median"] / row["numpy"]["median"])
        for engine in ("numpy", "minigrad"):
            timing = row[engine]
            assert 0 < timing["q1"] <= timing["median"] <= timing["q3"]
            assert row["page_faults_per_step"][engine] >= 0


def test_the_textbook_pass_has_its_own_ratio(quick_results):
    for row in quick_results["mlp"]:
        ratio = row["minigrad_textbook_pass"]["median"] / row["textbook"]["median"]
        assert row["textbook_ratio"] == pytest.approx(ratio)
    for row in quick_results["fresh_processes"]:
        assert row["textbook_median"] == pytest.approx(statistics.median(row["textbook_ratios"]))


def test_both_floors_compute_the_same_step():
    """The tight floor is a floor only if it does the same arithmetic: same gradients as the
    textbook step and as minigrad, and the same weights after a few steps (ties included)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from mlp import MinigradMLP, NumpyMLP, TextbookNumpyMLP, batch, initial_weights
    finally:
        sys.path.remove(str(BENCHMARKS))
    weights = initial_weights()
    for batch_size in (1, 7, 128):
        x, y = batch(batch_size)
        x[:, :50] = 0.0  # more exact zeros before the ReLUs are likely with sparse inputs
        engines = [NumpyMLP(weights), TextbookNumpyMLP(weights), MinigradMLP(weights)]
        reference = engines[1].gradients(x, y)
        for engine in (engines[0], engines[2]):
            for got, want in zip(engine.gradients(x, y), reference):
                np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
        for _ in range(3):
            losses = [engine.step(x, y) for engine in engines]
            assert losses[0] == pytest.approx(losses[1], rel=1e-5) == pytest.approx(losses[2], rel=1e-5)
        for a, b in zip(engines[0].params, engines[1].params):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_the_tight_floor_handles_ties_as_the_book_does():
    """relu'(0) = 1/2: a pre-activation of exactly 0 passes half the gradient, in both floors."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from mlp import NumpyMLP, TextbookNumpyMLP, batch, initial_weights
    finally:
        sys.path.remove(str(BENCHMARKS))
    weights = initial_weights()
    weights[1][:] = 0.0  # b1 = 0 and a zero input row: every first-layer pre-activation is 0
    x, y = batch(4)
    x[0] = 0.0
    tight, textbook = NumpyMLP(weights).gradients(x, y), TextbookNumpyMLP(weights).gradients(x, y)
    for got, want in zip(tight, textbook):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_the_bare_engine_computes_the_floors_step():
    """benchmarks/bare.py bounds the targets only if it does the floor's arithmetic: same gradients,
    ties at the ReLUs included, and the same weights after a few steps."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from bare import BareMLP
        from mlp import NumpyMLP, batch, initial_weights
    finally:
        sys.path.remove(str(BENCHMARKS))
    weights = initial_weights()
    weights[1][:] = 0.0  # b1 = 0 and a zero input row: that row's first pre-activations are 0
    for batch_size in (1, 7, 128):
        x, y = batch(batch_size)
        x[0] = 0.0
        floor, bare = NumpyMLP(weights), BareMLP(weights)
        for got, want in zip(bare.gradients(x, y), floor.gradients(x, y)):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
        for _ in range(3):
            assert bare.step(x, y) == pytest.approx(floor.step(x, y), rel=1e-5)
        for got, want in zip(bare.params, floor.params):
            np.testing.assert_allclose(got.array, want, rtol=1e-4, atol=1e-6)


def test_the_bare_bound_prints_a_row_per_batch_size():
    run = subprocess.run([sys.executable, str(BENCHMARKS / "bare.py"), "--quick"],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = [line.split() for line in run.stdout.splitlines() if line.split()[0].isdigit()]
    assert [row[0] for row in rows] == ["128", "1024"]
    for row in rows:
        assert float(row[1]) > 0
        for ratio, spread in (row[2:4], row[4:6]):
            low, high = map(float, spread.strip("[]").split("-"))
            assert float(ratio) > 0 and 0 < low <= high


def test_fresh_processes_summarise_their_own_ratios(quick_results):
    processes = quick_results["settings"]["processes"]
    for row in quick_results["fresh_processes"]:
        ratios = row["ratios"]
        assert len(ratios) == processes and all(r > 0 for r in ratios)
        assert (row["min"], row["max"]) == (min(ratios), max(ratios))
        assert row["min"] <= row["median"] <= row["max"]


def test_the_allocator_is_reported(quick_results):
    allocator = quick_results["environment"]["allocator"]
    if sys.platform.startswith("linux"):
        assert allocator.startswith("glibc malloc keeping freed memory"), allocator
    else:
        assert allocator.startswith("system default")


def test_memory_and_chains_are_plausible(quick_results):
    memory = quick_results["memory"]
    assert 0 < memory["minigrad_peak_bytes"] and 0 < memory["numpy_peak_bytes"]
    per_node = [row["backward_us_per_node"]["median"] for row in quick_results["deep_chain"]]
    assert all(t > 0 for t in per_node)


def test_the_chapter_renders_from_this_json(quick_results):
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import report
    finally:
        sys.path.remove(str(BENCHMARKS))
    tables = [report.mlp_table(quick_results), report.allocator_table(quick_results),
              report.fresh_process_table(quick_results), report.floors_table(quick_results),
              report.losses_table(quick_results), report.per_op_table(quick_results),
              report.deep_chain_table(quick_results)]
    for table in tables:
        lines = table.splitlines()
        assert lines[0].startswith("| ") and set(lines[1]) <= set("|-: ")
        assert len(lines) > 2
    assert "keeps freed memory" in tables[1] and "glibc defaults" in tables[1]
    assert len(tables[2].splitlines()) == 2 + len(quick_results["fresh_processes"])
    assert "allocator:" in report.environment(quick_results)
    summary = report.allocator_summary(quick_results)
    for row in quick_results["default_allocator"]:
        assert f"at batch {row['batch']:,}, {row['page_faults_per_step']['numpy']:.1f} for NumPy" in summary


@pytest.mark.parametrize("loss_index", range(5))
def test_every_loss_put_back_computes_the_same_step(loss_index):
    """The known-losses table compares equal work: with the loss put back, one training step must
    still give the same updated weights as minigrad as built."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import ablations
        from mlp import MinigradMLP, batch, initial_weights
    finally:
        sys.path.remove(str(BENCHMARKS))
    loss = ablations.LOSSES[loss_index]
    weights = initial_weights()
    x, y = batch(loss.batch_size)
    as_built = MinigradMLP(weights)
    with loss.applied():
        with_loss = loss.engine(weights)
    as_built.step(x, y)
    ablations.Scoped(with_loss, loss).step(x, y)
    for got, want in zip(with_loss.params, as_built.params):
        np.testing.assert_allclose(got.array, want.array, rtol=1e-5, atol=1e-7)


def test_the_regression_check_compares_two_versions_in_one_process():
    """benchmarks/compare.py REV: the earlier package is imported under its own name, never mixed
    with the current one, and every batch size and the per-operation line are printed."""
    run = subprocess.run([sys.executable, str(BENCHMARKS / "compare.py"), "HEAD", "--quick"],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert "against minigrad at HEAD" in lines[0]
    rows = [line.split() for line in lines[2:6]]
    assert [row[0] for row in rows] == ["1", "32", "128", "1024"]
    for row in rows:
        floor, now, then, now_floor, then_floor, now_then = map(float, row[1:])
        assert now_floor == pytest.approx(now / floor, rel=0.01, abs=0.002)
        assert now_then == pytest.approx(now / then, rel=0.01, abs=0.002)
    assert "per operation" in lines[-1] and "now/then" in lines[-1]


def test_the_earlier_version_is_a_separate_package(tmp_path):
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import compare
    finally:
        sys.path.remove(str(BENCHMARKS))
    import minigrad

    old = compare.import_at("HEAD", tmp_path)
    assert old is not minigrad and old.__name__ == "minigrad_at_HEAD"
    assert old.Tensor is not minigrad.Tensor
    assert old.tensor.__module__.startswith("minigrad_at_HEAD")
    # each version's nn.functional is its own functional module (a sys.modules alias in both)
    assert old.nn.functional is old.functional is not minigrad.functional
    assert minigrad.nn.functional is minigrad.functional
    x = old.Tensor(np.ones(3, np.float32), requires_grad=True)
    (x * x).sum().backward()
    assert np.array_equal(x.grad.array, [2, 2, 2])


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed (a measuring tool only)")
def test_instruction_counts_grow_with_the_steps():
    """benchmarks/instructions.py subtracts two callgrind runs of 10 and 60 steps; the count of a
    process must grow with the number of steps it runs, or the subtraction means nothing."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import instructions
    finally:
        sys.path.remove(str(BENCHMARKS))
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:  # two valgrind processes at once: half the wait
        one, three = pool.map(lambda steps: instructions.instructions("NumpyMLP", 1, steps), (1, 3))
    assert 0 < one < three
