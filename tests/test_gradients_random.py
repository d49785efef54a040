"""Randomized gradient tests: every differentiable operation of minigrad, and composites of them.

For every example Hypothesis draws shapes (0-4 axes, at most 3 entries per axis, mutually
broadcastable where the operation broadcasts), values (drawn independently per argument, so that a
rule with its operands swapped fails) and a random cotangent `end_grad` (never just `.sum()`).
`check_op` then compares, in float64:

- the forward value with an independent implementation written in HIPS autograd's `autograd.numpy`;
- the gradients of <f(inputs), end_grad> from minigrad's backward pass with
  (a) central differences of minigrad's own forward pass (every element, or for the composites a
      few random directions: the dot-product test of chapter 6), and
  (b) the vector-Jacobian product computed by autograd on the independent implementation;
- and the same computation in float32: results and gradients stay float32 and agree with float64.

Kinks and ties are kept out of the random tests on purpose (inputs are drawn or shifted away from
them: maximum/minimum/relu/amax have a gap of at least 0.1 between competitors, log/sqrt/pow get
positive inputs, denominators are at least 0.5 away from 0); the book's tie convention, a gradient
split evenly between tied entries, is checked by the deterministic tests at the end of this file.

All tests use `RANDOM` below: 200 examples each, derandomized (CI sees the same examples every
run) and without Hypothesis' example database. Two optional tests at the end also compare with
PyTorch; they are skipped when torch is not installed (it is not a requirement).
"""

import math

import autograd.numpy as anp
import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from autograd import make_vjp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import NoGrad, Tensor, keep_float64

RANDOM = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

MAX_SIDE = 3
MAX_DIMS = 4


# --- the comparison -------------------------------------------------------------------------


def _tolerance_scale(*arrays) -> float:
    return 1.0 + max((float(np.max(np.abs(a))) for a in arrays if np.size(a)), default=0.0)


def reference_vjps(ref_fn, inputs, end_grad):
    """(value, [gradient of <ref_fn(*inputs), end_grad> for each input]) computed by autograd."""
    grads = []
    value = None
    for position in range(len(inputs)):
        vjp, value = make_vjp(ref_fn, argnum=position)(*inputs)
        grads.append(np.asarray(vjp(end_grad), dtype=np.float64).reshape(np.shape(inputs[position])))
    if not inputs:
        value = ref_fn()
    return np.asarray(value), grads


def minigrad_value_and_grads(mg_fn, inputs, end_grad, dtype=np.float64):
    """Run mg_fn on fresh leaf tensors of `dtype` requiring grad and backpropagate end_grad."""
    leaves = [Tensor(np.array(x, dtype=dtype), requires_grad=True) for x in inputs]
    out = mg_fn(*leaves)
    assert isinstance(out, Tensor), f"the operation returned {type(out).__name__}, not a Tensor"
    assert out.requires_grad, "the result of a differentiable operation should require grad"
    out.backward(end_grad=end_grad)
    grads = [leaf.grad.array if leaf.grad is not None else np.zeros_like(leaf.array) for leaf in leaves]
    return out, leaves, grads


def _evaluate(mg_fn, arrays) -> np.ndarray:
    with NoGrad():
        return mg_fn(*(Tensor(a) for a in arrays)).array


def central_differences(mg_fn, inputs, position, end_grad, eps=1e-6) -> np.ndarray:
    """d<mg_fn(*inputs), end_grad>/d inputs[position], element by element, in float64."""
    arrays = [np.array(x, dtype=np.float64) for x in inputs]
    x = arrays[position]
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + eps
        plus = np.sum(_evaluate(mg_fn, arrays) * end_grad)
        x[index] = original - eps
        minus = np.sum(_evaluate(mg_fn, arrays) * end_grad)
        x[index] = original
        grad[index] = (plus - minus) / (2 * eps)
    return grad


def directional_differences(mg_fn, inputs, direction, end_grad, eps=1e-6) -> float:
    """<end_grad, J u> by one central difference along u = direction (one array per input)."""
    plus = [np.asarray(x, np.float64) + eps * u for x, u in zip(inputs, direction)]
    minus = [np.asarray(x, np.float64) - eps * u for x, u in zip(inputs, direction)]
    return float(np.sum((_evaluate(mg_fn, plus) - _evaluate(mg_fn, minus)) * end_grad) / (2 * eps))


def assert_close(actual, expected, rtol, atol, what):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    if not np.allclose(actual, expected, rtol=rtol, atol=atol):
        worst = np.unravel_index(np.argmax(np.abs(actual - expected)), actual.shape) if actual.ndim else ()
        raise AssertionError(
            f"{what}: got {actual[worst]!r} at {worst}, expected {expected[worst]!r} "
            f"(rtol={rtol}, atol={atol:.3g})\nactual:\n{actual}\nexpected:\n{expected}"
        )


def check_op(mg_fn, ref_fn, inputs, end_grad, *, fd="full", directions=None, check_float32=True):
    """Compare minigrad's value and gradients of <mg_fn(*inputs), end_grad> with autograd and with
    central differences, in float64, and check that float32 stays float32.

    mg_fn takes one Tensor per input (constants are closed over); ref_fn is the same function
    written with autograd.numpy. end_grad: an array, or a callable shape -> array (drawn once the
    output shape is known). fd: "full" (every element), "directional" (the given random
    directions, dot-product test) or None.
    """
    inputs = [np.asarray(x, dtype=np.float64) for x in inputs]
    with keep_float64():
        probe = _evaluate(mg_fn, inputs)
    v = end_grad(probe.shape) if callable(end_grad) else end_grad
    v = np.asarray(v, dtype=np.float64)
    assert v.shape == probe.shape

    # forward value, against the independent implementation
    ref_value, ref_grads = reference_vjps(ref_fn, inputs, v)
    with keep_float64():
        out, leaves, grads = minigrad_value_and_grads(mg_fn, inputs, v)
    assert out.dtype == np.float64
    assert_close(out.array, ref_value, 1e-10, 1e-12 * _tolerance_scale(ref_value), "forward value")

    # (b) autograd's vector-Jacobian products: the same formulas, up to rounding
    for position, (grad, ref_grad) in enumerate(zip(grads, ref_grads)):
        assert grad.dtype == np.float64 and grad.shape == inputs[position].shape
        assert_close(grad, ref_grad, 1e-8, 1e-10 * _tolerance_scale(ref_grad), f"gradient of input {position} vs autograd")

    # (a) central differences of minigrad's own forward pass, in float64
    loss_scale = 1.0 + float(np.sum(np.abs(out.array * v)))
    if fd == "full":
        with keep_float64():
            for position, grad in enumerate(grads):
                numerical = central_differences(mg_fn, inputs, position, v)
                assert_close(grad, numerical, 1e-5, 1e-6 + 1e-7 * loss_scale, f"gradient of input {position} vs central differences")
    elif fd == "directional":
        with keep_float64():
            for direction in directions:
                numerical = directional_differences(mg_fn, inputs, direction, v)
                analytic = float(sum(np.sum(g * u) for g, u in zip(grads, direction)))
                assert math.isclose(analytic, numerical, rel_tol=1e-5, abs_tol=1e-6 + 1e-7 * loss_scale), (
                    f"<grad, u> = {analytic!r} but the central difference along u gives {numerical!r}"
                )

    # float32 in, float32 out, and the same numbers up to float32 rounding
    if check_float32:
        out32, leaves32, grads32 = minigrad_value_and_grads(mg_fn, inputs, v.astype(np.float32), np.float32)
        assert out32.dtype == np.float32, f"float32 inputs gave a {out32.dtype} result"
        assert_close(out32.array, out.array, 1e-3, 1e-3 * _tolerance_scale(out.array), "float32 forward value")
        for position, (g32, g64) in enumerate(zip(grads32, grads)):
            assert g32.dtype == np.float32, f"float32 input {position} got a {g32.dtype} gradient"
            assert_close(g32, g64, 2e-3, 2e-3 * _tolerance_scale(g64), f"float32 gradient of input {position}")
    return out, grads


# --- strategies -------------------------------------------------------------------------------


def _signed(magnitudes):
    return st.tuples(magnitudes, st.booleans()).map(lambda t: t[0] if t[1] else -t[0])


GENERAL = st.floats(-3, 3, allow_nan=False, allow_infinity=False, allow_subnormal=False)
POSITIVE = st.floats(0.2, 3, allow_nan=False, allow_infinity=False)
AWAY_FROM_ZERO = _signed(st.floats(0.5, 3, allow_nan=False, allow_infinity=False))
COTANGENT = _signed(st.floats(0.25, 2, allow_nan=False, allow_infinity=False))

shapes = hnp.array_shapes(min_dims=0, max_dims=MAX_DIMS, min_side=1, max_side=MAX_SIDE)


def arrays(shape, elements=GENERAL):
    # fill=st.nothing(): every element is drawn on its own (by default Hypothesis may fill an array
    # with one repeated value, which would make the inputs symmetric)
    return hnp.arrays(np.float64, shape, elements=elements, fill=st.nothing())


def end_grad_from(data):
    """A random cotangent of the output's shape, with no zero entries."""
    return lambda shape: data.draw(arrays(shape, COTANGENT), label="end_grad")


def away_from_zero_shift(x):
    """Move every entry at least 0.05 away from 0, keeping its sign (0 counts as positive)."""
    return np.where(x >= 0, x + 0.05, x - 0.05)


def lattice(x, offset):
    """Entries on 0.5 * integer + offset + [0, 0.1): with offsets 0.1 and 0.3, any entry of one
    lattice is at least 0.1 away from any entry of the other, so maximum/minimum never tie."""
    cells = np.floor(2 * x)
    return 0.5 * cells + offset + 0.1 * (2 * x - cells)


