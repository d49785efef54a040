"""What a PyTorch user trusts, and what once went silently wrong: each test failed before its fix."""

import numpy as np

import minigrad as mg
from minigrad import Linear, Module, Tensor


class TiedAutoencoder(Module):
    """The decoder reuses the encoder's weight (transposed in use): one tensor, two names."""

    def __init__(self):
        super().__init__()
        self.enc = Linear(4, 4, bias=False)
        self.dec = Linear(4, 4, bias=False)
        self.dec.weight = self.enc.weight

    def forward(self, x):
        return self.dec(self.enc(x))


def test_tied_weights_are_listed_and_stepped_once():
    mg.manual_seed(0)
    model = TiedAutoencoder()
    assert [name for name, _ in model.named_parameters()] == ["enc.weight"]
    weight = model.enc.weight
    before = weight.array.copy()
    x = Tensor(np.random.default_rng(0).normal(size=(3, 4)))
    (model(x) * model(x)).sum().backward()
    grad = weight.grad.array.copy()
    optimizer = mg.SGD(model.parameters(), lr=0.1)
    optimizer.step()
    np.testing.assert_allclose(weight.array, before - 0.1 * grad, rtol=1e-6)


def test_a_submodule_under_two_names_gives_its_parameters_once():
    mg.manual_seed(0)
    shared = Linear(2, 2)

    class Twice(Module):
        def __init__(self):
            super().__init__()
            self.first = shared
            self.second = shared

    model = Twice()
    assert len(list(model.parameters())) == 2
    assert [name for name, _ in model.named_parameters()] == ["first.weight", "first.bias"]
    assert list(model.modules()) == [model, shared]
    assert list(model.children()) == [shared]


def test_stack_of_many_inputs_passes_a_linear_number_of_arguments_backward():
    """Every backward call receives all of its operation's inputs: one stack of n inputs made
    the backward pass quadratic (20k inputs: seconds). Counted, not timed."""
    from minigrad import BACK_FUNCS

    n = 5_000
    passed = [0]
    for (func, position), back in list(BACK_FUNCS.back_funcs.items()):
        if func.__name__ in ("_stack", "_cat"):
            BACK_FUNCS.add_back_func(func, position, _counting(back, passed))
    xs = [Tensor(np.float32(i), requires_grad=True) for i in range(n)]
    stacked = mg.stack(xs)
    for (func, position), back in list(BACK_FUNCS.back_funcs.items()):  # newly registered too
        if func.__name__ in ("_stack", "_cat") and not hasattr(back, "counted"):
            BACK_FUNCS.add_back_func(func, position, _counting(back, passed))
    (stacked * stacked).sum().backward()
    assert xs[3].grad.item() == 6.0
    assert 0 < passed[0] <= 70 * n, passed[0]  # n**2 would be 25 million


def _counting(back, passed):
    def counted(grad_out, out, *arrays, **kwargs):
        passed[0] += len(arrays)
        return back(grad_out, out, *arrays, **kwargs)

    counted.counted = True
    return counted


def _bytes_kept_per_loss(retain_graph: bool, steps: int = 20) -> float:
    """Memory that stays allocated per training step when every loss is kept in a list."""
    import gc
    import tracemalloc

    mg.manual_seed(0)
    model = mg.MLP(784, 64, 10)
    optimizer = mg.SGD(model.parameters(), lr=0.01)
    rng = np.random.default_rng(0)
    losses = []

    def step():  # a new MNIST-shaped batch of 64 each time, as from a loader
        x = rng.random((64, 784), dtype=np.float32)
        y = rng.integers(0, 10, 64)
        optimizer.zero_grad()
        loss = mg.cross_entropy(model(Tensor(x)), Tensor(y), reduction="mean")
        loss.backward(retain_graph=retain_graph)
        optimizer.step()
        losses.append(loss)  # the most common way to log a run

    tracemalloc.start()
    for _ in range(3):  # warm-up: gradients and buffers that every step reuses
        step()
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(steps):
        step()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / steps


def test_a_kept_loss_keeps_a_few_bytes_not_its_graph():
    kept_graph = _bytes_kept_per_loss(retain_graph=True)
    released = _bytes_kept_per_loss(retain_graph=False)
    print(f"bytes kept per logged loss: {kept_graph:,.0f} with the graph retained, "
          f"{released:,.0f} after a normal backward()")
    assert kept_graph > 200_000  # the batch and its activations (what used to happen)
    assert released < 2_000


def test_two_threads_accumulating_into_one_leaf_lose_nothing():
    """`+=` on a large array releases the GIL: without a lock, additions were lost."""
    import threading

    leaf = Tensor(np.zeros(2_000_000, dtype=np.float32), requires_grad=True)
    start = threading.Barrier(2)

    def work():
        start.wait()
        for _ in range(30):
            (leaf * 1.0).backward(end_grad=np.ones(leaf.shape, dtype=np.float32))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert np.all(leaf.grad.array == 60.0), np.unique(leaf.grad.array)
