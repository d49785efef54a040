"""Unit tests for chapter 7, the elementwise operations (minigrad/elementwise.py)."""

import numpy as np
import pytest

from minigrad import (
    BACK_FUNCS,
    Tensor,
    add,
    exp,
    gradcheck,
    maximum,
    minimum,
    negative,
    pow,
    relu,
    sqrt,
    subtract,
    tanh,
    true_divide,
)
from minigrad.elementwise import add_back0, maximum_back0, subtract_back1

RNG = np.random.default_rng(20240707)


def _tensor(*shape, low=-2.0, high=2.0, requires_grad=True):
    return Tensor(RNG.uniform(low, high, size=shape), requires_grad=requires_grad)


def _away_from_zero(*shape):
    values = RNG.uniform(0.5, 2.0, size=shape) * RNG.choice([-1.0, 1.0], size=shape)
    return Tensor(values, requires_grad=True)


def _grads(f, *values, end_grad=None):
    """Gradients of <f(*leaves), end_grad> for float32 leaves made from `values` (end_grad: ones)."""
    leaves = [Tensor(np.asarray(v, dtype=np.float32), requires_grad=True) for v in values]
    out = f(*leaves)
    out.backward(end_grad=np.ones(out.shape) if end_grad is None else end_grad)
    return [leaf.grad.array for leaf in leaves]


# --- values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "op, reference",
    [
        (add, np.add),
        (subtract, np.subtract),
        (true_divide, np.true_divide),
        (maximum, np.maximum),
        (minimum, np.minimum),
        (pow, np.power),
    ],
)
def test_binary_values_match_numpy(op, reference):
    x, y = RNG.uniform(0.5, 2.0, size=(3, 1)), RNG.uniform(0.5, 2.0, size=(4,))
    out = op(Tensor(x), Tensor(y))
    assert out.shape == (3, 4)
    assert np.allclose(out.array, reference(x, y))


@pytest.mark.parametrize(
    "op, reference",
    [(negative, np.negative), (exp, np.exp), (tanh, np.tanh), (sqrt, np.sqrt), (relu, lambda a: np.maximum(a, 0))],
)
def test_unary_values_match_numpy(op, reference):
    x = RNG.uniform(0.1, 3.0, size=(2, 5)) * RNG.choice([-1.0, 1.0], size=(2, 5))
    if op is sqrt:
        x = np.abs(x)
    assert np.allclose(op(Tensor(x)).array, reference(x))


def test_operators_and_methods_record_the_right_recipes():
    x = Tensor([1.0, 2.0, 4.0], requires_grad=True)
    cases = [
        (x + 2, np.add, {0: x}),
        (2 + x, np.add, {1: x}),
        (x - 2, np.subtract, {0: x}),
        (2 - x, np.subtract, {1: x}),
        (x / 2, np.true_divide, {0: x}),
        (2 / x, np.true_divide, {1: x}),
        (x**2, np.power, {0: x}),
        (2**x, np.power, {1: x}),
        (-x, np.negative, {0: x}),
        (x.exp(), np.exp, {0: x}),
        (x.tanh(), np.tanh, {0: x}),
        (x.sqrt(), np.sqrt, {0: x}),
        (x.relu(), np.maximum, {0: x}),
        (x.maximum(1.5), np.maximum, {0: x}),
        (x.minimum(1.5), np.minimum, {0: x}),
        (x.pow(3), np.power, {0: x}),
        (np.ones(3) - x, np.subtract, {1: x}),
        (np.ones(3) / x, np.true_divide, {1: x}),
        (np.full(3, 2.0) ** x, np.power, {1: x}),
    ]
    for out, func, parents in cases:
        assert out.recipe.func is func and out.recipe.parents == parents
    assert (2 - x).array.tolist() == [1.0, 0.0, -2.0]
    assert (2 / x).array.tolist() == [2.0, 1.0, 0.5]
    assert (2**x).array.tolist() == [2.0, 4.0, 16.0]
    assert (x**2).array.tolist() == [1.0, 4.0, 16.0]


