"""Planted bugs must turn the suite red.

Each test plants one bug in the package for its own duration (monkeypatch undoes it, and the root
conftest.py restores BACK_FUNCS and Tensor's attributes after every test anyway), then runs the
relevant randomized and deterministic checks of tests/test_gradients_random.py and
tests/test_robustness.py in-process and asserts that they FAIL. A check that still passes with the
bug in place is a blind spot of the suite.

The bugs:
(a) true_divide's backward with its operands swapped (grad / x instead of grad / y; or back0 and
    back1 exchanged);
(b) gradients overwritten instead of accumulated: in a leaf's .grad (a second backward() replaces
    the first gradient), or in backprop's per-node sum (a tensor used twice keeps the last term);
(c) unbroadcast summing the wrong axes (the trailing instead of the leading ones; or the
    stretched size-1 axes counted from the wrong end).

The Hypothesis tests are re-run with the same strategies and settings, without the shrinking
phase (only the verdict matters here, and shrinking a failure takes a while).
"""

import ast
import inspect
import os
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import Phase, given, seed, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import BACK_FUNCS, Tensor
from minigrad.gradcheck import GradcheckError

sys.path.insert(0, os.path.dirname(__file__))
import test_gradients_random as random_tests  # noqa: E402
import test_robustness as robustness_tests  # noqa: E402

backprop_module = sys.modules["minigrad.backprop"]
backward_functions_module = sys.modules["minigrad.backward_functions"]
ORIGINAL_UNBROADCAST = backward_functions_module.unbroadcast


def run_random_test(test, **params):
    """Run one of the @given tests of test_gradients_random.py, generation phase only."""
    # A fixed seed rather than derandomize: the examples must not depend on which tests ran
    # before in the same process (they did, and a planted bug could slip through)
    quick = settings(random_tests.RANDOM, derandomize=False, max_examples=400,
                     phases=[Phase.explicit, Phase.generate], report_multiple_bugs=False)
    quick(seed(20261202)(given(data=st.data())(test.hypothesis.inner_test)))(**params)


def assert_fails(check, *args, expected=(AssertionError,), **kwargs):
    """The check must fail (GradcheckError is an AssertionError); returns the error."""
    try:
        check(*args, **kwargs)
    except ValueError as error:
        # a gradient of the wrong shape now fails loudly where it is stored or added
        # (a leaf refuses a grad of another shape): caught, not a blind spot
        print(f"caught by {getattr(check, '__name__', check)}, loudly: {error}")
        return error
    except expected as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        print(f"caught by {getattr(check, '__name__', check)}{args[1:] or ''}{kwargs or ''}: {type(error).__name__}: {first_line[:160]}")
        return error
    name = getattr(check, "__name__", repr(check))
    pytest.fail(f"{name}{args or ''}{kwargs or ''} passed with the planted bug: a blind spot of the suite")


def replace_everywhere(monkeypatch, original, replacement):
    """Replace `original` by `replacement` wherever the package holds it: in every minigrad module
    (functions are imported by name into other modules) and as a Tensor method."""
    replaced = 0
    for name, module in list(sys.modules.items()):
        if name == "minigrad" or name.startswith("minigrad."):
            for attribute, value in list(vars(module).items()):
                if value is original:
                    monkeypatch.setattr(module, attribute, replacement)
                    replaced += 1
    for attribute, value in list(vars(Tensor).items()):
        if value is original:
            monkeypatch.setattr(Tensor, attribute, replacement)
            replaced += 1
    assert replaced, f"{original.__name__} not found in the package"


class _DropTheSum(ast.NodeTransformer):
    """`a + parent_grad` (or `parent_grad + a`) becomes `parent_grad`, and `x += parent_grad`
    becomes `x = parent_grad`: wherever backprop adds a new term to a gradient, it overwrites."""

    def __init__(self, name):
        self.name, self.count = name, 0

    def _is_term(self, node):
        return isinstance(node, ast.Name) and node.id == self.name

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.Add) and (self._is_term(node.left) or self._is_term(node.right)):
            self.count += 1
            return ast.Name(id=self.name, ctx=ast.Load())
        return node

    def visit_AugAssign(self, node):
        if isinstance(node.op, ast.Add) and self._is_term(node.value):
            self.count += 1
            return ast.Assign(targets=[node.target], value=node.value)
        return node


