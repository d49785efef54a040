"""Robustness: deep graphs, extreme logits, NoGrad across threads, repeated backward, memory.

The timing test is an invariant check with a generous bound (backward must not be quadratic in
the number of nodes), not a benchmark.
"""

import gc
import statistics
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc

import numpy as np
import pytest

import minigrad as mg
from minigrad import NoGrad, Tensor, is_grad_enabled, keep_float64

# --- deep graphs ---------------------------------------------------------------------------------

MULTIPLIER, SHIFT = 0.9999, 0.001


def _chain(n_ops, start):
    """start, then n_ops operations alternating y * MULTIPLIER and y + SHIFT (n_ops + 1 nodes)."""
    y = start
    for _ in range(n_ops // 2):
        y = y * MULTIPLIER
        y = y + SHIFT
    return y


def test_backward_through_100_000_operations():
    x = Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    y = _chain(100_000, x)
    assert len(mg.sorted_computational_graph(y)) == 100_001
    v = np.array([1.0, -2.0, 3.0])
    y.backward(end_grad=v)  # no RecursionError
    expected = v * np.float64(MULTIPLIER) ** 50_000
    np.testing.assert_allclose(x.grad.array, expected, rtol=2e-3)  # float32 through 50,000 products


def _median_times(n_ops, runs=5):
    """Median forward and backward times, with the cyclic garbage collector off while timing (as
    timeit does): its full collections scan every live object, and with 100,000 live nodes they
    make the forward pass superlinear (measured: ratio about 9.5 instead of 5) for reasons that
    have nothing to do with minigrad (the graph has no reference cycles)."""
    forward, backward = [], []
    for _ in range(runs):
        x = Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            y = _chain(n_ops, x)
            middle = time.perf_counter()
            y.backward(end_grad=np.ones(3))
            end = time.perf_counter()
        finally:
            gc.enable()
        forward.append(middle - start)
        backward.append(end - middle)
        del x, y
    return statistics.median(forward), statistics.median(backward)


def test_time_is_roughly_linear_in_the_number_of_nodes(record_property):
    small_forward, small_backward = _median_times(20_000)
    large_forward, large_backward = _median_times(100_000)
    report = (
        f"20,000 ops: forward {small_forward:.3f} s, backward {small_backward:.3f} s; "
        f"100,000 ops: forward {large_forward:.3f} s, backward {large_backward:.3f} s; "
        f"ratios {large_forward / small_forward:.2f} and {large_backward / small_backward:.2f} (linear: 5)"
    )
    print(report)
    record_property("deep_graph_timings", report)
    assert large_backward / small_backward < 8, report  # quadratic would be 25
    assert large_forward / small_forward < 8, report


def test_deleting_a_deep_graph_does_not_crash():
    """Dropping the last reference to the end of a 200,000-node chain frees the whole chain, one
    node after the other. Run in a subprocess: a C stack overflow would kill the interpreter."""
    code = textwrap.dedent(
        """
        import gc, weakref
        import numpy as np
        import minigrad as mg

        x = mg.Tensor(np.ones(2), requires_grad=True)
        y = x
        for _ in range(200_000):
            y = mg.tanh(y)
        first_intermediate = weakref.ref(mg.sorted_computational_graph(y)[-2])
        y.sum().backward()
        del y
        assert first_intermediate() is None, "the chain was not freed"
        z = x
        for _ in range(200_000):
            z = z * 1.0
        del z  # without a backward pass too
        gc.collect()
        print("freed")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"exit code {result.returncode}\n{result.stderr[-2000:]}"
    assert result.stdout.strip() == "freed"


# --- numerics: extreme logits ----------------------------------------------------------------------

LOGITS = np.array(
    [
        [1e4, -1e4, 0.0, 5.0],
        [-1e4, -1e4, -1e4, -1e4],
        [1e4, 1e4 - 1.0, -1e4, 1e4],
        [-1e4, 1e4, 3e3, -3e3],
    ],
    dtype=np.float32,
)
TARGETS = np.array([1, 2, 0, 1])


def _log_softmax64(z, axis):
    z = z.astype(np.float64)
    m = z.max(axis=axis, keepdims=True)
    return z - (m + np.log(np.exp(z - m).sum(axis=axis, keepdims=True)))


@pytest.mark.parametrize("dim", [1, 0, -1])
def test_log_softmax_of_huge_float32_logits(dim):
    z = Tensor(LOGITS, requires_grad=True)
    out = mg.log_softmax(z, dim=dim)
    expected = _log_softmax64(LOGITS, dim)
    assert out.dtype == np.float32 and np.all(np.isfinite(out.array))
    np.testing.assert_allclose(out.array, expected, rtol=1e-6, atol=1e-3)
    v = np.linspace(-1.0, 1.0, LOGITS.size).reshape(LOGITS.shape)
    out.backward(end_grad=v)
    p = np.exp(expected)
    expected_grad = v - p * v.sum(axis=dim, keepdims=True)
    assert np.all(np.isfinite(z.grad.array))
    np.testing.assert_allclose(z.grad.array, expected_grad, rtol=1e-5, atol=1e-6)
    probabilities = mg.softmax(Tensor(LOGITS), dim=dim).array
    assert np.all(np.isfinite(probabilities))
    np.testing.assert_allclose(probabilities.sum(axis=dim), 1.0, rtol=1e-6)


def test_cross_entropy_of_huge_float32_logits():
    z = Tensor(LOGITS, requires_grad=True)
    losses = mg.cross_entropy(z, TARGETS)
    log_p = _log_softmax64(LOGITS, 1)
    expected = -log_p[np.arange(4), TARGETS]  # [2e4, log 4, 1 + log(1 + 2/e)..., 0]
    assert losses.dtype == np.float32 and np.all(np.isfinite(losses.array))
    np.testing.assert_allclose(losses.array, expected, rtol=1e-6, atol=1e-6)
    assert losses.array[0] == pytest.approx(2e4) and losses.array[1] == pytest.approx(np.log(4.0))
    losses.mean().backward()
    expected_grad = np.exp(log_p)
    expected_grad[np.arange(4), TARGETS] -= 1
    expected_grad /= 4
    assert np.all(np.isfinite(z.grad.array))
    np.testing.assert_allclose(z.grad.array, expected_grad, rtol=1e-5, atol=1e-7)


# --- NoGrad -----------------------------------------------------------------------------------------


def test_nograd_restores_the_previous_state_when_the_block_raises():
    x = Tensor([1.0], requires_grad=True)
    with pytest.raises(KeyError):
        with NoGrad():
            assert not is_grad_enabled()
            raise KeyError("inside")
    assert is_grad_enabled() and (x * 2.0).requires_grad
    # and an exception in an inner block restores the outer NoGrad, not True
    with NoGrad():
        with pytest.raises(ZeroDivisionError):
            with NoGrad():
                1 / 0
        assert not is_grad_enabled()
    assert is_grad_enabled()


def test_nograd_nests():
    x = Tensor([1.0], requires_grad=True)
    no_grad = NoGrad()
    with no_grad:
        with no_grad:  # the same object twice
            with NoGrad():
                assert not (x * 2.0).requires_grad
            assert not is_grad_enabled()  # an inner exit does not switch recording back on
        assert not (x * 2.0).requires_grad
    assert (x * 2.0).requires_grad


def test_nograd_in_one_thread_does_not_switch_off_recording_in_another():
    weights = Tensor([1.0, 2.0], requires_grad=True)
    inside, checked = threading.Event(), threading.Event()
    seen_in_thread = {}

    def evaluate():
        with NoGrad():
            inside.set()  # this thread is now inside its NoGrad block...
            assert checked.wait(10)
            seen_in_thread["recorded"] = (weights * 3.0).requires_grad
        seen_in_thread["after"] = is_grad_enabled()

    thread = threading.Thread(target=evaluate)
    thread.start()
    assert inside.wait(10)
    # ... while this thread runs a training step
    assert is_grad_enabled()
    loss = (weights * weights).sum()
    assert loss.requires_grad
    checked.set()
    thread.join(10)
    loss.backward()
    np.testing.assert_array_equal(weights.grad.array, [2.0, 4.0])
    assert seen_in_thread == {"recorded": False, "after": True}


def test_a_thread_started_inside_nograd_records():
    """The switch is per thread: a thread started from inside a NoGrad block has its own value."""
    weights = Tensor([1.0, 2.0], requires_grad=True)
    result = {}

    def train():
        result["recorded"] = (weights * 3.0).requires_grad

    with NoGrad():
        thread = threading.Thread(target=train)
        thread.start()
        thread.join(10)
        assert not (weights * 3.0).requires_grad
    assert result == {"recorded": True}


def test_keep_float64_is_per_thread_too():
    inside, checked = threading.Event(), threading.Event()

    def check():
        with keep_float64():
            inside.set()
            checked.wait(10)

    thread = threading.Thread(target=check)
    thread.start()
    inside.wait(10)
    try:
        assert Tensor(np.ones(2)).dtype == np.float32
    finally:
        checked.set()
        thread.join(10)


# --- repeated backward, accumulation -------------------------------------------------------------------


def _graph(x, y):
    a = x * y  # broadcast (3, 1) * (4,)
    return (a.tanh() + a * x).sum(dim=0) + y * y  # x and y used several times


def test_backward_twice_on_the_same_graph_accumulates():
    """With retain_graph=True (as in PyTorch); the last call releases the graph."""
    rng = np.random.default_rng(0)
    x = Tensor(rng.normal(size=(3, 1)), requires_grad=True)
    y = Tensor(rng.normal(size=(4,)), requires_grad=True)
    out = _graph(x, y)
    v = rng.normal(size=(4,))
    out.backward(end_grad=v, retain_graph=True)
    once_x, once_y = x.grad.array.copy(), y.grad.array.copy()
    out.backward(end_grad=v, retain_graph=True)
    np.testing.assert_allclose(x.grad.array, 2 * once_x, rtol=1e-6)
    np.testing.assert_allclose(y.grad.array, 2 * once_y, rtol=1e-6)
    w = rng.normal(size=(4,))
    out.backward(end_grad=w)  # another cotangent: gradients are linear in it
    x2, y2 = Tensor(x.array, requires_grad=True), Tensor(y.array, requires_grad=True)
    _graph(x2, y2).backward(end_grad=w)
    np.testing.assert_allclose(x.grad.array, 2 * once_x + x2.grad.array, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y.grad.array, 2 * once_y + y2.grad.array, rtol=1e-5, atol=1e-6)


def test_two_graphs_sharing_a_leaf_accumulate_into_it():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * 3.0).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.array, [5.0, 7.0])


def test_gradients_share_memory_with_nothing():
    """x + y hands both leaves the same gradient array; each leaf must get its own, and the
    caller's end_grad must stay untouched."""
    x, y = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0, 4.0], requires_grad=True)
    v = np.array([1.0, 1.0], dtype=np.float32)
    (x + y).backward(end_grad=v)
    x.grad.array += 10.0
    np.testing.assert_array_equal(y.grad.array, [1.0, 1.0])
    np.testing.assert_array_equal(v, [1.0, 1.0])
    z = Tensor([5.0, 6.0], requires_grad=True)
    z.backward(end_grad=v)  # a leaf as the end node
    z.grad.array *= 3
    np.testing.assert_array_equal(v, [1.0, 1.0])


