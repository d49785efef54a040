"""Second derivatives (chapter 22) and forward mode (chapter 23).

For every differentiable op, hypothesis draws shapes and values (each argument its own, so that a
rule with swapped operands fails) and `gradgradcheck` compares, in float64, the second derivative
recorded with create_graph=True with central differences of the first-order gradient. Where
PyTorch is installed, the same double backward is compared with torch's. Kinks and ties are kept
out of the random draws, as in tests/test_gradients_random.py.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import BACK_FUNCS, TENSOR_BACK_FUNCS, Tensor, keep_float64

FEW = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def positive(shape, seed):
    return np.random.default_rng(seed).uniform(0.5, 2.0, size=shape)


def general(shape, seed):
    return np.random.default_rng(seed).uniform(-2.0, 2.0, size=shape)


def distinct(shape, seed):
    """Entries at least 0.1 apart: no ties for amax and maximum."""
    n = int(np.prod(shape))
    values = np.random.default_rng(seed).permutation(n) * 0.3 - 1.0
    return values.reshape(shape)


def _mg_index(x, index):
    return x[index]


REPEATED = np.array([0, 2, 0, 1])
# name -> (minigrad fn, torch fn or None, [(shape, values) for each input])
CASES = {
    "add": (lambda x, y: x + y, lambda x, y: x + y,
            [((2, 3), general), ((3,), general)]),
    "subtract": (lambda x, y: x - y, lambda x, y: x - y,
                 [((2, 1), general), ((1, 3), general)]),
    "multiply": (lambda x, y: x * y * x, lambda x, y: x * y * x,
                 [((2, 3), general), ((3,), general)]),
    "true_divide": (lambda x, y: x / y, lambda x, y: x / y,
                    [((2, 3), general), ((3,), positive)]),
    "negative": (lambda x: -x * x, lambda x: -x * x, [((3,), general)]),
    "pow": (lambda x, p: x ** p, lambda x, p: x ** p,
            [((2, 3), positive), ((3,), general)]),
    "pow_number": (lambda x: x ** 3.0, lambda x: x ** 3.0, [((4,), general)]),
    "rpow": (lambda x: 2.0 ** x, lambda x: 2.0 ** x, [((4,), general)]),
    "exp": (lambda x: x.exp(), lambda x: x.exp(), [((2, 3), general)]),
    "log": (lambda x: x.log(), lambda x: x.log(), [((2, 3), positive)]),
    "sqrt": (lambda x: x.sqrt(), lambda x: x.sqrt(), [((2, 3), positive)]),
    "tanh": (lambda x: x.tanh(), lambda x: x.tanh(), [((2, 3), general)]),
    "maximum": (lambda x, y: mg.maximum(x, y) * x,
                lambda x, y: __import__("torch").maximum(x, y) * x,
                [((2, 3), distinct), ((3,), lambda s, k: distinct(s, k) + .15)]),
    "minimum": (lambda x, y: mg.minimum(x, y) * y,
                lambda x, y: __import__("torch").minimum(x, y) * y,
                [((2, 3), distinct), ((3,), lambda s, k: distinct(s, k) + .15)]),
    "relu": (lambda x: x.relu() * x, lambda x: x.relu() * x,
             [((5,), lambda s, k: distinct(s, k) + 0.05)]),
    "sum": (lambda x: (x * x).sum(1), lambda x: (x * x).sum(1),
            [((2, 3, 2), general)]),
    "sum_keepdim": (lambda x: (x * x).sum((0, 2), keepdim=True),
                    lambda x: (x * x).sum((0, 2), keepdim=True),
                    [((2, 3, 2), general)]),
    "mean": (lambda x: (x * x).mean(0), lambda x: (x * x).mean(0),
             [((3, 2), general)]),
    "var": (lambda x: x.var(1), lambda x: x.var(1), [((2, 4), general)]),
    "var_all": (lambda x: x.var(correction=0),
                lambda x: x.var(correction=0), [((2, 3), general)]),
    "amax": (lambda x: (x * x).amax(1), lambda x: (x * x).amax(1),
             [((2, 4), lambda s, k: distinct(s, k) + 1.1)]),
    "reshape": (lambda x: (x * x).reshape(3, 2) * x.reshape(3, 2).exp(),
                lambda x: (x * x).reshape(3, 2) * x.reshape(3, 2).exp(),
                [((2, 3), general)]),
    "permute": (lambda x: x.permute(2, 0, 1).exp() * x.permute(2, 0, 1),
                lambda x: x.permute(2, 0, 1).exp() * x.permute(2, 0, 1),
                [((2, 3, 2), general)]),
    "expand": (lambda x: x.expand(2, 3, 2).exp(),
               lambda x: x.expand(2, 3, 2).exp(), [((3, 1), general)]),
    "getitem": (lambda x: x[1:, ::2].exp(), lambda x: x[1:, ::2].exp(),
                [((3, 4), general)]),
    "getitem_repeated": (lambda x: x[REPEATED].tanh() * x[REPEATED],
                         None, [((3, 2), general)]),
    "stack": (lambda x, y: mg.stack([x * y, y, x], 1).exp(),
              lambda x, y: __import__("torch").stack([x * y, y, x], 1).exp(),
              [((2, 3), general), ((2, 3), general)]),
    "cat": (lambda x, y: mg.cat([x * y, y], 0).exp(),
            lambda x, y: __import__("torch").cat([x * y, y], 0).exp(),
            [((2, 3), general), ((2, 3), general)]),
    "matmul": (lambda x, y: (x @ y).tanh(), lambda x, y: (x @ y).tanh(),
               [((2, 3), general), ((3, 4), general)]),
    "matmul_batched": (lambda x, y: (x @ y).tanh(),
                       lambda x, y: (x @ y).tanh(),
                       [((2, 2, 3), general), ((3, 2), general)]),
    "matmul_vector": (lambda x, y: (x @ y).tanh(),
                      lambda x, y: (x @ y).tanh(),
                      [((3,), general), ((2, 3, 2), general)]),
    "matmul_vectors": (lambda x, y: (x @ y) * (x @ y),
                       lambda x, y: (x @ y) * (x @ y),
                       [((3,), general), ((3,), general)]),
    "einsum": (lambda x, y: mg.einsum("ij,jk->ik", x, y).tanh(),
               lambda x, y: __import__("torch").einsum("ij,jk->ik", x, y)
               .tanh(), [((2, 3), general), ((3, 2), general)]),
    "einsum_diagonal": (lambda x, y: mg.einsum("iij,j->i", x, y).tanh(),
                        lambda x, y: __import__("torch")
                        .einsum("iij,j->i", x, y).tanh(),
                        [((2, 2, 3), general), ((3,), general)]),
    "log_softmax": (lambda x: x.log_softmax(1), lambda x: x.log_softmax(1),
                    [((2, 4), general)]),
    "softmax": (lambda x: x.softmax(0), lambda x: x.softmax(0),
                [((3, 2), general)]),
    "cross_entropy_mean": (
        lambda x: mg.cross_entropy(x, np.array([1, 0, 2]), "mean"),
        lambda x: __import__("torch").nn.functional.cross_entropy(
            x, __import__("torch").tensor([1, 0, 2])),
        [((3, 4), general)]),
    "cross_entropy_none": (
        lambda x: mg.cross_entropy(x, np.array([1, 0, 2]), "none"),
        lambda x: __import__("torch").nn.functional.cross_entropy(
            x, __import__("torch").tensor([1, 0, 2]), reduction="none"),
        [((3, 4), general)]),
    "cross_entropy_sum": (
        lambda x: mg.cross_entropy(x, np.array([1, 0, 2]), "sum"),
        lambda x: __import__("torch").nn.functional.cross_entropy(
            x, __import__("torch").tensor([1, 0, 2]), reduction="sum"),
        [((3, 4), general)]),
    "linear": (lambda x, w, b: mg.linear(x, w, b).tanh(),
               lambda x, w, b: __import__("torch").nn.functional
               .linear(x, w, b).tanh(),
               [((2, 3), general), ((4, 3), general), ((4,), general)]),
    # the names of chapters 20 and 21 (piecewise linear ones times a smooth factor)
    "where": (lambda x, y: mg.where(x.array > 0.1, x * x, y * x),
              lambda x, y: __import__("torch").where(x > 0.1, x * x, y * x),
              [((2, 3), distinct), ((3,), general)]),
    "abs": (lambda x: x.abs() * x, lambda x: x.abs() * x,
            [((5,), lambda s, k: distinct(s, k) + 0.05)]),
    "clamp": (lambda x: x.clamp(-0.5, 0.5) * x,
              lambda x: x.clamp(-0.5, 0.5) * x,
              [((6,), lambda s, k: distinct(s, k) * 2 + 0.03)]),
    "amin": (lambda x: mg.amin(x * x, dim=1),
             lambda x: (x * x).amin(1), [((2, 3), distinct)]),
    "sigmoid": (lambda x: x.sigmoid(), lambda x: x.sigmoid(),
                [((2, 3), general)]),
    "sigmoid_module": (lambda x: mg.Sigmoid()(x), lambda x: x.sigmoid(),
                       [((2, 3), general)]),
    "mse_loss": (lambda x, y: mg.mse_loss(x * x, y),
                 lambda x, y: __import__("torch").nn.functional
                 .mse_loss(x * x, y),
                 [((2, 3), general), ((2, 3), general)]),
    "to": (lambda x: x.to(np.float64).tanh(), lambda x: x.tanh(),
           [((4,), general)]),
}


def _inputs(name, seed):
    _, _, specs = CASES[name]
    return [values(shape, seed + 7 * k) for k, (shape, values)
            in enumerate(specs)]


@pytest.mark.parametrize("name", list(CASES))
@FEW
@given(seed=st.integers(0, 10_000))
def test_second_derivatives_agree_with_central_differences(name, seed):
    fn = CASES[name][0]
    arrays = _inputs(name, seed)
    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    assert mg.gradgradcheck(fn, *tensors, seed=seed, atol=1e-5, rtol=1e-4)
    # the tensor rules give the NumPy backward functions' numbers
    with keep_float64():
        xs = [Tensor(a, requires_grad=True) for a in arrays]
        out = fn(*xs)
        v = np.random.default_rng(seed).normal(size=out.shape)
        recorded = mg.grad(out, xs, v, create_graph=True)
        plain = mg.grad(out, xs, v)
    for r, p in zip(recorded, plain):
        np.testing.assert_allclose(r.array, p.array, rtol=1e-12, atol=1e-12)


def _double_backward_minigrad(fn, arrays, v, us):
    with keep_float64():
        xs = [Tensor(a.copy(), requires_grad=True) for a in arrays]
        out = fn(*xs)
        grads = mg.grad(out, xs, v, create_graph=True, allow_unused=True)
        h = None
        for g, u in zip(grads, us):
            if g is not None and g.requires_grad:
                term = (g * u).sum()
                h = term if h is None else h + term
        if h is None:  # a linear function: every second derivative is 0
            seconds = [None] * len(xs)
        else:
            seconds = mg.grad(h, xs, allow_unused=True)
    firsts = [g.array for g in grads]
    return firsts, [np.zeros_like(a) if s is None else s.array
                    for a, s in zip(arrays, seconds)]


@pytest.mark.parametrize("name", [n for n in CASES if CASES[n][1]])
def test_second_derivatives_agree_with_torch(name):
    torch = pytest.importorskip("torch")
    fn, torch_fn, _ = CASES[name]
    for seed in (1, 2, 3):
        arrays = _inputs(name, seed)
        rng = np.random.default_rng(seed)
        with keep_float64():
            out_shape = fn(*[Tensor(a) for a in arrays]).shape
        v = rng.normal(size=out_shape)
        us = [rng.normal(size=a.shape) for a in arrays]
        firsts, seconds = _double_backward_minigrad(fn, arrays, v, us)
        xs = [torch.tensor(a, requires_grad=True) for a in arrays]
        out = torch_fn(*xs)
        grads = torch.autograd.grad(out, xs, torch.tensor(v),
                                    create_graph=True, allow_unused=True)
        h = sum((g * torch.tensor(u)).sum() for g, u in zip(grads, us)
                if g is not None and g.requires_grad)
        if isinstance(h, int):
            expected = [None] * len(xs)
        else:
            expected = torch.autograd.grad(h, xs, allow_unused=True)
        for mine, theirs in zip(firsts, grads):
            np.testing.assert_allclose(mine, theirs.detach().numpy(),
                                       rtol=1e-9, atol=1e-9)
        for a, mine, theirs in zip(arrays, seconds, expected):
            theirs = np.zeros_like(a) if theirs is None else theirs.numpy()
            np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-9)


def test_every_backward_function_has_a_tensor_rule():
    missing = [
        (getattr(fn, "__name__", fn), position)
        for fn, position in BACK_FUNCS.back_funcs
        if (fn, position) not in TENSOR_BACK_FUNCS
    ]
    assert not missing, missing


def test_an_op_without_a_tensor_rule_raises_naming_it():
    def _double(x):
        return 2 * x

    def double_back(grad_out, out, x):
        return 2 * grad_out

    double = mg.wrap_forward_fn(_double)
    BACK_FUNCS.add_back_func(_double, 0, double_back)
    try:
        x = Tensor(np.ones(3), requires_grad=True)
        double(x).sum().backward()  # first order: fine
        assert x.grad.array.tolist() == [2.0, 2.0, 2.0]
        with pytest.raises(NotImplementedError, match="double"):
            double(x).sum().backward(create_graph=True)
    finally:
        del BACK_FUNCS.back_funcs[(_double, 0)]


def test_backward_with_create_graph_records_the_gradient():
    with keep_float64():
        x = Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
        (x ** 3.0).sum().backward(create_graph=True)
        assert x.grad.requires_grad
        np.testing.assert_allclose(x.grad.array, 3 * x.array ** 2)
        first = x.grad
        x.grad = None
        first.sum().backward()
        np.testing.assert_allclose(x.grad.array, 6 * x.array)


def test_create_graph_false_is_first_order_unchanged():
    rng = np.random.default_rng(0)
    w = Tensor(rng.normal(size=(4, 3)), requires_grad=True)
    x = Tensor(rng.normal(size=(2, 3)))
    loss = mg.cross_entropy(mg.linear(x, w), np.array([1, 3]), "mean")
    loss.backward()
    assert not w.grad.requires_grad and w.grad.recipe is None
    (g,) = mg.grad(mg.cross_entropy(mg.linear(x, w), np.array([1, 3]),
                                    "mean"), w)
    np.testing.assert_allclose(g.array, w.grad.array)
    assert g.recipe is None


def test_grad_does_not_touch_dot_grad_and_checks_unused():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = Tensor(np.array([3.0, 4.0]), requires_grad=True)
    (gx,) = mg.grad((x * x).sum(), x)
    assert x.grad is None and gx.array.tolist() == [2.0, 4.0]
    with pytest.raises(RuntimeError, match="allow_unused"):
        mg.grad((x * x).sum(), [x, y])
    assert mg.grad((x * x).sum(), [x, y], allow_unused=True)[1] is None


def test_float32_stays_float32():
    x = Tensor(np.array([0.5, 1.5], dtype=np.float32), requires_grad=True)
    (g,) = mg.grad((x.exp() * x).sum(), x, create_graph=True)
    (h,) = mg.grad(g.sum(), x)
    assert g.dtype == np.float32 and h.dtype == np.float32
    np.testing.assert_allclose(h.array, np.exp(x.array) * (x.array + 2),
                               rtol=1e-6)


def test_gradgradcheck_catches_a_wrong_rule():
    def _cube(x):
        return x ** 3

    def cube_back(grad_out, out, x):
        return 3 * grad_out * x ** 2

    cube = mg.wrap_forward_fn(_cube)
    BACK_FUNCS.add_back_func(_cube, 0, cube_back)
    # wrong: the derivative of 3 x**2 taken as a constant in x
    TENSOR_BACK_FUNCS.add_rule(_cube, 0, lambda g, out, x: g * 3 * x.array ** 2)
    try:
        x = Tensor(np.array([0.5, 1.5]), requires_grad=True)
        assert mg.gradcheck(cube, x)
        with pytest.raises(mg.GradcheckError, match="second derivative"):
            mg.gradgradcheck(cube, x)
    finally:
        del BACK_FUNCS.back_funcs[(_cube, 0)]
        del TENSOR_BACK_FUNCS.rules[(_cube, 0)]


# --- forward mode (chapter 23) ----------------------------------------------------------------


def f64(a):
    """A float64 tensor (Tensor() makes float32 outside keep_float64)."""
    with keep_float64():
        return Tensor(a)


def _fd_jacobian(f, x, eps=1e-6):
    with keep_float64():
        columns = []
        for j in range(x.size):
            e = np.zeros(x.size)
            e[j] = eps
            e = e.reshape(x.shape)
            plus, minus = f(Tensor(x + e)).array, f(Tensor(x - e)).array
            columns.append(((plus - minus) / (2 * eps)).ravel())
        out_shape = f(Tensor(x)).shape
    return np.stack(columns, axis=-1).reshape(out_shape + x.shape)


FUNCTIONS = {
    "tanh_matmul": (lambda x: (Tensor(W_FIXED) @ x).tanh(),
                    lambda x: __import__("torch").tanh(
                        __import__("torch").tensor(W_FIXED) @ x), (3,)),
    "softmax_2d": (lambda x: x.softmax(1) * x, lambda x: x.softmax(1) * x,
                   (2, 3)),
    "mixed": (lambda x: mg.stack([x.exp().sum(), (x * x).var(), x.amax()]),
              lambda x: __import__("torch").stack(
                  [x.exp().sum(), (x * x).var(), x.amax()]), (4,)),
}
W_FIXED = np.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7]])


@pytest.mark.parametrize("name", list(FUNCTIONS))
@FEW
@given(seed=st.integers(0, 10_000))
def test_jvp_and_jacobians_agree_with_central_differences(name, seed):
    f, _, shape = FUNCTIONS[name]
    x = distinct(shape, seed) + np.random.default_rng(seed).uniform(
        0, 0.05, size=shape)
    u = general(shape, seed + 1)
    expected = _fd_jacobian(f, x)
    for mode in ("reverse", "forward"):
        J = mg.jacobian(f, f64(x), mode=mode)
        assert J.shape == expected.shape
        np.testing.assert_allclose(J.array, expected, atol=1e-6, rtol=1e-5)
    with keep_float64():
        out, ju = mg.jvp(f, Tensor(x), u)
        np.testing.assert_allclose(out.array, f(Tensor(x)).array)
    axes = tuple(range(expected.ndim - len(shape), expected.ndim))
    np.testing.assert_allclose(
        ju.array, np.tensordot(expected, u, axes=(axes, tuple(range(len(shape))))),
        atol=1e-6, rtol=1e-5)


@FEW
@given(seed=st.integers(0, 10_000))
def test_hessian_agrees_with_central_differences(seed):
    def f(x):
        return (x.tanh() * x.exp()).sum() + (x @ Tensor(W_FIXED.T)).var()

    x = general((3,), seed)

    def gradient(t):
        leaf = Tensor(t.array, requires_grad=True)
        return mg.grad(f(leaf), leaf)[0]

    H = mg.hessian(f, f64(x))
    assert H.shape == (3, 3)
    np.testing.assert_allclose(H.array, _fd_jacobian(gradient, x), atol=1e-6)
    np.testing.assert_allclose(H.array, H.array.T, atol=1e-12)


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_jvp_and_jacobians_agree_with_torch(name):
    torch = pytest.importorskip("torch")
    f, torch_f, shape = FUNCTIONS[name]
    x = distinct(shape, 3) + 0.01
    u = general(shape, 4)
    expected = torch.autograd.functional.jacobian(torch_f, torch.tensor(x))
    for mode in ("reverse", "forward"):
        J = mg.jacobian(f, f64(x), mode=mode)
        np.testing.assert_allclose(J.array, expected.numpy(), rtol=1e-9,
                                   atol=1e-12)
    _, expected_ju = torch.func.jvp(torch_f, (torch.tensor(x),),
                                    (torch.tensor(u),))
    with keep_float64():
        _, ju = mg.jvp(f, Tensor(x), u)
    np.testing.assert_allclose(ju.array, expected_ju.numpy(), rtol=1e-9,
                               atol=1e-12)


def test_hessian_agrees_with_torch():
    torch = pytest.importorskip("torch")
    x = general((2, 2), 5)
    H = mg.hessian(lambda t: (t.log_softmax(1) * t).sum() ** 2.0, f64(x))
    expected = torch.autograd.functional.hessian(
        lambda t: (t.log_softmax(1) * t).sum() ** 2, torch.tensor(x))
    assert H.shape == (2, 2, 2, 2)
    np.testing.assert_allclose(H.array, expected.numpy(), rtol=1e-9,
                               atol=1e-12)


# --- random shapes: broadcasting and reductions -------------------------------------------------

BINARY = {
    "add": lambda x, y: (x + y) * x,
    "subtract": lambda x, y: (x - y) * y,
    "multiply": lambda x, y: x * y,
    "true_divide": lambda x, y: x / y,
    "pow": lambda x, y: y ** x,
    "maximum": lambda x, y: mg.maximum(x, y) * (x + y),
}


@pytest.mark.parametrize("name", list(BINARY))
@FEW
@given(data=st.data())
def test_second_derivatives_with_random_broadcast_shapes(name, data):
    import hypothesis.extra.numpy as hnp

    shapes = data.draw(hnp.mutually_broadcastable_shapes(
        num_shapes=2, min_dims=0, max_dims=3, max_side=3))
    x_shape, y_shape = shapes.input_shapes
    seed = data.draw(st.integers(0, 10_000))
    x = general(x_shape, seed)
    y = positive(y_shape, seed + 1)  # a denominator, and a base for pow
    if name == "maximum":  # entries 0.15 apart at least: no ties
        x = distinct(x_shape, seed) if x.size else x
        y = distinct(y_shape, seed + 1) + 0.15 if y.size else y
    assert mg.gradgradcheck(BINARY[name], Tensor(x, requires_grad=True),
                            Tensor(y, requires_grad=True), seed=seed)


@pytest.mark.parametrize("name", ["sum", "mean", "var", "amax"])
@FEW
@given(data=st.data())
def test_second_derivatives_of_reductions_with_random_dims(name, data):
    import hypothesis.extra.numpy as hnp

    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=2,
                                       max_side=3))
    dims = data.draw(st.sets(st.integers(-len(shape), len(shape) - 1)
                             .map(lambda d: d % len(shape)), min_size=1))
    keepdim = data.draw(st.booleans())
    seed = data.draw(st.integers(0, 10_000))
    x = distinct(shape, seed) + 1.1
    reduce = getattr(Tensor, name)

    def fn(x):
        return reduce(x * x.tanh(), tuple(sorted(dims)), keepdim=keepdim)

    assert mg.gradgradcheck(fn, Tensor(x, requires_grad=True), seed=seed)
