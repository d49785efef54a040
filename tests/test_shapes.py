"""Chapter 8: reshape, permute, T, mT, expand, getitem, stack: values, gradients, views, errors."""

import numpy as np
import pytest
from numpy.exceptions import AxisError

import minigrad
from minigrad import (
    BACK_FUNCS,
    Tensor,
    coerce_index,
    expand,
    getitem,
    gradcheck,
    permute,
    reshape,
    stack,
)
from minigrad.shapes import _selects_each_at_most_once, _stack, getitem_back, permute_back


def randn(*shape, seed=0, requires_grad=True):
    """A float32 tensor of distinct random values (asymmetric: every entry different)."""
    return Tensor(np.random.default_rng(seed).normal(size=shape), requires_grad=requires_grad)


# --- reshape -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, shape",
    [
        (lambda x: x.reshape(4, 6), (4, 6)),
        (lambda x: x.reshape((4, 6)), (4, 6)),
        (lambda x: x.reshape([4, 6]), (4, 6)),
        (lambda x: x.reshape(-1), (24,)),
        (lambda x: x.reshape(2, -1, 3), (2, 4, 3)),
        (lambda x: reshape(x, 24), (24,)),
        (lambda x: reshape(x, (-1, 12)), (2, 12)),
    ],
)
def test_reshape_values_and_gradient(call, shape):
    x = randn(2, 3, 4)
    y = call(x)
    assert y.shape == shape and y.dtype == np.float32
    assert np.array_equal(y.array, x.array.reshape(shape))
    assert gradcheck(call, x)


def test_reshape_gradient_is_float32_and_in_place_order():
    x = randn(2, 3)
    v = np.arange(6.0).reshape(3, 2)
    x.reshape(3, 2).backward(end_grad=v)
    assert x.grad.dtype == np.float32
    assert np.array_equal(x.grad.array, v.reshape(2, 3))


def test_reshape_returns_a_view_sharing_the_version_counter():
    x = randn(2, 3, 4)
    y = x.reshape(6, 4)
    assert np.shares_memory(y.array, x.array)
    assert y._version is x._version


def test_reshape_that_must_copy_gets_its_own_version_counter():
    x = randn(2, 3)
    y = x.T.reshape(-1)  # the transpose is not contiguous: reshape copies
    assert not np.shares_memory(y.array, x.array)
    assert y._version is not x._version
    assert np.array_equal(y.array, x.array.T.reshape(-1))


def test_reshape_size_mismatch_error():
    x = randn(2, 3)
    message = (
        r"reshape: cannot reshape a tensor of shape \(2, 3\) \(6 entries\) into shape \(4, -1\): "
        r"the sizes must multiply to 6"
    )
    with pytest.raises(ValueError, match=message):
        x.reshape(4, -1)


def test_reshape_two_minus_ones_error():
    with pytest.raises(ValueError, match="with at most one -1"):
        randn(2, 3).reshape(-1, -1)


# --- permute, T, mT ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "axes", [(2, 0, 1), (1, 2, 0), (0, 2, 1), (-1, 0, 1), (2, -3, -2), (0, 1, 2)]
)
def test_permute_values_and_gradient(axes):
    x = randn(2, 3, 4, seed=1)
    y = permute(x, axes)
    assert np.array_equal(y.array, np.transpose(x.array, axes))
    assert gradcheck(lambda x: permute(x, axes), x)


def test_permute_method_accepts_ints_or_a_tuple():
    x = randn(2, 3, 4)
    assert x.permute(2, 0, 1).shape == x.permute((2, 0, 1)).shape == (4, 2, 3)


def test_permute_of_four_axes_gradient():
    x = randn(2, 3, 4, 5, seed=2)
    assert gradcheck(lambda x: x.permute(1, 3, 0, 2), x)


def test_permute_back_uses_the_inverse_permutation():
    x = np.zeros((2, 3, 4))
    grad_out = np.arange(24.0).reshape(4, 2, 3)  # the shape of permute(x, (2, 0, 1))
    grad = permute_back(grad_out, grad_out, x, (2, 0, 1))
    assert grad.shape == (2, 3, 4)
    assert np.array_equal(grad, np.transpose(grad_out, (1, 2, 0)))
    # negative axes mean the same permutation
    assert np.array_equal(permute_back(grad_out, grad_out, x, (-1, 0, 1)), grad)


def test_T_reverses_all_axes():
    v, m, t = randn(3), randn(2, 5), randn(2, 3, 4)
    assert np.array_equal(v.T.array, v.array)
    assert np.array_equal(m.T.array, m.array.T)
    assert t.T.shape == (4, 3, 2) and np.array_equal(t.T.array, t.array.T)
    assert gradcheck(lambda t: t.T, t) and gradcheck(lambda m: m.T, m)


