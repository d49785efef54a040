"""PyTorch's everyday names (chapter 20) mean what they mean in PyTorch.

Every name is checked against hand-computed values; where PyTorch is installed, the same calls are
also made in PyTorch and compared (each such test skips on its own without it). The places where
the book differs on purpose are asserted both ways: ties and kinks (the gradient split evenly, so
`clamp` gives 1/2 on a bound and `max(x, dim)` splits a tie where PyTorch picks one index), the
float64 rule of chapter 6, and `format` of a one-element tensor that is not 0-d.
"""

import builtins
import threading
import types

import numpy as np
import pytest

import minigrad as mg
from minigrad import Tensor, keep_float64


def _torch():
    return pytest.importorskip("torch")


def _grad_of(fn, values, end_grad=None, dtype=np.float32):
    x = Tensor(np.asarray(values, dtype=dtype), requires_grad=True)
    out = fn(x)
    out.backward(end_grad=np.ones(out.shape) if end_grad is None else end_grad)
    return out, x.grad.array


def _torch_grad_of(fn, values, end_grad=None):
    torch = _torch()
    x = torch.tensor(np.asarray(values, dtype=np.float32), requires_grad=True)
    out = fn(x)
    out.backward(torch.ones(out.shape) if end_grad is None else torch.tensor(np.asarray(end_grad, dtype=np.float32)))
    return out.detach().numpy(), x.grad.numpy()


# --- making tensors ------------------------------------------------------------------------------------


def test_constructors_take_sizes_or_one_tuple():
    for make in (mg.zeros, mg.ones, mg.empty, mg.randn, mg.rand):
        for shape in [(2, 3), (4,), ()]:
            assert make(*shape).shape == make(shape).shape == make(list(shape)).shape == shape
            assert make(shape).dtype == np.float32
    assert mg.zeros(2, 3).array.tolist() == [[0, 0, 0], [0, 0, 0]]
    assert mg.ones(mg.zeros(2, 1).shape).array.tolist() == [[1.0], [1.0]]
    assert mg.full((2,), -1.5).array.tolist() == [-1.5, -1.5] and mg.full(3, 2.0).shape == (3,)
    assert mg.eye(3).array.tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert mg.eye(3, 2).array.tolist() == [[1, 0], [0, 1], [0, 0]]


def test_constructor_dtypes_and_requires_grad():
    assert mg.zeros(2, dtype=np.float64).dtype == np.float64  # asked for: kept
    assert mg.ones(2, dtype="int64").dtype == np.int64
    assert mg.ones(2, dtype=bool).array.tolist() == [True, True]
    assert mg.full((2,), 3).dtype == np.int64 and mg.full((2,), False).dtype == np.bool_
    assert mg.full((2,), 3, dtype=np.float64).dtype == np.float64
    assert mg.eye(2, dtype=np.int64).dtype == np.int64
    assert mg.randn(3, dtype=np.float64).dtype == np.float64 and mg.rand(3, dtype=np.float16).dtype == np.float16
    w = mg.tensor([[1.0, 2.0]], dtype=np.float64)
    assert w.dtype == np.float64 and mg.zeros_like(w).dtype == np.float64
    assert mg.ones_like(w, dtype=np.float32).dtype == np.float32
    assert mg.zeros_like(np.ones((2, 2), dtype=np.int64)).dtype == np.int64  # arrays too
    assert mg.tensor([1.7, -1.7], dtype=np.int64).array.tolist() == [1, -1]  # truncated, as torch
    assert mg.tensor([1, 2]).dtype == np.int64 and mg.tensor([1.5]).dtype == np.float32
    for make in (
        lambda: mg.zeros(2, requires_grad=True),
        lambda: mg.ones((2,), requires_grad=True),
        lambda: mg.empty(2, requires_grad=True),
        lambda: mg.full((2,), 1.0, requires_grad=True),
        lambda: mg.eye(2, requires_grad=True),
        lambda: mg.zeros_like(w, requires_grad=True),
        lambda: mg.ones_like(w, requires_grad=True),
        lambda: mg.randn(2, requires_grad=True),
        lambda: mg.rand(2, requires_grad=True),
        lambda: mg.tensor([1.0], dtype=np.float32, requires_grad=True),
    ):
        t = make()
        assert t.requires_grad and t.is_leaf and t.recipe is None
    for make in (
        lambda: mg.zeros(2, dtype=np.int64, requires_grad=True),
        lambda: mg.full((2,), 1, requires_grad=True),
        lambda: mg.ones_like(mg.tensor([1, 2]), requires_grad=True),
        lambda: mg.tensor([1], dtype=bool, requires_grad=True),
    ):
        with pytest.raises(TypeError, match="only floating-point tensors can require grad"):
            make()