def distinct(x):
    """Same shape, entries pairwise at least 0.2 apart, in an order drawn from x (for amax)."""
    flat = np.asarray(x, dtype=np.float64).ravel()
    ranks = np.argsort(np.argsort(flat, kind="stable"), kind="stable")
    return (0.3 * (ranks - (flat.size - 1) / 2) + 0.05 * np.tanh(flat)).reshape(np.shape(x))


def dims_for(ndim, allow_none=True):
    """A dim argument for a reduction: None, an int (possibly negative) or a tuple of distinct axes."""
    options = [st.none()] if allow_none or ndim == 0 else []
    if ndim:
        options.append(st.integers(-ndim, ndim - 1))
        options.append(
            st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).flatmap(
                lambda axes: st.tuples(*(st.sampled_from([a, a - ndim]) for a in axes))
            )
        )
    return st.one_of(*options)


def _axis(dim):
    return dim if dim is None or isinstance(dim, int) else tuple(dim)


def _reduced_count(shape, dim):
    if dim is None:
        return math.prod(shape)
    axes = (dim,) if isinstance(dim, int) else dim
    return math.prod(shape[a] for a in axes)


# --- elementwise, one argument ------------------------------------------------------------------

UNARY = {
    "negative": (GENERAL, None, mg.negative, anp.negative),
    "exp": (GENERAL, None, mg.exp, anp.exp),
    "log": (POSITIVE, None, mg.log, anp.log),
    "tanh": (GENERAL, None, mg.tanh, anp.tanh),
    "sqrt": (POSITIVE, None, mg.sqrt, anp.sqrt),
    "relu": (GENERAL, away_from_zero_shift, mg.relu, lambda x: anp.maximum(x, 0.0)),
    "neg operator": (GENERAL, None, lambda x: -x, lambda x: -x),
    "exp method": (GENERAL, None, lambda x: x.exp(), anp.exp),
    "log method": (POSITIVE, None, lambda x: x.log(), anp.log),
    "tanh method": (GENERAL, None, lambda x: x.tanh(), anp.tanh),
    "sqrt method": (POSITIVE, None, lambda x: x.sqrt(), anp.sqrt),
    "relu method": (GENERAL, away_from_zero_shift, lambda x: x.relu(), lambda x: anp.maximum(x, 0.0)),
    "abs": (GENERAL, away_from_zero_shift, mg.abs, anp.abs),
    "sigmoid": (st.floats(-20, 20, allow_nan=False, allow_subnormal=False), None, mg.sigmoid, lambda x: 1 / (1 + anp.exp(-x))),
    "abs method": (GENERAL, away_from_zero_shift, lambda x: x.abs(), anp.abs),
    "abs builtin": (GENERAL, away_from_zero_shift, lambda x: abs(x), anp.abs),
    "sigmoid method": (GENERAL, None, lambda x: x.sigmoid(), lambda x: 1 / (1 + anp.exp(-x))),
}


@pytest.mark.parametrize("name", [n for n in UNARY if " " not in n])
@RANDOM
@given(data=st.data())
def test_unary(name, data):
    elements, shift, mg_fn, ref_fn = UNARY[name]
    x = data.draw(arrays(data.draw(shapes, label="shape"), elements), label="x")
    if shift is not None:
        x = shift(x)
    check_op(mg_fn, ref_fn, [x], end_grad_from(data))


@RANDOM
@given(data=st.data())
def test_unary_methods_and_operators(data):
    name = data.draw(st.sampled_from([n for n in UNARY if " " in n]), label="op")
    elements, shift, mg_fn, ref_fn = UNARY[name]
    x = data.draw(arrays(data.draw(shapes, label="shape"), elements), label="x")
    if shift is not None:
        x = shift(x)
    check_op(mg_fn, ref_fn, [x], end_grad_from(data))


# --- elementwise, two arguments, with broadcasting ----------------------------------------------------

BINARY = {
    "add": (GENERAL, GENERAL, None, mg.add, anp.add),
    "subtract": (GENERAL, GENERAL, None, mg.subtract, anp.subtract),
    "multiply": (GENERAL, GENERAL, None, mg.multiply, anp.multiply),
    "true_divide": (GENERAL, AWAY_FROM_ZERO, None, mg.true_divide, anp.true_divide),
    "maximum": (GENERAL, GENERAL, "lattice", mg.maximum, anp.maximum),
    "minimum": (GENERAL, GENERAL, "lattice", mg.minimum, anp.minimum),
    "pow": (POSITIVE, st.floats(-2, 2, allow_nan=False, allow_subnormal=False), None, mg.pow, anp.power),
}



@st.composite
def _shapes_broadcast_to(draw, num_shapes):
    """Shapes that broadcast to a shape drawn from `shapes`: each drops some leading axes and
    has some axes of size 1 (more full-size axes than mutually_broadcastable_shapes gives)."""
    result = draw(shapes, label="result shape")
    inputs = []
    for _ in range(num_shapes):
        dropped = draw(st.integers(0, len(result))) if draw(st.booleans()) else 0
        inputs.append(
            tuple(1 if n > 1 and draw(st.booleans()) and draw(st.booleans()) else n for n in result[dropped:])
        )
    return hnp.BroadcastableShapes(input_shapes=tuple(inputs), result_shape=np.broadcast_shapes(*inputs))


@st.composite
def _equal_sides_broadcast_to(draw, num_shapes):
    """Like _shapes_broadcast_to, for a result whose axes all have the same size (2 or 3): then
    summing the wrong axes in a backward pass still gives the right shape, and only the values
    can tell (e.g. (3, 3) against (3,): the rows summed instead of the columns)."""
    side = draw(st.integers(2, MAX_SIDE), label="side")
    result = (side,) * draw(st.integers(1, MAX_DIMS), label="result ndim")
    inputs = []
    for _ in range(num_shapes):
        dropped = draw(st.integers(0, len(result)))
        inputs.append(tuple(1 if draw(st.booleans()) and draw(st.booleans()) else n for n in result[dropped:]))
    return hnp.BroadcastableShapes(input_shapes=tuple(inputs), result_shape=np.broadcast_shapes(*inputs))


def _not_all_single_entries(shapes_):
    return max(math.prod(shape) for shape in shapes_.input_shapes) > 1


def broadcastable(num_shapes):
    """Mutually broadcastable shapes from three sources: Hypothesis' own strategy (which favours
    size-1 axes and 0-d shapes), and the two above, without the trivial case where every input
    has a single entry (Hypothesis draws that case often, and the first source covers it)."""
    return st.one_of(
        hnp.mutually_broadcastable_shapes(
            num_shapes=num_shapes, min_dims=0, max_dims=MAX_DIMS, min_side=1, max_side=MAX_SIDE
        ),
        _shapes_broadcast_to(num_shapes).filter(_not_all_single_entries),
        _equal_sides_broadcast_to(num_shapes).filter(_not_all_single_entries),
    )


broadcast_pairs = broadcastable(2)


def _binary_inputs(data, name):
    x_elements, y_elements, separate, _, _ = BINARY[name]
    pair = data.draw(broadcast_pairs, label="shapes")
    x = data.draw(arrays(pair.input_shapes[0], x_elements), label="x")
    y = data.draw(arrays(pair.input_shapes[1], y_elements), label="y")
    if separate == "lattice":
        x_first = data.draw(st.booleans(), label="x on the lower lattice")
        x, y = (lattice(x, 0.1), lattice(y, 0.3)) if x_first else (lattice(x, 0.3), lattice(y, 0.1))
    return x, y


@pytest.mark.parametrize("name", list(BINARY))
@RANDOM
@given(data=st.data())
def test_binary(name, data):
    """Both arguments differentiated, or one of them a constant (a Tensor without grad, an array)."""
    _, _, _, mg_fn, ref_fn = BINARY[name]
    x, y = _binary_inputs(data, name)
    which = data.draw(st.sampled_from(["both", "x", "y", "x, y an array", "y, x an array"]), label="which")
    if which == "both":
        check_op(mg_fn, ref_fn, [x, y], end_grad_from(data))
    elif which == "x":
        check_op(lambda a: mg_fn(a, Tensor(y)), lambda a: ref_fn(a, y), [x], end_grad_from(data))
    elif which == "y":
        check_op(lambda b: mg_fn(Tensor(x), b), lambda b: ref_fn(x, b), [y], end_grad_from(data))
    elif which == "x, y an array":
        check_op(lambda a: mg_fn(a, y), lambda a: ref_fn(a, y), [x], end_grad_from(data))
    else:
        check_op(lambda b: mg_fn(x, b), lambda b: ref_fn(x, b), [y], end_grad_from(data))


OPERATORS = {
    "x + y": (GENERAL, GENERAL, lambda x, y: x + y),
    "x - y": (GENERAL, GENERAL, lambda x, y: x - y),
    "x * y": (GENERAL, GENERAL, lambda x, y: x * y),
    "x / y": (GENERAL, AWAY_FROM_ZERO, lambda x, y: x / y),
    "x ** y": (POSITIVE, GENERAL, lambda x, y: x**y),
}


@RANDOM
@given(data=st.data())
def test_operators_with_tensors_arrays_and_numbers(data):
    """x <op> y and the reflected forms: tensor op tensor, tensor op array, array op tensor,
    number op tensor (NumPy defers to Tensor.__r*__ because of __array_ufunc__ = None)."""
    name = data.draw(st.sampled_from(list(OPERATORS)), label="operator")
    x_elements, y_elements, op = OPERATORS[name]
    pair = data.draw(broadcast_pairs, label="shapes")
    x = data.draw(arrays(pair.input_shapes[0], x_elements), label="x")
    y = data.draw(arrays(pair.input_shapes[1], y_elements), label="y")
    form = data.draw(
        st.sampled_from(["tensor, tensor", "tensor, array", "array, tensor", "tensor, number", "number, tensor"]),
        label="form",
    )
    if form == "tensor, tensor":
        check_op(op, op, [x, y], end_grad_from(data))
    elif form == "tensor, array":
        check_op(lambda a: op(a, y), lambda a: op(a, y), [x], end_grad_from(data))
    elif form == "array, tensor":
        check_op(lambda b: op(x, b), lambda b: op(x, b), [y], end_grad_from(data))
    elif form == "tensor, number":
        number = float(y.flat[0])
        check_op(lambda a: op(a, number), lambda a: op(a, number), [x], end_grad_from(data))
    else:
        number = float(x.flat[0])
        check_op(lambda b: op(number, b), lambda b: op(number, b), [y], end_grad_from(data))


