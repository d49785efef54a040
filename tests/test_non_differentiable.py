"""Unit tests for chapter 11, the non-differentiable functions (minigrad/comparisons.py)."""

import numpy as np
import pytest

import minigrad
from minigrad import Tensor, argmax, eq, floor, ge, gradcheck, gt, le, lt, ne, wrap_forward_fn

X = np.array([[0.5, -1.0, 2.0]])
Y = np.array([[0.5], [2.0]])

COMPARISONS = [
    (eq, np.equal, lambda a, b: a == b),
    (ne, np.not_equal, lambda a, b: a != b),
    (lt, np.less, lambda a, b: a < b),
    (le, np.less_equal, lambda a, b: a <= b),
    (gt, np.greater, lambda a, b: a > b),
    (ge, np.greater_equal, lambda a, b: a >= b),
]


def _assert_constant(result):
    assert not result.requires_grad
    assert result.recipe is None and result.is_leaf


# --- comparisons -----------------------------------------------------------------------------


@pytest.mark.parametrize("function, reference, operator", COMPARISONS, ids=lambda c: getattr(c, "__name__", ""))
def test_comparison_values_broadcasting_and_no_gradient(function, reference, operator):
    x, y = Tensor(X, requires_grad=True), Tensor(Y, requires_grad=True)
    for result in (function(x, y), operator(x, y)):
        assert result.dtype == np.bool_ and result.shape == (2, 3)
        assert np.array_equal(result.array, reference(X, Y))
        _assert_constant(result)


@pytest.mark.parametrize("function, reference, operator", COMPARISONS, ids=lambda c: getattr(c, "__name__", ""))
def test_comparison_with_numbers_and_arrays_on_either_side(function, reference, operator):
    x = Tensor(X, requires_grad=True)
    assert np.array_equal(operator(x, 0.5).array, reference(X, 0.5))
    assert np.array_equal(operator(0.5, x).array, reference(0.5, X))  # reflected operator
    assert np.array_equal(operator(Y, x).array, reference(Y, X))  # ndarray on the left defers
    assert np.array_equal(function(0.5, x).array, reference(0.5, X))
    _assert_constant(operator(0.5, x))


def test_comparison_with_none_or_strings_falls_back_to_identity():
    x = Tensor([1.0, 2.0])
    assert (x == None) is False  # noqa: E711
    assert (x != None) is True  # noqa: E711
    assert (x == "1.0") is False
    with pytest.raises(TypeError, match="'<' not supported between instances of 'Tensor' and 'NoneType'"):
        x < None
    with pytest.raises(TypeError, match="'>=' not supported"):
        x >= "a"


def test_comparison_broadcast_mismatch_names_the_function_and_shapes():
    with pytest.raises(ValueError, match=r"^less: operands could not be broadcast together with shapes \(2,\) \(3,\)"):
        Tensor([1.0, 2.0]) < Tensor([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"^equal: .*shapes \(1,3\) \(2,\)"):
        eq(Tensor(X), np.ones(2))


def test_comparisons_of_integer_tensors():
    labels = Tensor(np.array([0, 2, 1, 2]))
    predictions = Tensor(np.array([0, 1, 1, 2]))
    correct = predictions == labels
    assert correct.array.tolist() == [True, False, True, True]
    assert correct.all().item() is False and correct.any().item() is True


# --- argmax, all, any, floor -----------------------------------------------------------------


def test_argmax_values_dims_and_keepdim():
    a = np.array([[0.1, 2.0, -1.0], [3.0, 0.5, 3.0]])
    x = Tensor(a, requires_grad=True)
    assert x.argmax().item() == 3 and argmax(x).item() == 3
    assert x.argmax(dim=1).array.tolist() == [1, 0]  # ties: the first index
    assert x.argmax(dim=-1).array.tolist() == [1, 0]
    assert x.argmax(0).array.tolist() == [1, 0, 1]
    assert x.argmax(dim=1, keepdim=True).array.tolist() == [[1], [0]]
    assert x.argmax(keepdim=True).shape == (1, 1)
    assert x.argmax(dim=0).dtype == np.int64
    _assert_constant(x.argmax(dim=1))


def test_all_and_any_with_int_and_tuple_dims():
    b = np.array([[[True, False], [True, True]], [[False, False], [True, True]]])
    x = Tensor(b)
    assert x.all().item() is False and x.any().item() is True
    assert np.array_equal(x.all(dim=2).array, b.all(axis=2))
    assert np.array_equal(x.any(dim=(0, 2)).array, b.any(axis=(0, 2)))
    assert np.array_equal(minigrad.all(x, dim=-1, keepdim=True).array, b.all(axis=-1, keepdims=True))
    assert x.any(dim=(0, 1), keepdim=True).shape == (1, 1, 2)
    assert x.all(keepdim=True).shape == (1, 1, 1)
    assert Tensor([0.0, 2.0]).any().item() is True and Tensor([0.0, 2.0]).all().item() is False
    _assert_constant(minigrad.any(Tensor([1.0], requires_grad=True)))


def test_floor_values_dtype_and_no_gradient():
    x = Tensor([-1.5, -0.5, 0.0, 0.99, 2.0], requires_grad=True)
    floored = x.floor()
    assert floored.array.tolist() == [-2.0, -1.0, 0.0, 0.0, 2.0]
    assert floored.dtype == np.float32
    _assert_constant(floored)
    _assert_constant(floor(x))


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda x: x.argmax(dim=2), IndexError, r"^argmax: dim 2 is out of range for a tensor with 2 dimensions \(valid dims are -2 to 1\)"),
        (lambda x: x.argmax(dim=-3), IndexError, r"^argmax: dim -3 is out of range"),
        (lambda x: x.argmax(dim=(0, 1)), TypeError, r"^argmax: dim must be an int or None, got \(0, 1\)"),
        (lambda x: x.argmax(dim=1.0), TypeError, r"^argmax: dim must be an int or None, got 1.0"),
        (lambda x: x.argmax(dim=True), TypeError, r"^argmax: dim must be an int or None, got True"),
        (lambda x: x.all(dim=(0, 2)), IndexError, r"^all: dim 2 is out of range"),
        (lambda x: x.any(dim="0"), TypeError, r"^any: dim must be an int, a tuple of ints or None, got '0'"),
        (lambda x: Tensor(1.0).argmax(dim=0), IndexError, r"^argmax: dim 0 is out of range for a tensor with 0 dimensions \(a 0-d tensor has none: use dim=None\)"),
        (lambda x: Tensor(np.zeros(0)).argmax(), ValueError, r"^argmax: attempt to get argmax of an empty sequence"),
    ],
)
def test_bad_dims_give_clear_errors(call, error, message):
    x = Tensor(np.arange(6.0).reshape(2, 3))
    with pytest.raises(error, match=message):
        call(x)


