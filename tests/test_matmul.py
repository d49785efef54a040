"""Unit tests of chapter 10: matmul (with @) and einsum, values and gradients."""

from functools import partial

import numpy as np
import pytest

import minigrad
from minigrad import BACK_FUNCS, Tensor, einsum, gradcheck, matmul
from minigrad.linalg import _matmul, einsum_back, matmul_back0, matmul_back1


def tensor(rng, *shape, requires_grad=True):
    return Tensor(rng.normal(size=shape), requires_grad=requires_grad)


# Every combination of 1-D, 2-D and N-D operands, with batch axes that broadcast.
MATMUL_SHAPES = [
    ((3,), (3,)),  # vector . vector -> ()
    ((4, 3), (3,)),  # matrix . vector
    ((3,), (3, 5)),  # vector . matrix
    ((2, 3), (3, 4)),  # matrix . matrix, non-square
    ((2, 4, 3), (3,)),  # stack . vector
    ((3,), (2, 3, 5)),  # vector . stack
    ((2, 4, 3), (3, 5)),  # stack . matrix
    ((4, 3), (2, 3, 5)),  # matrix . stack
    ((2, 4, 3), (2, 3, 5)),  # stack . stack, same batch
    ((2, 1, 4, 3), (5, 3, 2)),  # batch axes broadcast both ways
    ((1, 4, 3), (6, 3, 2)),  # stretched size-1 batch axis
    ((3, 2, 1, 4, 3), (2, 5, 3, 1)),  # three batch axes against two, k = 1
]


@pytest.mark.parametrize("x_shape, y_shape", MATMUL_SHAPES)
def test_matmul_values_match_numpy(x_shape, y_shape):
    rng = np.random.default_rng(0)
    x, y = tensor(rng, *x_shape), tensor(rng, *y_shape)
    out = x @ y
    expected = np.matmul(x.array, y.array)
    assert out.shape == np.shape(expected)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.array, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(matmul(x, y).array, out.array)
    np.testing.assert_allclose(x.matmul(y).array, out.array)


@pytest.mark.parametrize("x_shape, y_shape", MATMUL_SHAPES)
def test_matmul_gradients(x_shape, y_shape):
    rng = np.random.default_rng(1)
    x, y = tensor(rng, *x_shape), tensor(rng, *y_shape)
    assert gradcheck(lambda x, y: x @ y, x, y)


@pytest.mark.parametrize("x_shape, y_shape", MATMUL_SHAPES)
def test_matmul_gradients_are_float32_with_the_input_shapes(x_shape, y_shape):
    rng = np.random.default_rng(2)
    x, y = tensor(rng, *x_shape), tensor(rng, *y_shape)
    out = x @ y
    out.backward(end_grad=rng.normal(size=out.shape))
    assert x.grad.shape == x_shape and x.grad.dtype == np.float32
    assert y.grad.shape == y_shape and y.grad.dtype == np.float32


def test_matmul_2d_gradients_are_the_textbook_formulas():
    rng = np.random.default_rng(3)
    x, y = tensor(rng, 2, 3), tensor(rng, 3, 4)
    g = rng.normal(size=(2, 4)).astype(np.float32)
    (x @ y).backward(end_grad=g)
    np.testing.assert_allclose(x.grad.array, g @ y.array.T, rtol=1e-6)
    np.testing.assert_allclose(y.grad.array, x.array.T @ g, rtol=1e-6)


def test_matmul_backward_functions_directly():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5, 3)).astype(np.float32)
    y = rng.normal(size=(3, 2)).astype(np.float32)
    g = rng.normal(size=(5, 2)).astype(np.float32)
    out = x @ y
    np.testing.assert_allclose(matmul_back0(g, out, x, y), g @ y.T, rtol=1e-6)
    np.testing.assert_allclose(matmul_back1(g, out, x, y), x.T @ g, rtol=1e-6)
    # vector . vector: grad_out is 0-d, the gradients are grad_out times the other vector
    u, v = x[0], y[:, 0]
    s = np.float32(2.5)
    np.testing.assert_allclose(matmul_back0(np.asarray(s), u @ v, u, v), s * v)
    np.testing.assert_allclose(matmul_back1(np.asarray(s), u @ v, u, v), s * u)