def test_constructor_errors():
    with pytest.raises(TypeError, match=r"zeros: sizes are ints, got float 2.0; write zeros\(2, 3\)"):
        mg.zeros(2.0)
    with pytest.raises(TypeError, match="ones: sizes are ints, got str"):
        mg.ones("3")
    with pytest.raises(TypeError, match="randn: sizes are ints, got bool"):
        mg.randn(True)
    with pytest.raises(ValueError, match=r"empty: size -2 of \(3, -2\) is negative"):
        mg.empty((3, -2))
    with pytest.raises(TypeError, match=r"full: fill_value must be a number or a bool, got str"):
        mg.full((2,), "a")
    with pytest.raises(TypeError, match="rand draws floats; dtype int64"):
        mg.rand(2, dtype=np.int64)
    with pytest.raises(TypeError, match=r"ones: 'float' is not a dtype|ones: tensors hold"):
        mg.ones(2, dtype=object)
    with pytest.raises(TypeError, match=r"eye: sizes are ints"):
        mg.eye(2.5)


def test_manual_seed_repeats_randn_and_rand_and_the_weights():
    mg.manual_seed(3)
    first = (mg.randn(4).array, mg.Linear(2, 2).weight.array.copy(), mg.rand(2, 2).array)
    mg.manual_seed(3)
    second = (mg.randn((4,)).array, mg.Linear(2, 2).weight.array.copy(), mg.rand((2, 2)).array)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    mg.manual_seed(0)
    samples = mg.randn(20000).array
    assert abs(samples.mean()) < 0.03 and abs(samples.std() - 1) < 0.03
    uniform = mg.rand(20000).array
    assert uniform.min() >= 0 and uniform.max() < 1 and abs(uniform.mean() - 0.5) < 0.01


def test_constructors_against_pytorch():
    torch = _torch()
    dtypes = {np.float32: torch.float32, np.float64: torch.float64, np.int64: torch.int64, np.bool_: torch.bool}
    calls = [
        ("zeros", (2, 3), {}),
        ("zeros", ((2, 3),), {}),
        ("ones", (4,), {"dtype": np.int64}),
        ("ones", ((),), {}),
        ("full", ((2, 2), 7), {}),
        ("full", ((2,), 1.5), {}),
        ("full", ((1,), True), {}),
        ("full", ((2,), 7), {"dtype": np.float64}),
        ("eye", (3,), {}),
        ("eye", (2, 4), {"dtype": np.int64}),
        ("empty", (3, 1), {}),
    ]
    for name, args, kwargs in calls:
        ours = getattr(mg, name)(*args, **kwargs)
        torch_kwargs = {k: dtypes[v] for k, v in kwargs.items()}
        theirs = getattr(torch, name)(*args, **torch_kwargs)
        assert ours.shape == tuple(theirs.shape), name
        assert str(theirs.dtype) == f"torch.{ours.dtype}".replace("bool_", "bool"), (name, ours.dtype, theirs.dtype)
        if name != "empty":
            np.testing.assert_array_equal(ours.array, theirs.numpy())
    x = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    for name in ("zeros_like", "ones_like"):
        ours, theirs = getattr(mg, name)(Tensor(x)), getattr(torch, name)(torch.tensor(x))
        np.testing.assert_array_equal(ours.array, theirs.numpy())
        assert ours.dtype == np.float32 and theirs.dtype == torch.float32
    for name in ("randn", "rand"):
        ours, theirs = getattr(mg, name)(2, 3), getattr(torch, name)(2, 3)
        assert ours.shape == tuple(theirs.shape) and theirs.dtype == torch.float32 and ours.dtype == np.float32
    # requires_grad with an integer dtype: refused by both
    with pytest.raises(RuntimeError):
        torch.zeros(2, dtype=torch.int64, requires_grad=True)
    with pytest.raises(TypeError):
        mg.zeros(2, dtype=np.int64, requires_grad=True)


# --- where -----------------------------------------------------------------------------------------------