def test_numpy_integer_dims_are_accepted():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    assert x.argmax(dim=np.int64(1)).array.tolist() == [2, 2]


# --- inside graphs ---------------------------------------------------------------------------


def test_mask_in_a_product_passes_gradient_through_the_other_factor_only():
    x = Tensor([-1.5, 0.25, 2.0, -0.3], requires_grad=True)
    out = (x > 0) * x
    assert out.recipe.parents == {1: x}
    out.backward(end_grad=np.array([1.0, 2.0, 3.0, 4.0]))
    assert x.grad.array.tolist() == [0.0, 2.0, 3.0, 0.0]
    assert gradcheck(lambda x: (x > 0) * x * x + (x <= 0) * x.exp(), x)


def test_fractional_part_has_slope_one():
    x = Tensor([-1.5, 0.25, 2.6], requires_grad=True)
    assert gradcheck(lambda x: x - x.floor(), x)


def test_argmax_result_used_as_a_constant():
    x = Tensor([[0.1, 3.0], [2.0, -1.0]], requires_grad=True)
    best = x.argmax(dim=1)
    weights = (best == 1) * 1.0 + 0.5
    assert weights.array.tolist() == [1.5, 0.5]
    (weights * x).backward(end_grad=np.ones((2, 2)))
    assert x.grad.array.tolist() == [[1.5, 0.5], [1.5, 0.5]]


def test_backward_from_a_non_differentiable_result_is_an_error():
    x = Tensor([0.5, 1.5], requires_grad=True)
    for result in (x.floor(), x > 1, x.argmax(), x.any()):
        with pytest.raises(RuntimeError, match="does not require grad"):
            result.backward(end_grad=np.ones(result.shape))


def test_without_the_switch_the_backward_pass_finds_no_backward_function():
    x = Tensor([0.5, 1.5], requires_grad=True)
    floor = wrap_forward_fn(np.floor)
    with pytest.raises(NotImplementedError, match="no backward function for argument 0 of floor"):
        (floor(x) * x).backward(end_grad=np.ones(2))


def test_results_that_are_not_floating_point_never_record_a_recipe():
    x = Tensor([0.5, 1.5], requires_grad=True)
    equal = wrap_forward_fn(np.equal)
    assert equal(x, 0.5).recipe is None and not equal(x, 0.5).requires_grad


def test_non_differentiable_results_are_constants_even_when_recording_is_on():
    x = Tensor([0.5, 1.5], requires_grad=True)
    assert minigrad.is_grad_enabled()
    for result in (eq(x, x), x.floor(), x.argmax(), x.all(), x.any(), x >= 1.0):
        _assert_constant(result)


# --- hashing and == --------------------------------------------------------------------------


def test_tensor_hash_is_identity_after_attaching_eq():
    assert "__eq__" in vars(Tensor) and "__hash__" not in vars(Tensor)
    assert Tensor.__hash__ is object.__hash__
    a, b = Tensor([1.0, 2.0]), Tensor([1.0, 2.0])
    assert hash(a) == object.__hash__(a) and hash(a) != hash(b)


def test_tensors_with_equal_values_are_distinct_dict_and_set_keys():
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([1.0, 2.0])
    c = a.detach()  # shares a's data, is another tensor
    table = {a: 1, b: 2, c: 3}
    assert len(table) == 3 and table[a] == 1 and table[b] == 2 and table[c] == 3
    assert len({a, b, c, a}) == 3 and a in {a} and b not in {a}


def test_backprop_still_works_with_eq_attached():
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, -1.0], requires_grad=True)
    out = a * b + a * a
    out.backward(end_grad=np.array([1.0, 2.0]))
    assert a.grad.array.tolist() == [1.0 * (3.0 + 2.0), 2.0 * (-1.0 + 4.0)]
    assert b.grad.array.tolist() == [1.0, 4.0]


def test_eq_assigned_after_class_creation_keeps_hash_but_in_body_removes_it():
    class InBody:
        def __eq__(self, other):
            return NotImplemented

    class Later:
        pass

    Later.__eq__ = lambda self, other: NotImplemented
    assert InBody.__hash__ is None
    assert Later.__hash__ is object.__hash__
    hash(Later())
    with pytest.raises(TypeError, match="unhashable"):
        hash(InBody())


def test_list_membership_compares_values_and_is_ambiguous():
    a, b = Tensor([1.0, 2.0]), Tensor([1.0, 2.0])
    assert a in [a]  # identity is checked first
    with pytest.raises(ValueError, match=r"truth value of a tensor of shape \(2,\) is ambiguous"):
        a in [b]
    assert Tensor([3.0]) in [Tensor([3.0])]  # one element: == then bool() is fine
