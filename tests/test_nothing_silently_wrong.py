"""What a PyTorch user trusts, and what once went silently wrong: each test failed before its fix."""

import numpy as np
import pytest

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


# --- aliasing, augmented assignment, copies -------------------------------------------------------


def test_augmented_assignment_changes_the_parameter_the_model_holds():
    mg.manual_seed(0)
    layer = Linear(3, 2)
    weight, before = layer.weight, layer.weight.array.copy()
    with mg.NoGrad():
        layer.weight *= 0.5
        layer.weight /= 2.0
        for p in layer.parameters():  # a loop over parameters: each one scaled
            p *= 0.9
    assert layer.weight is weight and [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    np.testing.assert_allclose(weight.array, before * 0.5 / 2.0 * 0.9, rtol=1e-6)
    assert weight.version == 3


def test_augmented_assignment_obeys_the_in_place_rules():
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 4.0], requires_grad=True)
    c = a * b
    with pytest.raises(RuntimeError, match="mul_: this tensor was computed"):
        c *= 2.0
    with mg.NoGrad():
        a *= 2.0  # a leaf, used by c: allowed, and caught at backward
    with pytest.raises(RuntimeError, match="modified in place"):
        c.sum().backward()


def test_numpy_refuses_a_tensor_that_requires_grad():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"detach\(\)\.numpy\(\)"):
        x.numpy()[:] = 0  # used to zero the saved values, silently
    assert Tensor([1.0]).numpy() is not None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tensor_and_parameter_copy_array_data_whatever_its_dtype(dtype):
    data = np.array([1.0, 2.0], dtype=dtype)
    for made in (mg.tensor(data), mg.Parameter(data)):
        assert not np.shares_memory(made.array, data)
    p = mg.Parameter(data)
    p.grad = Tensor(np.ones(2, dtype=p.dtype))
    mg.SGD([p], lr=0.5).step()
    np.testing.assert_array_equal(data, [1.0, 2.0])  # the caller's array is untouched


def test_detach_and_parameter_of_a_float64_tensor_share_it_and_stay_float64():
    with mg.keep_float64():
        x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    for alias in (x.detach(), mg.Parameter(x)):
        assert alias.dtype == np.float64 and np.shares_memory(alias.array, x.array)
        assert alias._version is x._version


def test_deepcopy_of_a_computed_tensor_is_refused_and_of_a_model_keeps_ties():
    import copy

    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="deepcopy of a computed tensor"):
        copy.deepcopy(x * 2)
    mg.manual_seed(0)
    model = TiedAutoencoder()
    twin = copy.deepcopy(model)
    assert twin.dec.weight is twin.enc.weight and twin.enc.weight is not model.enc.weight
    out = twin(Tensor(np.ones((1, 4)))).sum()
    out.backward()
    assert twin.enc.weight.grad is not None and model.enc.weight.grad is None


# --- bad input: the exception a Python user expects, in the user's terms -------------------------


def _bad_inputs():
    x = Tensor([1.0, 2.0], requires_grad=True)
    p = Tensor([1.0, 2.0], requires_grad=True)
    cases = [
        ("x + 'a'", lambda: x + "a", TypeError, r"add: got str 'a', which is not a number"),
        ("x * None", lambda: x * None, TypeError, "multiply: got NoneType None"),
        ("x @ None", lambda: x @ None, TypeError, "matmul: got NoneType None"),
        ("Tensor([Tensor, Tensor])", lambda: Tensor([Tensor(1.0), Tensor(2.0)]), TypeError,
         r"stack\(\[\.\.\.\]\)"),
        ("Tensor(['a'])", lambda: Tensor(["a"]), TypeError, "numbers or booleans"),
        ("backward('abc')", lambda: (x * 2).backward("abc"), TypeError,
         "end_grad must hold numbers, got str 'abc'"),
        ("backward(wrong shape)", lambda: (x * 2).backward(np.ones(3)), ValueError,
         r"end_grad has shape \(3,\)"),
        ("p.grad = ndarray", lambda: setattr(p, "grad", np.zeros(2)), TypeError,
         "grad must be a Tensor or None, got ndarray"),
        ("p.grad of another shape", lambda: setattr(p, "grad", Tensor(np.zeros(3))), ValueError,
         r"grad of shape \(3,\) for a tensor of shape \(2,\)"),
        ("SGD(lr='0.1')", lambda: mg.SGD([mg.Parameter(np.ones(2))], lr="0.1"), TypeError,
         "SGD: lr must be a number, got str"),
        ("Adam(lr=-1)", lambda: mg.Adam([mg.Parameter(np.ones(2))], lr=-1.0), ValueError,
         "lr must be >= 0"),
        ("x.numpy() (requires grad)", lambda: x.numpy(), RuntimeError, "requires grad"),
        ("x *= 2 (computed)", lambda: (x * 1).mul_(2), RuntimeError, "mul_: this tensor was computed"),
        ("stack(a, b)", lambda: mg.stack(x, x), TypeError, r"write stack\(\[a, b\]\)"),
        ("cat of 0-d", lambda: mg.cat([Tensor(1.0)]), ValueError, "0-d tensor has no axis"),
        ("Linear on a list", lambda: Linear(3, 2)([[1.0, 2, 3]]), TypeError,
         "linear: input must be a tensor, got list"),
        ("cross_entropy on lists", lambda: mg.cross_entropy([[0.0, 1.0]], [0]), TypeError,
         "expects a tensor of logits, got list"),
        ("Linear(-1, 3)", lambda: Linear(-1, 3), ValueError, "in_features must be at least 1"),
        ("Linear('3', 3)", lambda: Linear("3", 3), TypeError, "in_features must be an int, got str"),
        ("cross_entropy, zero classes",
         lambda: mg.cross_entropy(Tensor(np.zeros((2, 0))), Tensor(np.array([0, 0]))),
         ValueError, r"at least one class, got logits of shape \(2, 0\)"),
    ]
    return cases


BAD_INPUTS = _bad_inputs()


@pytest.mark.parametrize("what, call, error, message", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_gets_a_clear_error(what, call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_an_mlp_takes_one_unbatched_example_as_linear_does():
    mg.manual_seed(0)
    model = mg.MLP(64, 8, 10)
    x = np.random.default_rng(0).random(64).astype(np.float32)
    one = model(Tensor(x))
    assert one.shape == (10,)
    np.testing.assert_allclose(one.array, model(Tensor(x[None]))[0].array, rtol=1e-6)