@RANDOM
@given(data=st.data())
def test_pow_with_number_exponent_or_base(data):
    """x ** p for a number p (integer exponents on inputs of either sign, others on positive
    inputs, p = 0 included: x ** 0 is the constant 1) and b ** x for a number b > 0."""
    shape = data.draw(shapes, label="shape")
    form = data.draw(st.sampled_from(["integer exponent", "real exponent", "number base"]), label="form")
    if form == "integer exponent":
        p = data.draw(st.sampled_from([0, 1, 2, 3, -1, -2]), label="p")
        x = data.draw(arrays(shape, AWAY_FROM_ZERO if p < 0 else GENERAL), label="x")
        check_op(lambda t: t**p, lambda a: a**p, [x], end_grad_from(data))
        check_op(lambda t: mg.pow(t, p), lambda a: anp.power(a, p), [x], end_grad_from(data), check_float32=False)
    elif form == "real exponent":
        p = data.draw(st.floats(-2.5, 2.5, allow_nan=False, allow_subnormal=False), label="p")
        x = data.draw(arrays(shape, POSITIVE), label="x")
        check_op(lambda t: t**p, lambda a: a**p, [x], end_grad_from(data))
    else:
        b = data.draw(st.floats(0.2, 4, allow_nan=False), label="base")
        x = data.draw(arrays(shape), label="x")
        check_op(lambda t: b**t, lambda a: b**a, [x], end_grad_from(data))


# --- shapes: reshape, permute, expand, getitem, stack ------------------------------------------------


def _primes(n):
    factors, p = [], 2
    while n > 1:
        while n % p == 0:
            factors.append(p)
            n //= p
        p += 1
    return factors


@st.composite
def reshape_targets(draw, shape):
    """A shape with the same number of entries, possibly with one -1."""
    if math.prod(shape) == 0:
        return draw(st.sampled_from([(0,), (-1,), (1, 0), (0, 1)]))
    factors = _primes(math.prod(shape))
    ndim = draw(st.integers(1 if factors else 0, MAX_DIMS), label="new ndim")
    sizes = [1] * ndim
    for factor in factors:
        sizes[draw(st.integers(0, ndim - 1))] *= factor
    if ndim and draw(st.booleans()):
        sizes[draw(st.integers(0, ndim - 1))] = -1
    return tuple(sizes)


@RANDOM
@given(data=st.data())
def test_reshape(data):
    shape = data.draw(shapes, label="shape")
    target = data.draw(reshape_targets(shape), label="new shape")
    form = data.draw(st.sampled_from(["function", "method, tuple", "method, sizes"]), label="form")
    calls = {
        "function": lambda t: mg.reshape(t, target),
        "method, tuple": lambda t: t.reshape(target),
        "method, sizes": lambda t: t.reshape(*target) if target else t.reshape(()),
    }
    x = data.draw(arrays(shape), label="x")
    check_op(calls[form], lambda a: anp.reshape(a, target), [x], end_grad_from(data))


@RANDOM
@given(data=st.data())
def test_permute(data):
    shape = data.draw(shapes, label="shape")
    ndim = len(shape)
    axes = data.draw(st.permutations(range(ndim)), label="axes")
    axes = tuple(data.draw(st.sampled_from([a, a - ndim])) for a in axes)
    form = data.draw(st.sampled_from(["function", "method", ".T", ".mT"] if ndim >= 2 else ["function", "method", ".T"]))
    x = data.draw(arrays(shape), label="x")
    if form == "function":
        check_op(lambda t: mg.permute(t, axes), lambda a: anp.transpose(a, [ax % ndim for ax in axes]), [x], end_grad_from(data))
    elif form == "method":
        check_op(lambda t: t.permute(*axes), lambda a: anp.transpose(a, [ax % ndim for ax in axes]), [x], end_grad_from(data))
    elif form == ".T":
        check_op(lambda t: t.T, lambda a: anp.transpose(a), [x], end_grad_from(data))
    else:
        check_op(lambda t: t.mT, lambda a: anp.swapaxes(a, -1, -2), [x], end_grad_from(data))


@st.composite
def expand_cases(draw):
    """(input shape, the shape argument of expand, the result shape)."""
    target = draw(shapes, label="target")
    dropped = draw(st.integers(0, len(target)), label="new leading axes")
    shape, spec = [], list(target[:dropped])
    for size in target[dropped:]:
        stretched = size > 1 and draw(st.booleans())
        shape.append(1 if stretched else size)
        spec.append(-1 if not stretched and draw(st.booleans()) else size)
    return tuple(shape), tuple(spec), target


@RANDOM
@given(data=st.data())
def test_expand(data):
    shape, spec, target = data.draw(expand_cases(), label="expand")
    form = data.draw(st.sampled_from(["function", "method"]))
    mg_fn = (lambda t: mg.expand(t, spec)) if form == "function" else (lambda t: t.expand(*spec) if spec else t.expand(()))
    x = data.draw(arrays(shape), label="x")
    check_op(mg_fn, lambda a: a + anp.zeros(target), [x], end_grad_from(data))


@st.composite
def indices(draw, shape):
    """An index for an array of `shape`: basic (ints, slices with steps, None, ...), integer
    arrays (repeats likely), a mix of both, a boolean mask, a list, or a tensor of ints."""
    ndim = len(shape)
    kinds = ["basic"] + (["integer arrays", "mixed", "mask", "list", "tensor"] if ndim else [])
    kind = draw(st.sampled_from(kinds), label="index kind")
    if kind == "basic":
        return draw(hnp.basic_indices(shape, min_dims=0, allow_newaxis=True, allow_ellipsis=True))
    if kind == "integer arrays":
        result = hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=4)
        return draw(hnp.integer_array_indices(shape, result_shape=result, dtype=np.dtype(np.int64)))
    axis = draw(st.integers(0, ndim - 1), label="indexed axis")
    positions = st.lists(st.integers(-shape[axis], shape[axis] - 1), min_size=1, max_size=5)
    if kind == "mixed":
        picked = np.array(draw(positions), dtype=np.int64)
        return (slice(None),) * axis + (picked, Ellipsis)
    if kind == "mask":
        k = draw(st.integers(1, ndim), label="mask axes")
        return draw(hnp.arrays(np.bool_, shape[:k]))
    if kind == "list":  # a plain list of positions along `axis`
        return (slice(None),) * axis + (draw(positions),)
    return (slice(None),) * axis + (Tensor(np.array(draw(positions), dtype=np.int64)),)


def _numpy_index(index):
    if isinstance(index, Tensor):
        return index.array
    if isinstance(index, tuple):
        return tuple(_numpy_index(item) for item in index)
    if isinstance(index, list):
        return np.array(index, dtype=np.int64)
    return index


@RANDOM
@given(data=st.data())
def test_getitem(data):
    shape = data.draw(shapes, label="shape")
    index = data.draw(indices(shape), label="index")
    numpy_index = _numpy_index(index)
    form = data.draw(st.sampled_from(["operator", "function"]))
    mg_fn = (lambda t: t[index]) if form == "operator" else (lambda t: mg.getitem(t, index))
    x = data.draw(arrays(shape), label="x")
    check_op(mg_fn, lambda a: a[numpy_index], [x], end_grad_from(data))


@RANDOM
@given(data=st.data())
def test_stack(data):
    shape = data.draw(shapes, label="shape")
    count = data.draw(st.integers(1, 3), label="tensors")
    dim = data.draw(st.integers(-len(shape) - 1, len(shape)), label="dim")
    xs = [data.draw(arrays(shape), label=f"x{i}") for i in range(count)]
    with_constant = count > 1 and data.draw(st.booleans(), label="last one a constant")
    if with_constant:
        constant = xs.pop()
        mg_fn = lambda *ts: mg.stack([*ts, Tensor(constant)], dim=dim)  # noqa: E731
        ref_fn = lambda *arrs: anp.stack([*arrs, constant], axis=dim)  # noqa: E731
    else:
        mg_fn = lambda *ts: mg.stack(list(ts), dim=dim)  # noqa: E731
        ref_fn = lambda *arrs: anp.stack(list(arrs), axis=dim)  # noqa: E731
    check_op(mg_fn, ref_fn, xs, end_grad_from(data))


# --- reductions ------------------------------------------------------------------------------------


REDUCTIONS = {
    "sum": (mg.sum, anp.sum, None),
    "mean": (mg.mean, anp.mean, None),
    "amax": (mg.amax, anp.amax, distinct),
    "amin": (mg.amin, anp.amin, distinct),
}


@pytest.mark.parametrize("name", list(REDUCTIONS))
@RANDOM
@given(data=st.data())
def test_reduction(name, data):
    mg_reduce, ref_reduce, prepare = REDUCTIONS[name]
    shape = data.draw(shapes, label="shape")
    dim = data.draw(dims_for(len(shape)), label="dim")
    keepdim = data.draw(st.booleans(), label="keepdim")
    x = data.draw(arrays(shape), label="x")
    if prepare is not None:
        x = prepare(x)
    form = data.draw(st.sampled_from(["function", "method"]))
    if form == "function":
        mg_fn = lambda t: mg_reduce(t, dim, keepdim)  # noqa: E731
    else:
        mg_fn = lambda t: getattr(t, name)(dim=dim, keepdim=keepdim)  # noqa: E731
    check_op(mg_fn, lambda a: ref_reduce(a, axis=_axis(dim), keepdims=keepdim), [x], end_grad_from(data))


