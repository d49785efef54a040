"""PyTorch's everyday names for modules and data (chapter 21): Sequential, Tanh, Sigmoid, Dropout,
train/eval/apply, state_dict/load_state_dict, CrossEntropyLoss, MSELoss, minigrad.functional,
Dataset, TensorDataset, DataLoader on a dataset, save/load.

Every name is checked against values computed by hand; the tests named `..._against_torch` also
compare with PyTorch, and are skipped when it is not installed (it is not a requirement).
"""

from __future__ import annotations

import io
from collections import OrderedDict

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import minigrad.nn as nn
from minigrad import (
    SGD,
    CrossEntropyLoss,
    DataLoader,
    Dataset,
    DatasetLoader,
    Dropout,
    Linear,
    MLP,
    Module,
    MSELoss,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
    Tensor,
    TensorDataset,
    cross_entropy,
    dropout,
    gradcheck,
    keep_float64,
    load,
    manual_seed,
    mse_loss,
    save,
)


def _model(seed=0):
    manual_seed(seed)
    return Sequential(Linear(4, 6), Tanh(), Dropout(0.5), Linear(6, 3), Sigmoid())


def _torch_model(torch):
    tnn = torch.nn
    return tnn.Sequential(tnn.Linear(4, 6), tnn.Tanh(), tnn.Dropout(0.5), tnn.Linear(6, 3), tnn.Sigmoid())


# --- Sequential --------------------------------------------------------------------------------


def test_sequential_names_length_iteration_and_indexing():
    net = _model()
    assert [name for name, _ in net.named_parameters()] == ["0.weight", "0.bias", "3.weight", "3.bias"]
    assert len(net) == 5 and list(net) == list(net.children())
    assert isinstance(net[0], Linear) and isinstance(net[-1], Sigmoid) and net[-2] is net[3]
    assert net[np.int64(1)] is net[1]
    tail = net[3:]
    assert isinstance(tail, Sequential) and list(tail) == [net[3], net[4]]
    assert [name for name, _ in tail.named_parameters()] == ["3.weight", "3.bias"]  # names kept
    assert len(net[5:]) == 0 and len(net[::2]) == 3


def test_sequential_output_is_the_composition():
    net = _model().eval()
    x = Tensor(np.random.default_rng(0).normal(size=(7, 4)), requires_grad=True)
    by_hand = x
    for module in [net[0], net[1], net[2], net[3], net[4]]:
        by_hand = module(by_hand)
    assert np.array_equal(net(x).array, by_hand.array)
    w0, b0, w1, b1 = (p.array for p in net.parameters())
    expected = 1 / (1 + np.exp(-(np.tanh(x.array @ w0.T + b0) @ w1.T + b1)))
    assert np.allclose(net(x).array, expected, rtol=1e-5)
    assert gradcheck(lambda t: net(t), x)
    assert Sequential()(x) is x


def test_sequential_from_an_ordered_dict_and_the_same_module_twice():
    named = Sequential(OrderedDict(hidden=Linear(2, 3), act=ReLU(), out=Linear(3, 1)))
    assert [n for n, _ in named.named_parameters()] == ["hidden.weight", "hidden.bias", "out.weight", "out.bias"]
    assert named[1] is named.act
    layer = Linear(2, 2)
    twice = Sequential(layer, layer)
    assert len(twice) == 2 and len(list(twice.parameters())) == 2  # parameters once...
    assert list(twice.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]  # ...names twice


@pytest.mark.parametrize(
    "arguments, error, message",
    [
        ((Linear(2, 2), ReLU), TypeError, r"the class ReLU, not a module; write ReLU\(\)"),
        ((Linear(2, 2), np.tanh), TypeError, "is a ufunc, not a Module"),
        ((OrderedDict([("a.b", ReLU())]),), ValueError, "has no '.'"),
        ((OrderedDict([("", ReLU())]),), ValueError, "cannot name a module"),
        ((OrderedDict([("forward", ReLU())]),), ValueError, "is not an attribute"),
        ((OrderedDict([("training", ReLU())]),), ValueError, "is not an attribute"),
        (({1: ReLU()},), TypeError, "module names must be strings"),
    ],
)
def test_sequential_refuses(arguments, error, message):
    with pytest.raises(error, match=message):
        Sequential(*arguments)


def test_sequential_bad_indices():
    net = _model()
    with pytest.raises(IndexError, match="index 5 is out of range for a Sequential of 5 modules"):
        net[5]
    with pytest.raises(IndexError, match="index -6"):
        net[-6]
    with pytest.raises(TypeError, match="integers or slices, got str"):
        net["0"]
    with pytest.raises(TypeError, match="got bool"):
        net[True]


def test_sequential_against_torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs, ours = _torch_model(torch), _model()
    assert repr(ours) == repr(theirs).replace(", inplace=False", "")
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert len(ours) == len(theirs) and repr(ours[1:3]) == repr(theirs[1:3]).replace(", inplace=False", "")
    ours.load_state_dict(theirs.state_dict())
    ours.eval()
    theirs.eval()
    x = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    ours_x, theirs_x = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = ours(ours_x), theirs(theirs_x)
    np.testing.assert_allclose(out.array, expected.detach().numpy(), rtol=1e-5, atol=1e-6)
    v = np.random.default_rng(2).normal(size=(5, 3)).astype(np.float32)
    out.backward(end_grad=v)
    expected.backward(torch.tensor(v))
    np.testing.assert_allclose(ours_x.grad.array, theirs_x.grad.numpy(), rtol=1e-4, atol=1e-6)
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad.array, q.grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)