def test_relu_values_and_that_it_is_maximum_with_zero():
    x = Tensor([-2.0, -0.0, 0.0, 3.5])
    assert relu(x).array.tolist() == [0.0, 0.0, 0.0, 3.5]
    assert relu(x).recipe is None  # nothing requires grad: nothing recorded


# --- gradients -------------------------------------------------------------------------------

BINARY = {
    "add": lambda x, y: x + y,
    "subtract": lambda x, y: x - y,
    "divide": lambda x, y: x / y,
    "multiply-divide": lambda x, y: (x - y) / (x * x + y * y),
    "maximum": maximum,
    "minimum": minimum,
}

SHAPES = [((3, 1), (4,)), ((4,), (3, 1)), ((2, 3), (3,)), ((3,), (2, 3)), ((2, 1, 3), (4, 1)), ((), (3,))]


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_binary_gradients_with_broadcasting_in_both_directions(name, shapes):
    x, y = _away_from_zero(*shapes[0]), _away_from_zero(*shapes[1])
    assert gradcheck(BINARY[name], x, y)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_gradients_with_python_numbers_on_either_side(name):
    f = BINARY[name]
    x = _away_from_zero(2, 3)
    assert gradcheck(lambda x: f(x, 1.75), x)
    assert gradcheck(lambda x: f(-0.4, x), x)
    assert gradcheck(lambda x: f(x, np.full((4, 1, 3), 0.3)), x)  # array argument broadcasts x


def test_power_gradients_for_tensor_and_number_bases_and_exponents():
    x = _tensor(3, 1, low=0.5, high=2.0)
    p = _tensor(4, low=-1.5, high=2.5)
    assert gradcheck(lambda x, p: x**p, x, p)
    assert gradcheck(lambda x, p: (x + 1) ** (p / 2) - p ** 2, x, p)
    assert gradcheck(lambda p: 2.5**p, p)
    assert gradcheck(lambda p: np.full((3, 1), 1.7) ** p, p)
    assert gradcheck(lambda x: x**3, x)
    assert gradcheck(lambda x: x**-0.5, x)
    assert gradcheck(lambda x: x.pow(2.5), x)
    negative_base = Tensor([-2.0, -0.5, 1.5], requires_grad=True)
    assert gradcheck(lambda x: x**3 + x**2, negative_base)


@pytest.mark.parametrize(
    "f",
    [
        lambda x: -x,
        lambda x: x.exp(),
        lambda x: x.tanh(),
        lambda x: (x * x + 0.25).sqrt(),
        lambda x: relu(x),
        lambda x: (x.exp() - 1) / (x.exp() + 1) - (x / 2).tanh(),  # = 0: two paths cancel
    ],
)
def test_unary_gradients(f):
    assert gradcheck(f, _away_from_zero(3, 4))


def test_division_gradients_by_hand_with_asymmetric_values():
    # the numerator's gradient is 1/y, not 1/x (the textbook bug); the denominator's is -x/y^2
    grad_x, grad_y = _grads(lambda x, y: x / y, [2.0, -3.0], [4.0, 0.5])
    assert np.allclose(grad_x, [1 / 4.0, 1 / 0.5])
    assert np.allclose(grad_y, [-2.0 / 16.0, 3.0 / 0.25])


def test_subtraction_gradient_of_broadcast_second_argument_is_negated_sum():
    grad_x, grad_y = _grads(lambda x, y: x - y, np.ones((2, 3)), [1.0, 2.0, 3.0], end_grad=[[1, 2, 3], [4, 5, 6]])
    assert grad_x.tolist() == [[1, 2, 3], [4, 5, 6]]
    assert grad_y.tolist() == [-5.0, -7.0, -9.0]
    assert subtract_back1(np.ones((2, 3)), None, 0.0, np.zeros(3)).tolist() == [-2.0, -2.0, -2.0]


def test_unary_gradients_by_hand():
    x = np.array([0.25, 1.0, 4.0])
    assert np.allclose(_grads(negative, x)[0], -1.0)
    assert np.allclose(_grads(exp, x)[0], np.exp(x))
    assert np.allclose(_grads(tanh, x)[0], 1 - np.tanh(x) ** 2, atol=1e-6)  # 1 - out**2 in float32
    assert np.allclose(_grads(sqrt, x)[0], [1.0, 0.5, 0.25])
    assert np.allclose(_grads(lambda x: x**3, x)[0], 3 * x**2)