# --- keyword tensors: documented TypeError -----------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda x: mg.multiply(x, x2=x),
        lambda x: mg.subtract(x, x2=x),
        lambda x: mg.minimum(x, x2=x),
        lambda x: mg.log_softmax(x, dim=Tensor(0)),
        lambda x: mg.einsum("i->i", x, out=Tensor(np.zeros(2))),
    ],
    ids=["multiply", "subtract", "minimum", "log_softmax", "einsum"],
)
def test_tensors_as_keyword_arguments_raise_type_error(call):
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="keyword argument"):
        call(x)


# --- dtypes -------------------------------------------------------------------------------------------------


def test_a_float64_leaf_gets_a_float64_gradient_even_outside_keep_float64():
    """A gradient has the dtype of its input (CONTRIBUTING.md), whichever switch is on when
    backward() runs."""
    with keep_float64():
        x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
        y = (x * x).sum()
    assert x.dtype == np.float64
    y.backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.array, [2.0, 4.0])


def test_a_float32_leaf_gets_a_float32_gradient_inside_keep_float64():
    x = Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    with keep_float64():
        (x * np.array([0.1, 0.2])).backward(end_grad=np.ones(2))  # a float64 constant
    assert x.grad.dtype == np.float32


# --- memory -----------------------------------------------------------------------------------------------------