# --- Tanh and Sigmoid ---------------------------------------------------------------------------


def test_sigmoid_values_and_gradient_by_hand():
    x = Tensor(np.array([-2.0, 0.0, 1.0, 3.0]), requires_grad=True)
    y = Sigmoid()(x)
    expected = np.array([1 / (1 + np.e**2), 0.5, 1 / (1 + np.exp(-1.0)), 1 / (1 + np.exp(-3.0))])
    np.testing.assert_allclose(y.array, expected, rtol=1e-6)
    y.backward(end_grad=np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_allclose(x.grad.array, [1, 2, 3, 4] * expected * (1 - expected), rtol=1e-5)
    assert y.dtype == x.grad.dtype == np.float32
    assert gradcheck(lambda t: F.sigmoid(t), Tensor(np.linspace(-4, 4, 9), requires_grad=True))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_far_from_zero_is_finite(dtype):
    with keep_float64():
        x = Tensor(np.array([-1e4, -100.0, -30.0, 30.0, 100.0, 1e4], dtype=dtype), requires_grad=True)
        with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow
            y = F.sigmoid(x)
            y.sum().backward()
    assert y.dtype == x.grad.dtype == dtype
    assert np.all(np.isfinite(y.array)) and np.all(np.isfinite(x.grad.array))
    assert np.all((y.array >= 0) & (y.array <= 1)) and y.array[0] == 0 and y.array[-1] == 1
    np.testing.assert_allclose(y.array[[2, 3]], [np.exp(-30) / (1 + np.exp(-30)), 1 / (1 + np.exp(-30))], rtol=1e-5)


def test_tanh_module():
    x = Tensor(np.array([[-1.0, 0.5], [2.0, 0.0]]), requires_grad=True)
    np.testing.assert_allclose(Tanh()(x).array, np.tanh(x.array))
    assert gradcheck(lambda t: Tanh()(t), x)
    assert repr(Tanh()) == "Tanh()" and repr(Sigmoid()) == "Sigmoid()"


def test_tanh_and_sigmoid_against_torch():
    torch = pytest.importorskip("torch")
    values = np.random.default_rng(3).normal(size=(3, 4)) * 5
    values[0, :2] = [-200.0, 200.0]
    v = np.random.default_rng(4).normal(size=(3, 4))
    for ours_module, theirs_fn in [(Sigmoid(), torch.sigmoid), (Tanh(), torch.tanh)]:
        with keep_float64():
            x = Tensor(values, requires_grad=True)
            ours_module(x).backward(end_grad=v)
        t = torch.tensor(values, requires_grad=True)
        out = theirs_fn(t)
        out.backward(torch.tensor(v))
        np.testing.assert_allclose(ours_module(Tensor(values)).array, out.detach().numpy().astype(np.float32), rtol=1e-6)
        np.testing.assert_allclose(x.grad.array, t.grad.numpy(), rtol=1e-10, atol=1e-15)  # 1 - y**2 cancels


# --- training and evaluation modes, apply --------------------------------------------------------


def test_train_eval_set_every_module_and_return_it():
    net = Sequential(Linear(2, 2), Sequential(Dropout(0.1), ReLU()))
    assert all(m.training for m in net.modules())
    assert net.eval() is net and not any(m.training for m in net.modules())
    assert net.train() is net and all(m.training for m in net.modules())
    assert net.train(False) is net and not any(m.training for m in net.modules())
    net[1].train()
    assert [m.training for m in net.modules()] == [False, False, True, True, True]
    net.train(np.bool_(True))
    assert all(m.training is True for m in net.modules())
    with pytest.raises(TypeError, match="mode must be True or False, got str"):
        net.train("eval")


def test_a_module_without_init_state_has_the_flag():
    class Bare(Module):
        def forward(self, x):
            return x

    assert Bare().training is True and "training" not in vars(Bare())


def test_train_calls_the_childrens_train():
    calls = []

    class Frozen(Module):
        def train(self, mode=True):  # a model that keeps a part in evaluation mode
            calls.append(mode)
            return super().train(False)

    net = Sequential(Linear(2, 2), Frozen())
    net.train()
    assert calls == [True] and net[0].training and not net[1].training


def test_apply_is_post_order_and_returns_the_module():
    inner = Sequential(ReLU(), Linear(3, 1))
    net = Sequential(Linear(2, 3), inner)
    seen = []
    assert net.apply(seen.append) is net
    assert seen == [net[0], inner[0], inner[1], inner, net]

    def zero(module):
        if isinstance(module, Linear):
            module.weight.zero_()

    net.apply(zero)
    assert not net[0].weight.array.any() and not inner[1].weight.array.any()


def test_apply_and_modes_against_torch():
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    theirs = tnn.Sequential(tnn.Linear(2, 3), tnn.Sequential(tnn.ReLU(), tnn.Dropout(0.2), tnn.Linear(3, 1)), tnn.Tanh())
    ours = Sequential(Linear(2, 3), Sequential(ReLU(), Dropout(0.2), Linear(3, 1)), Tanh())
    order_theirs, order_ours = [], []
    theirs.apply(lambda m: order_theirs.append(type(m).__name__))
    ours.apply(lambda m: order_ours.append(type(m).__name__))
    assert order_ours == order_theirs
    theirs[1].eval()
    ours[1].eval()
    assert [m.training for m in ours.modules()] == [m.training for m in theirs.modules()]


# --- Dropout ------------------------------------------------------------------------------------


def test_dropout_statistics_and_scaling():
    manual_seed(0)
    x = Tensor(np.full((400, 500), 2.0))
    for p in (0.1, 0.5, 0.8):
        y = Dropout(p)(x).array
        assert abs((y == 0).mean() - p) < 0.005
        assert np.all((y == 0) | np.isclose(y, 2.0 / (1 - p)))  # the survivors, scaled
        assert abs(y.mean() - 2.0) < 0.05  # expected value kept
        assert abs(y.var() - 4.0 * p / (1 - p)) < 0.1 * 4.0 * p / (1 - p)  # Var = x^2 p / (1 - p)


def test_dropout_identity_in_evaluation_and_at_p_zero():
    x = Tensor(np.ones((3, 4)), requires_grad=True)
    layer = Dropout(0.5).eval()
    assert layer(x) is x and dropout(x, 0.5, training=False) is x and dropout(x, 0.0) is x
    assert F.dropout(x, 0.3, False) is x


def test_dropout_at_p_one_gives_zeros_and_zero_gradients():
    x = Tensor(np.arange(1.0, 7.0).reshape(2, 3), requires_grad=True)
    y = dropout(x, 1.0)
    assert np.array_equal(y.array, np.zeros((2, 3))) and np.all(np.isfinite(y.array))
    y.backward(end_grad=np.ones((2, 3)))
    assert np.array_equal(x.grad.array, np.zeros((2, 3)))


def test_dropout_is_repeatable_with_manual_seed_and_keeps_the_dtype():
    x = Tensor(np.ones((10, 10)))
    manual_seed(7)
    first = dropout(x, 0.5).array
    manual_seed(7)
    assert np.array_equal(dropout(x, 0.5).array, first)
    assert not np.array_equal(dropout(x, 0.5).array, first)
    assert first.dtype == np.float32
    with keep_float64():
        x64 = Tensor(np.ones(5), requires_grad=True)
        y64 = dropout(x64, 0.5)
    assert y64.dtype == np.float64


def test_dropout_gradient_is_the_scaled_mask():
    x = Tensor(np.random.default_rng(0).normal(size=(6, 5)), requires_grad=True)

    def fn(t):
        manual_seed(11)
        return dropout(t, 0.3)

    assert gradcheck(fn, x)
    y = fn(x)
    v = np.random.default_rng(1).normal(size=(6, 5))
    y.backward(end_grad=v)
    mask = (y.array != 0) / 0.7
    np.testing.assert_allclose(x.grad.array, v * mask, rtol=1e-6)
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize(
    "p, error, message",
    [
        (-0.1, ValueError, "between 0 and 1, but got -0.1"),
        (1.5, ValueError, "between 0 and 1, but got 1.5"),
        ("0.5", TypeError, "must be a number, got str"),
        (True, TypeError, "must be a number, got bool"),
        (None, TypeError, "got NoneType"),
    ],
)
def test_dropout_refuses_bad_probabilities(p, error, message):
    with pytest.raises(error, match=message):
        Dropout(p)
    with pytest.raises(error, match=message):
        dropout(Tensor(np.ones(2)), p)


def test_dropout_against_torch():
    torch = pytest.importorskip("torch")
    x = np.full((300, 300), 1.5, dtype=np.float32)
    torch.manual_seed(0)
    theirs = torch.nn.Dropout(0.3)(torch.tensor(x)).numpy()
    manual_seed(0)
    ours = Dropout(0.3)(Tensor(x)).array
    assert repr(Dropout(0.3)) == repr(torch.nn.Dropout(0.3)).replace(", inplace=False", "")
    assert set(np.unique(ours)) == set(np.unique(theirs))  # {0, 1.5 / 0.7}
    assert abs((ours == 0).mean() - (theirs == 0).mean()) < 0.01
    t = torch.tensor(x)
    assert torch.nn.functional.dropout(t, 0.3, training=False) is t  # the same identity as ours


# --- state_dict and load_state_dict -------------------------------------------------------------


def test_state_dict_is_an_ordered_dict_of_copies():
    net = _model()
    state = net.state_dict()
    assert isinstance(state, OrderedDict) and list(state) == ["0.weight", "0.bias", "3.weight", "3.bias"]
    for (name, array), p in zip(state.items(), net.parameters()):
        assert isinstance(array, np.ndarray) and array.dtype == np.float32
        assert np.array_equal(array, p.array) and not np.shares_memory(array, p.array)
    net[0].weight.array[:] = 0  # later changes do not reach the snapshot
    assert state["0.weight"].any()


def test_round_trip_into_a_fresh_model_gives_identical_outputs():
    trained, fresh = _model(0).eval(), _model(1).eval()
    x = Tensor(np.random.default_rng(0).normal(size=(4, 4)))
    assert not np.array_equal(trained(x).array, fresh(x).array)
    result = fresh.load_state_dict(trained.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert np.array_equal(trained(x).array, fresh(x).array)


def test_load_copies_in_place_counts_a_version_and_the_optimizer_keeps_working():
    source, model = _model(0), _model(1)
    params = list(model.parameters())
    arrays = [p.array for p in params]
    versions = [p.version for p in params]
    optimizer = SGD(model.parameters(), lr=0.5)
    model.load_state_dict(source.state_dict())
    assert all(p is q for p, q in zip(model.parameters(), params))  # same objects
    assert all(p.array is a for p, a in zip(params, arrays))  # same arrays
    assert [p.version for p in params] == [v + 1 for v in versions]
    model(Tensor(np.ones((2, 4)))).sum().backward()
    before = model[0].weight.array.copy()
    optimizer.step()
    assert not np.array_equal(model[0].weight.array, before)


def test_a_graph_built_before_a_load_refuses_backward():
    source, model = _model(0), _model(1)
    out = model(Tensor(np.ones((2, 4)))).sum()
    model.load_state_dict(source.state_dict())
    with pytest.raises(RuntimeError, match="modified in place"):
        out.backward()


def test_load_accepts_tensors_lists_and_other_dtypes():
    model = Sequential(Linear(2, 2))
    state = {"0.weight": Tensor(np.array([[1.0, 2.0], [3.0, 4.0]])), "0.bias": [5, 6]}
    model.load_state_dict(state)
    assert np.array_equal(model[0].weight.array, [[1, 2], [3, 4]]) and model[0].weight.dtype == np.float32
    assert np.array_equal(model[0].bias.array, [5, 6]) and model[0].bias.dtype == np.float32
    model.load_state_dict({"0.weight": np.eye(2, dtype=np.float64), "0.bias": np.zeros(2, dtype=bool)})
    assert np.array_equal(model[0].weight.array, np.eye(2)) and model[0].weight.dtype == np.float32


def test_load_state_dict_errors_name_the_problem_and_copy_nothing():
    model = _model()
    state = model.state_dict()
    before = [p.array.copy() for p in model.parameters()]
    bad = OrderedDict(state)
    del bad["3.bias"]
    bad["0.weight"] = np.zeros((5, 4))
    bad["extra"] = np.zeros(1)
    with pytest.raises(ValueError) as caught:
        model.load_state_dict(bad)
    message = str(caught.value)
    assert message.startswith("load_state_dict of Sequential: ")
    assert "missing: 3.bias" in message and "unexpected: extra" in message
    assert r"0.weight: shape (5, 4) in the state dict, (6, 4) in the model" in message
    assert all(np.array_equal(p.array, b) for p, b in zip(model.parameters(), before))

    del bad["0.weight"]  # a shape is checked with strict=False too
    bad["0.bias"] = np.zeros(7)
    with pytest.raises(ValueError, match=r"0.bias: shape \(7,\)"):
        model.load_state_dict(bad, strict=False)
    bad["0.bias"] = np.zeros(6)
    result = model.load_state_dict(bad, strict=False)
    assert result.missing_keys == ["0.weight", "3.bias"] and result.unexpected_keys == ["extra"]
    assert result == (["0.weight", "3.bias"], ["extra"])

    with pytest.raises(TypeError, match="0.bias must hold numbers, got str"):
        model.load_state_dict(dict(state, **{"0.bias": "zeros"}))
    with pytest.raises(TypeError, match="expected a mapping from names to arrays .* got list"):
        model.load_state_dict(list(state.items()))


def test_state_dict_against_torch():
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    torch.manual_seed(0)
    theirs = tnn.Sequential(OrderedDict(hidden=tnn.Linear(3, 5), act=tnn.ReLU(), out=tnn.Linear(5, 2)))
    ours = Sequential(OrderedDict(hidden=Linear(3, 5), act=ReLU(), out=Linear(5, 2)))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())  # torch's tensors, directly
    for name, value in theirs.state_dict().items():
        assert np.array_equal(ours.state_dict()[name], value.numpy())
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})  # and back

    # tied weights: every name, in both libraries
    tied_theirs = tnn.Sequential(tnn.Linear(2, 2), tnn.Linear(2, 2))
    tied_theirs[1].weight = tied_theirs[0].weight
    tied_ours = Sequential(Linear(2, 2), Linear(2, 2))
    tied_ours[1].weight = tied_ours[0].weight
    assert list(tied_ours.state_dict()) == list(tied_theirs.state_dict())
    assert len(list(tied_ours.parameters())) == len(list(tied_theirs.parameters())) == 3