def test_same_tensor_in_both_positions():
    x = [0.5, -1.25, 2.0]
    assert np.allclose(_grads(lambda t: t + t, x)[0], 2.0)
    assert np.allclose(_grads(lambda t: t - t, x)[0], 0.0)
    assert np.allclose(_grads(lambda t: t / t, x)[0], 0.0)
    assert np.allclose(_grads(lambda t: maximum(t, t), x)[0], 1.0)
    assert np.allclose(_grads(lambda t: minimum(t, t), x)[0], 1.0)


def test_composite_expression():
    x, w, b = _tensor(5, 3), _tensor(3), _tensor(1, 3)
    assert gradcheck(lambda x, w, b: ((x * w + b).relu() - (x / (1 + w * w)).exp()).tanh() ** 2, x, w, b)


# --- ties and kinks --------------------------------------------------------------------------


def test_maximum_splits_ties_evenly_between_its_arguments():
    grad_x, grad_y = _grads(maximum, [1.0, 2.0, 3.0], [1.0, 5.0, -1.0], end_grad=[2.0, 4.0, 8.0])
    assert grad_x.tolist() == [1.0, 0.0, 8.0]
    assert grad_y.tolist() == [1.0, 4.0, 0.0]


def test_minimum_splits_ties_evenly_between_its_arguments():
    grad_x, grad_y = _grads(minimum, [1.0, 2.0, 3.0], [1.0, 5.0, -1.0], end_grad=[2.0, 4.0, 8.0])
    assert grad_x.tolist() == [1.0, 4.0, 0.0]
    assert grad_y.tolist() == [1.0, 0.0, 8.0]


def test_maximum_ties_with_broadcasting():
    grad_x, grad_y = _grads(maximum, [[1.0, -2.0, 3.0, 0.5]], [[1.0], [-2.0], [2.5]])
    assert grad_x.tolist() == [[1.5, 0.5, 3.0, 1.0]]
    assert grad_y.tolist() == [[2.5], [0.5], [3.0]]


def test_relu_gradient_is_one_half_at_zero():
    (grad,) = _grads(relu, [-1.0, 0.0, -0.0, 2.0])
    assert grad.tolist() == [0.0, 0.5, 0.5, 1.0]


def test_relu_of_a_zero_dimensional_tensor():
    x = Tensor(0.0, requires_grad=True)
    x.relu().backward()
    assert x.grad.shape == () and x.grad.item() == 0.5


def test_gradcheck_agrees_with_the_tie_convention():
    # central differences are symmetric, so they also give 1/2 at a tie
    x = Tensor([[0.0, 1.0, -1.0]], requires_grad=True)
    y = Tensor([[0.0], [1.0]], requires_grad=True)
    assert gradcheck(maximum, x, y)
    assert gradcheck(minimum, x, y)
    assert gradcheck(relu, x)


# --- dtypes ----------------------------------------------------------------------------------

FLOAT32_CASES = {
    "add": lambda x, y: x + y,
    "radd": lambda x, y: 2.5 + y,
    "subtract": lambda x, y: x - y,
    "rsub": lambda x, y: 1.5 - x,
    "divide": lambda x, y: x / y,
    "rdivide": lambda x, y: 2.0 / y,
    "negative": lambda x, y: -x,
    "exp": lambda x, y: x.exp(),
    "tanh": lambda x, y: x.tanh(),
    "sqrt": lambda x, y: y.sqrt(),
    "pow": lambda x, y: y**x,
    "pow-number-base": lambda x, y: 2.0**x,
    "pow-number-exponent": lambda x, y: y**2,
    "pow-float-exponent": lambda x, y: y**0.5,
    "maximum": lambda x, y: maximum(x, y),
    "minimum": lambda x, y: minimum(x, y),
    "relu": lambda x, y: x.relu(),
    "maximum-number": lambda x, y: maximum(0.25, y),
}


