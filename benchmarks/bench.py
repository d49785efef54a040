"""Benchmark minigrad against the same MLP written by hand in NumPy (and PyTorch, if installed).

    python benchmarks/bench.py                 # full run, writes benchmarks/results/latest.json
    python benchmarks/bench.py --quick         # fewer repetitions, for a smoke test

The main tables run in one process with the same BLAS thread count. Engines are interleaved step
by step (the order rotates), so that drift of this shared machine hits them alike; tables show
medians with the interquartile range, and ratios of medians taken in the same run. The MLP ratios
are then measured again in fresh processes, to show how far one run's figure may stray.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

# PyTorch's OpenMP threads spin after each parallel region by default, and OpenBLAS's threads do
# too: interleaved in one process on a small machine, each library's spinning threads steal the
# cores the other needs (steps of 50 ms instead of 0.3). Idle threads must sleep. Set before import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ablations  # noqa: E402
import minigrad  # noqa: E402
from mlp import (  # noqa: E402
    LEARNING_RATE, MinigradMLP, NumpyMLP, TextbookNumpyMLP, TorchMLP, batch, initial_weights,
)

RESULTS = Path(__file__).resolve().parent / "results"


def summary(seconds: list[float], scale: float = 1e3) -> dict:
    """Median and quartiles, in milliseconds by default."""
    q1, median, q3 = np.percentile(np.array(seconds) * scale, [25, 50, 75])
    return {"median": float(median), "q1": float(q1), "q3": float(q3), "n": len(seconds)}


USE_TORCH = True  # --no-torch turns PyTorch off even when it is installed


def torch_available() -> bool:
    if not USE_TORCH:
        return False
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def keep_freed_memory() -> str:
    """Tell glibc's malloc to keep freed memory for reuse, for every engine alike; describe the setting.

    With glibc's defaults, a freed block of a few hundred kB goes back to the kernel, and the next
    allocation of that size is mapped afresh: one page fault per 4 kB, each paid inside a step. Which
    engine pays how many depends on the order in which it allocates and frees, and on the state the
    process happens to be in, so the benchmark takes that lottery out of its main tables and
    measures it separately (`default_allocator_rows`, shown in chapter 17).
    """
    libc_path = ctypes.util.find_library("c")
    if platform.system() != "Linux" or libc_path is None:
        return "system default"
    libc = ctypes.CDLL(libc_path)
    if not hasattr(libc, "mallopt"):
        return "system default"
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    if libc.mallopt(m_mmap_threshold, 32 << 20) != 1 or libc.mallopt(m_trim_threshold, 1 << 30) != 1:
        return "system default (mallopt refused)"
    return "glibc malloc keeping freed memory (mallopt: M_MMAP_THRESHOLD 32 MiB, M_TRIM_THRESHOLD 1 GiB)"


def page_faults() -> int:
    """Minor page faults of this process so far (a fault maps one fresh page of memory)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def environment(allocator: str) -> dict:
    from threadpoolctl import threadpool_info

    blas = [
        {k: info.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
        for info in threadpool_info()
        if info.get("user_api") == "blas"
    ]
    env = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "blas": blas,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
        "allocator": allocator,
        "torch": None,
    }
    if torch_available():
        import torch

        env["torch"] = torch.__version__
        env["torch_threads"] = torch.get_num_threads()
    return env


def time_steps(engines: dict, x: np.ndarray, y: np.ndarray, steps: int, warmup: int) -> tuple[dict, dict]:
    """Per-step times of each engine, interleaved: step i runs every engine, order rotated; and each
    engine's mean number of page faults per timed step."""
    names = list(engines)
    times = {name: [] for name in names}
    fault_counts = dict.fromkeys(names, 0)
    for i in range(warmup + steps):
        order = names[i % len(names):] + names[: i % len(names)]
        for name in order:
            faults_before = page_faults()
            start = time.perf_counter()
            engines[name].step(x, y)
            elapsed = time.perf_counter() - start
            if i >= warmup:
                times[name].append(elapsed)
                fault_counts[name] += page_faults() - faults_before
    return times, {name: count / steps for name, count in fault_counts.items()}


ROUNDS = 5


