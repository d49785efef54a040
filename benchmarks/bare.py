"""How close can an engine get to the floor at all? A bare engine for the benchmark's network.

    python benchmarks/bare.py            # batch 128 and 1024, interleaved with the floor and minigrad
    python benchmarks/bare.py --quick    # fewer steps (a smoke test)

The bare engine records a graph and walks it backwards as minigrad does (a tensor per result, a
recipe per operation, the recipes in the order they were made), and nothing else: three operations
written by hand for this network (linear, ReLU, mean cross-entropy), each with one backward function
that returns all its inputs' gradients at once; no modules, no optimizer object, no version counters,
no grad mode, no dtype rules, no checks of its arguments. It is not part of minigrad and is not meant
to be used; it bounds what the benchmark's targets can ask of an engine that builds its graph in
Python: a ratio that the bare engine does not reach is not one to expect of a full engine.

Timed exactly as `bench.py` times its main table: one step of each engine in turn, the order
rotating, spread over rounds; ratios are medians of step times over the floor's median; the spread is
the lowest and highest of the rounds' ratios.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import statistics
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import bench  # noqa: E402
from mlp import LEARNING_RATE, MinigradMLP, NumpyMLP, batch, initial_weights  # noqa: E402

_made = itertools.count()  # numbers the recipes: a parent's is smaller than its child's


class BareTensor:
    __slots__ = ("array", "requires_grad", "grad", "back", "parents", "saved", "number")

    def __init__(self, array: np.ndarray, requires_grad: bool = False) -> None:
        self.array = array
        self.requires_grad = requires_grad
        self.grad = None  # an array, not a tensor: nothing reads it but the update
        self.back = None  # saved arrays -> one gradient per parent
        self.parents: tuple = ()
        self.saved: tuple = ()
        self.number = -1


def _result(array: np.ndarray, back, parents: tuple, saved: tuple) -> BareTensor:
    out = BareTensor(array, True)
    out.back, out.parents, out.saved, out.number = back, parents, saved, next(_made)
    return out


def _linear_back(grad: np.ndarray, x: np.ndarray, weight: np.ndarray, need_x: bool) -> tuple:
    """(batch, out) -> gradients of x (batch, in), weight (out, in), bias (out,)."""
    ones = np.ones(len(grad), grad.dtype)  # the bias's sum over the batch as one matrix product
    return (grad @ weight if need_x else None, grad.T @ x, ones @ grad)


def linear(x: BareTensor, weight: BareTensor, bias: BareTensor) -> BareTensor:
    out = x.array @ weight.array.T
    out += bias.array
    return _result(out, _linear_back, (x, weight, bias), (x.array, weight.array, x.requires_grad))


def _relu_back(grad: np.ndarray, x: np.ndarray) -> tuple:
    share = grad * (x > 0)
    ties = x == 0  # the book's relu'(0) = 1/2
    if ties.any():
        np.multiply(grad, 0.5, out=share, where=ties)
    return (share,)


def relu(x: BareTensor) -> BareTensor:
    return _result(np.maximum(x.array, 0), _relu_back, (x,), (x.array,))


def _cross_entropy_back(grad: np.ndarray, probabilities: np.ndarray, targets: np.ndarray) -> tuple:
    """probabilities: (classes, batch), as the forward pass made them."""
    scale = grad / len(targets)
    out = probabilities * scale
    out[targets, np.arange(len(targets))] -= scale
    return (out.T,)


def cross_entropy(logits: BareTensor, targets: np.ndarray) -> BareTensor:
    """Mean cross-entropy; the softmax is computed once, laid out (classes, batch), as the floor's."""
    z = logits.array.T.copy()
    z -= z.max(axis=0)
    target_logit = z[targets, np.arange(len(targets))]
    np.exp(z, out=z)
    total = z.sum(axis=0)
    z /= total
    losses = np.log(total)
    losses -= target_logit
    return _result(np.add.reduce(losses) / len(targets), _cross_entropy_back, (logits,), (z, targets))


def backward(loss: BareTensor) -> None:
    """Every recipe reached from loss, newest first (each before its parents); gradients summed."""
    found, stack = {loss}, [loss]
    while stack:
        for parent in stack.pop().parents:
            if parent.back is not None and parent not in found:
                found.add(parent)
                stack.append(parent)
    grads = {loss: np.ones((), loss.array.dtype)}
    for node in sorted(found, key=lambda t: t.number, reverse=True):
        for parent, grad in zip(node.parents, node.back(grads.pop(node), *node.saved)):
            if parent.requires_grad:
                earlier = grads.get(parent)
                grads[parent] = grad if earlier is None else earlier + grad
        node.parents = node.saved = ()  # the graph is freed as it is walked
    for leaf, grad in grads.items():
        leaf.grad = grad if leaf.grad is None else leaf.grad + grad


class BareMLP:
    """The benchmark's step (mlp.py) on the bare engine."""

    def __init__(self, weights: list[np.ndarray]) -> None:
        self.params = [BareTensor(w.copy(), requires_grad=True) for w in weights]

    def loss(self, x: np.ndarray, y: np.ndarray) -> BareTensor:
        w1, b1, w2, b2, w3, b3 = self.params
        hidden = relu(linear(relu(linear(BareTensor(x), w1, b1)), w2, b2))
        return cross_entropy(linear(hidden, w3, b3), y)

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        for p in self.params:
            p.grad = None
        loss = self.loss(x, y)
        collecting = gc.isenabled()
        gc.disable()  # as minigrad's walk does (chapter 17)
        try:
            backward(loss)
        finally:
            if collecting:
                gc.enable()
        for p in self.params:
            p.array -= LEARNING_RATE * p.grad
        return float(loss.array)

    def gradients(self, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
        for p in self.params:
            p.grad = None
        backward(self.loss(x, y))
        return [p.grad for p in self.params]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (a smoke test)")
    args = parser.parse_args(argv)
    bench.keep_freed_memory()
    steps, rounds = (20, 2) if args.quick else (1500, 10)
    weights = initial_weights()
    print("step time / the floor's (the tight NumPy step):")
    print("median [lowest-highest of the rounds]")
    print(f"{'batch':>5} {'floor ms':>8}  {'bare':<17}  minigrad")
    for batch_size in (128, 1024):
        x, y = batch(batch_size)
        engines = {"floor": NumpyMLP(weights), "bare": BareMLP(weights), "minigrad": MinigradMLP(weights)}
        reference = engines["floor"].gradients(x, y)
        for name in ("bare", "minigrad"):
            for got, want in zip(engines[name].gradients(x, y), reference):
                np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
        rounds_times = []
        per_round = max(bench.timed_steps(batch_size, steps) // rounds, 1)
        for _ in range(rounds):
            rounds_times.append(bench.time_steps(engines, x, y, per_round, 10)[0])
        every = {name: [t for r in rounds_times for t in r[name]] for name in engines}
        floor = statistics.median(every["floor"])
        cells = []
        for name in ("bare", "minigrad"):
            per_round_ratio = [statistics.median(r[name]) / statistics.median(r["floor"]) for r in rounds_times]
            ratio = statistics.median(every[name]) / floor
            cells.append(f"{ratio:.3f} [{min(per_round_ratio):.2f}-{max(per_round_ratio):.2f}]")
        print(f"{batch_size:>5} {floor * 1e3:8.3f}  {cells[0]:<17}  {cells[1]:<17}".rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