# --- CrossEntropyLoss and MSELoss --------------------------------------------------------------


def test_cross_entropy_loss_by_hand():
    logits = Tensor(np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 0.5]]), requires_grad=True)
    labels = np.array([0, 2])
    log_p = logits.array - np.log(np.exp(logits.array).sum(axis=1, keepdims=True))
    per_example = -log_p[[0, 1], labels]
    loss = CrossEntropyLoss()(logits, labels)
    assert loss.shape == () and np.isclose(loss.item(), per_example.mean())
    assert np.isclose(CrossEntropyLoss(reduction="sum")(logits, labels).item(), per_example.sum())
    np.testing.assert_allclose(CrossEntropyLoss(reduction="none")(logits, labels).array, per_example, rtol=1e-6)
    loss.backward()
    p = np.exp(log_p)
    np.testing.assert_allclose(logits.grad.array, (p - np.eye(3)[labels]) / 2, rtol=1e-5, atol=1e-7)
    assert minigrad.cross_entropy(logits, labels).shape == (2,)  # the function's default is unchanged


def test_mse_loss_by_hand():
    x = Tensor(np.array([[1.0, 2.0], [3.0, -1.0]]), requires_grad=True)
    t = Tensor(np.array([[0.0, 2.5], [1.0, 1.0]]), requires_grad=True)
    d = x.array - t.array  # [[1, -0.5], [2, -2]]
    loss = MSELoss()(x, t)
    assert loss.shape == () and np.isclose(loss.item(), (1 + 0.25 + 4 + 4) / 4)
    loss.backward()
    np.testing.assert_allclose(x.grad.array, 2 * d / 4)
    np.testing.assert_allclose(t.grad.array, -2 * d / 4)
    assert np.isclose(mse_loss(x, t, reduction="sum").item(), 9.25)
    none = mse_loss(x, t, reduction="none")
    np.testing.assert_allclose(none.array, d**2)
    for reduction in ("mean", "sum", "none"):
        assert gradcheck(lambda a, b: mse_loss(a, b, reduction=reduction), x, t)
    assert x.grad.dtype == np.float32