@RANDOM
@given(data=st.data())
def test_var(data):
    shape = data.draw(shapes, label="shape")
    dim = data.draw(dims_for(len(shape)), label="dim")
    keepdim = data.draw(st.booleans(), label="keepdim")
    correction = data.draw(st.sampled_from([0, 1, 2, 0.5]), label="correction")
    assume(_reduced_count(shape, dim) - correction > 0)
    x = data.draw(arrays(shape), label="x")
    check_op(
        lambda t: mg.var(t, dim, keepdim=keepdim, correction=correction),
        lambda a: anp.var(a, axis=_axis(dim), ddof=correction, keepdims=keepdim),
        [x],
        end_grad_from(data),
    )


@RANDOM
@given(data=st.data())
def test_max_and_min(data):
    """PyTorch's three meanings of max and min (chapter 20): over all entries, (values, indices)
    along an int dim (the values differentiated, the indices compared with NumPy's argmax and
    argmin), and elementwise with a tensor. Entries kept apart, so no ties."""
    op = data.draw(st.sampled_from(["max", "min"]), label="op")
    reference, pick, pairwise = {
        "max": (anp.amax, np.argmax, anp.maximum),
        "min": (anp.amin, np.argmin, anp.minimum),
    }[op]
    form = data.draw(st.sampled_from(["all", "dim, function", "dim, method", "elementwise"]), label="form")
    if form == "elementwise":
        pair = data.draw(broadcast_pairs, label="shapes")
        x = lattice(data.draw(arrays(pair.input_shapes[0]), label="x"), 0.1)
        y = lattice(data.draw(arrays(pair.input_shapes[1]), label="y"), 0.3)
        check_op(lambda a, b: getattr(mg, op)(a, b), pairwise, [x, y], end_grad_from(data))
        return
    shape = data.draw(shapes, label="shape")
    x = distinct(data.draw(arrays(shape), label="x"))
    if form == "all" or not shape:
        check_op(lambda t: getattr(t, op)(), reference, [x], end_grad_from(data))
        return
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    keepdim = data.draw(st.booleans(), label="keepdim")
    if form == "dim, function":
        mg_fn = lambda t: getattr(mg, op)(t, dim, keepdim).values  # noqa: E731
    else:
        mg_fn = lambda t: getattr(t, op)(dim=dim, keepdim=keepdim)[0]  # noqa: E731
    check_op(mg_fn, lambda a: reference(a, axis=dim, keepdims=keepdim), [x], end_grad_from(data))
    indices = getattr(Tensor(x), op)(dim, keepdim=keepdim).indices
    assert indices.dtype == np.int64
    np.testing.assert_array_equal(indices.array, pick(x, axis=dim, keepdims=keepdim))


# --- PyTorch's other names (chapter 20): clamp, where, shapes, dtype conversions -----------------------


@RANDOM
@given(data=st.data())
def test_clamp(data):
    """clamp and clip with both bounds (min above max included: a constant) or one of them. The
    entries lie on one lattice and the bounds on the other, so no entry is within 0.1 of a bound."""
    shape = data.draw(shapes, label="shape")
    x = lattice(data.draw(arrays(shape), label="x"), 0.1)
    bound = st.integers(-6, 6).map(lambda k: 0.5 * k + 0.3)
    which = data.draw(st.sampled_from(["both", "min", "max"]), label="bounds")
    low = data.draw(bound, label="min") if which != "max" else None
    high = data.draw(bound, label="max") if which != "min" else None
    form = data.draw(st.sampled_from(["function", "method", "clip"]), label="form")
    calls = {
        "function": lambda t: mg.clamp(t, low, high),
        "method": lambda t: t.clamp(min=low, max=high),
        "clip": lambda t: t.clip(low, high),
    }
    check_op(calls[form], lambda a: anp.clip(a, low, high), [x], end_grad_from(data))


@RANDOM
@given(data=st.data())
def test_where(data):
    """where(condition, x, y) with all three broadcast against each other, x and y tensors,
    numbers or constants, the condition an array or a boolean tensor."""
    shapes3 = data.draw(broadcastable(3), label="shapes")
    condition = data.draw(hnp.arrays(np.bool_, shapes3.input_shapes[0]), label="condition")
    x = data.draw(arrays(shapes3.input_shapes[1]), label="x")
    y = data.draw(arrays(shapes3.input_shapes[2]), label="y")
    form = data.draw(
        st.sampled_from(["both", "condition a tensor", "x a number", "y a number", "y constant"]),
        label="form",
    )
    cond = Tensor(condition) if form == "condition a tensor" else condition

    def ref(a, b):  # autograd's where does not sum broadcast gradients: broadcast first
        zeros = np.zeros(np.broadcast_shapes(np.shape(condition), np.shape(a), np.shape(b)))
        return anp.where(condition, a + zeros, b + zeros)

    if form in ("both", "condition a tensor"):
        check_op(lambda a, b: mg.where(cond, a, b), ref, [x, y], end_grad_from(data))
    elif form == "x a number":
        number = float(x.flat[0])
        check_op(lambda b: mg.where(cond, number, b), lambda b: ref(number, b), [y], end_grad_from(data))
    elif form == "y a number":
        number = float(y.flat[0])
        check_op(lambda a: mg.where(cond, a, number), lambda a: ref(a, number), [x], end_grad_from(data))
    else:
        check_op(lambda a: mg.where(cond, a, Tensor(y)), lambda a: ref(a, y), [x], end_grad_from(data))


@st.composite
def torch_shape_ops(draw, shape):
    """(description, minigrad function, autograd reference) for one of view, flatten, squeeze,
    unsqueeze, transpose and t on an array of `shape`, with PyTorch's dims (a 0-d array counts as
    having one axis)."""
    ndim = len(shape)
    wide = max(ndim, 1)
    kinds = ["view", "flatten", "squeeze", "unsqueeze", "transpose"] + (["t"] if ndim <= 2 else [])
    kind = draw(st.sampled_from(kinds), label="op")
    if kind == "view":
        target = draw(reshape_targets(shape))
        spread = draw(st.booleans()) and len(target) > 0
        fn = (lambda t: t.view(*target)) if spread else (lambda t: t.view(target))
        return (kind, target), fn, lambda a: anp.reshape(a, target)
    if kind == "flatten":
        start = draw(st.integers(-wide, wide - 1), label="start_dim")
        end = draw(st.integers(start % wide, wide - 1), label="end_dim")
        end = draw(st.sampled_from([end, end - wide]))
        new = np.zeros(shape).reshape(shape[: start % wide] + (-1,) + shape[end % wide + 1 :]).shape if ndim else (1,)
        form = draw(st.booleans())
        fn = (lambda t: t.flatten(start, end)) if form else (lambda t: mg.flatten(t, start_dim=start, end_dim=end))
        return (kind, start, end), fn, lambda a: anp.reshape(a, new)
    if kind == "squeeze":
        dim = draw(st.one_of(st.none(), st.integers(-wide, wide - 1), st.lists(st.integers(-wide, wide - 1), max_size=wide).map(tuple)))
        given_ = range(ndim) if dim is None else {d % wide for d in ((dim,) if isinstance(dim, int) else dim)}
        new = tuple(n for d, n in enumerate(shape) if not (d in given_ and n == 1))
        fn = (lambda t: t.squeeze()) if dim is None else (lambda t: mg.squeeze(t, dim))
        return (kind, dim), fn, lambda a: anp.reshape(a, new)
    if kind == "unsqueeze":
        dim = draw(st.integers(-ndim - 1, ndim), label="dim")
        position = dim % (ndim + 1)
        new = shape[:position] + (1,) + shape[position:]
        return (kind, dim), (lambda t: t.unsqueeze(dim)), lambda a: anp.reshape(a, new)
    if kind == "transpose":
        dim0, dim1 = (draw(st.integers(-wide, wide - 1)) for _ in range(2))
        fn = lambda t: mg.transpose(t, dim0, dim1)  # noqa: E731
        return (kind, dim0, dim1), fn, (lambda a: anp.swapaxes(a, dim0, dim1)) if ndim else (lambda a: a)
    return (kind,), (lambda t: t.t()), lambda a: anp.transpose(a)


@RANDOM
@given(data=st.data())
def test_torch_shape_names(data):
    """view, flatten, squeeze, unsqueeze, transpose and t: reshape and permute under PyTorch's
    names, each result used twice so that the gradient has two paths."""
    shape = data.draw(shapes, label="shape")
    _, mg_op, ref_op = data.draw(torch_shape_ops(shape), label="op")
    x = data.draw(arrays(shape), label="x")

    def mg_fn(t):
        out = mg_op(t)
        return out * out.sum()

    def ref_fn(a):
        out = ref_op(a)
        return out * anp.sum(out)

    check_op(mg_fn, ref_fn, [x], end_grad_from(data))


@RANDOM
@given(data=st.data())
def test_to_between_float_dtypes(data):
    """x.to(dtype) between float dtypes is in the graph: a conversion alone gives back end_grad in
    the input's dtype, and a float64 computation with a float32 stretch in the middle (inside
    keep_float64) agrees with autograd's astype at float32 precision."""
    shape = data.draw(shapes, label="shape")
    x = data.draw(arrays(shape), label="x")
    source, target = data.draw(
        st.sampled_from([(np.float32, np.float64), (np.float64, np.float32), (np.float32, np.float16)]),
        label="dtypes",
    )
    v = data.draw(arrays(shape, COTANGENT), label="end_grad")
    with keep_float64():
        t = Tensor(x.astype(source), requires_grad=True)
        out = t.to(target)
    assert out.dtype == target and out.requires_grad and out.recipe is not None
    out.backward(end_grad=v)
    assert t.grad.dtype == source
    np.testing.assert_array_equal(t.grad.array, v.astype(target).astype(source))

    def mg_fn(t):
        low = t.float()
        return (low.exp() * low).double() * t

    def ref_fn(a):
        low = a.astype(np.float32)
        return (anp.exp(low) * low).astype(np.float64) * a

    with keep_float64():
        t = Tensor(x, requires_grad=True)
        out = mg_fn(t)
        assert out.dtype == np.float64
        out.backward(end_grad=v)
    ref_value, (ref_grad,) = reference_vjps(ref_fn, [x], v)
    assert_close(out.array, ref_value, 1e-6, 1e-6 * _tolerance_scale(ref_value), "forward value")
    assert_close(t.grad.array, ref_grad, 1e-5, 1e-5 * _tolerance_scale(ref_grad), "gradient vs autograd")