def test_mT_swaps_the_last_two_axes():
    t = randn(2, 3, 4)
    assert t.mT.shape == (2, 4, 3)
    assert np.array_equal(t.mT.array, np.swapaxes(t.array, -1, -2))
    assert gradcheck(lambda t: t.mT, t)


def test_mT_needs_two_axes():
    message = r"mT swaps the last two axes, but this tensor has shape \(3,\)"
    with pytest.raises(ValueError, match=message):
        randn(3).mT


@pytest.mark.parametrize("axes", [(0, 0, 1), (0, 1), (0, 1, 3), (0, 1, -4), (0, 1, 2, 3)])
def test_permute_rejects_non_permutations(axes):
    x = randn(2, 3, 4)
    written = ", ".join(map(str, axes)) + ("," if len(axes) == 1 else "")
    message = (
        rf"permute: axes \({written}\) are not a permutation of the 3 axes "
        r"of a tensor of shape \(2, 3, 4\)"
    )
    with pytest.raises(ValueError, match=message):
        permute(x, axes)


# --- expand --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, new_shape, result",
    [
        ((3, 1), (3, 4), (3, 4)),
        ((3, 1), (-1, 4), (3, 4)),
        ((3, 1), (2, -1, 4), (2, 3, 4)),
        ((3, 1), (2, 5, 3, -1), (2, 5, 3, 1)),
        ((1,), (5,), (5,)),
        ((1, 1), (2, 3), (2, 3)),
        ((), (2, 3), (2, 3)),
        ((2, 3), (-1, -1), (2, 3)),
    ],
)
def test_expand_values_and_gradient(shape, new_shape, result):
    x = randn(*shape, seed=3)
    y = expand(x, new_shape)
    assert y.shape == result
    assert np.array_equal(y.array, np.broadcast_to(x.array, result))
    assert gradcheck(lambda x: x.expand(*new_shape), x)


def test_expand_accepts_an_int():
    x = randn(1)
    assert expand(x, 4).shape == (4,) and x.expand(4).shape == (4,)


def test_expand_gradient_sums_the_copies():
    x = randn(3, 1)
    v = np.arange(24.0).reshape(2, 3, 4)
    x.expand(2, 3, 4).backward(end_grad=v)
    assert x.grad.dtype == np.float32
    assert np.array_equal(x.grad.array, v.sum(axis=(0, 2))[:, None])


def test_expand_is_a_read_only_view_sharing_the_version_counter():
    x = randn(3, 1)
    y = x.expand(3, 4)
    assert np.shares_memory(y.array, x.array) and y._version is x._version
    assert not y.array.flags.writeable


@pytest.mark.parametrize(
    "new_shape, message",
    [
        (
            (4, 4),
            r"expand: cannot expand shape \(3, 1\) to \(4, 4\): axis 0 has size 3, "
            r"and only axes of size 1 can be stretched",
        ),
        ((-1, 3, 1), r"expand: .* -1 means 'keep this size', but axis 0 is new; give its size"),
        ((4,), r"expand: cannot expand shape \(3, 1\) to \(4,\), which has fewer axes"),
        ((3, -2), r"expand: cannot expand \(3, 1\) to \(3, -2\): size -2 is negative"),
    ],
)
def test_expand_errors(new_shape, message):
    with pytest.raises(ValueError, match=message):
        randn(3, 1).expand(*new_shape)


# --- getitem -------------------------------------------------------------------------------

BASIC_INDICES = [
    1,
    -1,
    (1, 2),
    (-4, -1),
    slice(1, 3),
    slice(None, None, -2),
    (slice(None), 0),
    (Ellipsis, 2),
    (None, 1),
    (1, None, slice(None, 2)),
    (slice(1, None), Ellipsis, None),
]


@pytest.mark.parametrize("index", BASIC_INDICES)
def test_basic_indexing_values_gradient_and_view(index):
    x = randn(4, 3, seed=4)
    y = x[index]
    assert np.array_equal(y.array, x.array[index])
    assert gradcheck(lambda x: x[index], x)
    assert _selects_each_at_most_once(coerce_index(index))
    if y.ndim:  # a NumPy view (a single entry comes back as a scalar)
        assert y._version is x._version


ADVANCED_INDICES = [
    [0, 2, 0, 0],
    [-1, 0, -1],
    np.array([[0, 3], [3, 3]]),
    (slice(None), [0, 0, 2]),
    ([0, 0, 1], [2, 2, 2]),
    (Ellipsis, [-1, -1]),
    ([3, 3], None),
]


@pytest.mark.parametrize("index", ADVANCED_INDICES)
def test_integer_array_indexing_values_and_gradient(index):
    x = randn(4, 3, seed=5)
    y = getitem(x, index)
    assert np.array_equal(y.array, x.array[coerce_index(index)])
    assert gradcheck(lambda x: x[index], x)
    assert not _selects_each_at_most_once(coerce_index(index))