def test_mse_loss_with_integer_or_array_targets_keeps_the_dtype():
    x = Tensor(np.array([1.5, 2.0, 0.0]), requires_grad=True)
    loss = mse_loss(x, np.array([1, 2, 3]))
    assert loss.dtype == np.float32 and np.isclose(loss.item(), (0.25 + 0 + 9) / 3)
    loss.backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.array, 2 * np.array([0.5, 0.0, -3.0]) / 3)


def test_loss_errors():
    with pytest.raises(ValueError, match=r"mse_loss: input of shape \(3, 1\) and target of shape \(3,\) differ"):
        mse_loss(Tensor(np.zeros((3, 1))), Tensor(np.zeros(3)))
    with pytest.raises(ValueError, match=r"mse_loss: reduction must be one of \('none', 'mean', 'sum'\), got 'avg'"):
        mse_loss(Tensor(np.zeros(3)), Tensor(np.zeros(3)), reduction="avg")
    with pytest.raises(ValueError, match="CrossEntropyLoss: reduction must be one of"):
        CrossEntropyLoss(reduction="average")
    with pytest.raises(ValueError, match="MSELoss: reduction must be one of"):
        MSELoss(reduction=None)
    assert repr(CrossEntropyLoss()) == "CrossEntropyLoss()" and repr(MSELoss()) == "MSELoss()"


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses_against_torch(reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    logits, labels = rng.normal(size=(7, 4)) * 2, rng.integers(0, 4, size=7)
    x, t = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    with keep_float64():
        z, a, b = (Tensor(v, requires_grad=True) for v in (logits, x, t))
        ours = [CrossEntropyLoss(reduction)(z, labels), MSELoss(reduction)(a, b)]
    tz, ta, tb = (torch.tensor(v, requires_grad=True) for v in (logits, x, t))
    theirs = [
        torch.nn.CrossEntropyLoss(reduction=reduction)(tz, torch.tensor(labels)),
        torch.nn.MSELoss(reduction=reduction)(ta, tb),
    ]
    for mine, reference in zip(ours, theirs):
        np.testing.assert_allclose(mine.array, reference.detach().numpy(), rtol=1e-12)
        v = rng.normal(size=mine.shape)
        mine.backward(end_grad=v)
        reference.backward(torch.tensor(v))
    for mine, reference in [(z, tz), (a, ta), (b, tb)]:
        np.testing.assert_allclose(mine.grad.array, reference.grad.numpy(), rtol=1e-10, atol=1e-14)
    # the functional forms and their defaults are PyTorch's
    with keep_float64():
        assert np.isclose(F.cross_entropy(Tensor(logits), labels).item(),
                          torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(labels)).item())
        assert np.isclose(F.mse_loss(Tensor(x), Tensor(t)).item(),
                          torch.nn.functional.mse_loss(torch.tensor(x), torch.tensor(t)).item())