def test_matmul_broadcast_matrix_gets_summed_gradient():
    rng = np.random.default_rng(5)
    batch, w = tensor(rng, 6, 2, 4), tensor(rng, 4, 3)
    g = rng.normal(size=(6, 2, 3)).astype(np.float32)
    (batch @ w).backward(end_grad=g)
    expected = sum(batch.array[b].T @ g[b] for b in range(6))
    np.testing.assert_allclose(w.grad.array, expected, rtol=1e-5, atol=1e-5)


def test_matmul_same_tensor_on_both_sides():
    rng = np.random.default_rng(6)
    a = tensor(rng, 3, 3)
    assert gradcheck(lambda a: a @ a, a)
    u = tensor(rng, 4)
    assert gradcheck(lambda u: u @ u, u)


def test_matmul_with_constant_operands():
    rng = np.random.default_rng(7)
    x = tensor(rng, 2, 3)
    constant = tensor(rng, 3, 4, requires_grad=False)
    array = rng.normal(size=(3, 4))
    assert (x @ constant).recipe.parents == {0: x}
    assert gradcheck(lambda x, c: x @ c, x, constant)
    assert gradcheck(lambda x, a: x @ a, x, array)
    assert not (constant @ constant.array.T).requires_grad


def test_array_on_the_left_uses_rmatmul():
    assert Tensor.__array_ufunc__ is None
    rng = np.random.default_rng(8)
    t = tensor(rng, 3, 2)
    left = rng.normal(size=(4, 3))
    out = left @ t
    assert isinstance(out, Tensor)
    assert out.recipe.parents == {1: t}
    np.testing.assert_allclose(out.array, (left @ t.array).astype(np.float32), rtol=1e-6)
    assert gradcheck(lambda t, left: left @ t, t, left)
    # a vector array on the left, and a list on the right
    assert (rng.normal(size=3) @ t).shape == (2,)
    assert (t @ [1.0, 2.0]).shape == (3,)


def test_matmul_float64_operand_keeps_float32_gradient():
    rng = np.random.default_rng(9)
    x = tensor(rng, 2, 3)
    (x @ rng.normal(size=(3, 4))).backward(end_grad=np.ones((2, 4)))
    assert x.grad.dtype == np.float32
    y = tensor(rng, 3)
    (rng.normal(size=(5, 3)) @ y).backward(end_grad=np.ones(5))
    assert y.grad.dtype == np.float32
    # called directly: float64 grad_out and x, float32 y -> a float32 gradient for y
    y_matrix = np.ones((3, 4), dtype=np.float32)
    grad = matmul_back1(np.ones((2, 4)), None, rng.normal(size=(2, 3)), y_matrix)
    assert grad.dtype == np.float32


def test_matmul_integer_tensors_compute_without_gradient():
    a = Tensor(np.arange(6).reshape(2, 3))
    b = Tensor(np.arange(12).reshape(3, 4))
    out = a @ b
    assert out.dtype == np.int64 and not out.requires_grad
    np.testing.assert_array_equal(out.array, a.array @ b.array)


def test_matmul_registers_two_backward_functions():
    assert BACK_FUNCS.get_back_func(_matmul, 0) is matmul_back0
    assert BACK_FUNCS.get_back_func(_matmul, 1) is matmul_back1


# ---- matmul errors: ValueError naming both shapes and the axes, before NumPy runs ----


def test_matmul_mismatch_names_both_shapes_and_axes():
    with pytest.raises(ValueError) as caught:
        Tensor(np.ones((2, 3))) @ Tensor(np.ones((4, 5)))
    message = str(caught.value)
    assert message.startswith("matmul: ")
    assert "(2, 3) and (4, 5)" in message
    assert "axis 1 of the first has size 3" in message
    assert "axis 0 of the second has size 4" in message


@pytest.mark.parametrize(
    "x_shape, y_shape, first, second",
    [
        ((3,), (4,), "axis 0 of the first has size 3", "axis 0 of the second has size 4"),
        ((2, 3), (4,), "axis 1 of the first has size 3", "axis 0 of the second has size 4"),
        ((3,), (4, 5), "axis 0 of the first has size 3", "axis 0 of the second has size 4"),
        ((7, 2, 3), (6, 4, 5), "axis 2 of the first has size 3", "axis 1 of the second has size 4"),
    ],
)
def test_matmul_mismatch_messages(x_shape, y_shape, first, second):
    with pytest.raises(ValueError) as caught:
        matmul(Tensor(np.ones(x_shape)), Tensor(np.ones(y_shape)))
    message = str(caught.value)
    assert f"{x_shape} and {y_shape}" in message and first in message and second in message


