"""Chapter 9: sum, mean, var and amax: values, gradients, dims and keepdim, dtypes, errors."""

import builtins

import numpy as np
import pytest
from numpy.exceptions import AxisError

import minigrad
from minigrad import Tensor, amax, gradcheck, mean, var
from minigrad.reductions import amax_back, sum_back

DIMS = [None, 0, 1, 2, -1, -3, (0, 2), (2, 0), (-1, 1), (0, 1, 2), [0, 2]]


def randn(*shape, seed=0, requires_grad=True):
    """A float32 tensor of distinct random values (no ties, every entry different)."""
    return Tensor(np.random.default_rng(seed).normal(size=shape), requires_grad=requires_grad)


def numpy_axis(dim):
    return tuple(dim) if isinstance(dim, list) else dim


# --- sum -----------------------------------------------------------------------------------


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", DIMS)
def test_sum_values_and_gradient(dim, keepdim):
    x = randn(2, 3, 4)
    out = minigrad.sum(x, dim, keepdim)
    expected = x.array.sum(axis=numpy_axis(dim), keepdims=keepdim)
    assert out.shape == expected.shape and out.dtype == np.float32
    assert np.allclose(out.array, expected, atol=1e-6)
    assert gradcheck(lambda x: x.sum(dim, keepdim=keepdim), x)


def test_sum_negative_dims_mean_the_same_axes():
    x = randn(2, 3, 4)
    assert np.array_equal(x.sum(-1).array, x.sum(2).array)
    assert np.array_equal(x.sum((-3, -1)).array, x.sum((0, 2)).array)


def test_sum_gradient_is_copied_along_the_summed_axis_not_transposed():
    x = randn(3, 3)  # square: the wrong broadcast would not even raise
    x.sum(1).backward(end_grad=np.array([1.0, 10.0, 100.0]))
    assert x.grad.array.tolist() == [[1.0] * 3, [10.0] * 3, [100.0] * 3]


def test_sum_back_is_a_read_only_broadcast_view():
    x = np.zeros((2, 3, 4), dtype=np.float32)
    grad_out = np.ones((2, 4), dtype=np.float32)
    grad = sum_back(grad_out, grad_out, x, dim=(1,), keepdim=False)
    assert grad.shape == (2, 3, 4) and grad.dtype == np.float32
    assert not grad.flags.writeable and grad.strides[1] == 0


def test_sum_gradient_at_a_leaf_is_a_writeable_float32_copy():
    x = randn(2, 3)
    x.sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.array.flags.writeable
    assert np.array_equal(x.grad.array, np.ones((2, 3)))
    x.grad.array += 1  # the leaf owns its gradient


def test_sum_of_a_0d_tensor():
    x = Tensor(np.float32(2.5), requires_grad=True)
    out = x.sum()
    assert out.shape == () and out.item() == 2.5
    out.backward()
    assert x.grad.item() == 1.0


def test_sum_as_a_method_and_the_builtin_unharmed():
    x = randn(2, 3)
    assert np.array_equal(x.sum(0).array, minigrad.sum(x, 0).array)
    assert minigrad.sum is not builtins.sum and builtins.sum([1, 2, 3]) == 6


# --- mean ----------------------------------------------------------------------------------


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", DIMS)
def test_mean_values_and_gradient(dim, keepdim):
    x = randn(2, 3, 4, seed=1)
    out = mean(x, dim, keepdim)
    expected = x.array.mean(axis=numpy_axis(dim), keepdims=keepdim)
    assert out.shape == expected.shape and out.dtype == np.float32
    assert np.allclose(out.array, expected, atol=1e-6)
    assert gradcheck(lambda x: x.mean(dim, keepdim), x)


def test_mean_gradient_is_one_over_n_in_float32():
    x = randn(4, 5)
    x.mean(1).backward(end_grad=np.array([1.0, 2.0, 3.0, 4.0]))
    assert x.grad.dtype == np.float32
    assert np.allclose(x.grad.array, np.array([1.0, 2.0, 3.0, 4.0])[:, None] / 5 * np.ones((4, 5)))


# --- var -----------------------------------------------------------------------------------


@pytest.mark.parametrize("correction", [0, 1, 2])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [None, 0, -1, (0, 2), (2, 1)])
def test_var_values_and_gradient(dim, keepdim, correction):
    x = randn(3, 4, 5, seed=2)
    out = var(x, dim, keepdim=keepdim, correction=correction)
    expected = np.var(x.array, axis=dim, keepdims=keepdim, ddof=correction)
    assert out.shape == expected.shape and out.dtype == np.float32
    assert np.allclose(out.array, expected, atol=1e-6)
    assert gradcheck(lambda x: x.var(dim, keepdim=keepdim, correction=correction), x)


def test_var_default_is_bessels_correction():
    x = randn(6)
    assert np.isclose(x.var().item(), np.var(x.array, ddof=1))


def test_var_gradient_closed_form_and_sums_to_zero():
    x = randn(3, 4)
    v = np.array([1.0, -2.0, 0.5])
    x.var(1).backward(end_grad=v)
    a = x.array.astype(np.float64)
    expected = v[:, None] * 2 * (a - a.mean(axis=1, keepdims=True)) / (4 - 1)
    assert x.grad.dtype == np.float32
    assert np.allclose(x.grad.array, expected, atol=1e-6)
    assert np.allclose(x.grad.array.sum(axis=1), 0, atol=1e-6)


def test_var_keepdim_and_correction_are_keyword_only():
    with pytest.raises(TypeError):
        var(randn(3, 4), 0, True)


