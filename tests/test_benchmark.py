"""The benchmark command runs on a fresh machine and writes what chapter 17 renders.

Not a timing test: it runs `benchmarks/bench.py --quick` (a few steps of everything) and checks the
structure of its JSON and the invariants that hold whatever the machine's speed.
"""

import json
import subprocess
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
              report.fresh_process_table(quick_results),
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
