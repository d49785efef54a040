"""The fast engine (chapter 17) and the reference engine (chapter 5) give the same gradients.

Every randomized test of tests/test_gradients_random.py runs again here with `Tensor.backward`
replaced by a function that runs BOTH engines on the same graph: chapter 5's
`reference_backprop` first, then the default `fast_backprop` from the same starting gradients;
the leaves' gradients must have the same dtype and the same values, up to the rounding of the
order in which the terms of several paths are added (the engines visit a node's children in
different orders, and float addition is not associative: a few units in the last place). An
error raised by one engine must be raised by the other too. The randomized tests then go on checking the gradients
against their oracles, as they do with the default engine.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from minigrad import Tensor, keep_float64
from minigrad.backprop import fast_backprop, reference_backprop
from minigrad.graph import sorted_computational_graph

sys.path.insert(0, os.path.dirname(__file__))
import test_gradients_random as random_tests  # noqa: E402

COMPARED: list[int] = []  # how many backward calls were compared, to prove the wrapper ran


def _snapshot(leaves: list[Tensor]) -> list[np.ndarray | None]:
    return [None if leaf.grad is None else leaf.grad.array.copy() for leaf in leaves]


def _restore(leaves: list[Tensor], grads: list[np.ndarray | None]) -> None:
    for leaf, grad in zip(leaves, grads):
        if grad is None:
            leaf.grad = None
        else:
            with keep_float64():
                leaf.grad = Tensor(grad.copy())


def both_engines(end_node: Tensor, end_grad=None, retain_graph: bool = False) -> None:
    leaves = [t for t in sorted_computational_graph(end_node) if t.is_leaf and t.requires_grad]
    before = _snapshot(leaves)
    try:  # the graph is kept for the second engine
        reference_backprop(end_node, end_grad, retain_graph=True)
    except Exception as error:
        _restore(leaves, before)
        with pytest.raises(type(error)):
            fast_backprop(end_node, end_grad, retain_graph=retain_graph)
        raise
    by_reference = _snapshot(leaves)
    _restore(leaves, before)
    fast_backprop(end_node, end_grad, retain_graph=retain_graph)
    for leaf, expected in zip(leaves, by_reference):
        assert leaf.grad.dtype == expected.dtype and leaf.grad.shape == expected.shape
        eps = np.finfo(expected.dtype).eps
        scale = np.abs(expected).max(initial=0.0)
        np.testing.assert_allclose(leaf.grad.array, expected, rtol=16 * eps, atol=16 * eps * scale)
    COMPARED.append(1)


def _random_tests() -> list[tuple[str, dict]]:
    """(test name, its pytest parameters) for every Hypothesis test of the random suite."""
    cases = []
    for name, test in vars(random_tests).items():
        if not name.startswith("test_") or not hasattr(test, "hypothesis"):
            continue
        marks = [m for m in getattr(test, "pytestmark", []) if m.name == "parametrize"]
        if not marks:
            cases.append((name, {}))
            continue
        (argname, values), = [m.args for m in marks]
        cases += [(name, {argname: value}) for value in values]
    return cases


CASES = _random_tests()


def test_the_random_suite_is_found():
    assert len(CASES) >= 15, CASES


@pytest.mark.parametrize("name, params", CASES, ids=[f"{n}{list(p.values()) or ''}" for n, p in CASES])
def test_engines_agree(name, params, monkeypatch):
    monkeypatch.setattr(Tensor, "backward", both_engines)
    monkeypatch.setattr(sys.modules["minigrad.gradcheck"], "backprop", both_engines)
    COMPARED.clear()
    test = getattr(random_tests, name)
    quick = settings(random_tests.RANDOM, max_examples=40, phases=[Phase.explicit, Phase.generate])
    quick(given(data=st.data())(test.hypothesis.inner_test))(**params)
    assert COMPARED, f"{name} never called backward(): nothing was compared"


def test_a_wrong_fast_engine_is_caught(monkeypatch):
    """The comparison can fail: a fast engine that stores half of each leaf's gradient."""
    backprop_module = sys.modules["minigrad.backprop"]
    original = backprop_module._store_leaf_grad

    def halved(leaf, grad, given_to_leaves):
        original(leaf, grad * 0.5, given_to_leaves)

    monkeypatch.setattr(backprop_module, "_store_leaf_grad", halved)
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(AssertionError):
        both_engines((x * x).sum())


def test_result_tensor_is_what_tensor_makes() -> None:
    """Chapter 17 makes operation results and leaf gradients without Tensor.__init__; the object
    must be the one __init__ would make: same slots, a version counter of its own."""
    from minigrad.tensor import _result_tensor

    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    fast, slow = _result_tensor(array), Tensor(array)
    assert fast.array is slow.array
    for slot in ("_requires_grad", "_grad", "recipe", "_version"):
        assert getattr(fast, slot) == getattr(slow, slot)
    assert fast._version is not _result_tensor(array)._version  # never shared by accident
    assert type(fast) is Tensor and fast.dtype == np.float32


def test_results_keep_the_dtype_rules() -> None:
    """The shortcut is for float32 only: a float64 result still becomes float32 (or stays float64
    under keep_float64), an integer or boolean result keeps its dtype, and a result that is not
    numbers is refused as Tensor() refuses it."""
    from minigrad.tensor import wrap_forward_fn

    x = Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    assert (x * np.float64(2.0)).dtype == np.float32
    with keep_float64():
        assert (Tensor(np.array([1.0, 2.0])) * 2.0).dtype == np.float64
    assert (Tensor(np.array([1, 2])) + 1).dtype.kind == "i"
    assert (x > 1).dtype == np.bool_
    strange = wrap_forward_fn(lambda a: np.array(["a"], dtype=object))
    with pytest.raises(TypeError):
        strange(x)


def test_leaf_gradients_are_float32_tensors_of_their_own() -> None:
    """Leaf gradients made by the shortcut: float32 Tensors, each with its own array and counter."""
    a = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    b = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    (a + b).sum().backward()
    assert type(a.grad) is Tensor and a.grad.dtype == np.float32 and a.grad.grad is None
    assert not np.shares_memory(a.grad.array, b.grad.array)
    assert a.grad._version is not b.grad._version