@pytest.mark.parametrize(
    "shape, dim, correction", [((2, 1), 1, 1), ((3,), None, 3), ((2, 2), 0, 5)]
)
def test_var_with_too_few_values_for_the_correction(shape, dim, correction):
    x = randn(*shape)
    n = x.numel() if dim is None else shape[dim]
    message = (
        rf"var: with correction={correction}, a variance of n = {n} values .* "
        rf"would divide by n - correction = {n - correction}"
    )
    with pytest.raises(ValueError, match=message):
        x.var(dim, correction=correction)


# --- amax ----------------------------------------------------------------------------------


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", DIMS)
def test_amax_values_and_gradient_without_ties(dim, keepdim):
    x = randn(2, 3, 4, seed=3)
    out = amax(x, dim, keepdim)
    expected = np.amax(x.array, axis=numpy_axis(dim), keepdims=keepdim)
    assert out.shape == expected.shape and out.dtype == np.float32
    assert np.array_equal(out.array, expected)
    assert gradcheck(lambda x: x.amax(dim, keepdim), x)


def test_amax_without_ties_sends_the_gradient_to_the_argmax():
    x = randn(3, 4, seed=4)
    x.amax(1).backward(end_grad=np.array([1.0, 2.0, 3.0]))
    expected = np.zeros((3, 4))
    expected[np.arange(3), np.argmax(x.array, axis=1)] = [1.0, 2.0, 3.0]
    assert np.array_equal(x.grad.array, expected)


def test_amax_splits_the_gradient_evenly_among_ties():
    rows = [[1.0, 5.0, 5.0, 2.0], [7.0, 7.0, 7.0, 0.0], [0.0, 1.0, 3.0, 2.0]]
    x = Tensor(rows, requires_grad=True)
    x.amax(1, keepdim=True).backward(end_grad=np.array([[2.0], [3.0], [4.0]]))
    assert x.grad.dtype == np.float32
    assert np.allclose(x.grad.array, [[0, 1, 1, 0], [1, 1, 1, 0], [0, 0, 4, 0]])


def test_amax_ties_over_all_axes_and_a_tuple_of_axes():
    x = Tensor([[2.0, 0.0], [2.0, 2.0]], requires_grad=True)
    x.amax().backward()
    assert np.allclose(x.grad.array, [[1 / 3, 0], [1 / 3, 1 / 3]])
    # over axes 0 and 2: group 0 is y[:, 0, :] (two 4s), group 1 is y[:, 1, :] (one 4)
    y = Tensor(np.array([[[1.0, 4.0], [4.0, 0.0]], [[4.0, 3.0], [1.0, 2.0]]]), requires_grad=True)
    y.amax((0, 2)).backward(end_grad=np.array([1.0, 3.0]))
    assert np.allclose(y.grad.array, [[[0, 0.5], [3, 0]], [[0.5, 0], [0, 0]]])


def test_amax_back_keeps_float32():
    x = np.array([[1.0, 1.0]], dtype=np.float32)
    out = x.max(axis=1)
    grad = amax_back(np.ones(1, dtype=np.float32), out, x, dim=(1,), keepdim=False)
    assert grad.dtype == np.float32 and grad.tolist() == [[0.5, 0.5]]


def test_amax_at_a_tie_of_two_agrees_with_central_differences():
    assert gradcheck(lambda x: x.amax(1), Tensor([[1.0, 5.0, 5.0, 2.0]], requires_grad=True))


def test_max_has_pytorchs_three_meanings():
    """Chapter 9 writes no max; chapter 20 adds it with PyTorch's three meanings, the values'
    gradient being amax's (more in tests/test_torch_names.py)."""
    x = Tensor([[1.0, 3.0], [2.0, 0.0]])
    assert minigrad.max(x).item() == 3.0 and x.max(1).values.array.tolist() == [3.0, 2.0]
    assert x.max(1).values.recipe is None  # x needs no grad
    assert minigrad.max(x, Tensor([2.5])).array.tolist() == [[2.5, 3.0], [2.5, 2.5]]
    assert minigrad.max is not builtins.max and "max" not in minigrad.__all__


# --- bad dims, the same for every reduction ------------------------------------------------

REDUCTIONS = ["sum", "mean", "var", "amax", "amin"]


@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize("dim", [2, -3, (0, 5)])
def test_dim_out_of_range_is_an_axis_error(name, dim):
    x = randn(2, 3)
    bad = dim[1] if isinstance(dim, tuple) else dim
    message = (
        rf"{name}: dim {bad} is out of range for a tensor of shape \(2, 3\); "
        r"use a dim from -2 to 1"
    )
    with pytest.raises(AxisError, match=message) as caught:
        getattr(x, name)(dim)
    assert isinstance(caught.value, IndexError) and isinstance(caught.value, ValueError)


@pytest.mark.parametrize("name", REDUCTIONS)
def test_dim_of_a_0d_tensor(name):
    message = rf"{name}: dim 0 is out of range for a tensor of shape \(\); use dim=None"
    with pytest.raises(IndexError, match=message):
        getattr(Tensor(np.float32(1.0)), name)(0)


@pytest.mark.parametrize("name", REDUCTIONS)
def test_repeated_dim(name):
    message = rf"{name}: dim \(1, -1\) names the same axis twice \(tensor of shape \(2, 3\)\)"
    with pytest.raises(ValueError, match=message):
        getattr(randn(2, 3), name)((1, -1))


@pytest.mark.parametrize("name", REDUCTIONS)
def test_empty_dim_tuple_is_refused(name):
    with pytest.raises(ValueError, match=rf"{name}: dim=\(\) is ambiguous .* write dim=None"):
        getattr(randn(2, 3), name)(())


@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize("dim", [1.0, "0", True])
def test_dim_of_a_wrong_type(name, dim):
    with pytest.raises(TypeError, match=rf"{name}: dim must be an int, got {type(dim).__name__}"):
        getattr(randn(2, 3), name)(dim)
