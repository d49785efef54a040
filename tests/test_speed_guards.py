"""Guards for the speed of a training step that are not timings (chapter 17).

In one step of the MLP 784 -> 64 -> 64 -> 10 with the mean cross-entropy: every gradient that a
backward function returns is float32, no backward function runs for the input batch (which does
not require grad), and the graph has the expected nodes. Each guard is also shown to fail when
the loss it guards against is put back.
"""

import contextlib

import numpy as np
import pytest

import minigrad
from minigrad import BACK_FUNCS, MLP, Tensor, cross_entropy, manual_seed, sorted_computational_graph


@contextlib.contextmanager
def recording_backward_calls():
    """Wrap every registered backward function to record (forward name, position, result dtype)."""
    calls = []
    original = dict(BACK_FUNCS.back_funcs)

    def recorder(forward_fn, position, back_fn):
        def wrapped(*args, **kwargs):
            grad = back_fn(*args, **kwargs)
            calls.append((getattr(forward_fn, "__name__", "?").lstrip("_"), position, grad.dtype))
            return grad

        return wrapped

    for (forward_fn, position), back_fn in original.items():
        BACK_FUNCS.add_back_func(forward_fn, position, recorder(forward_fn, position, back_fn))
    try:
        yield calls
    finally:
        BACK_FUNCS.back_funcs.clear()
        BACK_FUNCS.back_funcs.update(original)


def one_step(model, batch_size=16, input_requires_grad=False):
    rng = np.random.default_rng(0)
    x = Tensor(rng.random((batch_size, 784), dtype=np.float32), requires_grad=input_requires_grad)
    y = Tensor(rng.integers(0, 10, batch_size))
    loss = cross_entropy(model(x), y, reduction="mean")
    with recording_backward_calls() as calls:
        loss.backward(retain_graph=True)  # kept, to count its nodes
    return loss, x, calls


def guard_violations(model, loss, x, calls):
    """What the guards object to, as a list of messages (empty: all is well)."""
    problems = []
    wide = [(name, position, str(dtype)) for name, position, dtype in calls if dtype != np.float32]
    if wide:
        problems.append(f"backward functions returned non-float32 gradients: {wide}")
    if x.grad is not None or len(calls) != 11:
        problems.append(f"{len(calls)} backward calls (expected 11: none for the input batch)")
    nodes = sorted_computational_graph(loss)
    if len(nodes) != 12:
        problems.append(f"{len(nodes)} nodes in the graph (expected 6 operations and 6 weights)")
    if any(p.grad is None or p.grad.dtype != np.float32 for p in model.parameters()):
        problems.append("a parameter has no float32 gradient")
    return problems


@pytest.fixture
def model():
    manual_seed(0)
    return MLP()


def test_one_training_step_is_float32_and_computes_nothing_for_the_input(model):
    loss, x, calls = one_step(model)
    assert guard_violations(model, loss, x, calls) == []
    # The calls themselves: each operation's parents, in reverse order of the forward pass.
    assert [(name, position) for name, position, _ in calls] == [
        ("cross_entropy", 0),
        ("linear", 0), ("linear", 1), ("linear", 2), ("maximum", 0),
        ("linear", 0), ("linear", 1), ("linear", 2), ("maximum", 0),
        ("linear", 1), ("linear", 2),
    ]


def test_the_guard_catches_float64_promotion_put_back(model):
    def float64_mask_back0(grad_out, out, x, y):  # the seed's version: 0.5 * bool is float64
        return minigrad.unbroadcast(grad_out * ((x > y) + 0.5 * (x == y)), x)

    right = BACK_FUNCS.get_back_func(np.maximum, 0)
    BACK_FUNCS.add_back_func(np.maximum, 0, float64_mask_back0)
    try:
        problems = guard_violations(model, *one_step(model))
    finally:
        BACK_FUNCS.add_back_func(np.maximum, 0, right)
    assert len(problems) == 1 and "('maximum', 0, 'float64')" in problems[0]


def test_the_guard_catches_a_gradient_computed_for_the_input_batch(model):
    problems = guard_violations(model, *one_step(model, input_requires_grad=True))
    assert problems[0] == "12 backward calls (expected 11: none for the input batch)"


def test_the_guard_catches_linear_as_three_operations(model, monkeypatch):
    monkeypatch.setattr(minigrad.Linear, "forward", lambda self, x: x @ self.weight.T + self.bias)
    problems = guard_violations(model, *one_step(model))
    assert any("nodes in the graph" in p for p in problems)


def test_no_intermediate_gradient_outlives_its_use():
    """Peak memory of the backward pass through a long chain stays near one gradient, not n."""
    import tracemalloc

    x = Tensor(np.ones(250_000, dtype=np.float32), requires_grad=True)  # 1 MB
    y = x
    for _ in range(40):
        y = y * 1.0001
    one_array = x.array.nbytes
    tracemalloc.start()
    y.backward(end_grad=np.ones(y.shape, dtype=np.float32))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 6 * one_array, f"backward peak {peak / one_array:.1f} arrays for a chain of 40"


def test_the_backward_pass_visits_the_six_operations_newest_first(model):
    """The leaves are not in the walk, and every node comes before the nodes it was computed from."""
    from minigrad.backprop import _computed_nodes

    loss, _, _ = one_step(model)
    nodes = _computed_nodes(loss)
    assert len(nodes) == 6 and nodes[0] is loss and all(t.recipe is not None for t in nodes)
    place = {t: i for i, t in enumerate(nodes)}
    for t in nodes:
        for parent in t.recipe.parents.values():
            assert parent.recipe is None or place[parent] > place[t]
