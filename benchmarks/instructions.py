"""Instructions per training step, counted by valgrind (callgrind): a measure that noise cannot move.

    python benchmarks/instructions.py            # batch sizes 1 and 128
    python benchmarks/instructions.py 1 32 128   # others

Timings on a shared machine wander by several percent from one run to the next; the number of
instructions a step executes does not (the same program, inputs, libraries and hash seed give the
same count). It is not time: the engine's extra instructions are Python's, which run at a lower
rate per cycle than NumPy's vector loops, so a few percent more instructions can be many percent
more time. But it says whether a change made the engine do less, which is what an overhead change is
meant to do. Each engine runs in its own process under callgrind, with one BLAS thread (valgrind
runs threads one at a time anyway), for 10 and then 60 steps; the difference divided by 50 is one
step, start-up and imports cancelled out.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

RUN = """
import sys
sys.path.insert(0, {here!r})
from mlp import MinigradMLP, NumpyMLP, batch, initial_weights
engine = {engine}(initial_weights())
x, y = batch({batch})
for _ in range({steps}):
    engine.step(x, y)
"""


def instructions(engine: str, batch_size: int, steps: int) -> int:
    """Instructions callgrind counts for a whole process running `steps` steps of `engine`."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        # one hash seed: set and dict layouts, hence their instruction counts, stay put across runs
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", PYTHONHASHSEED="0")
        code = RUN.format(here=str(HERE), engine=engine, batch=batch_size, steps=steps)
        run = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                              sys.executable, "-c", code], capture_output=True, text=True, env=env)
        if run.returncode != 0:
            raise RuntimeError(run.stderr[-2000:])
        return int(re.search(r"Collected : (\d+)", run.stderr)[1])


def per_step(engine: str, batch_size: int) -> float:
    return (instructions(engine, batch_size, 60) - instructions(engine, batch_size, 10)) / 50


def main(argv: list[str] | None = None) -> int:
    sizes = [int(a) for a in (sys.argv[1:] if argv is None else argv)] or [1, 128]
    if shutil.which("valgrind") is None:
        print("needs valgrind (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    print("instructions per training step (callgrind, one BLAS thread)")
    print(f"{'batch':>6} {'NumPy floor':>14} {'minigrad':>14} {'minigrad - floor':>17} {'minigrad / floor':>17}")
    for batch_size in sizes:
        floor, engine = per_step("NumpyMLP", batch_size), per_step("MinigradMLP", batch_size)
        print(f"{batch_size:>6} {floor:>14,.0f} {engine:>14,.0f} {engine - floor:>17,.0f} {engine / floor:>17.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