def test_matmul_batch_mismatch_names_the_batch_axes():
    with pytest.raises(ValueError) as caught:
        Tensor(np.ones((2, 3, 4, 5))) @ Tensor(np.ones((7, 5, 6)))
    message = str(caught.value)
    assert "batch axes of shapes (2, 3, 4, 5) and (7, 5, 6) do not broadcast" in message
    assert "axis 1 of the first has size 3 but axis 0 of the second has size 7" in message


def test_matmul_refuses_zero_dimensional_operands():
    t = Tensor(np.ones((2, 3)), requires_grad=True)
    for do in (lambda: 2.0 @ t, lambda: t @ 2.0, lambda: matmul(Tensor(np.float32(1.0)), t)):
        with pytest.raises(ValueError, match=r"at least one axis, got shapes \(.*\) and \(.*\)"):
            do()
    with pytest.raises(ValueError, match=r"shapes \(\) and \(2, 3\); to scale by a number, use \*"):
        2.0 @ t


def test_matmul_errors_come_from_our_check_not_numpy():
    with pytest.raises(ValueError) as caught:
        _matmul(np.ones((2, 3)), np.ones((4, 5)))
    assert "gufunc" not in str(caught.value)
    assert caught.value.__cause__ is None


# ---- einsum ----


EINSUM_CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),  # matrix product
    ("ij,jk", [(2, 3), (3, 4)]),  # the same, implicit
    ("ii->", [(4, 4)]),  # trace
    ("ii", [(4, 4)]),  # trace, implicit
    ("ii->i", [(4, 4)]),  # diagonal
    ("iji->j", [(3, 2, 3)]),  # a diagonal across non-adjacent axes
    ("iii->", [(2, 2, 2)]),  # three repeats
    ("bii->b", [(3, 4, 4)]),  # batched trace
    ("i,j->ij", [(3,), (5,)]),  # outer product
    ("i,i->", [(4,), (4,)]),  # dot product
    ("bi,ij,bj->b", [(6, 3), (3, 5), (6, 5)]),  # batched bilinear form
    ("ij->i", [(3, 5)]),  # j summed, only in the operand
    ("ij->j", [(3, 5)]),
    ("ij->", [(3, 5)]),
    ("ij->ji", [(3, 5)]),  # transpose
    ("ji", [(3, 5)]),  # implicit transpose: output is "ij"
    ("Za", [(3, 5)]),  # implicit, upper case sorts first
    ("ijk,jl->", [(2, 3, 4), (3, 2)]),  # i, k only in operand 0, l only in operand 1
    ("ii,i->i", [(3, 3), (3,)]),  # a diagonal multiplied by a vector
    ("ij,ij->ij", [(2, 3), (2, 3)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),  # ellipsis with broadcast batch axes
    ("...ij,...jk", [(2, 1, 3, 4), (5, 4, 2)]),  # the same, implicit
    ("i...->...", [(2, 3)]),
    ("...ij->ij", [(2, 3)]),  # '...' standing for no axes
    ("i,i->i", [(1,), (3,)]),  # a letter of size 1 broadcast against size 3
    ("ij,jk", [(2, 1), (3, 4)]),  # size 1 broadcast in a summed letter
    ("ab,ab->ab", [(1, 3), (2, 1)]),
    (",i->i", [(), (3,)]),  # a 0-d operand
    ("a,b,c,d,e->", [(2,), (3,), (1,), (2,), (2,)]),  # five operands
]


@pytest.mark.parametrize("subscripts, shapes", EINSUM_CASES)
def test_einsum_values_match_numpy(subscripts, shapes):
    rng = np.random.default_rng(10)
    operands = [tensor(rng, *shape) for shape in shapes]
    out = einsum(subscripts, *operands)
    expected = np.einsum(subscripts, *(t.array for t in operands))
    assert out.shape == np.shape(expected)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.array, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("subscripts, shapes", EINSUM_CASES)
def test_einsum_gradients(subscripts, shapes):
    rng = np.random.default_rng(11)
    operands = [tensor(rng, *shape) for shape in shapes]
    assert gradcheck(lambda *ops: einsum(subscripts, *ops), *operands)