# --- minigrad.functional and minigrad.nn ---------------------------------------------------------


def test_functional_names():
    assert sorted(F.__all__) == F.__all__
    for name in F.__all__:
        assert callable(getattr(F, name)), name
    for name in ("relu", "tanh", "linear", "dropout", "log_softmax", "softmax", "mse_loss"):
        assert getattr(F, name) is getattr(minigrad, name)
    x = Tensor(np.array([[1.0, -2.0, 0.5]]))
    labels = np.array([1])
    assert np.isclose(F.cross_entropy(x, labels).item(), cross_entropy(x, labels, reduction="mean").item())
    assert F.cross_entropy(x, labels, reduction="none").shape == (1,)
    np.testing.assert_allclose(F.sigmoid(x).array, Sigmoid()(x).array)


def test_nn_namespace_holds_pytorchs_names():
    for name in ("Module", "Parameter", "Linear", "ReLU", "Tanh", "Sigmoid", "Dropout", "Sequential",
                 "CrossEntropyLoss", "MSELoss"):
        assert getattr(nn, name) is getattr(minigrad, name)


def test_functional_against_torch():
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    x = np.random.default_rng(6).normal(size=(3, 4)) * 3
    w, b = np.random.default_rng(7).normal(size=(2, 4)), np.random.default_rng(8).normal(size=2)
    with keep_float64():
        pairs = [
            (F.relu(Tensor(x)), TF.relu(torch.tensor(x))),
            (F.tanh(Tensor(x)), TF.tanh(torch.tensor(x))),
            (F.sigmoid(Tensor(x)), TF.sigmoid(torch.tensor(x))),
            (F.softmax(Tensor(x), dim=1), TF.softmax(torch.tensor(x), dim=1)),
            (F.log_softmax(Tensor(x), dim=0), TF.log_softmax(torch.tensor(x), dim=0)),
            (F.linear(Tensor(x), Tensor(w), Tensor(b)),
             TF.linear(torch.tensor(x), torch.tensor(w), torch.tensor(b))),
        ]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours.array, theirs.numpy(), rtol=1e-12, atol=1e-15)