def test_backward_keeps_no_intermediate_gradient_alive():
    """A chain of 50 elementwise operations on 4 MB float32 arrays: during backward, each
    intermediate gradient is dropped once it has been passed on, so the peak is a few arrays,
    not 50."""
    n = 1_000_000
    one_array = 4 * n
    x = Tensor(np.random.default_rng(0).uniform(-1, 1, n).astype(np.float32), requires_grad=True)
    ops = [
        lambda y: y * 1.01,
        lambda y: y + 0.1,
        lambda y: y.tanh(),
        lambda y: y.relu(),
        lambda y: y.exp(),
        lambda y: -y,
        lambda y: y / 2.0,
        lambda y: 2.0 - y,
    ]
    y = x
    for i in range(50):
        y = ops[i % len(ops)](y)
    v = np.ones(n, dtype=np.float32)
    tracemalloc.start()
    try:
        y.backward(end_grad=v)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert x.grad.dtype == np.float32 and x.grad.shape == (n,)
    assert peak < 8 * one_array, f"peak {peak / one_array:.1f} arrays during backward"
    assert current < 1.5 * one_array, f"{current / one_array:.1f} arrays still allocated after backward"
    intermediates = mg.sorted_computational_graph(y)[:-1]
    assert all(t.grad is None for t in intermediates)