@pytest.mark.parametrize("subscripts, shapes", EINSUM_CASES)
def test_einsum_gradients_are_float32_with_the_input_shapes(subscripts, shapes):
    rng = np.random.default_rng(12)
    operands = [tensor(rng, *shape) for shape in shapes]
    out = einsum(subscripts, *operands)
    out.backward(end_grad=rng.normal(size=out.shape))
    for t in operands:
        assert t.grad.shape == t.shape and t.grad.dtype == np.float32


def test_einsum_agrees_with_matmul():
    rng = np.random.default_rng(13)
    x, y = tensor(rng, 2, 3), tensor(rng, 3, 4)
    g = rng.normal(size=(2, 4))
    (x @ y).backward(end_grad=g)
    grads = x.grad.array.copy(), y.grad.array.copy()
    x.grad = y.grad = None
    out = einsum("ij,jk->ik", x, y)
    np.testing.assert_allclose(out.array, (x @ y).array, rtol=1e-5, atol=1e-6)
    out.backward(end_grad=g)
    np.testing.assert_allclose(x.grad.array, grads[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y.grad.array, grads[1], rtol=1e-5, atol=1e-6)


def test_einsum_trace_and_diagonal_gradients_are_zero_off_the_diagonal():
    rng = np.random.default_rng(14)
    a = tensor(rng, 3, 3)
    einsum("ii->", a).backward()
    np.testing.assert_array_equal(a.grad.array, np.eye(3, dtype=np.float32))
    b = tensor(rng, 3, 3)
    einsum("ii->i", b).backward(end_grad=np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(b.grad.array, np.diag([1.0, 2.0, 3.0]).astype(np.float32))


def test_einsum_summed_letter_gets_a_broadcast_gradient():
    rng = np.random.default_rng(15)
    a = tensor(rng, 2, 4)
    einsum("ij->i", a).backward(end_grad=np.array([3.0, -1.0]))
    np.testing.assert_array_equal(a.grad.array, [[3.0] * 4, [-1.0] * 4])
    assert a.grad.array.flags.writeable  # a leaf's gradient is its own array, not a broadcast view


def test_einsum_recipe_holds_explicit_subscripts():
    rng = np.random.default_rng(16)
    x, y = tensor(rng, 2, 3), tensor(rng, 3, 4)
    assert einsum("ij,jk", x, y).recipe.args[0] == "ij,jk->ik"
    assert einsum("ii", tensor(rng, 3, 3)).recipe.args[0] == "ii->"
    assert einsum(" ij -> ji ", x).recipe.args[0] == "ij->ji"
    recipe = einsum("...ij,...jk", tensor(rng, 5, 2, 3), tensor(rng, 3, 4)).recipe
    subscripts = recipe.args[0]
    assert "." not in subscripts and subscripts.endswith("ik")
    inputs, output = subscripts.split("->")
    first, second = inputs.split(",")
    assert len(first) == 3 and second == "jk" and output == first[0] + "ik"
    assert recipe.func is np.einsum


def test_einsum_mixes_tensors_that_do_and_do_not_require_grad():
    rng = np.random.default_rng(17)
    weights = tensor(rng, 3, 4, requires_grad=False)
    data = rng.normal(size=(4, 2))
    z = tensor(rng, 2, 3)
    out = einsum("ij,jk,ki->", weights, data, z)
    assert out.recipe.parents == {3: z}
    assert gradcheck(lambda w, d, z: einsum("ij,jk,ki->", w, d, z), weights, data, z)
    out.backward()
    np.testing.assert_allclose(z.grad.array, (weights.array @ data).T, rtol=1e-5)
    assert weights.grad is None
    # nothing requires grad: a constant result
    assert not einsum("ij,jk->ik", weights, data).requires_grad


def test_einsum_same_tensor_twice():
    rng = np.random.default_rng(18)
    u = tensor(rng, 4)
    einsum("i,i->", u, u).backward()
    np.testing.assert_allclose(u.grad.array, 2 * u.array, rtol=1e-6)
    a = tensor(rng, 3, 3)
    assert gradcheck(lambda a: einsum("ij,jk,ki->", a, a, a), a)


def test_einsum_float64_operand_keeps_float32_gradient():
    rng = np.random.default_rng(19)
    x = tensor(rng, 2, 3)
    einsum("ij,jk->ik", x, rng.normal(size=(3, 4))).backward(end_grad=np.ones((2, 4)))
    assert x.grad.dtype == np.float32


def test_einsum_registers_backward_functions_lazily_per_position():
    rng = np.random.default_rng(20)
    table = BACK_FUNCS.back_funcs
    for position in range(1, 8):
        table.pop((np.einsum, position), None)
    einsum("a,b,c->abc", tensor(rng, 2), tensor(rng, 3), tensor(rng, 4))
    assert {p for (f, p) in table if f is np.einsum} == {1, 2, 3}
    einsum("a,b,c,d,e->", *(tensor(rng, 2) for _ in range(5)))
    assert {p for (f, p) in table if f is np.einsum} == {1, 2, 3, 4, 5}
    back = BACK_FUNCS.get_back_func(np.einsum, 4)
    assert isinstance(back, partial) and back.func is einsum_back
    assert back.keywords == {"position": 4}


def test_einsum_back_directly():
    x = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    y = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    g = np.ones((2, 4), dtype=np.float32)
    np.testing.assert_allclose(einsum_back(g, None, "ij,jk->ik", x, y, position=1), g @ y.T)
    np.testing.assert_allclose(einsum_back(g, None, "ij,jk->ik", x, y, position=2), x.T @ g)
    diagonal = np.array([1.0, 2.0], np.float32)
    diag = einsum_back(diagonal, None, "ii->i", np.ones((2, 2), np.float32), position=1)
    np.testing.assert_array_equal(diag, [[1.0, 0.0], [0.0, 2.0]])


def test_einsum_with_only_arrays_returns_a_constant_tensor():
    out = einsum("i,i->", np.arange(3.0), np.arange(3.0))
    assert isinstance(out, Tensor) and not out.requires_grad and out.item() == 5.0


# ---- einsum errors ----


@pytest.mark.parametrize(
    "subscripts, shapes, pattern",
    [
        ("ij,jk->ik", [(2, 3), (3, 4), (4,)], r"'ij,jk->ik' describe 2 operand\(s\) but 3 were"),
        ("ij,jk->ik", [(2, 3)], r"describe 2 operand\(s\) but 1 were given"),
        ("ij,jkl->ik", [(2, 3), (3, 4)], r"operand 1 has shape \(3, 4\), 2 axes, .* 'jkl' name 3"),
        ("ijk", [(2, 3)], r"operand 0 has shape \(2, 3\), 2 axes, but its subscripts 'ijk' name 3"),
        ("i", [(2, 3)], r"operand 0 has shape \(2, 3\), 2 axes, but its subscripts 'i' name 1"),
        ("ij...k", [(2, 3)], r"operand 0 has shape \(2, 3\), 2 axes, but .* 'ij...k' name 3"),
        ("ij", [(2,)], r"operand 0 has shape \(2,\), 1 axis, but"),
        (
            "ij,jk->ik",
            [(2, 3), (4, 5)],
            r"letter 'j' has size 3 on axis 1 of operand 0 \(shape \(2, 3\)\) but size 4 on axis 0 "
            r"of operand 1 \(shape \(4, 5\)\)",
        ),
        ("...i,...i", [(2, 3), (4, 3)], r"an axis under '...' has size 2 .* but size 4"),
        ("ii->i", [(2, 3)], r"repeats letter 'i' on axes 0 and 1, of sizes 2 and 3"),
        ("ij->k", [(2, 3)], r"has 'k', which no operand has"),
        ("ij->ii", [(2, 2)], r"repeats the letter 'i'"),
        ("i.j", [(2, 2)], r"contain '\.'"),
        ("i1", [(2, 2)], r"contain '1'"),
        ("......", [(2, 2)], r"contain '\.'"),
        ("i->i->i", [(2,)], r"more than one '->'"),
        ("i...,j...->ij", [(2, 3), (2, 4)], r"the output has no '...'"),
    ],
)
def test_einsum_errors(subscripts, shapes, pattern):
    operands = [Tensor(np.ones(shape)) for shape in shapes]
    with pytest.raises(ValueError, match=pattern) as caught:
        einsum(subscripts, *operands)
    assert str(caught.value).startswith("einsum: ")


def test_einsum_needs_operands_and_string_subscripts():
    with pytest.raises(ValueError, match="at least one operand"):
        einsum("ij->i")
    with pytest.raises(TypeError, match="subscripts must be a string .* got Tensor"):
        einsum(Tensor(np.ones(2)), Tensor(np.ones(2)))


def test_public_names():
    assert minigrad.matmul is matmul and minigrad.einsum is einsum