# --- matrix products ----------------------------------------------------------------------------------


@st.composite
def matmul_shapes(draw):
    n, m, k = (draw(st.integers(1, MAX_SIDE)) for _ in range(3))
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=MAX_SIDE))
    x_vector, y_vector = draw(st.booleans()), draw(st.booleans())
    x_shape = (m,) if x_vector else batch.input_shapes[0] + (n, m)
    y_shape = (m,) if y_vector else batch.input_shapes[1] + (m, k)
    return x_shape, y_shape


@RANDOM
@given(data=st.data())
def test_matmul(data):
    x_shape, y_shape = data.draw(matmul_shapes(), label="shapes")
    x = data.draw(arrays(x_shape), label="x")
    y = data.draw(arrays(y_shape), label="y")
    form = data.draw(st.sampled_from(["function", "operator", "method", "y constant", "x an array"]))
    if form == "function":
        check_op(mg.matmul, anp.matmul, [x, y], end_grad_from(data))
    elif form == "operator":
        check_op(lambda a, b: a @ b, anp.matmul, [x, y], end_grad_from(data))
    elif form == "method":
        check_op(lambda a, b: a.matmul(b), anp.matmul, [x, y], end_grad_from(data))
    elif form == "y constant":
        check_op(lambda a: a @ Tensor(y), lambda a: anp.matmul(a, y), [x], end_grad_from(data))
    else:
        check_op(lambda b: x @ b, lambda b: anp.matmul(x, b), [y], end_grad_from(data))


@st.composite
def einsum_cases(draw):
    """(subscripts for minigrad, operand shapes, reference (terms with distinct letters, output,
    letter sizes)): 1-3 operands with 0-3 axes each, repeated letters (diagonals), letters summed
    over, size-1 axes broadcast against a larger size, implicit or explicit output."""
    letters = "abcd"
    size = {letter: draw(st.integers(1, MAX_SIDE)) for letter in letters}
    count = draw(st.integers(1, 3), label="operands")
    terms, shapes_ = [], []
    for _ in range(count):
        term = "".join(draw(st.lists(st.sampled_from(letters), min_size=0, max_size=3)))
        ones = {letter: draw(st.booleans()) and draw(st.booleans()) for letter in set(term)}
        terms.append(term)
        shapes_.append(tuple(1 if ones[letter] else size[letter] for letter in term))
    used = sorted(set("".join(terms)))
    implicit = draw(st.booleans(), label="implicit output")
    if implicit:
        counts = {letter: "".join(terms).count(letter) for letter in used}
        output = "".join(letter for letter in used if counts[letter] == 1)
        subscripts = ",".join(terms)
    else:
        output = "".join(draw(st.permutations(used))[: draw(st.integers(0, len(used)))])
        subscripts = ",".join(terms) + "->" + output
    full = {}
    for term, shape in zip(terms, shapes_):
        for letter, n in zip(term, shape):
            full[letter] = max(full.get(letter, 1), n)
    return subscripts, shapes_, terms, output, full


def _einsum_reference(terms, output, full):
    """einsum written without repeated letters or size-1 broadcasting, which autograd's einsum
    cannot differentiate: take diagonals by indexing, broadcast explicitly, then einsum."""

    def fn(*operands):
        plain = []
        for term, x in zip(terms, operands):
            distinct_letters = "".join(dict.fromkeys(term))
            if len(distinct_letters) < len(term):
                n = len(distinct_letters)
                index = []
                for axis, letter in enumerate(term):
                    k = distinct_letters.index(letter)
                    positions = np.arange(x.shape[axis]).reshape((-1,) + (1,) * (n - 1 - k))
                    index.append(positions)
                x = x[tuple(index)]
            x = x + anp.zeros(tuple(full[letter] for letter in distinct_letters))
            plain.append((distinct_letters, x))
        spec = ",".join(t for t, _ in plain) + "->" + output
        return anp.einsum(spec, *(x for _, x in plain))

    return fn


@RANDOM
@given(data=st.data())
def test_einsum(data):
    subscripts, shapes_, terms, output, full = data.draw(einsum_cases(), label="einsum")
    xs = [data.draw(arrays(shape), label=f"operand {i}") for i, shape in enumerate(shapes_)]
    check_op(
        lambda *ts: mg.einsum(subscripts, *ts),
        _einsum_reference(terms, output, full),
        xs,
        end_grad_from(data),
    )


@RANDOM
@given(data=st.data())
def test_linear(data):
    """linear(x, weight, bias) = x @ weight.T + bias, the fused layer of chapter 12, for inputs with
    0-2 batch axes, with and without bias, and with some arguments constant."""
    in_features, out_features = data.draw(st.integers(1, MAX_SIDE)), data.draw(st.integers(1, MAX_SIDE))
    batch = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=MAX_SIDE), label="batch shape")
    x = data.draw(arrays(batch + (in_features,)), label="x")
    w = data.draw(arrays((out_features, in_features)), label="weight")
    b = data.draw(arrays((out_features,)), label="bias")
    form = data.draw(st.sampled_from(["all three", "no bias", "x constant", "weight constant"]))
    if form == "all three":
        check_op(mg.linear, lambda x, w, b: x @ w.T + b, [x, w, b], end_grad_from(data))
    elif form == "no bias":
        check_op(mg.linear, lambda x, w: x @ w.T, [x, w], end_grad_from(data))
    elif form == "x constant":
        check_op(lambda w, b: mg.linear(Tensor(x), w, b), lambda w, b: x @ w.T + b, [w, b], end_grad_from(data))
    else:
        check_op(lambda x, b: mg.linear(x, Tensor(w), b), lambda x, b: x @ w.T + b, [x, b], end_grad_from(data))


# --- softmax and cross-entropy -------------------------------------------------------------------------


def _ref_log_softmax(x, axis):
    return x - anp.log(anp.sum(anp.exp(x), axis=axis, keepdims=True))


@RANDOM
@given(data=st.data())
def test_log_softmax_and_softmax(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=MAX_DIMS, max_side=MAX_SIDE), label="shape")
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    form = data.draw(st.sampled_from(["log_softmax", "log_softmax method", "softmax", "softmax method"]))
    x = data.draw(arrays(shape), label="x")
    mg_fn = {
        "log_softmax": lambda t: mg.log_softmax(t, dim=dim),
        "log_softmax method": lambda t: t.log_softmax(dim),
        "softmax": lambda t: mg.softmax(t, dim=dim),
        "softmax method": lambda t: t.softmax(dim),
    }[form]
    if form.startswith("log"):
        ref_fn = lambda a: _ref_log_softmax(a, dim)  # noqa: E731
    else:
        ref_fn = lambda a: anp.exp(_ref_log_softmax(a, dim))  # noqa: E731
    check_op(mg_fn, ref_fn, [x], end_grad_from(data))


def _ref_cross_entropy(logits, targets):
    return -_ref_log_softmax(logits, 1)[np.arange(len(targets)), targets]


@RANDOM
@given(data=st.data())
def test_cross_entropy(data):
    batch, classes = data.draw(st.integers(1, 4), label="batch"), data.draw(st.integers(1, 4), label="classes")
    targets = np.array(data.draw(st.lists(st.integers(0, classes - 1), min_size=batch, max_size=batch)), dtype=np.int64)
    logits = data.draw(arrays((batch, classes)), label="logits")
    form = data.draw(st.sampled_from(["array targets", "tensor targets", "mean"]))
    if form == "array targets":
        check_op(lambda z: mg.cross_entropy(z, targets), lambda z: _ref_cross_entropy(z, targets), [logits], end_grad_from(data))
    elif form == "tensor targets":
        check_op(lambda z: mg.cross_entropy(z, Tensor(targets)), lambda z: _ref_cross_entropy(z, targets), [logits], end_grad_from(data))
    else:
        check_op(
            lambda z: mg.cross_entropy(z, targets).mean(),
            lambda z: anp.mean(_ref_cross_entropy(z, targets)),
            [logits],
            end_grad_from(data),
        )


# --- composites ---------------------------------------------------------------------------------------


def _random_directions(data, inputs, count=3):
    return [[data.draw(arrays(np.shape(x)), label="direction") for x in inputs] for _ in range(count)]


