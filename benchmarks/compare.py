"""Is the engine slower than it was? minigrad as it is now against minigrad at an earlier commit.

    python benchmarks/compare.py REV            # e.g. a tag, or the commit before a change
    python benchmarks/compare.py REV --quick    # fewer steps, for a smoke test

Both versions run in one process, interleaved step by step with the tight NumPy floor (the
order rotates), exactly as `bench.py` times its main table: on a shared machine, two runs in
two processes differ by more than most changes do, so a regression check must compare within
one run. The earlier version is extracted with `git archive` into a temporary folder and
imported under another name (its imports of `minigrad` rewritten), so the two never mix.
Prints the step times, the ratio of each version to the floor, and new / old; then the
per-operation overhead of both (a chain of `y = y + x`), interleaved likewise.

How far from 1 can new / old land when nothing changed? Compare HEAD with a clean working tree
(`compare.py HEAD`): on the 2-core machine the book is measured on, that null comparison gave
1.00 to 1.03, so a difference of a few percent is not a finding without repeated runs.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import io
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import bench  # noqa: E402
import minigrad  # noqa: E402
from mlp import MinigradMLP, NumpyMLP, batch, initial_weights  # noqa: E402

_IMPORTS = re.compile(r"^(\s*)(from|import) minigrad\b", re.MULTILINE)


def import_at(rev: str, folder: Path) -> object:
    """The package `minigrad` at git revision `rev`, imported as `minigrad_at_<rev>`."""
    name = "minigrad_at_" + re.sub(r"\W", "_", rev)
    archive = subprocess.run(["git", "archive", "--format=tar", rev, "minigrad"], cwd=HERE.parent,
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    package = folder / "minigrad"
    for path in package.rglob("*.py"):
        text = _IMPORTS.sub(lambda m: f"{m[1]}{m[2]} {name}", path.read_text())
        text = text.replace('resources.files("minigrad")', f'resources.files("{name}")')
        # functional.py enters itself in sys.modules as minigrad.nn.functional too
        path.write_text(text.replace('sys.modules["minigrad.', f'sys.modules["{name}.'))
    package.rename(folder / name)
    sys.path.insert(0, str(folder))
    module = importlib.import_module(name)
    stray = [m for m in sys.modules if m.startswith(name) and not sys.modules[m].__file__.startswith(str(folder))]
    assert not stray, f"modules of {rev} imported from elsewhere: {stray}"
    return module


def per_op(module: object) -> float:
    """Seconds per `y = y + x` on one-element tensors, chain of 1,000: forward, backward, and the
    graph freed (as `bench.per_op_overhead` times it)."""
    x = module.Tensor(np.ones(1, np.float32), requires_grad=True)
    y = module.Tensor(np.ones(1, np.float32), requires_grad=True)
    start = time.perf_counter()
    for _ in range(1000):
        y = y + x
    y.backward()
    del y
    return (time.perf_counter() - start) / 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rev", help="the earlier commit (anything git understands)")
    parser.add_argument("--quick", action="store_true", help="fewer steps (a smoke test)")
    args = parser.parse_args(argv)
    bench.keep_freed_memory()
    steps, rounds, repeats = (30, 2, 4) if args.quick else (1500, 5, 200)
    with tempfile.TemporaryDirectory() as folder:
        old = import_at(args.rev, Path(folder))
        print(f"minigrad now ({minigrad.__file__}) against minigrad at {args.rev}; floor: the tight NumPy step")
        print(f"{'batch':>6} {'floor ms':>9} {'now ms':>9} {'then ms':>9} {'now/floor':>10} {'then/floor':>11} "
              f"{'now/then':>9}")
        weights = initial_weights()
        for batch_size in (1, 32, 128, 1024):
            x, y = batch(batch_size)
            engines = {"floor": NumpyMLP(weights), "now": MinigradMLP(weights),
                       "then": MinigradMLP(weights, module=old)}
            times = {name: [] for name in engines}
            per_round = max(bench.timed_steps(batch_size, steps) // rounds, 1)
            for _ in range(rounds):
                for name, t in bench.time_steps(engines, x, y, per_round, 10)[0].items():
                    times[name].extend(t)
            med = {name: statistics.median(t) for name, t in times.items()}
            print(f"{batch_size:>6} {med['floor'] * 1e3:9.3f} {med['now'] * 1e3:9.3f} {med['then'] * 1e3:9.3f} "
                  f"{med['now'] / med['floor']:10.3f} {med['then'] / med['floor']:11.3f} "
                  f"{med['now'] / med['then']:9.3f}")
        chains = {"now": [], "then": []}
        for i in range(repeats):
            for name in (("now", "then") if i % 2 == 0 else ("then", "now")):
                gc.collect()
                chains[name].append(per_op(minigrad if name == "now" else old))
        now, then = (statistics.median(chains[name]) * 1e6 for name in ("now", "then"))
        print(f"\nper operation (y = y + x, forward, backward, graph freed): now {now:.2f} us, then {then:.2f} us, "
              f"now/then {now / then:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