def without_accumulation(function, term="parent_grad"):
    """`function` recompiled from its own source with every `... + term` replaced by `term`: the
    bug is planted in the package's actual code, whatever its current form. Fails (rather than
    silently testing nothing) when there is no such sum any more."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    mutation = _DropTheSum(term)
    tree = ast.fix_missing_locations(mutation.visit(tree))
    if mutation.count == 0:
        pytest.fail(
            f"cannot plant the bug: no sum with {term!r} in {function.__name__}'s source; "
            "update tests/test_planted_bugs.py to the new code"
        )
    namespace = dict(function.__globals__)
    exec(compile(tree, f"<{function.__name__} with a planted bug>", "exec"), namespace)
    return namespace[function.__name__]


# --- (a) true_divide's backward with swapped operands ---------------------------------------------------------


def _divide_by_x(grad_out, out, x, y):
    with np.errstate(divide="ignore", invalid="ignore"):
        return ORIGINAL_UNBROADCAST(grad_out / x, x)  # should be grad_out / y


def _check_division_deterministically():
    x = Tensor([0.5, -1.5, 2.0], requires_grad=True)
    y = Tensor([1.25, 0.75, -3.0], requires_grad=True)
    mg.gradcheck(lambda x, y: x / y, x, y)


@pytest.fixture(params=["grad / x in back0", "back0 and back1 exchanged"])
def swapped_division(request, monkeypatch):
    back0 = BACK_FUNCS.get_back_func(np.true_divide, 0)
    back1 = BACK_FUNCS.get_back_func(np.true_divide, 1)
    table = BACK_FUNCS.back_funcs
    if request.param == "grad / x in back0":
        monkeypatch.setitem(table, (np.true_divide, 0), _divide_by_x)
    else:
        monkeypatch.setitem(table, (np.true_divide, 0), back1)
        monkeypatch.setitem(table, (np.true_divide, 1), back0)
    return request.param


def test_swapped_division_rule_is_caught(swapped_division):
    run = lambda test, **kw: run_random_test(test, **kw)  # noqa: E731
    # a wrong shape (exchanged rules) can also surface as a ValueError from unbroadcast
    failing = (AssertionError, ValueError)
    assert_fails(run, random_tests.test_binary, name="true_divide", expected=failing)
    assert_fails(run, random_tests.test_operators_with_tensors_arrays_and_numbers, expected=failing)
    assert_fails(_check_division_deterministically, expected=(GradcheckError, ValueError))


# --- (b) overwriting instead of accumulating ------------------------------------------------------------------


def _overwrite_leaf_grad(leaf, grad, given_to_leaves):
    leaf.grad = Tensor(np.array(grad, dtype=leaf.dtype))  # replaces instead of adding


def test_overwritten_leaf_gradient_is_caught(monkeypatch):
    monkeypatch.setattr(backprop_module, "_store_leaf_grad", _overwrite_leaf_grad)
    assert_fails(robustness_tests.test_backward_twice_on_the_same_graph_accumulates)
    assert_fails(robustness_tests.test_two_graphs_sharing_a_leaf_accumulate_into_it)


def _check_x_log_x():
    x = Tensor([0.5, 1.0, 2.0], requires_grad=True)
    mg.gradcheck(lambda x: x * x.log(), x)  # x reaches the product directly and through log


def test_overwritten_per_node_sum_is_caught(monkeypatch):
    # backprop() checks its arguments and runs the loop in _backprop(); the sum lives in the loop
    buggy = without_accumulation(backprop_module._backprop)
    monkeypatch.setattr(backprop_module, "_backprop", buggy)
    assert_fails(run_random_test, random_tests.test_shared_parents)
    assert_fails(run_random_test, random_tests.test_repeated_indices)
    assert_fails(run_random_test, random_tests.test_broadcast_chain)
    assert_fails(_check_x_log_x, expected=GradcheckError)


# --- (c) unbroadcast summing the wrong axes --------------------------------------------------------------------


def _unbroadcast_trailing_axes(broadcasted, original):
    """unbroadcast that sums the *trailing* extra axes instead of the leading ones."""
    if broadcasted.shape == original.shape:
        return broadcasted
    extra = broadcasted.ndim - original.ndim
    summed = broadcasted.sum(axis=tuple(range(original.ndim, broadcasted.ndim))) if extra else broadcasted
    stretched = tuple(a for a, (n, m) in enumerate(zip(original.shape, summed.shape)) if n == 1 and m != 1)
    if stretched:
        summed = summed.sum(axis=stretched, keepdims=True)
    if summed.shape != original.shape:
        raise ValueError(f"unbroadcast: cannot sum {broadcasted.shape} to {original.shape}")
    return summed


def _unbroadcast_mirrored_stretch(broadcasted, original):
    """unbroadcast that sums the right leading axes, but finds the stretched size-1 axes by
    counting from the wrong end and then reshapes the result into the expected shape."""
    if broadcasted.shape == original.shape:
        return broadcasted
    extra = broadcasted.ndim - original.ndim
    summed = broadcasted.sum(axis=tuple(range(extra))) if extra else broadcasted
    n = summed.ndim
    stretched = tuple(
        n - 1 - a for a, (size, m) in enumerate(zip(original.shape, summed.shape)) if size == 1 and m != 1
    )
    if stretched:
        summed = summed.sum(axis=stretched, keepdims=True)
    if summed.size != original.size:
        raise ValueError(f"unbroadcast: cannot sum {broadcasted.shape} to {original.shape}")
    return summed.reshape(original.shape)


def _silently(wrong_unbroadcast):
    """The bug only where it goes unnoticed by the shape checks: the wrong axes are summed when
    that still gives the input's shape (or its size, then reshaped), the right ones otherwise.
    Only the values can give it away."""

    def unbroadcast(broadcasted, original):
        try:
            wrong = wrong_unbroadcast(broadcasted, original)
        except ValueError:
            return ORIGINAL_UNBROADCAST(broadcasted, original)
        return wrong

    unbroadcast.__name__ = f"silently{wrong_unbroadcast.__name__}"
    return unbroadcast


def _check_square_broadcast():
    """(3, 3) * (3,): summing the wrong axis keeps the shape, so only the values can tell."""
    a = Tensor(np.arange(9.0).reshape(3, 3) / 4 - 1, requires_grad=True)
    b = Tensor([0.5, -2.0, 1.5], requires_grad=True)
    mg.gradcheck(lambda a, b: a * b, a, b)


def _check_stretched_axes():
    a = Tensor(np.array([[0.5], [-1.0], [2.0]]), requires_grad=True)  # (3, 1)
    b = Tensor(np.array([[1.0, -0.5, 0.25]]), requires_grad=True)  # (1, 3)
    mg.gradcheck(lambda a, b: (a + b) * a, a, b)


@pytest.mark.parametrize(
    "wrong_unbroadcast, failing",
    [
        # wrong values, or a shape that cannot be summed to (ValueError)
        (_unbroadcast_trailing_axes, (AssertionError, ValueError)),
        (_unbroadcast_mirrored_stretch, (AssertionError, ValueError)),
        # never a wrong shape: the randomized comparisons of values must find it
        (_silently(_unbroadcast_trailing_axes), (AssertionError,)),
        (_silently(_unbroadcast_mirrored_stretch), (AssertionError,)),
    ],
    ids=["trailing axes", "mirrored stretched axes", "trailing axes, silent", "mirrored stretched axes, silent"],
)
def test_unbroadcast_summing_the_wrong_axis_is_caught(monkeypatch, wrong_unbroadcast, failing):
    replace_everywhere(monkeypatch, ORIGINAL_UNBROADCAST, wrong_unbroadcast)
    for name in ("add", "multiply", "true_divide", "maximum"):
        assert_fails(run_random_test, random_tests.test_binary, name=name, expected=failing)
    assert_fails(run_random_test, random_tests.test_broadcast_chain, expected=failing)
    # test_expand's shapes only sometimes separate the silent variants from the right rule, so it
    # is not required to fail on its own: the tests above already turn the suite red.
    try:
        run_random_test(random_tests.test_expand)
    except failing:
        print("test_expand also caught it")
    if "trailing" in wrong_unbroadcast.__name__:
        assert_fails(_check_square_broadcast, expected=GradcheckError)
    else:
        assert_fails(_check_stretched_axes, expected=GradcheckError)


def test_the_suite_passes_without_planted_bugs():
    """The same checks, with the package as it is, pass: the failures above come from the bugs."""
    run_random_test(random_tests.test_binary, name="true_divide")
    run_random_test(random_tests.test_shared_parents)
    run_random_test(random_tests.test_expand)
    _check_division_deterministically()
    _check_x_log_x()
    _check_square_broadcast()
    _check_stretched_axes()
    robustness_tests.test_backward_twice_on_the_same_graph_accumulates()


# --- more planted bugs: one wrong rule per family of operations ---------------------------------------------
#
# Not required by the issue, but cheap: each wrong rule replaces one BACK_FUNCS entry, found by the
# name of its forward function, and must be caught by the randomized tests of that operation.


def _forward_function(name):
    matches = [func for func, _ in BACK_FUNCS.back_funcs if getattr(func, "__name__", None) == name]
    assert matches, f"no backward function registered for a forward function named {name}"
    return matches[0]


def _getitem_assigning(grad_out, out, x, index):
    grad = np.zeros(x.shape, dtype=x.dtype)
    grad[index] = grad_out  # repeated positions overwrite each other instead of adding up
    return grad


def _permute_forward_again(grad_out, out, x, axes):
    return np.transpose(grad_out, [a % x.ndim for a in axes])  # should be the inverse permutation


def _tanh_without_square(grad_out, out, x):
    return grad_out * (1 - out)  # should be 1 - out**2


def _log_softmax_without_sum(grad_out, out, z, dim=-1):
    return grad_out - np.exp(out) * grad_out  # should multiply by grad_out's sum along dim


def _mean_dividing_by_everything(grad_out, out, x, dim, keepdim):
    grad = grad_out if keepdim else np.expand_dims(grad_out, dim)
    return np.broadcast_to(grad / x.size, x.shape)  # should divide by the count along dim only


def _cross_entropy_ignoring_grad_out(grad_out, out, logits, targets, reduction="none", saved=None):
    shifted = logits - logits.max(axis=1, keepdims=True)
    grad = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    grad[np.arange(len(grad)), np.asarray(targets)] -= 1
    return grad  # should be multiplied by grad_out[:, None]


EXTRA_BUGS = {
    "getitem assigns instead of adding": (("_getitem", 0), _getitem_assigning, ["test_getitem", "test_repeated_indices"]),
    "permute applies the permutation again": (("_permute", 0), _permute_forward_again, ["test_permute", "test_view_op_chains"]),
    "tanh' = 1 - tanh": (("tanh", 0), _tanh_without_square, [("test_unary", {"name": "tanh"})]),
    "log_softmax without the sum": (("_log_softmax", 0), _log_softmax_without_sum, ["test_log_softmax_and_softmax"]),
    "mean divides by the total size": (("_mean", 0), _mean_dividing_by_everything, [("test_reduction", {"name": "mean"})]),
    "cross_entropy ignores grad_out": (("_cross_entropy", 0), _cross_entropy_ignoring_grad_out, ["test_cross_entropy"]),
}


@pytest.mark.parametrize("bug", list(EXTRA_BUGS))
def test_more_planted_bugs_are_caught(monkeypatch, bug):
    (name, position), wrong_rule, checks = EXTRA_BUGS[bug]
    monkeypatch.setitem(BACK_FUNCS.back_funcs, (_forward_function(name), position), wrong_rule)
    for check in checks:
        test_name, params = check if isinstance(check, tuple) else (check, {})
        assert_fails(run_random_test, getattr(random_tests, test_name), **params)