@RANDOM
@given(data=st.data())
def test_mlp_with_cross_entropy(data):
    """minigrad's MLP (Linear, ReLU, reshape) and cross_entropy against the same network written
    in autograd, gradients for the input and all six parameters."""
    batch = data.draw(st.integers(1, 4), label="batch")
    in_features, hidden, classes = (data.draw(st.integers(1, 3)) for _ in range(3))
    image_shape = data.draw(st.sampled_from([(in_features,), (1, in_features)]), label="input shape")
    mg.manual_seed(data.draw(st.integers(0, 2**16), label="seed"))
    model = mg.MLP(in_features, hidden, classes)
    layers = [model.linear1, model.linear2, model.output]
    params = [p.array.astype(np.float64) for layer in layers for p in (layer.weight, layer.bias)]
    x = data.draw(arrays((batch, *image_shape)), label="x")
    targets = np.array(data.draw(st.lists(st.integers(0, classes - 1), min_size=batch, max_size=batch)), dtype=np.int64)
    reduce_mean = data.draw(st.booleans(), label="mean loss")

    def ref_fn(x, w1, b1, w2, b2, w3, b3):
        h = anp.reshape(x, (x.shape[0], -1))
        h = anp.maximum(h @ w1.T + b1, 0.0)
        h = anp.maximum(h @ w2.T + b2, 0.0)
        losses = _ref_cross_entropy(h @ w3.T + b3, targets)
        return anp.mean(losses) if reduce_mean else losses

    # stay away from the kinks of relu, where central differences are meaningless
    h1 = x.reshape(batch, -1) @ params[0].T + params[1]
    h2 = np.maximum(h1, 0) @ params[2].T + params[3]
    assume(np.min(np.abs(h1)) > 1e-3 and np.min(np.abs(h2)) > 1e-3)

    def mg_fn(x, w1, b1, w2, b2, w3, b3):
        for layer, w, b in zip(layers, (w1, w2, w3), (b1, b2, b3)):
            object.__setattr__(layer, "weight", w)  # the layer computes with these tensors
            object.__setattr__(layer, "bias", b)
        losses = mg.cross_entropy(model(x), targets)
        return losses.mean() if reduce_mean else losses

    inputs = [x, *params]
    check_op(mg_fn, ref_fn, inputs, end_grad_from(data), fd="directional", directions=_random_directions(data, inputs))


@RANDOM
@given(data=st.data())
def test_mlp_parameters_get_float32_gradients_in_training_use(data):
    """The way a training step uses the model: float32 parameters, mean loss, backward() without
    end_grad; every Parameter's .grad equals autograd's gradient (float32 accuracy)."""
    batch, in_features, hidden, classes = (data.draw(st.integers(1, 4)) for _ in range(4))
    mg.manual_seed(data.draw(st.integers(0, 2**16), label="seed"))
    model = mg.MLP(in_features, hidden, classes)
    x = data.draw(arrays((batch, in_features)), label="x").astype(np.float32)
    w1, b1, w2, b2 = (p.array.astype(np.float64) for p in list(model.parameters())[:4])
    h1 = x @ w1.T + b1
    assume(np.min(np.abs(h1)) > 1e-4 and np.min(np.abs(np.maximum(h1, 0) @ w2.T + b2)) > 1e-4)
    targets = np.array(data.draw(st.lists(st.integers(0, classes - 1), min_size=batch, max_size=batch)), dtype=np.int64)
    loss = mg.cross_entropy(model(Tensor(x)), targets).mean()
    loss.backward()
    params = list(model.parameters())
    assert len(params) == 6 and all(p.grad is not None and p.grad.dtype == np.float32 for p in params)

    def ref_fn(*ps):
        w1, b1, w2, b2, w3, b3 = ps
        h = anp.maximum(x @ w1.T + b1, 0.0)
        h = anp.maximum(h @ w2.T + b2, 0.0)
        return anp.mean(_ref_cross_entropy(h @ w3.T + b3, targets))

    arrays64 = [p.array.astype(np.float64) for p in params]
    _, ref_grads = reference_vjps(ref_fn, arrays64, np.float64(1.0))
    for p, ref in zip(params, ref_grads):
        assert_close(p.grad.array, ref, 1e-3, 1e-5, "parameter gradient")


@RANDOM
@given(data=st.data())
def test_shared_parents(data):
    """Tensors used several times, including twice by one operation (x * x, add(x, x)): the
    gradients of all uses add up."""
    pair = data.draw(broadcast_pairs, label="shapes")
    x = data.draw(arrays(pair.input_shapes[0]), label="x")
    y = data.draw(arrays(pair.input_shapes[1]), label="y")

    def mg_fn(x, y):
        a = x * y
        b = (x * x).tanh() + mg.add(x, x) - x / (y * y + 1.0)
        c = a * a + a.exp() * x
        return (c - b * y) * x + mg.sum(a, keepdim=True) * y

    def ref_fn(x, y):
        a = x * y
        b = anp.tanh(x * x) + (x + x) - x / (y * y + 1.0)
        c = a * a + anp.exp(a) * x
        return (c - b * y) * x + anp.sum(a, keepdims=True) * y

    check_op(mg_fn, ref_fn, [x, y], end_grad_from(data))


@RANDOM
@given(data=st.data())
def test_broadcast_chain(data):
    """Four tensors of mutually broadcastable shapes, combined step by step, then a reduction with
    keepdim broadcast back against one of them."""
    shapes4 = data.draw(broadcastable(4), label="shapes")
    a, b, c, d = (data.draw(arrays(s), label=name) for s, name in zip(shapes4.input_shapes, "abcd"))
    ndim = len(shapes4.result_shape)
    dim = data.draw(dims_for(ndim), label="dim")

    def mg_fn(a, b, c, d):
        e = (a * b).tanh() + c
        f = e / (d * d + 1.0) - b
        return f.mean(dim=dim, keepdim=True) * a + f * c

    def ref_fn(a, b, c, d):
        e = anp.tanh(a * b) + c
        f = e / (d * d + 1.0) - b
        return anp.mean(f, axis=_axis(dim), keepdims=True) * a + f * c

    check_op(mg_fn, ref_fn, [a, b, c, d], end_grad_from(data))


@st.composite
def view_chains(draw, shape):
    """A list of 1-4 view operations applicable one after the other, starting from `shape`, as
    (name, argument) pairs; the current shape is tracked with numpy on an array of zeros."""
    steps = []
    current = np.zeros(shape)
    for _ in range(draw(st.integers(1, 4), label="steps")):
        kind = draw(st.sampled_from(["reshape", "permute", "expand", "getitem", "getitem repeated"]))
        if kind == "reshape":
            arg = draw(reshape_targets(current.shape))
            current = current.reshape(arg)
        elif kind == "permute":
            arg = tuple(draw(st.permutations(range(current.ndim))))
            current = current.transpose(arg)
        elif kind == "expand":
            extra = draw(st.lists(st.integers(1, 2), max_size=max(0, MAX_DIMS - current.ndim)))
            arg = tuple(extra) + tuple(
                (draw(st.integers(1, MAX_SIDE)) if n == 1 else n) for n in current.shape
            )
            current = np.broadcast_to(current, arg)
        elif kind == "getitem":
            arg = draw(hnp.basic_indices(current.shape, min_dims=0, allow_newaxis=True, allow_ellipsis=True))
            current = current[arg]
        else:
            if current.ndim == 0 or current.size == 0:
                continue
            arg = draw(hnp.integer_array_indices(current.shape, result_shape=hnp.array_shapes(max_dims=2, max_side=4)))
            current = current[arg]
        if current.size > 300:  # keep the central differences cheap
            break
        steps.append((kind, arg))
    return steps


@RANDOM
@given(data=st.data())
def test_view_op_chains(data):
    """Chains of reshape, permute, expand and getitem (basic and with repeated integer indices),
    the gradient then flowing through every backward function of chapter 8 in turn."""
    shape = data.draw(shapes, label="shape")
    steps = data.draw(view_chains(shape), label="chain")
    x = data.draw(arrays(shape), label="x")

    def mg_fn(t):
        for kind, arg in steps:
            if kind == "reshape":
                t = t.reshape(arg)
            elif kind == "permute":
                t = t.permute(arg)
            elif kind == "expand":
                t = t.expand(arg)
            else:
                t = t[arg]
        return t * t.sum() if t.numel() else t  # the chain's result used twice

    def ref_fn(a):
        for kind, arg in steps:
            if kind == "reshape":
                a = anp.reshape(a, arg)
            elif kind == "permute":
                a = anp.transpose(a, arg)
            elif kind == "expand":
                a = a + anp.zeros(arg)
            else:
                a = a[arg]
        return a * anp.sum(a) if np.size(a) else a

    check_op(mg_fn, ref_fn, [x], end_grad_from(data))


@RANDOM
@given(data=st.data())
def test_repeated_indices(data):
    """x[i] for integer indices with repeats, twice with different indices, products of the two,
    and indexing a result of indexing: each repeated position receives the sum of its gradients."""
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=MAX_SIDE), label="shape")
    result = data.draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=5), label="result shape")
    first = data.draw(hnp.integer_array_indices(shape, result_shape=st.just(result)), label="index 1")
    second = data.draw(hnp.integer_array_indices(shape, result_shape=st.just(result)), label="index 2")
    again = np.array(data.draw(st.lists(st.integers(-result[0], result[0] - 1), min_size=1, max_size=6)))
    x = data.draw(arrays(shape), label="x")

    def mg_fn(t):
        a, b = t[first], t[Tensor(second[0]) if len(second) == 1 else second]
        return (a * b + a.exp())[again] * t[first][again]

    def ref_fn(t):
        a, b = t[first], t[second]
        return (a * b + anp.exp(a))[again] * t[first][again]

    check_op(mg_fn, ref_fn, [x], end_grad_from(data))


@RANDOM
@given(data=st.data())
def test_minigrad_gradcheck_agrees(data):
    """The book's own gradcheck (float64 central differences with its own random cotangent) passes
    on a random composite of operations from every chapter."""
    pair = data.draw(broadcast_pairs, label="shapes")
    x = Tensor(data.draw(arrays(pair.input_shapes[0])), requires_grad=True)
    y = Tensor(data.draw(arrays(pair.input_shapes[1], AWAY_FROM_ZERO)), requires_grad=True)
    seed = data.draw(st.integers(0, 2**16), label="gradcheck seed")

    def fn(x, y):
        z = (x / y).tanh() * x + (y * y).sqrt()
        return mg.log_softmax(z.reshape(-1), dim=0) * z.sum()

    assert mg.gradcheck(fn, x, y, seed=seed)


# --- PyTorch's names (chapter 21): sigmoid, dropout, mse_loss and the loss modules --------------------