@pytest.mark.parametrize("name", sorted(FLOAT32_CASES))
def test_float32_inputs_give_float32_results_and_gradients(name):
    x = Tensor(RNG.normal(size=(3, 1)).astype(np.float32), requires_grad=True)
    y = Tensor(RNG.uniform(0.5, 2.0, size=(4,)).astype(np.float32), requires_grad=True)
    out = FLOAT32_CASES[name](x, y)
    assert out.dtype == np.float32
    grad_out = RNG.normal(size=out.shape).astype(np.float32)
    # the backward functions themselves, not just the leaves (which cast at the end)
    for position in out.recipe.parents:
        back = BACK_FUNCS.get_back_func(out.recipe.func, position)
        grad = back(grad_out, out.array, *out.recipe.args, **out.recipe.kwargs)
        assert grad.dtype == np.float32, (name, position)
        assert grad.shape == out.recipe.args[position].shape


def test_maximum_backward_does_not_write_into_grad_out():
    grad_out = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    share = maximum_back0(grad_out, None, np.array([1.0, 0.0, -1.0], np.float32), 0.0)
    assert share.tolist() == [1.0, 1.0, 0.0] and grad_out.tolist() == [1.0, 2.0, 3.0]


def test_add_backward_does_no_work_without_broadcasting():
    grad_out = np.ones((2, 3), dtype=np.float32)
    assert add_back0(grad_out, None, np.zeros((2, 3)), 1.0) is grad_out


# --- edge cases of pow and sqrt --------------------------------------------------------------


def test_pow_at_zero_base():
    grad_x, grad_p = _grads(lambda x, p: x**p, [0.0, 0.0, 0.0], [2.0, 1.0, 0.0])
    assert grad_x.tolist() == [0.0, 1.0, 0.0]
    assert grad_p.tolist() == [0.0, 0.0, 0.0]


def test_pow_with_a_number_exponent_of_zero_has_zero_gradient_everywhere():
    (grad,) = _grads(lambda x: x**0, [0.0, -1.5, 2.0])
    assert grad.tolist() == [0.0, 0.0, 0.0]


def test_pow_exponent_gradient_of_a_negative_base_is_nan():
    p = Tensor([2.0, 3.0], requires_grad=True)
    with np.errstate(invalid="ignore"):
        (Tensor([-2.0, 2.0]) ** p).backward(end_grad=np.ones(2))
    assert np.isnan(p.grad.array[0]) and np.isclose(p.grad.array[1], 8 * np.log(2.0))


def test_pow_with_a_number_base_and_zero():
    p = Tensor([1.0, 2.0], requires_grad=True)
    (0.0**p).backward(end_grad=np.ones(2))
    assert p.grad.array.tolist() == [0.0, 0.0]


def test_sqrt_gradient_at_zero_is_infinite():
    x = Tensor([0.0, 9.0], requires_grad=True)
    with np.errstate(divide="ignore"):
        x.sqrt().backward(end_grad=np.ones(2))
    assert x.grad.array[0] == np.inf and np.isclose(x.grad.array[1], 1 / 6)


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "f, name",
    [
        (lambda a, b: a + b, "add"),
        (lambda a, b: a - b, "subtract"),
        (lambda a, b: a / b, "divide"),
        (lambda a, b: a**b, "power"),
        (maximum, "maximum"),
        (minimum, "minimum"),
    ],
)
def test_broadcast_mismatch_names_the_operation_and_both_shapes(f, name):
    a, b = Tensor(np.ones((2, 3)), requires_grad=True), Tensor(np.ones((4,)))
    with pytest.raises(ValueError, match=rf"^{name}: operands could not be broadcast together with shapes \(2,3\) \(4,\)"):
        f(a, b)


def test_integer_to_negative_integer_power_is_a_value_error():
    with pytest.raises(ValueError, match="^power: Integers to negative integer powers are not allowed"):
        Tensor(np.array([2, 3])) ** -1


def test_tensor_as_keyword_argument_is_refused():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="maximum\\(\\) got a Tensor for keyword argument 'x2'"):
        maximum(x, x2=x)