def test_repeated_indices_add_up():
    x = randn(3)
    x[[0, 2, 0, 0]].backward(end_grad=np.array([1.0, 10.0, 100.0, 1000.0]))
    assert x.grad.array.tolist() == [1101.0, 0.0, 10.0]


def test_repeated_negative_and_positive_indices_of_one_entry_add_up():
    x = randn(3)
    x[[2, -1, -1]].backward(end_grad=np.array([1.0, 2.0, 4.0]))
    assert x.grad.array.tolist() == [0.0, 0.0, 7.0]


def test_getitem_back_adds_even_where_assignment_would_not():
    x = np.zeros(3, dtype=np.float32)
    grad_out = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    grad = getitem_back(grad_out, grad_out, x, np.array([1, 1, 1]))
    assert grad.tolist() == [0.0, 6.0, 0.0] and grad.dtype == np.float32


def test_tensor_indices_also_inside_a_tuple():
    x = randn(4, 3, seed=6)
    rows, cols = Tensor(np.array([0, 1, 3, 3])), Tensor(np.array([2, 0, 2, 2]))
    assert np.array_equal(x[rows].array, x.array[[0, 1, 3, 3]])
    assert np.array_equal(x[rows, cols].array, x.array[[0, 1, 3, 3], [2, 0, 2, 2]])
    assert np.array_equal(x[minigrad.arange(4), cols].array, x.array[np.arange(4), [2, 0, 2, 2]])
    assert gradcheck(lambda x: x[rows, cols], x)
    assert gradcheck(lambda x: x[:, cols], x)


def test_boolean_masks():
    x = randn(4, 3, seed=7)
    mask = x.array > 0
    assert np.array_equal(x[mask].array, x.array[mask])
    assert np.array_equal(x[Tensor(mask)].array, x.array[mask])
    row_mask = np.array([True, False, True, True])
    assert np.array_equal(x[row_mask, 1:].array, x.array[row_mask, 1:])
    assert gradcheck(lambda x: x[mask], x)
    assert gradcheck(lambda x: x[Tensor(row_mask), 1:], x)
    assert _selects_each_at_most_once((row_mask, slice(1, None)))


def test_a_comparison_tensor_as_a_mask():
    x = randn(4, 3, seed=9)
    positive = x > 0  # a boolean tensor (chapter 11)
    assert np.array_equal(x[positive].array, x.array[x.array > 0])
    assert gradcheck(lambda x: x[positive], x)


def test_gradient_of_indexing_keeps_float32():
    x = randn(4, 3)
    x[[0, 0, 1]].backward(end_grad=np.ones((3, 3), dtype=np.float32))
    assert x.grad.dtype == np.float32
    x.grad = None
    x[1:, 0].backward(end_grad=np.ones(3, dtype=np.float32))
    assert x.grad.dtype == np.float32


def test_integer_array_index_does_not_share_the_version_counter():
    x = randn(4, 3)
    assert x[[1, 2]]._version is not x._version


def test_coerce_index():
    t = Tensor(np.array([0, 2]))
    assert coerce_index(t) is t.array
    coerced = coerce_index((slice(None), t, None, Ellipsis, 1))
    assert coerced[0] == slice(None) and coerced[1] is t.array
    assert coerced[2:] == (None, Ellipsis, 1)
    listed = coerce_index([1, 0])
    assert isinstance(listed, np.ndarray) and listed.tolist() == [1, 0]
    empty = coerce_index([])
    assert empty.dtype == np.intp and empty.size == 0


def test_a_list_index_is_copied():
    x = randn(3, seed=8)
    rows = [0, 1]
    y = x[rows]
    rows[0] = 2  # changing the list afterwards changes nothing
    y.backward(end_grad=np.array([1.0, 2.0]))
    assert x.grad.array.tolist() == [1.0, 2.0, 0.0]


def test_empty_list_index():
    x = randn(4, 3)
    y = x[[]]
    assert y.shape == (0, 3)
    y.backward(end_grad=np.zeros((0, 3)))
    assert np.array_equal(x.grad.array, np.zeros((4, 3)))


@pytest.mark.parametrize(
    "index, message",
    [
        (
            4,
            r"getitem: cannot index a tensor of shape \(4, 3\) with \[4\]: "
            r"index 4 is out of bounds for axis 0 with size 4",
        ),
        ((slice(None), -4), r"with \[:, -4\]: index -4 is out of bounds for axis 1 with size 3"),
        ([0, 5], r"with \[\[0 5\]\]: index 5 is out of bounds"),
        ((0, 0, 0), r"with \[0, 0, 0\]: too many indices"),
        (np.array([True, False]), r"with \[\[ True False\]\]: boolean index did not match"),
        ("a", r"with \['a'\]: only integers, slices"),
    ],
)
def test_bad_indices_raise_index_error_naming_index_and_shape(index, message):
    with pytest.raises(IndexError, match=message):
        randn(4, 3)[index]