def test_where_values_and_gradients_by_hand():
    condition = Tensor([[True, False, True], [False, False, True]])
    x = Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    y = Tensor([[-1.0], [-2.0]], requires_grad=True)  # broadcast along the rows
    out = mg.where(condition, x, y)
    assert out.array.tolist() == [[1.0, -1.0, 3.0], [-2.0, -2.0, 6.0]]
    out.backward(end_grad=np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    assert x.grad.array.tolist() == [[1.0, 0.0, 3.0], [0.0, 0.0, 6.0]]
    assert y.grad.array.tolist() == [[2.0], [9.0]]
    assert x.grad.dtype == y.grad.dtype == np.float32
    assert mg.where(np.array([True, False]), 1.0, Tensor([5.0, 6.0])).array.tolist() == [1.0, 6.0]
    assert not mg.where(condition, Tensor(np.ones((2, 3))), 0.0).requires_grad
    with pytest.raises(TypeError, match="where: the condition must be boolean, such as x > 0, got dtype float32"):
        mg.where(Tensor([1.0, 0.0]), x[0, :2], 0.0)


def test_where_against_pytorch():
    torch = _torch()
    rng = np.random.default_rng(0)
    c = rng.random((3, 1, 4)) > 0.5
    x = rng.normal(size=(2, 4)).astype(np.float32)
    y = rng.normal(size=(1, 4)).astype(np.float32)
    v = rng.normal(size=(3, 2, 4)).astype(np.float32)
    ox, oy = Tensor(x, requires_grad=True), Tensor(y, requires_grad=True)
    ours = mg.where(Tensor(c), ox, oy)
    ours.backward(gradient=v)
    tx, ty = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
    theirs = torch.where(torch.tensor(c), tx, ty)
    theirs.backward(torch.tensor(v))
    np.testing.assert_array_equal(ours.array, theirs.detach().numpy())
    np.testing.assert_allclose(ox.grad.array, tx.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(oy.grad.array, ty.grad.numpy(), rtol=1e-6)
    with pytest.raises(RuntimeError, match="boolean"):
        torch.where(torch.tensor([1, 0]), torch.ones(2), torch.zeros(2))
    with pytest.raises(TypeError, match="boolean"):
        mg.where(Tensor([1, 0]), mg.ones(2), mg.zeros(2))


# --- shapes ------------------------------------------------------------------------------------------------

SHAPE_CALLS = [
    ("view", lambda t: t.view(3, -1)),
    ("view tuple", lambda t: t.view((4, 6))),
    ("flatten", lambda t: t.flatten()),
    ("flatten 1", lambda t: t.flatten(1)),
    ("flatten 1 2", lambda t: t.flatten(1, 2)),
    ("flatten -3 -2", lambda t: t.flatten(-3, -2)),
    ("squeeze", lambda t: t.squeeze()),
    ("squeeze 1", lambda t: t.squeeze(1)),
    ("squeeze 0 (size 2: stays)", lambda t: t.squeeze(0)),
    ("unsqueeze 0", lambda t: t.unsqueeze(0)),
    ("unsqueeze -1", lambda t: t.unsqueeze(-1)),
    ("unsqueeze 2", lambda t: t.unsqueeze(2)),
    ("transpose 0 2", lambda t: t.transpose(0, 2)),
    ("transpose -1 1", lambda t: t.transpose(-1, 1)),
    ("t of a matrix", lambda t: t.flatten(1).t()),
    ("t of a vector", lambda t: t.flatten().t()),
]


def _shaped():
    return np.arange(24, dtype=np.float32).reshape(2, 1, 3, 4) / 7 - 1


@pytest.mark.parametrize("name, call", SHAPE_CALLS, ids=[n for n, _ in SHAPE_CALLS])
def test_shape_names_are_reshape_and_permute(name, call):
    x = Tensor(_shaped(), requires_grad=True)
    out = call(x)
    assert out.recipe.func.__name__ in ("_reshape", "_permute")  # chapter 8's operations
    v = np.arange(out.numel(), dtype=np.float32).reshape(out.shape)
    out.backward(end_grad=v)
    # the gradient puts every entry of v back where its entry of x came from
    assert sorted(x.grad.array.ravel().tolist()) == sorted(v.ravel().tolist())
    assert mg.gradcheck(call, Tensor(_shaped(), requires_grad=True))


def test_shape_names_by_hand():
    x = Tensor(_shaped())
    assert x.view(-1).shape == (24,) and x.view(4, 6).shape == (4, 6)
    assert x.flatten(1).shape == (2, 12) and x.flatten(0, 1).shape == (2, 3, 4)
    assert x.squeeze().shape == (2, 3, 4) and x.squeeze(-3).shape == (2, 3, 4) and x.squeeze((0, 3)).shape == (2, 1, 3, 4)
    assert mg.squeeze(x, (1, 0)).shape == (2, 3, 4)
    assert x.unsqueeze(4).shape == (2, 1, 3, 4, 1) and mg.unsqueeze(x, -5).shape == (1, 2, 1, 3, 4)
    np.testing.assert_array_equal(mg.transpose(x, 2, 3).array, np.swapaxes(_shaped(), 2, 3))
    m = Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert m.t().array.tolist() == [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]
    s = Tensor(2.0)
    assert s.t().shape == () and s.flatten().shape == (1,) and s.squeeze().shape == ()
    assert s.unsqueeze(-1).shape == (1,) and s.squeeze(0).shape == () and s.transpose(-1, 0).shape == ()
    assert np.shares_memory(x.view(-1).array, x.array)
    with pytest.raises(RuntimeError, match=r"view: a tensor of shape \(3, 2\) .* use reshape"):
        m.t().view(6)
    with pytest.raises(ValueError, match=r"reshape: .* \(2, 3\) \(6 entries\) into shape \(4,\)"):
        m.view(4)
    with pytest.raises(ValueError, match=r"t\(\) transposes matrices, and this tensor has shape \(2, 1, 3, 4\)"):
        x.t()
    with pytest.raises(IndexError, match=r"squeeze: dim 4 is out of range for a tensor of shape \(2, 1, 3, 4\); use a dim from -4 to 3"):
        x.squeeze(4)
    with pytest.raises(IndexError, match=r"transpose: dim -5 is out of range"):
        x.transpose(-5, 0)
    with pytest.raises(IndexError, match=r"flatten: dim 1 is out of range for a tensor of shape \(\); use a dim from -1 to 0"):
        s.flatten(1)
    with pytest.raises(ValueError, match="flatten: start_dim -1 comes after end_dim 0"):
        x.flatten(-1, 0)
    with pytest.raises(TypeError, match="unsqueeze: dim must be an int, got float"):
        x.unsqueeze(1.0)


def test_shape_names_against_pytorch():
    torch = _torch()
    rng = np.random.default_rng(1)
    for name, call in SHAPE_CALLS:
        x = Tensor(_shaped(), requires_grad=True)
        t = torch.tensor(_shaped(), requires_grad=True)
        ours, theirs = call(x), call(t)
        assert ours.shape == tuple(theirs.shape), name
        np.testing.assert_array_equal(ours.array, theirs.detach().numpy())
        v = rng.normal(size=ours.shape).astype(np.float32)
        ours.backward(end_grad=v)
        theirs.backward(torch.tensor(v))
        np.testing.assert_array_equal(x.grad.array, t.grad.numpy())
    s, ts = Tensor(2.0), torch.tensor(2.0)
    for call in (lambda t: t.unsqueeze(-1), lambda t: t.flatten(), lambda t: t.squeeze(0), lambda t: t.t()):
        assert call(s).shape == tuple(call(ts).shape)
    m, tm = Tensor(np.ones((2, 3))), torch.ones(2, 3)
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        tm.t().view(6)
    with pytest.raises(RuntimeError, match="use reshape"):
        m.t().view(6)
    with pytest.raises(RuntimeError, match="t\\(\\) expects a tensor with <= 2 dimensions"):
        torch.ones(2, 2, 2).t()
    with pytest.raises(IndexError):
        tm.squeeze(2)
    with pytest.raises(IndexError):
        m.squeeze(2)


# --- max and min -------------------------------------------------------------------------------------------


def test_max_and_min_meanings_by_hand():
    x = Tensor([[2.0, -1.0, 4.0], [0.5, 3.0, -2.0]], requires_grad=True)
    assert mg.max(x).item() == 4.0 and x.min().item() == -2.0 and x.max().shape == ()
    result = x.max(1)
    assert isinstance(result, mg.ValuesAndIndices) and isinstance(result, tuple)
    values, indices = result
    assert values.array.tolist() == [4.0, 3.0] and indices.array.tolist() == [2, 1]
    assert result.values is values and result[1] is indices and indices.dtype == np.int64
    assert not indices.requires_grad and values.requires_grad
    low = mg.min(x, dim=0, keepdim=True)
    assert low.values.array.tolist() == [[0.5, -1.0, -2.0]] and low.indices.array.tolist() == [[1, 0, 1]]
    assert x.max(-1, keepdim=True).values.shape == (2, 1)
    other = Tensor([[1.0], [1.0]])
    assert x.max(other).array.tolist() == [[2.0, 1.0, 4.0], [1.0, 3.0, 1.0]]  # elementwise
    assert mg.min(x, other.array).array.tolist() == [[1.0, -1.0, 1.0], [0.5, 1.0, -2.0]]
    assert mg.amin(x).item() == -2.0 and x.amin((0, 1), keepdim=True).shape == (1, 1)
    assert repr(result).startswith("ValuesAndIndices(values=Tensor(")
    values.backward(end_grad=np.array([10.0, 20.0]))
    assert x.grad.array.tolist() == [[0.0, 0.0, 10.0], [0.0, 20.0, 0.0]]
    with pytest.raises(TypeError, match=r"max: dim must be one int, got \(0, 1\); for several axes use amax"):
        x.max((0, 1))
    with pytest.raises(TypeError, match="min: dim must be an int, got float"):
        x.min(1.0)
    with pytest.raises(IndexError, match=r"max: dim -3 is out of range for a tensor of shape \(2, 3\)"):
        x.max(-3)


def test_max_and_min_ties_split_evenly():
    x = [[1.0, 4.0, 4.0, 4.0], [2.0, 2.0, 0.0, -1.0]]
    _, g = _grad_of(lambda t: t.max(dim=1).values, x, end_grad=np.array([3.0, 2.0]))
    np.testing.assert_allclose(g, [[0, 1, 1, 1], [1, 1, 0, 0]])
    _, g = _grad_of(lambda t: t.min(dim=0).values, [[1.0, 2.0], [1.0, 0.0]], end_grad=np.array([4.0, 4.0]))
    np.testing.assert_allclose(g, [[2, 0], [2, 4]])
    _, g = _grad_of(lambda t: t.max(), [[3.0, 3.0], [1.0, 3.0]])
    np.testing.assert_allclose(g, [[1 / 3, 1 / 3], [0, 1 / 3]])
    # the indices are those of the first tied entry
    assert Tensor(x).max(1).indices.array.tolist() == [1, 0]
    assert Tensor(x).min(1, keepdim=True).indices.array.tolist() == [[0], [3]]


def test_max_and_min_against_pytorch():
    torch = _torch()
    rng = np.random.default_rng(2)
    x = rng.permutation(24).reshape(2, 3, 4).astype(np.float32) / 5  # no ties
    v_all = np.float32(1.5)
    for op in ("max", "min"):
        for dim in (0, 1, -1):
            for keepdim in (False, True):
                call = lambda t: getattr(t, op)(dim, keepdim=keepdim)  # noqa: E731
                ox, tx = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
                ours, theirs = call(ox), call(tx)
                np.testing.assert_array_equal(ours.values.array, theirs.values.detach().numpy())
                np.testing.assert_array_equal(ours.indices.array, theirs.indices.numpy())
                v = rng.normal(size=ours.values.shape).astype(np.float32)
                ours.values.backward(end_grad=v)
                theirs.values.backward(torch.tensor(v))
                np.testing.assert_array_equal(ox.grad.array, tx.grad.numpy())
        ours, theirs = _grad_of(lambda t: getattr(t, op)(), x, end_grad=v_all), _torch_grad_of(
            lambda t: getattr(t, op)(), x, end_grad=v_all
        )
        np.testing.assert_array_equal(ours[0].array, theirs[0])
        np.testing.assert_array_equal(ours[1], theirs[1])
    y = rng.normal(size=(3, 1)).astype(np.float32)
    np.testing.assert_array_equal(mg.max(Tensor(x), Tensor(y)).array, torch.max(torch.tensor(x), torch.tensor(y)).numpy())


def test_max_tie_conventions_compared_with_pytorch():
    """Without a dim, PyTorch splits a tie evenly, as the book does; along a dim it gives the whole
    gradient to the index it returns, where the book splits it."""
    torch = _torch()
    x = [[5.0, 7.0, 7.0], [1.0, 1.0, 0.0]]
    _, ours = _grad_of(lambda t: t.max(), x)
    _, theirs = _torch_grad_of(lambda t: t.max(), x)
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(ours, [[0, 0.5, 0.5], [0, 0, 0]])
    for op, expected_ours, expected_torch in [
        ("max", [[0, 0.5, 0.5], [0.5, 0.5, 0]], [[0, 1, 0], [1, 0, 0]]),
        ("min", [[1, 0, 0], [0, 0, 1]], [[1, 0, 0], [0, 0, 1]]),
    ]:
        _, ours = _grad_of(lambda t: getattr(t, op)(dim=1).values, x)
        _, theirs = _torch_grad_of(lambda t: getattr(t, op)(dim=1).values, x)
        np.testing.assert_array_equal(ours, expected_ours)
        np.testing.assert_array_equal(theirs, expected_torch)
        np.testing.assert_array_equal(
            getattr(Tensor(x), op)(dim=1).indices.array, getattr(torch.tensor(x), op)(dim=1).indices.numpy()
        )


# --- abs, clamp, sigmoid -------------------------------------------------------------------------------------


def test_abs_clamp_sigmoid_by_hand():
    values = [-2.0, -0.5, 0.0, 0.5, 2.0]
    out, g = _grad_of(mg.abs, values)
    assert out.array.tolist() == [2.0, 0.5, 0.0, 0.5, 2.0] and g.tolist() == [-1.0, -1.0, 0.0, 1.0, 1.0]
    out, g = _grad_of(lambda t: abs(t), values)  # Python's abs
    assert g.tolist() == [-1.0, -1.0, 0.0, 1.0, 1.0]
    out, g = _grad_of(lambda t: t.clamp(-0.5, 1.0), values)
    assert out.array.tolist() == [-0.5, -0.5, 0.0, 0.5, 1.0] and g.tolist() == [0.0, 0.5, 1.0, 1.0, 0.0]
    out, g = _grad_of(lambda t: mg.clip(t, max=0.5), values)
    assert out.array.tolist() == [-2.0, -0.5, 0.0, 0.5, 0.5] and g.tolist() == [1.0, 1.0, 1.0, 0.5, 0.0]
    out, g = _grad_of(lambda t: t.clip(1.0, -1.0), values)  # min > max: every entry is max
    assert out.array.tolist() == [-1.0] * 5 and g.tolist() == [0.0] * 5
    assert mg.clamp(Tensor([1, 5, 9]), 2, 6).array.tolist() == [2, 5, 6]  # integers stay integers
    out, g = _grad_of(mg.sigmoid, [-1.0, 0.0, 2.0])
    expected = 1 / (1 + np.exp(-np.array([-1.0, 0.0, 2.0])))
    np.testing.assert_allclose(out.array, expected, rtol=1e-6)
    np.testing.assert_allclose(g, expected * (1 - expected), rtol=1e-6)
    assert mg.sigmoid(Tensor([-100.0])).array[0] > 0  # 3.7e-44: not rounded to 0
    assert mg.sigmoid(Tensor([-100.0], requires_grad=True)).dtype == np.float32
    with pytest.raises(ValueError, match="clamp: give min, max or both"):
        mg.clamp(Tensor([1.0]))
    with pytest.raises(TypeError, match=r"clamp: min and max are numbers or None, got ndarray; .*minimum\(maximum"):
        mg.clamp(Tensor([1.0]), np.zeros(1))
    with pytest.raises(TypeError, match="clamp: min and max are numbers or None, got bool"):
        Tensor([1.0]).clamp(max=True)


def test_abs_clamp_sigmoid_against_pytorch():
    torch = _torch()
    rng = np.random.default_rng(3)
    x = rng.uniform(-3, 3, size=(4, 5)).astype(np.float32)  # no entry on a kink
    v = rng.normal(size=(4, 5)).astype(np.float32)
    calls = [
        lambda t: t.abs(),
        lambda t: abs(t),
        lambda t: t.clamp(-1.0, 2.0),
        lambda t: t.clamp(min=0.5),
        lambda t: t.clip(max=-0.25),
        lambda t: t.clamp(2.0, -1.0),
        lambda t: t.sigmoid(),
    ]
    for call in calls:
        ours, g_ours = _grad_of(call, x, end_grad=v)
        theirs, g_theirs = _torch_grad_of(call, x, end_grad=v)
        np.testing.assert_allclose(ours.array, theirs, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(g_ours, g_theirs, rtol=1e-5, atol=1e-7)
    big = np.array([-90.0, -30.0, 0.0, 30.0, 90.0], dtype=np.float32)
    np.testing.assert_allclose(mg.sigmoid(Tensor(big)).array, torch.sigmoid(torch.tensor(big)).numpy(), rtol=1e-6, atol=1e-37)


def test_kink_conventions_compared_with_pytorch():
    """|x|'(0) = 0 in both; on a bound of clamp PyTorch takes 1, the book 1/2; with min == max
    PyTorch gives 1 where x equals the bound, the book 0 (the function is constant)."""
    _torch()
    values = [-1.0, 0.0, 1.0, 2.0]
    np.testing.assert_array_equal(_grad_of(mg.abs, values)[1], _torch_grad_of(lambda t: t.abs(), values)[1])
    _, ours = _grad_of(lambda t: t.clamp(0.0, 1.0), values)
    _, theirs = _torch_grad_of(lambda t: t.clamp(0.0, 1.0), values)
    np.testing.assert_array_equal(ours, [0.0, 0.5, 0.5, 0.0])
    np.testing.assert_array_equal(theirs, [0.0, 1.0, 1.0, 0.0])
    _, ours = _grad_of(lambda t: t.clamp(1.0, 1.0), values)
    _, theirs = _torch_grad_of(lambda t: t.clamp(1.0, 1.0), values)
    np.testing.assert_array_equal(ours, [0.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(theirs, [0.0, 0.0, 1.0, 0.0])
    # relu is clamp(min=0) in the book, with the same 1/2 at 0; PyTorch's relu takes 0 there
    np.testing.assert_array_equal(_grad_of(lambda t: t.clamp(min=0.0), values)[1], _grad_of(mg.relu, values)[1])


# --- conversions and Python numbers ---------------------------------------------------------------------------


def test_conversions_by_hand():
    x = Tensor([1.5, -2.5, 3.0], requires_grad=True)
    assert x.float() is x and x.to(np.float32) is x and x.to("float32") is x and x.to("cpu") is x
    d = x.double()
    assert d.dtype == np.float64 and d.requires_grad and d.recipe.func.__name__ == "_to"
    assert (d * 2).dtype == np.float32  # chapter 6: outside keep_float64, results are float32
    with keep_float64():
        assert (d * 2).dtype == np.float64
    n = x.long()
    assert n.dtype == np.int64 and n.array.tolist() == [1, -2, 3] and not n.requires_grad and n.recipe is None
    assert n.long() is n and n.float().dtype == np.float32 and not n.float().requires_grad
    assert x.to(np.int32).dtype == np.int32 and x.to(bool).dtype == np.bool_
    assert x.to(np.float16).requires_grad
    (x.double() * x.to(np.float16)).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.array, 2 * x.array)
    with pytest.raises(ValueError, match=r"to: 'cuda' is neither a dtype nor a device minigrad has"):
        x.to("cuda")
    with pytest.raises(TypeError, match="to: 'x' is not a dtype|not a dtype"):
        x.to(object())
    with pytest.raises(TypeError, match="tensors hold booleans, integers or floats, not complex128"):
        x.to(np.complex128)


def test_python_numbers_by_hand():
    loss = Tensor(np.float32(0.125), requires_grad=True) * 2
    assert float(loss) == 0.25 and isinstance(float(loss), float)
    assert int(Tensor(3.9)) == 3 and int(Tensor([-3.9])) == -3 and int(Tensor([[True]])) == 1
    assert f"{loss:.3f}" == "0.250" and f"{Tensor([[2.0]]):e}" == "2.000000e+00"
    assert f"{Tensor([7]):03d}" == "007"
    x = Tensor([1.0, 2.0])
    assert f"{x}" == str(x) == repr(x) and format(x) == repr(x)
    assert x.tolist() == [1.0, 2.0] and Tensor([[1, 2]]).tolist() == [[1, 2]] and Tensor(1.5).tolist() == 1.5
    assert isinstance(Tensor([1, 2]).tolist()[0], int)
    for convert, what in ((float, r"float\(\)"), (int, r"int\(\)"), (lambda t: f"{t:.2f}", "format spec '.2f'")):
        with pytest.raises(ValueError, match=rf"{what} needs a tensor with one element, this one has shape \(2,\)"):
            convert(x)
    with pytest.raises(ValueError, match="needs a tensor with one element"):
        float(Tensor(np.zeros((0,))))


def test_conversions_and_python_numbers_against_pytorch():
    torch = _torch()
    x = Tensor([1.5, -2.5, 3.0], requires_grad=True)
    t = torch.tensor([1.5, -2.5, 3.0], requires_grad=True)
    for call in (lambda a: a.float(), lambda a: a.double(), lambda a: a.long()):
        ours, theirs = call(x), call(t)
        assert ours.requires_grad == theirs.requires_grad
        np.testing.assert_array_equal(ours.array, theirs.detach().numpy())
    assert (x.float() is x) == (t.float() is t) == True  # noqa: E712
    with keep_float64():
        (x.double() * x.double()).sum().backward()
    (t.double() * t.double()).sum().backward()
    np.testing.assert_array_equal(x.grad.array, t.grad.numpy())
    assert x.grad.dtype == np.float32 and t.grad.dtype == torch.float32
    assert x.tolist() == t.tolist()
    one, tone = Tensor([[2.75]]), torch.tensor([[2.75]])
    assert float(one) == float(tone) and int(one) == int(tone) and int(Tensor(-2.7)) == int(torch.tensor(-2.7))
    assert f"{Tensor(2.75):.1f}" == f"{torch.tensor(2.75):.1f}"
    for convert in (float, int):
        with pytest.raises(ValueError):
            convert(torch.ones(2))
        with pytest.raises(ValueError):
            convert(mg.ones(2))
    # a difference: PyTorch formats only 0-d tensors with a specification, minigrad any one-element tensor
    with pytest.raises(TypeError):
        f"{torch.tensor([2.75]):.1f}"
    assert f"{Tensor([2.75]):.1f}" == "2.8"


# --- grad modes, requires_grad_ and backward(gradient=...) ------------------------------------------------


def test_no_grad_is_nograd_and_a_decorator():
    assert mg.no_grad is mg.NoGrad
    w = Tensor([1.0, 2.0], requires_grad=True)

    @mg.no_grad()
    def f(w):
        return w * 2

    @mg.no_grad
    def g(w):
        """g's docstring"""
        return w * 3

    assert not f(w).requires_grad and not g(w).requires_grad and (w * 2).requires_grad
    assert g.__name__ == "g" and g.__doc__ == "g's docstring"
    with mg.no_grad() as block:
        assert isinstance(block, mg.NoGrad) and not mg.is_grad_enabled()
    assert mg.is_grad_enabled()

    def fails(w):
        raise KeyError("inside")

    with pytest.raises(KeyError):
        mg.no_grad()(fails)(w)
    assert mg.is_grad_enabled()  # restored after an exception

    calls = []

    @mg.no_grad()
    def recursive(n):
        calls.append(mg.is_grad_enabled())
        return recursive(n - 1) if n else (w * 2)

    assert not recursive(3).requires_grad and calls == [False] * 4 and mg.is_grad_enabled()


def test_decorated_function_in_many_threads():
    w = Tensor([1.0], requires_grad=True)
    barrier = threading.Barrier(8)
    seen, errors = [], []

    @mg.no_grad()
    def step():
        barrier.wait()
        seen.append((w * 2).requires_grad)

    def run():
        try:
            step()
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and seen == [False] * 8 and mg.is_grad_enabled()


def test_decorating_generators_coroutines_and_non_functions_is_refused():
    def gen():
        yield 1

    async def coro():
        return 1

    async def agen():
        yield 1

    for decorator in (mg.no_grad(), mg.enable_grad(), mg.set_grad_enabled(False)):
        for func in (gen, coro, agen):
            with pytest.raises(TypeError, match="generator or async function"):
                decorator(func)
    assert mg.is_grad_enabled()
    with pytest.raises(TypeError, match="expected a function to decorate, got int"):
        mg.no_grad(3)


def test_enable_grad_and_set_grad_enabled():
    w = Tensor([1.0], requires_grad=True)
    with mg.no_grad():
        with mg.enable_grad():
            assert (w * 2).requires_grad
        assert not (w * 2).requires_grad

        @mg.enable_grad
        def records():
            return w * 2

        assert records().requires_grad and not mg.is_grad_enabled()
    with mg.set_grad_enabled(False):
        assert not mg.is_grad_enabled()
        with mg.set_grad_enabled(True):
            assert mg.is_grad_enabled()
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()
    try:
        mg.set_grad_enabled(False)  # a plain call switches at once
        assert not (w * 2).requires_grad
        with mg.no_grad():
            mg.set_grad_enabled(True)
            assert mg.is_grad_enabled()
        assert not mg.is_grad_enabled()  # no_grad restores what it found
    finally:
        mg.set_grad_enabled(True)

    decorator = mg.set_grad_enabled(False)
    assert not mg.is_grad_enabled()  # acts at once, as in PyTorch

    @decorator
    def evaluate():
        return (w * 2).requires_grad

    assert mg.is_grad_enabled()  # ... but used as a decorator, switches back
    assert evaluate() is False and mg.is_grad_enabled()
    with pytest.raises(TypeError, match="set_grad_enabled: mode must be True or False, got int 1"):
        mg.set_grad_enabled(1)
    assert mg.is_grad_enabled()


def test_grad_modes_against_pytorch():
    torch = _torch()

    def scenario(lib, make):
        w = make([1.0, 2.0])
        results = []
        with lib.no_grad():
            results.append((w * 2).requires_grad)
            with lib.enable_grad():
                results.append((w * 2).requires_grad)
        results.append((w * 2).requires_grad)
        with lib.set_grad_enabled(False):
            results.append((w * 2).requires_grad)
        lib.set_grad_enabled(False)
        results.append((w * 2).requires_grad)
        lib.set_grad_enabled(True)
        results.append((w * 2).requires_grad)
        results.append(lib.no_grad()(lambda: (w * 2).requires_grad)())
        results.append(lib.no_grad(lambda: (w * 2).requires_grad)())
        with lib.no_grad():
            results.append(lib.enable_grad()(lambda: (w * 2).requires_grad)())
        decorator = lib.set_grad_enabled(False)
        results.append(lib.is_grad_enabled())
        decorated = decorator(lambda: (w * 2).requires_grad)
        results += [lib.is_grad_enabled(), decorated(), lib.is_grad_enabled()]
        return results

    ours = scenario(mg, lambda v: Tensor(v, requires_grad=True))
    theirs = scenario(torch, lambda v: torch.tensor(v, requires_grad=True))
    assert ours == theirs
    assert mg.is_grad_enabled() and torch.is_grad_enabled()


def test_requires_grad_():
    x = mg.zeros(2)
    assert x.requires_grad_() is x and x.requires_grad
    assert x.requires_grad_(False) is x and not x.requires_grad
    y = mg.ones(2, requires_grad=True) * 2
    assert y.requires_grad_(True) is y and y.requires_grad  # already so: fine
    with pytest.raises(RuntimeError, match=r"requires_grad_\(False\) on a computed tensor.*detach"):
        y.requires_grad_(False)
    with pytest.raises(TypeError, match="only floating-point tensors can require grad"):
        mg.tensor([1, 2]).requires_grad_()
    with mg.no_grad():
        z = mg.ones(2, requires_grad=True) * 2  # computed without a graph: a leaf
    assert z.requires_grad_() is z and z.is_leaf
    (z * z).sum().backward()
    assert z.grad.array.tolist() == [4.0, 4.0]


def test_requires_grad_against_pytorch():
    torch = _torch()
    with pytest.raises(RuntimeError):
        (torch.ones(2, requires_grad=True) * 2).requires_grad_(False)
    with pytest.raises(RuntimeError):
        torch.tensor([1, 2]).requires_grad_()
    t = torch.zeros(2)
    assert t.requires_grad_() is t and t.requires_grad


def test_backward_gradient_keyword():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = np.array([1.0, 0.5, -1.0])
    (x * x).backward(gradient=v)
    assert x.grad.array.tolist() == [2.0, 2.0, -6.0]
    (x * x).backward(v)
    (x * x).backward(end_grad=v)
    (x * x).backward(gradient=Tensor(v))
    assert x.grad.array.tolist() == [8.0, 8.0, -24.0]
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward(None, True)
    y.backward()
    with pytest.raises(RuntimeError):
        y.backward()  # released
    with pytest.raises(TypeError, match="both gradient and end_grad"):
        (x * x).backward(v, end_grad=v)
    with pytest.raises(ValueError, match=r"end_grad has shape \(2,\) but the tensor has shape \(3,\)"):
        (x * x).backward(gradient=np.ones(2))
    x.grad = None
    (x * x).sum().backward(create_graph=True)  # chapter 22: a recorded gradient
    assert x.grad.requires_grad and x.grad.array.tolist() == [2.0, 4.0, 6.0]
    assert mg.Tensor.backward is mg.backward
    mg.backward((x * 2).sum())  # also a function, as torch.autograd.backward for one tensor


def test_backward_gradient_against_pytorch():
    torch = _torch()
    v = np.array([1.0, 0.5, -1.0], dtype=np.float32)
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    t = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x.exp()).backward(gradient=v)
    (t * t.exp()).backward(gradient=torch.tensor(v))
    np.testing.assert_allclose(x.grad.array, t.grad.numpy(), rtol=1e-6)
    ys = (x * x).sum(), (t * t).sum()
    for y in ys:
        y.backward(retain_graph=True)
        y.backward()
    np.testing.assert_allclose(x.grad.array, t.grad.numpy(), rtol=1e-6)


# --- the package's __all__ -------------------------------------------------------------------------------


PYTHON_BUILTINS_THE_PACKAGE_HAS = {"sum", "all", "any", "pow", "max", "min", "abs"}


def test_star_import_does_not_shadow_builtins():
    names = {}
    exec("from minigrad import *", names)
    for name in PYTHON_BUILTINS_THE_PACKAGE_HAS:
        assert name not in names, name
        assert getattr(mg, name) is not getattr(builtins, name)  # still reachable as minigrad.<name>
    exec("total = sum([1, 2, 3]); biggest = max(4, 5); tiny = abs(-1)", names)
    assert (names["total"], names["biggest"], names["tiny"]) == (6, 5, 1)
    for name in ("Tensor", "tensor", "zeros", "ones", "randn", "where", "no_grad", "amax", "amin", "MLP", "SGD", "load_digits"):
        assert name in names, name


def test_all_lists_every_public_name_but_modules_and_builtins():
    public = {
        name
        for name, value in vars(mg).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set(mg.__all__) == public - PYTHON_BUILTINS_THE_PACKAGE_HAS - set(dir(builtins))
    assert {name for name in public if hasattr(builtins, name)} == PYTHON_BUILTINS_THE_PACKAGE_HAS
    assert mg.__all__ == sorted(mg.__all__) and len(set(mg.__all__)) == len(mg.__all__)
    assert all(hasattr(mg, name) for name in mg.__all__)
    assert not any(isinstance(getattr(mg, name), types.ModuleType) for name in mg.__all__)