WIDE = st.floats(-30, 30, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def _ref_sigmoid(x):
    return 1.0 / (1.0 + anp.exp(-x))


@RANDOM
@given(data=st.data())
def test_sigmoid(data):
    """The fused sigmoid of chapter 21, as a function and as the modules Sigmoid and Tanh, on inputs
    up to +-30, where the composite 1 / (1 + exp(-x)) is still finite (for the reference)."""
    import minigrad.functional as F

    form = data.draw(st.sampled_from(["F.sigmoid", "Sigmoid module", "Tanh module"]), label="form")
    x = data.draw(arrays(data.draw(shapes, label="shape"), WIDE if form != "Tanh module" else GENERAL), label="x")
    mg_fn, ref_fn = {
        "F.sigmoid": (F.sigmoid, _ref_sigmoid),
        "Sigmoid module": (mg.Sigmoid(), _ref_sigmoid),
        "Tanh module": (mg.Tanh(), anp.tanh),
    }[form]
    check_op(mg_fn, ref_fn, [x], end_grad_from(data))


# --- chapter 22's two helper operations: scatter_add (getitem's backward) and _astype ----------


@RANDOM
@given(data=st.data())
def test_scatter_add(data):
    """scatter_add adds rows of values into zeros at an index, repeats adding up."""
    rows = data.draw(st.integers(1, 4), label="rows")
    tail = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=MAX_SIDE), label="tail")
    index = np.array(data.draw(st.lists(st.integers(0, rows - 1), min_size=1, max_size=5)))
    values = data.draw(arrays((len(index),) + tail))
    one_hot = (index[None, :] == np.arange(rows)[:, None]).astype(np.float64)
    check_op(
        lambda v: mg.scatter_add(v, shape=(rows,) + tail, index=index),
        lambda v: anp.tensordot(one_hot, v, axes=1),
        [values],
        end_grad_from(data),
    )


@RANDOM
@given(data=st.data())
def test_dropout(data):
    """dropout(x, p) with the mask held fixed (the generator reseeded at every call): the gradient
    is the multiplication rule's, with the scaled mask; the reference multiplies by the same mask."""
    shape = data.draw(shapes, label="shape")
    p = data.draw(st.sampled_from([0.0, 0.2, 0.5, 0.9, 1.0]), label="p")
    seed = data.draw(st.integers(0, 2**16), label="seed")
    module = data.draw(st.booleans(), label="as a module")

    def mg_fn(t):
        mg.manual_seed(seed)
        return mg.Dropout(p)(t) * 1.0 if module else mg.dropout(t, p) * 1.0

    mg.manual_seed(seed)
    with keep_float64():
        mask = mg.dropout(Tensor(np.ones(shape)), p).array  # the scaled mask, in float64
    assert np.all((mask == 0) | (mask == 1 / (1 - p))) if p < 1 else not mask.any()
    x = data.draw(arrays(shape), label="x")
    check_op(mg_fn, lambda a: a * mask, [x], end_grad_from(data))


def _ref_mse(reduction):
    def fn(x, t):
        squares = (x - t) ** 2
        return {"none": squares, "sum": anp.sum(squares), "mean": anp.mean(squares)}[reduction]

    return fn


@RANDOM
@given(data=st.data())
def test_mse_loss(data):
    """mse_loss and MSELoss, every reduction, both arguments differentiated or the target constant
    (a tensor without grad, an array, integers)."""
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=MAX_DIMS, min_side=1, max_side=MAX_SIDE), label="shape")
    reduction = data.draw(st.sampled_from(["mean", "sum", "none"]), label="reduction")
    form = data.draw(st.sampled_from(["both", "module", "target a tensor", "target an array", "integer target"]))
    x = data.draw(arrays(shape), label="x")
    t = data.draw(arrays(shape), label="target")
    loss = (lambda a, b: mg.MSELoss(reduction)(a, b)) if form == "module" else (
        lambda a, b: mg.mse_loss(a, b, reduction=reduction))
    ref = _ref_mse(reduction)
    if form in ("both", "module"):
        check_op(loss, ref, [x, t], end_grad_from(data))
    elif form == "target a tensor":
        check_op(lambda a: loss(a, Tensor(t)), lambda a: ref(a, t), [x], end_grad_from(data))
    elif form == "target an array":
        check_op(lambda a: loss(a, t), lambda a: ref(a, t), [x], end_grad_from(data))
    else:
        integers = np.round(t).astype(np.int64)
        check_op(lambda a: loss(a, integers), lambda a: ref(a, integers), [x], end_grad_from(data))


@RANDOM
@given(data=st.data())
def test_cross_entropy_loss_module(data):
    """CrossEntropyLoss (PyTorch's default: the mean) and minigrad.functional.cross_entropy."""
    import minigrad.functional as F

    batch, classes = data.draw(st.integers(1, 4), label="batch"), data.draw(st.integers(1, 4), label="classes")
    targets = np.array(data.draw(st.lists(st.integers(0, classes - 1), min_size=batch, max_size=batch)), dtype=np.int64)
    logits = data.draw(arrays((batch, classes)), label="logits")
    reduction = data.draw(st.sampled_from(["default", "mean", "sum", "none"]), label="reduction")
    functional = data.draw(st.booleans(), label="functional")
    if reduction == "default":
        mg_fn = (lambda z: F.cross_entropy(z, targets)) if functional else (lambda z: mg.CrossEntropyLoss()(z, targets))
        reduce = anp.mean
    else:
        mg_fn = ((lambda z: F.cross_entropy(z, targets, reduction=reduction)) if functional
                 else (lambda z: mg.CrossEntropyLoss(reduction)(z, targets)))
        reduce = {"mean": anp.mean, "sum": anp.sum, "none": lambda v: v}[reduction]
    check_op(mg_fn, lambda z: reduce(_ref_cross_entropy(z, targets)), [logits], end_grad_from(data))


@RANDOM
@given(data=st.data())
def test_astype(data):
    """_astype, the recorded cast of chapter 22: the gradient goes back in the input's dtype."""
    from minigrad.backprop import astype

    x = data.draw(arrays(data.draw(shapes, label="shape")))
    check_op(lambda t: astype(t, dtype=np.float64) * t, lambda t: t * t, [x],
             end_grad_from(data), check_float32=False)
    with keep_float64():
        t = Tensor(x.astype(np.float32), requires_grad=True)
        astype(t, dtype=np.float64).sum().backward()
    assert t.grad.dtype == np.float32

# Every forward function with a registered backward function must be exercised above. A new
# differentiable operation makes this test fail until it gets a randomized test and an entry here.
COVERED = {
    "negative", "exp", "log", "tanh", "sqrt", "add", "subtract", "multiply", "divide",
    "true_divide", "maximum", "minimum", "power", "_reshape", "_permute", "_expand", "_getitem",
    "_stack", "_sum", "_mean", "_var", "_amax", "_matmul", "einsum", "_log_softmax",
    "_cross_entropy", "_linear", "absolute", "_sigmoid", "_clamp", "_where", "_amin", "_to",
    "_mse_loss",
    "_cross_entropy", "_linear", "_scatter_add", "_astype",
}


def test_every_differentiable_operation_has_a_randomized_test():
    mg.stack([Tensor([1.0], requires_grad=True)])  # stack and einsum register their backward
    mg.einsum("i->i", Tensor([1.0], requires_grad=True))  # functions on first use
    registered = {getattr(func, "__name__", repr(func)) for func, _ in mg.BACK_FUNCS.back_funcs}
    assert registered - COVERED == set(), "operations without a randomized gradient test"


# --- empty arrays ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn",
    [
        lambda t: t.exp() * t,
        lambda t: t.tanh() + t.relu(),
        lambda t: t.sum(dim=0),
        lambda t: t.reshape(-1, 3),
        lambda t: t.permute(1, 0),
        lambda t: t[np.array([], dtype=np.int64)],
        lambda t: t @ Tensor(np.ones((3, 2))),
        lambda t: mg.stack([t, t], dim=1),
    ],
    ids=["exp", "tanh+relu", "sum", "reshape", "permute", "getitem", "matmul", "stack"],
)
def test_empty_arrays(fn):
    """Arrays with no entries go through forward and backward and get empty gradients."""
    x = Tensor(np.zeros((0, 3)), requires_grad=True)
    out = fn(x)
    out.backward(end_grad=np.ones(out.shape))
    assert x.grad is not None and x.grad.shape == (0, 3) and x.grad.dtype == np.float32


# --- ties and kinks: the book's convention, deterministic ------------------------------------------
#
# At a tie the gradient is split evenly between the tied entries, so relu'(0) = 1/2.
# autograd agrees for maximum/minimum (its balanced_eq gives 1/2 to each) and for amax (even split).
# PyTorch differs for relu (relu'(0) = 0) and for torch.max(x, dim) (the whole gradient to one
# index); torch.maximum/minimum and torch.amax split evenly like this book.


def _grad(fn, *values, end_grad=None, dtype=np.float32):
    leaves = [Tensor(np.asarray(v, dtype=dtype), requires_grad=True) for v in values]
    out = fn(*leaves)
    out.backward(end_grad=np.ones(out.shape) if end_grad is None else end_grad)
    return [leaf.grad.array for leaf in leaves]


def test_relu_gradient_at_zero_is_one_half():
    (g,) = _grad(mg.relu, [-1.0, 0.0, 2.0], end_grad=np.array([3.0, 4.0, 5.0]))
    assert g.dtype == np.float32
    np.testing.assert_array_equal(g, [0.0, 2.0, 5.0])
    (g,) = _grad(lambda t: t.relu(), 0.0)
    assert g == 0.5