def test_iteration_gives_rows_in_the_graph():
    x = randn(3, 2)
    rows = list(x)
    assert len(rows) == 3 and all(np.array_equal(r.array, x.array[i]) for i, r in enumerate(rows))
    assert all(r.requires_grad for r in rows)


def test_a_0d_tensor_cannot_be_iterated():
    with pytest.raises(TypeError, match=r"len\(\) of a 0-d tensor"):
        iter(Tensor(1.0))


# --- stack ---------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 5])
@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_stack_values_and_gradient(count, dim):
    tensors = [randn(2, 3, seed=10 + i) for i in range(count)]
    out = stack(tensors, dim=dim)
    assert out.dtype == np.float32
    assert np.array_equal(out.array, np.stack([t.array for t in tensors], axis=dim))
    assert gradcheck(lambda *ts: stack(list(ts), dim=dim), *tensors)


def test_stack_with_mixed_requires_grad():
    a, b, c = randn(2, 3, seed=1), randn(2, 3, seed=2, requires_grad=False), randn(2, 3, seed=3)
    d, e = randn(2, 3, seed=4, requires_grad=False), randn(2, 3, seed=5)
    out = stack([a, b, c, d, e], dim=1)
    assert set(out.recipe.parents) == {0, 2, 4}
    v = np.random.default_rng(0).normal(size=(2, 5, 3))
    out.backward(end_grad=v)
    for position, t in zip([0, 2, 4], [a, c, e]):
        assert t.grad.dtype == np.float32
        assert np.allclose(t.grad.array, v[:, position, :])
    assert b.grad is None and d.grad is None
    assert gradcheck(lambda a, b, c, d, e: stack([a, b, c, d, e], dim=1), a, b, c, d, e)


def test_stack_accepts_a_tuple_and_plain_arrays():
    a = randn(3)
    out = stack((a, np.ones(3, dtype=np.float32)))
    assert out.shape == (2, 3) and set(out.recipe.parents) == {0}
    assert gradcheck(lambda a: stack((a, np.ones(3))), a)


def test_stack_of_one_tensor_used_several_times_adds_its_gradients():
    a = randn(3)
    stack([a, a, a]).backward(end_grad=np.array([[1.0, 2, 3], [10, 20, 30], [100, 200, 300]]))
    assert a.grad.array.tolist() == [111.0, 222.0, 333.0]


def test_stack_registers_backward_functions_again_after_the_table_is_reset():
    a, b = randn(2, seed=1), randn(2, seed=2)
    stack([a, b])
    for position in range(2):
        BACK_FUNCS.back_funcs.pop((_stack, position), None)
    out = stack([a, b])  # registers positions 0 and 1 again
    out.backward(end_grad=np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert b.grad.array.tolist() == [3.0, 4.0]


def test_stack_registers_each_position_once():
    tensors = [randn(2, seed=i) for i in range(4)]
    stack(tensors)
    registered = {key: fn for key, fn in BACK_FUNCS.back_funcs.items() if key[0] is _stack}
    assert {position for _, position in registered} >= {0, 1, 2, 3}
    stack(tensors)
    again = {key: fn for key, fn in BACK_FUNCS.back_funcs.items() if key[0] is _stack}
    assert all(again[key] is fn for key, fn in registered.items())


def test_stack_errors():
    a = randn(2, 3)
    with pytest.raises(ValueError, match="stack needs at least one tensor, got an empty sequence"):
        stack([])
    message = r"stack takes a list or tuple of tensors, got Tensor; write stack\(\[a, b\]\)"
    with pytest.raises(TypeError, match=message):
        stack(a)
    message = (
        r"stack needs tensors of one shape, but position 0 has shape \(2, 3\) "
        r"and position 2 has shape \(3, 2\)"
    )
    with pytest.raises(ValueError, match=message):
        stack([a, a, randn(3, 2)])
    with pytest.raises(TypeError, match="stack: dim must be an int, got float 1.0"):
        stack([a, a], dim=1.0)


@pytest.mark.parametrize("dim", [3, -4, 10])
def test_stack_dim_out_of_range_is_an_axis_error(dim):
    a = randn(2, 3)
    message = (
        rf"stack: dim {dim} is out of range for stacking tensors of shape \(2, 3\) into 3 axes; "
        r"use a dim from -3 to 2"
    )
    with pytest.raises(AxisError, match=message) as caught:
        stack([a, a], dim=dim)
    assert isinstance(caught.value, IndexError) and isinstance(caught.value, ValueError)
