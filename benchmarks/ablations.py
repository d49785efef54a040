"""Known losses of a straightforward engine, each one put back into minigrad for a measurement.

Each loss is something the chapters chose not to do; putting it back (for one engine, during its
own steps only) shows what the choice is worth. Chapter 17 shows the figures.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterator

import numpy as np

import minigrad
from minigrad import BACK_FUNCS
from mlp import MinigradMLP

backprop_module = sys.modules["minigrad.backprop"]  # minigrad.backprop is also the function


def _float64_mask_back0(grad_out, out, x, y):
    return minigrad.unbroadcast(grad_out * ((x > y) + 0.5 * (x == y)), x)


def _float64_mask_back1(grad_out, out, x, y):
    return minigrad.unbroadcast(grad_out * ((x < y) + 0.5 * (x == y)), y)


@contextlib.contextmanager
def _float64_mask() -> Iterator[None]:
    saved = BACK_FUNCS.get_back_func(np.maximum, 0), BACK_FUNCS.get_back_func(np.maximum, 1)
    BACK_FUNCS.add_back_func(np.maximum, 0, _float64_mask_back0)
    BACK_FUNCS.add_back_func(np.maximum, 1, _float64_mask_back1)
    try:
        yield
    finally:
        BACK_FUNCS.add_back_func(np.maximum, 0, saved[0])
        BACK_FUNCS.add_back_func(np.maximum, 1, saved[1])


def _composite_linear_forward(self, x):
    return x @ self.weight.T + self.bias


@contextlib.contextmanager
def _composite_linear() -> Iterator[None]:
    fused = minigrad.Linear.forward
    minigrad.Linear.forward = _composite_linear_forward
    try:
        yield
    finally:
        minigrad.Linear.forward = fused


def _depth_first_order(end_node):
    """Chapter 4's sort, as backprop used it before it ordered nodes by their recipes' numbers."""
    return [t for t in minigrad.sorted_computational_graph(end_node) if t.recipe is not None]


@contextlib.contextmanager
def _depth_first_sort() -> Iterator[None]:
    by_sequence_nr = backprop_module._computed_nodes
    backprop_module._computed_nodes = _depth_first_order
    try:
        yield
    finally:
        backprop_module._computed_nodes = by_sequence_nr


class _InputGradMLP(MinigradMLP):
    """As if every tensor argument were a parent: the input batch gets a gradient too."""

    def step(self, x, y):
        mg = self.mg
        self.optimizer.zero_grad()
        loss = mg.cross_entropy(self.model(mg.Tensor(x, requires_grad=True)), mg.Tensor(y), reduction="mean")
        loss.backward()
        self.optimizer.step()
        return loss.item()


class _CompositeCrossEntropyMLP(MinigradMLP):
    """Cross-entropy as log_softmax, then integer indexing (whose backward scatters with np.add.at)."""

    def step(self, x, y):
        mg = self.mg
        self.optimizer.zero_grad()
        logits = self.model(mg.Tensor(x))
        loss = (-mg.log_softmax(logits)[mg.arange(len(y)), mg.Tensor(y)]).mean()
        loss.backward()
        self.optimizer.step()
        return loss.item()


class Loss:
    def __init__(self, name: str, engine: Callable = MinigradMLP,
                 patch: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
                 batch_size: int = 128) -> None:
        # Python work per node is measured at batch 1, where the arithmetic does not hide it.
        self.name, self.engine, self.applied, self.batch_size = name, engine, patch, batch_size


LOSSES = [
    Loss("float64 tie mask in maximum's backward", patch=_float64_mask),
    Loss("a gradient computed for the input batch", engine=_InputGradMLP),
    Loss("Linear as three operations (x @ W.T + b)", patch=_composite_linear),
    Loss("cross-entropy as log_softmax + indexing", engine=_CompositeCrossEntropyMLP),
    Loss("backward order by depth-first search, leaves visited", patch=_depth_first_sort, batch_size=1),
]


class Scoped:
    """An engine whose steps run with a loss's patch applied (and removed right after)."""

    def __init__(self, engine, loss: Loss | None) -> None:
        self.engine, self.loss = engine, loss

    def step(self, x, y):
        if self.loss is None:
            return self.engine.step(x, y)
        with self.loss.applied():
            return self.engine.step(x, y)