def timed_steps(batch_size: int, steps: int) -> int:
    """Steps to time at this batch size: `steps`, or a quarter of it for the slow large batches."""
    return steps if batch_size <= 128 else max(steps // 4, 30)


def mlp_table(batch_sizes: list[int], steps: int, warmup: int, with_torch: bool = True) -> list[dict]:
    """minigrad against the tight NumPy floor, interleaved; then minigrad against the textbook NumPy
    step (the floor of earlier editions) in a second pass; then, if installed, PyTorch against the
    tight floor in a third (PyTorch's thread pool disturbs the BLAS threads of the others, so it does
    not share their pass). Each ratio is taken within its own pass: two engines at a time, so
    that each pass measures the same kind of interleaving.

    The steps of each batch size are spread over ROUNDS rounds through all the batch sizes, so that
    a burst of load on this shared machine, which may last seconds, falls on a part of every row
    rather than on the whole of one.
    """
    weights = initial_weights()
    data = {batch_size: batch(batch_size) for batch_size in batch_sizes}
    passes = {}  # batch size -> [(engines, times, page faults per step in each round)]
    for batch_size in batch_sizes:
        x, y = data[batch_size]
        # Same starting weights, same data: the gradients must agree before any timing counts.
        reference = NumpyMLP(weights).gradients(x, y)
        for engine in (MinigradMLP(weights), TextbookNumpyMLP(weights)):
            for got, want in zip(engine.gradients(x, y), reference):
                np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
        engine_sets = [{"numpy": NumpyMLP(weights), "minigrad": MinigradMLP(weights)},
                       {"textbook": TextbookNumpyMLP(weights), "minigrad": MinigradMLP(weights)}]
        if with_torch and torch_available():
            engine_sets.append({"numpy": NumpyMLP(weights), "torch": TorchMLP(weights)})
        passes[batch_size] = [(engines, {name: [] for name in engines}, []) for engines in engine_sets]
    for _ in range(ROUNDS):
        for batch_size in batch_sizes:
            x, y = data[batch_size]
            for engines, times, faults in passes[batch_size]:
                round_steps = max(timed_steps(batch_size, steps) // ROUNDS, 1)
                round_times, round_faults = time_steps(engines, x, y, round_steps, warmup)
                for name, t in round_times.items():
                    times[name].extend(t)
                faults.append(round_faults)
    rows = []
    for batch_size in batch_sizes:
        (_, times, faults), (_, textbook_times, _), *torch_pass = passes[batch_size]
        row = {"batch": batch_size, "numpy": summary(times["numpy"]), "minigrad": summary(times["minigrad"]),
               "page_faults_per_step": {name: statistics.mean(f[name] for f in faults) for name in times}}
        row["minigrad_ratio"] = row["minigrad"]["median"] / row["numpy"]["median"]
        row["textbook"] = summary(textbook_times["textbook"])
        row["minigrad_textbook_pass"] = summary(textbook_times["minigrad"])
        row["textbook_ratio"] = row["minigrad_textbook_pass"]["median"] / row["textbook"]["median"]
        for _, times, _ in torch_pass:
            row["torch"], row["numpy_torch_pass"] = summary(times["torch"]), summary(times["numpy"])
            row["torch_ratio"] = row["torch"]["median"] / row["numpy_torch_pass"]["median"]
        rows.append(row)
    return rows


def _mlp_table_in_child(batch_sizes: list[int], steps: int, warmup: int, keep_memory: bool) -> list[dict]:
    """mlp_table without PyTorch, run in a fresh Python process; its rows."""
    setup = "bench.keep_freed_memory(); " if keep_memory else ""
    code = (f"import json, bench; {setup}"
            f"print(json.dumps(bench.mlp_table({batch_sizes!r}, {steps}, {warmup}, with_torch=False)))")
    child = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent,
                           capture_output=True, text=True, check=True)
    return json.loads(child.stdout.splitlines()[-1])


def default_allocator_rows(batch_sizes: list[int], steps: int, warmup: int) -> list[dict]:
    """minigrad against NumPy as in mlp_table, in a fresh process that leaves the allocator alone."""
    return _mlp_table_in_child(batch_sizes, steps, warmup, keep_memory=False)


def fresh_process_ratios(batch_sizes: list[int], processes: int, steps: int, warmup: int) -> list[dict]:
    """The minigrad / NumPy ratio of mlp_table measured again in `processes` fresh processes.

    Each process is a new draw of what one run cannot control (where its arrays land in memory,
    how the two BLAS threads are scheduled), so the spread of these ratios says how far the main
    table's single figure may be from another run's.
    """
    runs = [_mlp_table_in_child(batch_sizes, steps, warmup, keep_memory=True) for _ in range(processes)]
    rows = []
    for i, batch_size in enumerate(batch_sizes):
        ratios = [run[i]["minigrad_ratio"] for run in runs]
        textbook = [run[i]["textbook_ratio"] for run in runs]
        rows.append({"batch": batch_size, "ratios": ratios, "median": statistics.median(ratios),
                     "min": min(ratios), "max": max(ratios),
                     "textbook_ratios": textbook, "textbook_median": statistics.median(textbook)})
    return rows


def per_op_overhead(chain: int, repeats: int) -> dict:
    """Microseconds per `y = y + x` on 1-element tensors: forward, backward, and the graph freed.

    The graph's end is freed inside the timing (`del y`), for every engine: an engine may free what
    a node saved during the backward pass (minigrad does, as PyTorch does) or when the last tensor
    of the graph goes, and either way the freeing is part of what one operation costs.
    """

    def minigrad_run() -> float:
        x = minigrad.Tensor(np.ones(1, np.float32), requires_grad=True)
        y = minigrad.Tensor(np.ones(1, np.float32), requires_grad=True)
        start = time.perf_counter()
        for _ in range(chain):
            y = y + x
        y.backward()
        del y
        return time.perf_counter() - start

    def numpy_run() -> float:
        x, y = np.ones(1, np.float32), np.ones(1, np.float32)
        start = time.perf_counter()
        for _ in range(chain):
            y = y + x
        return time.perf_counter() - start

    runs = {"minigrad": minigrad_run, "numpy forward only": numpy_run}
    if torch_available():
        import torch

        def torch_run() -> float:
            x = torch.ones(1, requires_grad=True)
            y = torch.ones(1, requires_grad=True)
            start = time.perf_counter()
            for _ in range(chain):
                y = y + x
            y.backward()
            del y
            return time.perf_counter() - start

        runs["torch"] = torch_run
    times = {name: [] for name in runs}
    for i in range(repeats):
        for name in list(runs)[i % len(runs):] + list(runs)[: i % len(runs)]:
            gc.collect()
            times[name].append(runs[name]() / chain)
    result = {name: summary(t, scale=1e6) for name, t in times.items()}
    if "torch" in result:
        result["minigrad_over_torch"] = result["minigrad"]["median"] / result["torch"]["median"]
    return result


def deep_chain(sizes: list[int], repeats: int) -> list[dict]:
    """Forward and backward time of a chain of n additions, to show time linear in n."""
    rows = []
    for n in sizes:
        forward, backward = [], []
        for _ in range(repeats):
            x = minigrad.Tensor(np.ones(1, np.float32), requires_grad=True)
            y = x
            start = time.perf_counter()
            for _ in range(n):
                y = y + x
            middle = time.perf_counter()
            y.backward()
            forward.append(middle - start)
            backward.append(time.perf_counter() - middle)
            del y
            gc.collect()
        rows.append({"nodes": n, "forward_s": summary(forward, 1), "backward_s": summary(backward, 1),
                     "backward_us_per_node": summary(backward, 1e6 / n)})
    return rows


def backward_memory(batch_size: int) -> dict:
    """Peak bytes allocated while one backward pass runs (tracemalloc sees NumPy's buffers)."""
    weights = initial_weights()
    x, y = batch(batch_size)
    engine = MinigradMLP(weights)
    loss = minigrad.cross_entropy(engine.model(minigrad.Tensor(x)), minigrad.Tensor(y), reduction="mean")
    gc.collect()
    tracemalloc.start()
    loss.backward()
    _, minigrad_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    manual = NumpyMLP(weights)
    saved = manual.forward(x, y)[1]
    gc.collect()
    tracemalloc.start()
    manual.backward(saved)
    _, numpy_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    parameter_bytes = sum(w.nbytes for w in weights)
    return {"batch": batch_size, "minigrad_peak_bytes": minigrad_peak, "numpy_peak_bytes": numpy_peak,
            "parameter_bytes": parameter_bytes}


def losses_table(steps: int, warmup: int) -> list[dict]:
    """Each known loss put back into the engine, timed against the engine as built and the floor."""
    weights = initial_weights()
    rows = []
    for loss in ablations.LOSSES:
        x, y = batch(loss.batch_size)
        engines = {"numpy": NumpyMLP(weights), "minigrad": MinigradMLP(weights)}
        with loss.applied():
            engines["with the loss"] = loss.engine(weights)
        times, _ = time_steps({name: ablations.Scoped(engine, loss if name == "with the loss" else None)
                               for name, engine in engines.items()}, x, y, steps, warmup)
        medians = {name: statistics.median(t) for name, t in times.items()}
        rows.append({
            "loss": loss.name,
            "batch": loss.batch_size,
            "as_built_ratio": medians["minigrad"] / medians["numpy"],
            "with_loss_ratio": medians["with the loss"] / medians["numpy"],
            "as_built": summary(times["minigrad"]),
            "with_loss": summary(times["with the loss"]),
            "numpy": summary(times["numpy"]),
        })
    return rows


def print_tables(results: dict) -> None:
    env = results["environment"]
    threads = ", ".join(f"{b['internal_api']} {b['version']} ({b['num_threads']} threads)" for b in env["blas"])
    print(f"Python {env['python']}, NumPy {env['numpy']}, BLAS: {threads}, torch: {env['torch'] or 'not installed'}")
    print(f"OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE']}; allocator: {env['allocator']}\n")
    print("MLP 784-64-64-10 training step (ms, median [q1-q3]); ratio = median / the tight NumPy floor's")
    header = f"{'batch':>6} {'numpy':>20} {'minigrad':>20} {'ratio':>6}"
    has_torch = "torch" in results["mlp"][0]
    if has_torch:
        header += f" {'torch':>20} {'ratio':>6}"
    print(header)
    for row in results["mlp"]:
        cells = [f"{row['batch']:>6}"]
        for name in ["numpy", "minigrad"] + (["torch"] if has_torch else []):
            s = row[name]
            cells.append(f"{s['median']:8.3f} [{s['q1']:.3f}-{s['q3']:.3f}]".rjust(20))
            if name != "numpy":
                cells.append(f"{row[name + '_ratio']:6.2f}")
        print(" ".join(cells) + f"   (minigrad / textbook NumPy step: {row['textbook_ratio']:.2f})")
    print(f"\nminigrad / NumPy again in {len(results['fresh_processes'][0]['ratios'])} fresh processes")
    for row in results["fresh_processes"]:
        print(f"{row['batch']:>6} median {row['median']:.3f}, min {row['min']:.3f}, max {row['max']:.3f}: "
              + " ".join(f"{r:.3f}" for r in row["ratios"])
              + f"   (textbook step: median {row['textbook_median']:.3f})")
    print("\nThe same in a fresh process with the allocator's defaults (page faults per step)")
    for row in results["default_allocator"]:
        f = row["page_faults_per_step"]
        print(f"{row['batch']:>6} numpy {row['numpy']['median']:.3f} ms ({f['numpy']:.0f} faults)  minigrad "
              f"{row['minigrad']['median']:.3f} ms ({f['minigrad']:.0f} faults)  ratio {row['minigrad_ratio']:.2f}")
    per_op = results["per_op"]
    print("\nPer-op overhead: chain of y = y + x on 1-element tensors, forward + backward + graph freed (us/op)")
    for name, s in per_op.items():
        if isinstance(s, dict):
            print(f"  {name:>20}: {s['median']:6.2f} [{s['q1']:.2f}-{s['q3']:.2f}]")
    if "minigrad_over_torch" in per_op:
        print(f"  minigrad / torch: {per_op['minigrad_over_torch']:.2f}")
    print("\nDeep chains (y = y + x repeated n times)")
    for row in results["deep_chain"]:
        print(f"  n={row['nodes']:>7}: forward {row['forward_s']['median']:.3f} s, backward "
              f"{row['backward_s']['median']:.3f} s ({row['backward_us_per_node']['median']:.2f} us/node)")
    memory = results["memory"]
    print(f"\nPeak memory of one backward pass, batch {memory['batch']}: minigrad "
          f"{memory['minigrad_peak_bytes'] / 2**20:.2f} MiB, NumPy by hand {memory['numpy_peak_bytes'] / 2**20:.2f} MiB "
          f"(parameters: {memory['parameter_bytes'] / 2**20:.2f} MiB)")
    print("\nKnown losses, put back one at a time (step time / NumPy step time)")
    for row in results["losses"]:
        print(f"  batch {row['batch']:>4} {row['loss']:<48} as built {row['as_built_ratio']:5.2f}   "
              f"with the loss {row['with_loss_ratio']:5.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke test)")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out even if installed")
    args = parser.parse_args(argv)
    global USE_TORCH
    USE_TORCH = not args.no_torch
    allocator = keep_freed_memory()  # before anything is timed; default_allocator_rows shows the difference
    steps, warmup, repeats, processes = (30, 5, 5, 2) if args.quick else (500, 20, 30, 5)
    results = {
        "environment": environment(allocator),
        "settings": {"steps": steps, "warmup": warmup, "rounds": ROUNDS, "repeats": repeats,
                     "processes": processes, "lr": LEARNING_RATE},
        "mlp": mlp_table([1, 32, 128, 1024], steps, warmup),
        "fresh_processes": fresh_process_ratios([128, 1024], processes, steps, warmup),
        "default_allocator": default_allocator_rows([128, 1024], steps, warmup),
        "per_op": per_op_overhead(1000, 3 * repeats),
        "deep_chain": deep_chain([10_000, 100_000], 3),
        "memory": backward_memory(1024),
        "losses": losses_table(steps, warmup),
    }
    print_tables(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