# --- Dataset, TensorDataset, DataLoader on a dataset ----------------------------------------------


def test_tensor_dataset_items():
    x, y = np.arange(12.0).reshape(6, 2), np.array([0, 1, 0, 1, 1, 0])
    dataset = TensorDataset(Tensor(x), y)
    assert len(dataset) == 6 and isinstance(dataset, Dataset)
    xi, yi = dataset[4]
    assert isinstance(xi, Tensor) and np.array_equal(xi.array, [8.0, 9.0]) and yi.item() == 1
    assert dataset.tensors[0].dtype == np.float32 and dataset.tensors[1].dtype == np.int64
    assert len(TensorDataset(np.zeros((3, 2)))[0]) == 1  # one tensor: 1-tuples


def test_tensor_dataset_errors():
    with pytest.raises(ValueError, match="at least one tensor"):
        TensorDataset()
    with pytest.raises(ValueError, match=r"same number of examples \(first axis\), got shapes \[\(3, 2\), \(4,\)\]"):
        TensorDataset(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="argument 1 is a single value"):
        TensorDataset(np.zeros(3), 5.0)
    with pytest.raises(TypeError, match="TensorDataset: argument 0: Tensor.. needs numbers"):
        TensorDataset(np.array(["a", "b"]))


def test_loader_on_a_tensor_dataset():
    x = np.arange(14.0).reshape(7, 2)
    y = np.arange(7)
    loader = DataLoader(TensorDataset(Tensor(x), Tensor(y)), batch_size=3)
    assert isinstance(loader, DatasetLoader) and isinstance(loader, DataLoader) and len(loader) == 3
    batches = list(loader)
    assert all(isinstance(batch, tuple) and len(batch) == 2 for batch in batches)
    assert [len(xb) for xb, _ in batches] == [3, 3, 1]
    for i, (xb, yb) in enumerate(batches):
        assert np.array_equal(xb.array, x[3 * i : 3 * i + 3]) and np.array_equal(yb.array, y[3 * i : 3 * i + 3])
        assert xb.dtype == np.float32 and yb.dtype == np.int64 and not xb.requires_grad
    dropped = DataLoader(TensorDataset(x), batch_size=3, drop_last=True)
    assert len(dropped) == 2 and [len(b) for (b,) in dropped] == [3, 3]
    keyword = DataLoader(dataset=TensorDataset(x), batch_size=7)
    assert isinstance(keyword, DatasetLoader) and len(keyword) == 1
    assert len(DataLoader(TensorDataset(x))) == 7  # PyTorch's default batch_size=1


def test_loader_batches_equal_the_examples_stacked():
    class Twice(TensorDataset):  # not the fast path: examples one by one
        def __getitem__(self, index):
            return super().__getitem__(index)

    x = np.random.default_rng(0).normal(size=(5, 3))
    fast = list(DataLoader(TensorDataset(x, np.arange(5)), 2))
    slow = list(DataLoader(Twice(x, np.arange(5)), 2))
    for (a, b), (c, d) in zip(fast, slow):
        assert np.array_equal(a.array, c.array) and np.array_equal(b.array, d.array)
        assert a.dtype == c.dtype and b.dtype == d.dtype


def test_loader_shuffle_uses_the_package_generator_or_its_own_seed():
    ids = TensorDataset(np.arange(20))

    def epochs(loader, count=3):
        return [np.concatenate([b.array for (b,) in loader]) for _ in range(count)]

    manual_seed(3)
    first = epochs(DataLoader(ids, 6, shuffle=True))
    assert all(np.array_equal(np.sort(e), np.arange(20)) for e in first)
    assert len({e.tobytes() for e in first}) == 3
    manual_seed(3)
    assert np.array_equal(epochs(DataLoader(ids, 6, shuffle=True)), first)
    seeded = epochs(DataLoader(ids, 6, shuffle=True, seed=1))
    manual_seed(99)  # the package's generator does not matter then
    assert np.array_equal(epochs(DataLoader(ids, 6, shuffle=True, seed=1)), seeded)
    assert np.array_equal(epochs(DataLoader(ids, 6), 1)[0], np.arange(20))