def test_maximum_and_minimum_ties_split_evenly():
    x, y = [1.0, 2.0, 3.0], [1.0, 5.0, 3.0]
    v = np.array([2.0, 4.0, 8.0])
    gx, gy = _grad(mg.maximum, x, y, end_grad=v)
    np.testing.assert_array_equal(gx, [1.0, 0.0, 4.0])
    np.testing.assert_array_equal(gy, [1.0, 4.0, 4.0])
    gx, gy = _grad(mg.minimum, x, y, end_grad=v)
    np.testing.assert_array_equal(gx, [1.0, 4.0, 4.0])
    np.testing.assert_array_equal(gy, [1.0, 0.0, 4.0])
    # autograd's convention is the same
    ax = make_vjp(anp.maximum, 0)(np.array(x), np.array(y))[0](v)
    np.testing.assert_array_equal(ax, [1.0, 0.0, 4.0])


def test_maximum_ties_with_broadcasting_sum_the_halves():
    x = np.array([[1.0], [2.0]])  # (2, 1), broadcast against y (3,)
    y = np.array([1.0, 2.0, 0.0])
    gx, gy = _grad(mg.maximum, x, y, end_grad=np.ones((2, 3)))
    # row 0: tie with y[0], loses to y[1], wins over y[2]; row 1: wins, tie, wins
    np.testing.assert_array_equal(gx, [[1.5], [2.5]])
    np.testing.assert_array_equal(gy, [0.5, 1.5, 0.0])
    # the scalar form used by relu: maximum(x, 0.0)
    (g,) = _grad(lambda t: mg.maximum(t, 0.0), [0.0, 0.0])
    np.testing.assert_array_equal(g, [0.5, 0.5])


def test_amax_ties_split_evenly():
    (g,) = _grad(mg.amax, [1.0, 3.0, 3.0, 2.0], end_grad=np.float32(6.0))
    np.testing.assert_array_equal(g, [0.0, 3.0, 3.0, 0.0])
    (g,) = _grad(mg.amax, [[2.0, 2.0, 2.0], [1.0, 4.0, 4.0]], end_grad=np.float32(3.0))
    np.testing.assert_allclose(g, [[0, 0, 0], [0, 1.5, 1.5]])
    x = [[2.0, 2.0, 2.0], [1.0, 4.0, 4.0]]
    (g,) = _grad(lambda t: mg.amax(t, dim=1), x, end_grad=np.array([3.0, 2.0]))
    np.testing.assert_allclose(g, [[1.0, 1.0, 1.0], [0.0, 1.0, 1.0]])
    (g,) = _grad(lambda t: mg.amax(t, dim=0, keepdim=True), x, end_grad=np.array([[1.0, 2.0, 4.0]]))
    np.testing.assert_allclose(g, [[1.0, 0.0, 0.0], [0.0, 2.0, 4.0]])
    # a constant array: every entry is a maximum
    (g,) = _grad(lambda t: t.amax(), np.full((2, 2), 7.0))
    np.testing.assert_allclose(g, np.full((2, 2), 0.25))
    # autograd's convention is the same
    ref = make_vjp(lambda a: anp.amax(a, axis=1))(np.array(x))[0](np.array([3.0, 2.0]))
    np.testing.assert_allclose(ref, [[1.0, 1.0, 1.0], [0.0, 1.0, 1.0]])


def test_abs_clamp_and_max_along_a_dim_at_kinks_and_ties():
    """Chapter 20: |x|'(0) = 0; clamp's gradient is 1/2 on a bound (0 when min >= max); the values
    of max and min along a dim split the gradient evenly among ties, as amax does."""
    (g,) = _grad(mg.abs, [-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(g, [-1.0, 0.0, 1.0])
    (g,) = _grad(lambda t: t.clamp(-1.0, 1.0), [-2.0, -1.0, 0.0, 1.0, 2.0], end_grad=np.full(5, 4.0))
    np.testing.assert_array_equal(g, [0.0, 2.0, 4.0, 2.0, 0.0])
    (g,) = _grad(lambda t: t.clamp(1.0, 1.0), [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(g, [0.0, 0.0, 0.0])
    (g,) = _grad(lambda t: t.clamp(min=0.0), [-1.0, 0.0, 2.0])  # relu, with relu'(0) = 1/2
    np.testing.assert_array_equal(g, _grad(mg.relu, [-1.0, 0.0, 2.0])[0])
    x = [[5.0, 7.0, 7.0], [3.0, 3.0, 3.0]]
    (g,) = _grad(lambda t: t.max(dim=1).values, x, end_grad=np.array([2.0, 3.0]))
    np.testing.assert_allclose(g, [[0.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    (g,) = _grad(lambda t: mg.min(t, 0, keepdim=True).values, x, end_grad=np.ones((1, 3)))
    np.testing.assert_allclose(g, [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    (g,) = _grad(lambda t: mg.amin(t, dim=1), x, end_grad=np.array([2.0, 3.0]))
    np.testing.assert_allclose(g, [[2.0, 0.0, 0.0], [1.0, 1.0, 1.0]])


def test_sqrt_and_pow_at_zero():
    """Documented behaviour at the edge of the domain: sqrt'(0) = inf, d(x**0)/dx = 0 even at 0,
    d(x**p)/dp = 0 where x == 0."""
    with np.errstate(divide="ignore"):
        (g,) = _grad(mg.sqrt, [0.0, 4.0])
    assert g[0] == np.inf and g[1] == 0.25
    (g,) = _grad(lambda t: t**0, [0.0, 2.0])
    np.testing.assert_array_equal(g, [0.0, 0.0])
    gx, gp = _grad(mg.pow, [0.0, 2.0], [2.0, 3.0])
    np.testing.assert_allclose(gx, [0.0, 12.0])
    np.testing.assert_allclose(gp, [0.0, 8 * np.log(2.0)], rtol=1e-6)


# --- optional: PyTorch as a third reference (skipped when torch is not installed) --------------------


def test_tie_conventions_compared_with_pytorch():
    """Where PyTorch agrees with the book at ties and where it does not."""
    torch = pytest.importorskip("torch")
    values = [-1.0, 0.0, 2.0]
    (ours,) = _grad(mg.relu, values)
    t = torch.tensor(values, requires_grad=True)
    torch.relu(t).sum().backward()
    np.testing.assert_array_equal(ours, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(t.grad.numpy(), [0.0, 0.0, 1.0])  # differs: relu'(0) = 0

    x, y, v = [1.0, 2.0, 3.0], [1.0, 5.0, 3.0], np.array([2.0, 4.0, 8.0])
    ours = _grad(mg.maximum, x, y, end_grad=v)
    tx, ty = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
    torch.maximum(tx, ty).backward(torch.tensor(v, dtype=torch.float32))
    np.testing.assert_array_equal(ours[0], tx.grad.numpy())  # same: 1/2 each at ties
    np.testing.assert_array_equal(ours[1], ty.grad.numpy())

    m, w = [[2.0, 2.0, 2.0], [1.0, 4.0, 4.0]], np.array([3.0, 2.0])
    (ours,) = _grad(lambda t: mg.amax(t, dim=1), m, end_grad=w)
    tm = torch.tensor(m, requires_grad=True)
    torch.amax(tm, dim=1).backward(torch.tensor(w, dtype=torch.float32))
    np.testing.assert_allclose(ours, tm.grad.numpy())  # same: split evenly
    tm = torch.tensor(m, requires_grad=True)
    torch.max(tm, dim=1).values.backward(torch.tensor(w, dtype=torch.float32))
    np.testing.assert_array_equal(tm.grad.numpy(), [[3.0, 0.0, 0.0], [0.0, 2.0, 0.0]])  # one index


def test_composites_against_pytorch():
    """MLP + cross-entropy and a broadcasting chain, against the same computation in PyTorch
    (float64), with random shapes, values and cotangents."""
    torch = pytest.importorskip("torch")

    @settings(RANDOM, max_examples=60)
    @given(data=st.data())
    def compare(data):
        batch, in_features, hidden, classes = (data.draw(st.integers(1, 4)) for _ in range(4))
        mg.manual_seed(data.draw(st.integers(0, 2**16), label="seed"))
        model = mg.MLP(in_features, hidden, classes)
        x = data.draw(arrays((batch, in_features)), label="x")
        targets = np.array(data.draw(st.lists(st.integers(0, classes - 1), min_size=batch, max_size=batch)))
        v = data.draw(arrays((batch,), COTANGENT), label="end_grad")
        with keep_float64():
            for p in model.parameters():
                p.array = p.array.astype(np.float64)
            xt = Tensor(x, requires_grad=True)
            mg.cross_entropy(model(xt), targets).backward(end_grad=v)
        tx = torch.tensor(x, requires_grad=True)
        tparams = [torch.tensor(p.array, requires_grad=True) for p in model.parameters()]
        w1, b1, w2, b2, w3, b3 = tparams
        h = torch.relu(tx @ w1.T + b1)
        h = torch.relu(h @ w2.T + b2)
        losses = torch.nn.functional.cross_entropy(h @ w3.T + b3, torch.tensor(targets), reduction="none")
        losses.backward(torch.tensor(v))
        for ours, theirs in zip([xt, *model.parameters()], [tx, *tparams]):
            assert_close(ours.grad.array, theirs.grad.numpy(), 1e-9, 1e-10, "gradient vs PyTorch")

        pair = data.draw(broadcast_pairs, label="shapes")
        a = data.draw(arrays(pair.input_shapes[0]), label="a")
        b = data.draw(arrays(pair.input_shapes[1], AWAY_FROM_ZERO), label="b")
        u = data.draw(arrays(np.broadcast_shapes(a.shape, b.shape), COTANGENT), label="end_grad 2")
        with keep_float64():
            at, bt = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
            ((at / bt).tanh() * at + bt.exp() * at).backward(end_grad=u)
        ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
        (torch.tanh(ta / tb) * ta + torch.exp(tb) * ta).backward(torch.tensor(u))
        assert_close(at.grad.array, ta.grad.numpy(), 1e-9, 1e-10, "gradient of a vs PyTorch")
        assert_close(bt.grad.array, tb.grad.numpy(), 1e-9, 1e-10, "gradient of b vs PyTorch")

    compare()
