"""Markdown tables from the benchmark's JSON, for the "Making it fast" chapter (run at build time)."""

from __future__ import annotations

import json
from pathlib import Path

LATEST = Path(__file__).resolve().parent / "results" / "latest.json"


def load(path: Path = LATEST) -> dict:
    return json.loads(Path(path).read_text())


def _cell(summary: dict, unit: str = "") -> str:
    return f"{summary['median']:.3f}{unit} ({summary['q1']:.3f}–{summary['q3']:.3f})"


def environment(results: dict) -> str:
    env = results["environment"]
    blas = ", ".join(f"{b['internal_api']} {b['version']}, {b['num_threads']} threads" for b in env["blas"])
    torch = f"PyTorch {env['torch']} ({env.get('torch_threads')} threads)" if env["torch"] else "PyTorch not installed"
    settings = results["settings"]
    return (f"Python {env['python']}, NumPy {env['numpy']} ({blas}), {torch}; {env['cpus']} cores; "
            f"allocator: {env.get('allocator', 'system default')}; "
            f"{settings['steps']} timed steps per engine and batch size (a quarter of that at 1,024), in "
            f"{settings['rounds']} rounds through the batch sizes, each after {settings['warmup']} warm-up steps.")


def mlp_table(results: dict) -> str:
    rows = results["mlp"]
    has_torch = "torch" in rows[0]
    head = ("| batch | NumPy by hand (tight), ms | minigrad, ms | minigrad / tight NumPy "
            "| minigrad / textbook NumPy (second pass) |")
    rule = "|---:|---:|---:|---:|---:|"
    if has_torch:
        head += " PyTorch, ms | PyTorch / tight NumPy (its own pass) |"
        rule += "---:|---:|"
    lines = [head, rule]
    for row in rows:
        line = (f"| {row['batch']} | {_cell(row['numpy'])} | {_cell(row['minigrad'])} "
                f"| **{row['minigrad_ratio']:.2f}** | {row['textbook_ratio']:.2f} |")
        if has_torch:
            line += f" {_cell(row['torch'])} | {row['torch_ratio']:.2f} |"
        lines.append(line)
    return "\n".join(lines)


def floors_table(results: dict) -> str:
    """The two NumPy steps side by side, from the textbook pass and the main pass."""
    lines = ["| batch | textbook NumPy step, ms | tight NumPy step, ms | textbook / tight (across passes) |",
             "|---:|---:|---:|---:|"]
    for row in results["mlp"]:
        lines.append(f"| {row['batch']} | {_cell(row['textbook'])} | {_cell(row['numpy'])} "
                     f"| {row['textbook']['median'] / row['numpy']['median']:.2f} |")
    return "\n".join(lines)


def fresh_process_table(results: dict) -> str:
    """The main run's ratio beside the same ratio measured in several fresh processes."""
    main = {row["batch"]: row["minigrad_ratio"] for row in results["mlp"]}
    rows = results["fresh_processes"]
    processes = len(rows[0]["ratios"])
    lines = [f"| batch | minigrad / tight NumPy, main run | in {processes} fresh processes: median "
             "(lowest–highest) | each process | minigrad / textbook NumPy, median of the processes |",
             "|---:|---:|---:|---|---:|"]
    for row in rows:
        spread = f"{row['median']:.3f} ({row['min']:.3f}–{row['max']:.3f})"
        each = ", ".join(f"{r:.3f}" for r in row["ratios"])
        lines.append(f"| {row['batch']} | {main[row['batch']]:.3f} | {spread} | {each} "
                     f"| {row['textbook_median']:.3f} |")
    return "\n".join(lines)


def allocator_table(results: dict) -> str:
    """The main run against a fresh process that leaves glibc's allocator at its defaults."""
    main = {row["batch"]: row for row in results["mlp"]}
    lines = ["| batch | allocator | NumPy by hand, ms | minigrad, ms | minigrad / NumPy | page faults per step, NumPy / minigrad |",
             "|---:|---|---:|---:|---:|---:|"]
    for row in results["default_allocator"]:
        for label, r in (("keeps freed memory", main[row["batch"]]), ("glibc defaults", row)):
            faults = r["page_faults_per_step"]
            lines.append(f"| {row['batch']} | {label} | {_cell(r['numpy'])} | {_cell(r['minigrad'])} "
                         f"| {r['minigrad_ratio']:.2f} | {faults['numpy']:.0f} / {faults['minigrad']:.0f} |")
    return "\n".join(lines)


def allocator_summary(results: dict) -> str:
    """The page faults of the main run and of the default-allocator run, as a sentence."""
    kept = max(row["page_faults_per_step"][engine] for row in results["mlp"] for engine in ("numpy", "minigrad"))
    default = "; ".join(
        f"at batch {row['batch']:,}, {row['page_faults_per_step']['numpy']:.1f} for NumPy and "
        f"{row['page_faults_per_step']['minigrad']:.1f} for minigrad"
        for row in results["default_allocator"]
    )
    return (f"In this run, with the memory kept, no engine averaged more than {kept:.1f} page faults per step; "
            f"with glibc's defaults, the averages were: {default}.")


def losses_table(results: dict) -> str:
    lines = ["| put back | batch | step / NumPy step, as built | with the loss put back |", "|---|---:|---:|---:|"]
    for row in results["losses"]:
        lines.append(f"| {row['loss']} | {row['batch']} | {row['as_built_ratio']:.2f} | {row['with_loss_ratio']:.2f} |")
    return "\n".join(lines)


def per_op_table(results: dict) -> str:
    lines = ["| engine | µs per `y = y + x`, forward and backward |", "|---|---:|"]
    for name, summary in results["per_op"].items():
        if isinstance(summary, dict):
            lines.append(f"| {name} | {summary['median']:.2f} ({summary['q1']:.2f}–{summary['q3']:.2f}) |")
    return "\n".join(lines)


def deep_chain_table(results: dict) -> str:
    lines = ["| nodes | forward, s | backward, s | backward, µs per node |", "|---:|---:|---:|---:|"]
    for row in results["deep_chain"]:
        lines.append(f"| {row['nodes']:,} | {row['forward_s']['median']:.3f} | {row['backward_s']['median']:.3f} "
                     f"| {row['backward_us_per_node']['median']:.2f} |")
    return "\n".join(lines)


def memory_line(results: dict) -> str:
    m = results["memory"]
    mib = 2 ** 20
    return (f"one backward pass at batch {m['batch']} allocates at most {m['minigrad_peak_bytes'] / mib:.2f} MiB "
            f"with minigrad and {m['numpy_peak_bytes'] / mib:.2f} MiB written by hand in NumPy "
            f"(the parameters themselves take {m['parameter_bytes'] / mib:.2f} MiB)")