def test_loader_collates_tuples_dicts_numbers_and_arrays():
    class Examples(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return {"image": np.full((2, 2), i, dtype=np.float64), "label": i % 2}, [float(i), Tensor([i, -i])]

    batches = list(DataLoader(Examples(), batch_size=2))
    fields, (numbers, pairs) = batches[0]
    assert isinstance(batches[0], tuple) and isinstance(fields, dict)
    assert fields["image"].shape == (2, 2, 2) and fields["image"].dtype == np.float32
    assert fields["label"].dtype == np.int64 and fields["label"].array.tolist() == [0, 1]
    assert numbers.array.tolist() == [0.0, 1.0] and pairs.array.tolist() == [[0, 0], [1, -1]]
    assert [len(b[1][0]) for b in batches] == [2, 2, 1]


def test_loader_errors():
    dataset = TensorDataset(np.zeros((4, 2)))
    for batch_size, error, message in [
        (0, ValueError, "batch_size must be a positive int, got 0"),
        (2.0, TypeError, "got float"),
        (True, TypeError, "got bool"),
        (None, TypeError, "got NoneType"),
    ]:
        with pytest.raises(error, match=message):
            DataLoader(dataset, batch_size)
    with pytest.raises(ValueError, match="only 4 examples gives no batch at all"):
        DataLoader(dataset, 5, drop_last=True)

    class Empty(Dataset):
        def __len__(self):
            return 0

        def __getitem__(self, i):
            raise IndexError(i)

    with pytest.raises(ValueError, match="holds no examples"):
        DataLoader(Empty(), 2)
    with pytest.raises(TypeError, match="dataset must be a Dataset"):
        DatasetLoader([(1, 2)], 1)

    class Strings(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return object()

    with pytest.raises(TypeError, match="cannot make a batch of object examples"):
        next(iter(DataLoader(Strings(), 2)))
    with pytest.raises(TypeError, match="Can't instantiate abstract class"):
        type("OnlyItems", (Dataset,), {"__getitem__": lambda self, i: i})()


def test_the_arrays_form_is_unchanged():
    x, y = np.arange(8.0).reshape(4, 2), np.arange(4)
    loader = DataLoader(x, y, 3, shuffle=True, seed=0)
    assert type(loader) is DataLoader and loader.x.dtype == np.float32 and len(loader) == 2
    again = DataLoader(x, y, 3, shuffle=True, seed=0)
    assert [b.array.tolist() for b, _ in loader] == [b.array.tolist() for b, _ in again]
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'batch_size'"):
        DataLoader(x, y)


def test_loader_against_torch():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader as TorchLoader
    from torch.utils.data import TensorDataset as TorchTensorDataset

    x = np.random.default_rng(9).normal(size=(10, 3)).astype(np.float32)
    y = np.arange(10) % 4
    for batch_size, drop_last in [(4, False), (4, True), (1, False), (10, False)]:
        theirs = TorchLoader(TorchTensorDataset(torch.tensor(x), torch.tensor(y)), batch_size=batch_size, drop_last=drop_last)
        ours = DataLoader(TensorDataset(x, y), batch_size=batch_size, drop_last=drop_last)
        assert len(ours) == len(theirs)
        for (xb, yb), (txb, tyb) in zip(ours, theirs, strict=True):
            assert np.array_equal(xb.array, txb.numpy()) and np.array_equal(yb.array, tyb.numpy())
            assert str(xb.dtype) == str(txb.dtype).removeprefix("torch.")
            assert str(yb.dtype) == str(tyb.dtype).removeprefix("torch.")


# --- save and load ------------------------------------------------------------------------------


def test_save_load_round_trip_of_a_state_dict(tmp_path):
    model = _model(0).eval()
    path = tmp_path / "weights.pt"
    save(model.state_dict(), path)
    assert path.exists() and not (tmp_path / "weights.pt.npz").exists()  # the name as given
    state = load(path)
    assert isinstance(state, OrderedDict) and list(state) == list(model.state_dict())
    for name, array in model.state_dict().items():
        assert state[name].dtype == array.dtype and np.array_equal(state[name], array)
    fresh = _model(1).eval()
    fresh.load_state_dict(state)
    x = Tensor(np.random.default_rng(0).normal(size=(3, 4)))
    assert np.array_equal(fresh(x).array, model(x).array)


def test_save_load_tensors_arrays_and_file_objects(tmp_path):
    with keep_float64():
        t64 = Tensor(np.linspace(-1, 1, 6).reshape(3, 2), requires_grad=True)
    t32 = Tensor(np.arange(4.0))
    ints = np.arange(6, dtype=np.int16).reshape(2, 3)
    for value in (t64, t32, ints, np.float64(2.5), np.zeros((0, 3)), np.array([True, False])):
        buffer = io.BytesIO()
        save(value, buffer)
        buffer.seek(0)
        back = load(buffer)
        assert type(back) is (Tensor if isinstance(value, Tensor) else np.ndarray)
        got = back.array if isinstance(back, Tensor) else back
        want = value.array if isinstance(value, Tensor) else np.asarray(value)
        assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want)
        if isinstance(value, Tensor):
            assert back.requires_grad == value.requires_grad and back.is_leaf
    mixed = {"w": t32, "b": ints, "empty": np.zeros(0)}
    save(mixed, tmp_path / "mixed")
    back = load(str(tmp_path / "mixed"))
    assert list(back) == ["w", "b", "empty"] and isinstance(back["w"], Tensor) and back["b"].dtype == np.int16
    save({}, tmp_path / "nothing")
    assert load(tmp_path / "nothing") == OrderedDict()


def test_save_refuses_objects(tmp_path):
    path = tmp_path / "f"
    with pytest.raises(TypeError, match="the object is a Sequential; .* save its state_dict"):
        save(_model(), path)
    with pytest.raises(TypeError, match="the value of 'layers' is a list"):
        save({"layers": [1, 2]}, path)
    with pytest.raises(TypeError, match="the value of 'nested' is a dict"):
        save({"nested": {"a": np.zeros(1)}}, path)
    with pytest.raises(TypeError, match="an array of dtype complex128"):
        save(np.zeros(2, dtype=complex), path)
    with pytest.raises(TypeError, match="an array of dtype <U1"):
        save({"names": np.array(["a"])}, path)
    with pytest.raises(TypeError, match="the names of a dict must be strings, got 0"):
        save({0: np.zeros(1)}, path)
    with pytest.raises(TypeError, match="is a str"):
        save("weights", path)


def test_load_refuses_what_save_did_not_write(tmp_path):
    np.savez(tmp_path / "plain.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="was not written by minigrad.save"):
        load(tmp_path / "plain.npz")
    np.save(tmp_path / "array.npy", np.zeros(2))
    with pytest.raises(ValueError, match="was not written by minigrad.save"):
        load(tmp_path / "array.npy")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="was not written by minigrad.save.*allow_pickle=False"):
        load(tmp_path / "objects.npy")
    (tmp_path / "text.txt").write_text("not numbers at all")
    with pytest.raises(ValueError, match="was not written by minigrad.save"):
        load(tmp_path / "text.txt")
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.npz")


def test_a_pickled_object_in_a_minigrad_file_is_never_unpickled(tmp_path):
    """A file made to look like ours, with an object array inside: load refuses it."""
    path = tmp_path / "evil.npz"
    np.savez(
        path,
        __minigrad_layout__=np.array("single"),
        __minigrad_names__=np.array([""]),
        __minigrad_kinds__=np.array(["array"]),
        **{"0": np.array([print], dtype=object)},
    )
    with pytest.raises(ValueError, match="is damaged: Object arrays cannot be loaded"):
        load(path)


def test_save_load_against_torch(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = _torch_model(torch).eval()
    save(theirs.state_dict(), tmp_path / "from_torch.npz")  # PyTorch's tensors are stored as arrays
    ours = _model(5).eval()
    ours.load_state_dict(load(tmp_path / "from_torch.npz"))
    x = np.random.default_rng(1).normal(size=(2, 4)).astype(np.float32)
    np.testing.assert_allclose(ours(Tensor(x)).array, theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    # and back: a state dict saved by minigrad loads into the PyTorch model
    save(ours.state_dict(), tmp_path / "ours.npz")
    fresh = _torch_model(torch)
    fresh.load_state_dict({k: torch.from_numpy(v) for k, v in load(tmp_path / "ours.npz").items()})
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in theirs.state_dict().items())


# --- a whole run in PyTorch's vocabulary ---------------------------------------------------------


def test_a_training_run_in_pytorchs_words():
    images, labels = minigrad.load_digits()
    x_train, x_test, y_train, y_test = minigrad.train_test_split(images, labels, seed=0)
    manual_seed(0)
    model = Sequential(Linear(64, 32), Tanh(), Dropout(0.1), Linear(32, 10))
    criterion = CrossEntropyLoss()
    optimizer = SGD(model.parameters(), lr=0.1)
    loader = DataLoader(TensorDataset(x_train.reshape(-1, 64), y_train), batch_size=32, shuffle=True)
    for _ in range(4):
        model.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
    model.eval()
    with minigrad.NoGrad():
        predicted = model(Tensor(x_test.reshape(-1, 64))).argmax(dim=1).array
    assert (predicted == y_test).mean() > 0.85


def test_pytorchs_spelling_of_functional_works_in_a_fresh_interpreter():
    """`import torch.nn.functional as F` is the first line of most PyTorch code; with minigrad in
    its place it must work straight after start-up, not only once something imported
    minigrad.functional (as this file does at its top)."""
    import subprocess
    import sys

    code = (
        "import minigrad.nn.functional as F\n"
        "from minigrad.nn import functional\n"
        "import minigrad, minigrad.nn as nn\n"
        "assert F is functional is nn.functional is minigrad.functional\n"
        "x = minigrad.tensor([[1.0, -2.0]], requires_grad=True)\n"
        "nn.functional.cross_entropy(x, [0]).backward()\n"
        "print(F.relu(x).tolist(), x.grad.shape)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "[[1.0, 0.0]] (1, 2)"
