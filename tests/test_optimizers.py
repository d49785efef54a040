"""The optimisers of chapter 19: SGD, Adam, AdamW, parameter groups, StepLR.

Every optimiser is checked against updates computed by hand: a few steps written out as numbers,
and longer runs against the chapter's equations written again in NumPy (asymmetric values,
gradients that depend on the weights, so that one wrong step changes every later one). When
PyTorch is installed, the same runs are compared with torch.optim in float64 (same initial
weights, same gradients, several steps); those tests are skipped without it.
"""

from __future__ import annotations

import numpy as np
import pytest

import minigrad
from minigrad import (
    MLP,
    SGD,
    Adam,
    AdamW,
    LRScheduler,
    Optimizer,
    Parameter,
    StepLR,
    Tensor,
    cross_entropy,
    keep_float64,
    manual_seed,
)

# Shapes and values that differ from one parameter to the next; the third is used frozen.
STARTS = [
    [[1.0, -2.0, 0.5], [3.0, -0.25, 1.5]],
    [0.7, -1.2],
    [[0.3], [-0.9], [2.2]],
]
STEPS = 6


def gradients(step: int, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Gradients for step `step` (0-based) that depend on the weights and differ per parameter."""
    return [np.cos(a) * (step + 1) + 0.1 * (i + 1) - 0.05 * a**2 for i, a in enumerate(arrays)]


def float64_params(starts=STARTS) -> list[Parameter]:
    with keep_float64():
        return [Parameter(Tensor(np.array(s, dtype=np.float64))) for s in starts]


def set_grads(params, grads) -> None:
    with keep_float64():
        for p, g in zip(params, grads):
            p.grad = None if g is None else Tensor(np.array(g))


def run_minigrad(make, steps=STEPS, starts=STARTS, skip=()):
    """Weights after `steps` steps; parameter i gets no gradient at the steps in skip[i]."""
    params = float64_params(starts)
    optimizer = make(params)
    for step in range(steps):
        grads = gradients(step, [p.array for p in params])
        set_grads(params, [None if (i, step) in skip else g for i, g in enumerate(grads)])
        optimizer.step()
    return [p.array.copy() for p in params], optimizer


# --- the equations, in NumPy --------------------------------------------------------------------


def sgd_by_hand(lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                steps=STEPS, starts=STARTS, lrs=None):
    ws = [np.array(s, dtype=np.float64) for s in starts]
    lrs = lrs or [lr] * len(ws)
    buffers = [None] * len(ws)
    for step in range(steps):
        for i, g in enumerate(gradients(step, ws)):
            d = g + weight_decay * ws[i]
            if momentum:
                if buffers[i] is None:
                    buffers[i] = d.copy()
                else:
                    buffers[i] = momentum * buffers[i] + (1 - dampening) * d
                d = d + momentum * buffers[i] if nesterov else buffers[i]
            ws[i] = ws[i] - lrs[i] * d
    return ws


def adam_by_hand(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False,
                 steps=STEPS, starts=STARTS):
    beta1, beta2 = betas
    ws = [np.array(s, dtype=np.float64) for s in starts]
    ms = [np.zeros_like(w) for w in ws]
    vs = [np.zeros_like(w) for w in ws]
    for t in range(1, steps + 1):
        for i, g in enumerate(gradients(t - 1, ws)):
            if decoupled:
                ws[i] = ws[i] * (1 - lr * weight_decay)
            else:
                g = g + weight_decay * ws[i]
            ms[i] = beta1 * ms[i] + (1 - beta1) * g
            vs[i] = beta2 * vs[i] + (1 - beta2) * g * g
            m_hat = ms[i] / (1 - beta1**t)
            v_hat = vs[i] / (1 - beta2**t)
            ws[i] = ws[i] - lr * m_hat / (np.sqrt(v_hat) + eps)
    return ws


def assert_all_close(got, want, rtol=1e-12, atol=1e-14):
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


# --- SGD ------------------------------------------------------------------------------------------


def test_sgd_momentum_two_steps_written_out():
    """lr 0.1, momentum 0.9, dampening 0.5, weight decay 0.1; gradients chosen per step.

    step 1: d = [0.5, 2.0] + 0.1 * [1, -2] = [0.6, 1.8]; buffer = d (not dampened);
            theta = [1, -2] - 0.1 * [0.6, 1.8] = [0.94, -2.18]
    step 2: d = [-1.0, 0.25] + 0.1 * [0.94, -2.18] = [-0.906, 0.032];
            buffer = 0.9 * [0.6, 1.8] + 0.5 * [-0.906, 0.032] = [0.087, 1.636];
            theta = [0.94, -2.18] - 0.1 * [0.087, 1.636] = [0.9313, -2.3436]
    """
    theta = float64_params([[1.0, -2.0]])[0]
    optimizer = SGD([theta], lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.1)
    set_grads([theta], [[0.5, 2.0]])
    optimizer.step()
    np.testing.assert_allclose(theta.array, [0.94, -2.18], rtol=1e-14)
    set_grads([theta], [[-1.0, 0.25]])
    optimizer.step()
    np.testing.assert_allclose(theta.array, [0.9313, -2.3436], rtol=1e-14)
    np.testing.assert_allclose(optimizer.state[theta]["momentum_buffer"], [0.087, 1.636], rtol=1e-14)


def test_nesterov_one_step_written_out():
    """First step: buffer = g, the step uses g + momentum * buffer = 1.9 g."""
    theta = float64_params([[1.0, -2.0]])[0]
    optimizer = SGD([theta], lr=0.1, momentum=0.9, nesterov=True)
    set_grads([theta], [[0.5, -3.0]])
    optimizer.step()
    np.testing.assert_allclose(theta.array, [1.0 - 0.1 * 1.9 * 0.5, -2.0 + 0.1 * 1.9 * 3.0])


SGD_SETTINGS = [
    dict(lr=0.1),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.02),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.02, momentum=0.7, nesterov=True, weight_decay=0.1),
]


@pytest.mark.parametrize("settings", SGD_SETTINGS, ids=str)
def test_sgd_against_the_equations(settings):
    got, _ = run_minigrad(lambda params: SGD(params, **settings))
    assert_all_close(got, sgd_by_hand(**settings))


def test_sgd_float32_keeps_its_dtype_and_counts_one_version_per_step():
    params = [Parameter(Tensor(np.array(s, dtype=np.float32))) for s in STARTS]
    optimizer = SGD(params, lr=0.05, momentum=0.9, weight_decay=0.01)
    for step in range(STEPS):
        for p, g in zip(params, gradients(step, [p.array for p in params])):
            p.grad = Tensor(g.astype(np.float32))
        optimizer.step()
    assert all(p.dtype == np.float32 for p in params)
    assert all(optimizer.state[p]["momentum_buffer"].dtype == np.float32 for p in params)
    assert [p.version for p in params] == [STEPS] * 3
    assert_all_close([p.array for p in params],
                     sgd_by_hand(lr=0.05, momentum=0.9, weight_decay=0.01), rtol=1e-5, atol=1e-6)


def test_sgd_keeps_chapter_15s_interface():
    theta = Parameter(Tensor([4.0, -2.0]))
    optimizer = SGD([theta], 0.25)  # the learning rate as the second argument
    assert optimizer.lr == 0.25 and optimizer.params[0] is theta
    optimizer.lr = 0.5
    assert optimizer.param_groups[0]["lr"] == 0.5
    assert SGD([theta]).lr == 1e-3  # PyTorch's default
    two = SGD([{"params": [theta], "lr": 0.1}, {"params": [Parameter(Tensor([1.0]))]}], lr=0.2)
    with pytest.raises(ValueError, match="different learning rates"):
        two.lr
    with pytest.raises(ValueError, match="lr must be >= 0"):
        optimizer.lr = -1.0
    assert optimizer.lr == 0.5


# --- Adam and AdamW -------------------------------------------------------------------------------


def test_adam_two_steps_written_out():
    """lr 0.1. Step 1: m_hat = g, v_hat = g^2, so each coordinate moves by 0.1 against the sign
    of its gradient: [1, -2] -> [0.9, -1.9]. Step 2, g = [0.5, 1.0]:
    m = 0.9 * 0.1 * [0.5, -4] + 0.1 * [0.5, 1] = [0.095, -0.26], m_hat = m / 0.19 = [0.5, -1.368421]
    v = 0.999 * 0.001 * [0.25, 16] + 0.001 * [0.25, 1] = [0.00049975, 0.016984],
    v_hat = v / 0.001999 = [0.25, 8.496248]; step = 0.1 * m_hat / sqrt(v_hat) = [0.1, -0.046947]
    """
    theta = float64_params([[1.0, -2.0]])[0]
    optimizer = Adam([theta], lr=0.1)
    set_grads([theta], [[0.5, -4.0]])
    optimizer.step()
    np.testing.assert_allclose(theta.array, [0.9, -1.9], rtol=1e-7)
    set_grads([theta], [[0.5, 1.0]])
    optimizer.step()
    np.testing.assert_allclose(theta.array, [0.8, -1.853053], rtol=1e-6)
    state = optimizer.state[theta]
    assert state["step"] == 2
    np.testing.assert_allclose(state["exp_avg"], [0.095, -0.26], rtol=1e-12)
    np.testing.assert_allclose(state["exp_avg_sq"], [0.00049975, 0.016984], rtol=1e-12)


ADAM_SETTINGS = [
    dict(),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.02, betas=(0.8, 0.99), eps=1e-3),
    dict(lr=0.05, betas=(0.0, 0.5), weight_decay=0.01),
]


@pytest.mark.parametrize("settings", ADAM_SETTINGS, ids=str)
def test_adam_against_the_equations(settings):
    got, _ = run_minigrad(lambda params: Adam(params, **settings))
    assert_all_close(got, adam_by_hand(**settings))


@pytest.mark.parametrize("settings", [dict(), dict(lr=0.01, weight_decay=0.3)], ids=str)
def test_adamw_against_the_equations(settings):
    got, _ = run_minigrad(lambda params: AdamW(params, **settings))
    want = adam_by_hand(decoupled=True, **{"weight_decay": 1e-2, **settings})
    assert_all_close(got, want)


def test_adam_and_adamw_defaults_are_pytorchs():
    params = float64_params()
    adam, adamw = Adam(params).param_groups[0], AdamW(params).param_groups[0]
    for group in (adam, adamw):
        assert group["lr"] == 1e-3 and group["betas"] == (0.9, 0.999) and group["eps"] == 1e-8
    assert adam["weight_decay"] == 0 and not adam["decoupled_weight_decay"]
    assert adamw["weight_decay"] == 1e-2 and adamw["decoupled_weight_decay"]


def test_adam_float32_state_and_one_version_per_step():
    theta = Parameter(Tensor(np.array([[1.0, -2.0], [0.5, 3.0]], dtype=np.float32)))
    for make in (Adam, AdamW):
        optimizer = make([theta], lr=0.01)
        before = theta.version
        for _ in range(3):
            theta.grad = Tensor(np.cos(theta.array))
            optimizer.step()
        state = optimizer.state[theta]
        assert theta.dtype == state["exp_avg"].dtype == state["exp_avg_sq"].dtype == np.float32
        assert theta.version == before + 3 and state["step"] == 3


def test_adam_counts_steps_per_parameter():
    """A parameter without a gradient at some steps has its own, smaller step count."""
    skip = {(1, 0), (1, 3), (2, 2)}
    _, optimizer = run_minigrad(lambda params: Adam(params, lr=0.01), skip=skip)
    counts = [optimizer.state[p]["step"] for p in optimizer.params]
    assert counts == [STEPS, STEPS - 2, STEPS - 1]


# --- parameter groups, frozen parameters, zero_grad ----------------------------------------------


def test_groups_take_their_own_settings_and_the_defaults():
    params = float64_params()
    optimizer = SGD(
        [{"params": params[:1], "lr": 0.01}, {"params": params[1:], "momentum": 0.5}],
        lr=0.1, momentum=0.9,
    )
    first, second = optimizer.param_groups
    assert (first["lr"], first["momentum"]) == (0.01, 0.9)
    assert (second["lr"], second["momentum"]) == (0.1, 0.5)
    assert second["nesterov"] is False
    assert all(a is b for a, b in zip(second["params"], params[1:]))


def test_groups_with_different_learning_rates_against_the_equations():
    lrs = [0.01, 0.2, 0.2]
    got, _ = run_minigrad(
        lambda params: SGD([{"params": params[:1], "lr": 0.01}, {"params": params[1:]}], lr=0.2)
    )
    assert_all_close(got, sgd_by_hand(lr=None, lrs=lrs))
    # and each group really moved by its own rate: not the same as one rate for all
    assert not np.allclose(got[0], sgd_by_hand(lr=0.2)[0])


def test_a_group_added_later_is_updated_from_then_on():
    first, later = float64_params([[1.0, 2.0], [5.0]])
    optimizer = SGD([first], lr=0.1)
    optimizer.add_param_group({"params": later, "lr": 0.5})
    set_grads([first, later], [[1.0, 1.0], [2.0]])
    optimizer.step()
    np.testing.assert_allclose(first.array, [0.9, 1.9])
    np.testing.assert_allclose(later.array, [4.0])
    assert optimizer.param_groups[1]["momentum"] == 0.0  # from the defaults


def test_equal_values_are_not_duplicates_but_the_same_tensor_is():
    a, b = Parameter(Tensor([1.0, 2.0])), Parameter(Tensor([1.0, 2.0]))
    SGD([a, b], lr=0.1)  # compared by identity, not with == (elementwise)
    with pytest.raises(ValueError, match="listed twice"):
        SGD([a, b, a], lr=0.1)
    with pytest.raises(ValueError, match="listed twice"):
        SGD([{"params": [a]}, {"params": [b, a]}], lr=0.1)


@pytest.mark.parametrize("make", [
    lambda params: SGD(params, lr=0.1, momentum=0.9, weight_decay=0.1),
    lambda params: Adam(params, lr=0.01, weight_decay=0.1),
    lambda params: AdamW(params, lr=0.01),
], ids=["SGD", "Adam", "AdamW"])
def test_frozen_parameters_are_accepted_and_skipped(make):
    """An MLP with its first layer frozen (requires_grad=False): trained for a few steps, the
    frozen layer keeps its weights, its version and has no state; the others move."""
    manual_seed(0)
    model = MLP(in_features=6, hidden_features=5, out_features=3)
    model.linear1.weight.requires_grad = False
    model.linear1.bias.requires_grad = False
    frozen = [model.linear1.weight, model.linear1.bias]
    frozen_before = [p.array.copy() for p in frozen]
    others = [p for p in model.parameters() if p.requires_grad]
    others_before = [p.array.copy() for p in others]
    optimizer = make(model.parameters())
    rng = np.random.default_rng(0)
    for _ in range(3):
        optimizer.zero_grad()
        x = Tensor(rng.normal(size=(4, 6)).astype(np.float32))
        y = Tensor(np.array([0, 2, 1, 2]))
        cross_entropy(model(x), y, reduction="mean").backward()
        optimizer.step()
    for p, before in zip(frozen, frozen_before):
        assert p.grad is None and p.version == 0 and p not in optimizer.state
        np.testing.assert_array_equal(p.array, before)
    for p, before in zip(others, others_before):
        assert p.version == 3 and not np.allclose(p.array, before)


def test_a_parameter_the_loss_does_not_reach_keeps_its_value():
    used, unused = float64_params([[1.0, -1.0], [3.0]])
    optimizer = Adam([used, unused], lr=0.1)
    (used * used).sum().backward()
    optimizer.step()
    assert unused.grad is None and unused.array[0] == 3.0 and unused.version == 0
    assert used.version == 1


def test_zero_grad_sets_to_none_by_default():
    params = float64_params()
    optimizer = SGD(params, lr=0.1)
    set_grads(params, gradients(0, [p.array for p in params]))
    optimizer.zero_grad()
    assert all(p.grad is None for p in params)
    optimizer.zero_grad()  # nothing to clear: fine


def test_zero_grad_without_none_zeroes_in_place_and_backward_adds_into_it():
    theta = float64_params([[1.0, -2.0]])[0]
    optimizer = SGD([theta], lr=0.1)
    (theta * theta).sum().backward()
    grad = theta.grad
    array = grad.array
    optimizer.zero_grad(set_to_none=False)
    assert theta.grad is grad and grad.array is array and np.all(array == 0)
    (theta * 3.0).sum().backward()
    assert theta.grad.array is array
    np.testing.assert_array_equal(array, [3.0, 3.0])


def test_zero_gradients_still_step_but_none_does_not():
    """A zero gradient is a gradient: weight decay and momentum still act (as in PyTorch)."""
    theta = float64_params([[2.0, -4.0]])[0]
    optimizer = SGD([theta], lr=0.1, weight_decay=0.5)
    set_grads([theta], [[0.0, 0.0]])
    optimizer.step()
    np.testing.assert_allclose(theta.array, [2.0 * 0.95, -4.0 * 0.95])
    optimizer.zero_grad()
    optimizer.step()
    np.testing.assert_allclose(theta.array, [2.0 * 0.95, -4.0 * 0.95])


def test_steps_change_versions_so_an_old_graph_refuses_backward():
    theta = Parameter(Tensor([1.0, -2.0]))
    optimizer = Adam([theta], lr=0.1)
    first, second = (theta * theta).sum(), (theta * 3.0 * theta).sum()
    first.backward()
    optimizer.step()
    with pytest.raises(RuntimeError, match="modified in place"):
        second.backward()  # its graph saw theta before the step
    optimizer.zero_grad()
    (theta * theta).sum().backward()  # recorded after the step: fine
    assert theta.version == 1 and theta.grad is not None
    assert minigrad.is_grad_enabled()


# --- errors -----------------------------------------------------------------------------------


def test_bad_parameters_are_refused():
    theta = Parameter(Tensor([1.0]))
    with pytest.raises(TypeError, match="got a Parameter"):
        SGD(theta, lr=0.1)
    with pytest.raises(TypeError, match="got a set"):
        SGD({theta}, lr=0.1)
    with pytest.raises(ValueError, match="empty list"):
        Adam([])
    with pytest.raises(TypeError, match="no fixed order"):
        SGD([{"params": {theta}}], lr=0.1)
    with pytest.raises(TypeError, match="is a ndarray, not a Tensor"):
        SGD([np.ones(3)], lr=0.1)
    with pytest.raises(ValueError, match="not a leaf"):
        SGD([theta * 2.0], lr=0.1)
    with pytest.raises(TypeError, match="'params' key"):
        SGD([{"lr": 0.1}], lr=0.1)


@pytest.mark.parametrize("make, message", [
    (lambda p: SGD(p, lr=-0.1), "lr must be >= 0"),
    (lambda p: SGD(p, lr=0.1, momentum=-0.5), "momentum must be >= 0"),
    (lambda p: SGD(p, lr=0.1, weight_decay=-1e-4), "weight_decay must be >= 0"),
    (lambda p: SGD(p, lr=0.1, nesterov=True), "Nesterov"),
    (lambda p: SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"),
    (lambda p: SGD([{"params": p, "lr": -1.0}], lr=0.1), "lr must be >= 0"),
    (lambda p: Adam(p, lr=-1e-3), "lr must be >= 0"),
    (lambda p: Adam(p, betas=(1.0, 0.999)), r"betas\[0\]"),
    (lambda p: AdamW(p, betas=(0.9, -0.1)), r"AdamW: betas\[1\]"),
    (lambda p: Adam(p, eps=-1e-8), "eps must be >= 0"),
    (lambda p: AdamW(p, weight_decay=-0.01), "weight_decay must be >= 0"),
])
def test_bad_settings_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make([Parameter(Tensor([1.0]))])


def test_lr_zero_is_allowed_as_in_pytorch():
    theta = Parameter(Tensor([1.0]))
    optimizer = SGD([theta], lr=0.0)
    theta.grad = Tensor([1.0])
    optimizer.step()
    assert theta.array[0] == 1.0


def test_the_base_class_needs_a_step():
    optimizer = Optimizer([Parameter(Tensor([1.0]))], defaults={"lr": 0.1})
    with pytest.raises(NotImplementedError, match="must define step"):
        optimizer.step()


# --- StepLR -----------------------------------------------------------------------------------


def test_steplr_by_hand():
    optimizer = SGD(float64_params(), lr=0.1)
    scheduler = StepLR(optimizer, step_size=3, gamma=0.5)
    seen = []
    for _ in range(8):
        seen.append(scheduler.get_last_lr())
        scheduler.step()
    assert seen == [[0.1]] * 3 + [[0.05]] * 3 + [[0.025]] * 2
    assert optimizer.param_groups[0]["lr"] == 0.025  # epoch 8
    assert optimizer.param_groups[0]["initial_lr"] == 0.1
    assert scheduler.last_epoch == 8 and scheduler.base_lrs == [0.1]


def test_steplr_defaults_and_groups():
    params = float64_params()
    optimizer = Adam([{"params": params[:1], "lr": 0.02}, {"params": params[1:]}], lr=0.4)
    scheduler = StepLR(optimizer, step_size=2)  # gamma 0.1
    for _ in range(4):
        scheduler.step()
    np.testing.assert_allclose(scheduler.get_last_lr(), [0.02 * 0.01, 0.4 * 0.01])
    np.testing.assert_allclose([g["lr"] for g in optimizer.param_groups], [0.0002, 0.004])
    last = scheduler.get_last_lr()
    last[0] = 99.0  # a copy
    assert scheduler.get_last_lr()[0] != 99.0


def test_steplr_changes_the_steps_of_the_optimizer():
    theta = float64_params([[0.0]])[0]
    optimizer = SGD([theta], lr=1.0)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.5)
    for _ in range(4):
        set_grads([theta], [[-1.0]])
        optimizer.step()
        scheduler.step()
    np.testing.assert_allclose(theta.array, [1.0 + 0.5 + 0.25 + 0.125])


def test_steplr_multiplies_the_current_rate_like_pytorch():
    """It scales what the group holds, so a change made from outside is kept (chainable)."""
    optimizer = SGD(float64_params(), lr=0.1)
    scheduler = StepLR(optimizer, step_size=2, gamma=0.5)
    scheduler.step()
    optimizer.param_groups[0]["lr"] = 1.0  # e.g. a warm restart by hand
    scheduler.step()  # epoch 2: 1.0 * 0.5, not 0.1 * 0.5
    assert scheduler.get_last_lr() == [0.5] and optimizer.lr == 0.5


def test_steplr_checks_its_arguments():
    optimizer = SGD(float64_params(), lr=0.1)
    with pytest.raises(ValueError, match="step_size must be >= 1"):
        StepLR(optimizer, step_size=0)
    with pytest.raises(TypeError, match="step_size must be an int"):
        StepLR(optimizer, step_size=2.5)
    with pytest.raises(TypeError, match="needs an Optimizer"):
        StepLR([0.1], step_size=2)


def test_a_schedule_of_ones_own():
    class Halving(LRScheduler):
        def get_lr(self):
            return [base * 0.5**self.last_epoch for base in self.base_lrs]

    optimizer = SGD(float64_params(), lr=0.8)
    scheduler = Halving(optimizer)
    scheduler.step()
    scheduler.step()
    assert scheduler.get_last_lr() == [0.2] and optimizer.lr == 0.2


# --- against PyTorch (skipped without it) -----------------------------------------------------

GROUPED = "two groups, the second with its own lr"


def run_torch(torch, make, steps=STEPS, starts=STARTS, skip=(), frozen=()):
    params = [torch.tensor(np.array(s, dtype=np.float64), requires_grad=i not in frozen)
              for i, s in enumerate(starts)]
    optimizer = make(params)
    for step in range(steps):
        grads = gradients(step, [p.detach().numpy() for p in params])
        for i, (p, g) in enumerate(zip(params, grads)):
            p.grad = None if (i, step) in skip or i in frozen else torch.tensor(g)
        optimizer.step()
    return [p.detach().numpy().copy() for p in params], optimizer


def run_ours(make, steps=STEPS, starts=STARTS, skip=(), frozen=()):
    params = float64_params(starts)
    for i in frozen:
        params[i].requires_grad = False
    optimizer = make(params)
    for step in range(steps):
        grads = gradients(step, [p.array for p in params])
        set_grads(params, [None if (i, step) in skip or i in frozen else g
                           for i, g in enumerate(grads)])
        optimizer.step()
    return [p.array.copy() for p in params], optimizer


def both(name, settings, group_lr=None):
    """make functions for minigrad and torch.optim; with group_lr, two parameter groups."""
    import torch

    def maker(library):
        cls = getattr(library, name)
        if group_lr is None:
            return lambda params: cls(params, **settings)
        return lambda params: cls(
            [{"params": params[:1]}, {"params": params[1:], "lr": group_lr}], **settings
        )

    return maker(minigrad), maker(torch.optim)


TORCH_CASES = [
    ("SGD", dict(lr=0.1), None),
    ("SGD", dict(lr=0.05, weight_decay=0.1), None),
    ("SGD", dict(lr=0.05, momentum=0.9), None),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.02), 0.01),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True), None),
    ("SGD", dict(lr=0.02, momentum=0.7, nesterov=True, weight_decay=0.1), 0.2),
    ("Adam", dict(), None),
    ("Adam", dict(lr=0.01, weight_decay=0.1), 0.05),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-3), None),
    ("AdamW", dict(), None),
    ("AdamW", dict(lr=0.01, weight_decay=0.3, betas=(0.85, 0.95)), 0.002),
]


@pytest.mark.parametrize("name, settings, group_lr", TORCH_CASES, ids=str)
def test_same_steps_as_torch_optim(name, settings, group_lr):
    torch = pytest.importorskip("torch")
    ours_make, torch_make = both(name, settings, group_lr)
    skip = {(1, 1), (1, 2), (2, 4)}  # some steps without a gradient (per-parameter state)
    ours, _ = run_ours(ours_make, steps=8, skip=skip)
    theirs, _ = run_torch(torch, torch_make, steps=8, skip=skip)
    assert_all_close(ours, theirs, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name, settings", [
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    ("Adam", dict(lr=0.01, weight_decay=0.01)),
    ("AdamW", dict(lr=0.01)),
], ids=["SGD", "Adam", "AdamW"])
def test_frozen_parameter_like_torch_optim(name, settings):
    torch = pytest.importorskip("torch")
    ours_make, torch_make = both(name, settings)
    ours, ours_optimizer = run_ours(ours_make, frozen=(1,))
    theirs, torch_optimizer = run_torch(torch, torch_make, frozen=(1,))
    assert_all_close(ours, theirs, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(ours[1], np.array(STARTS[1]))
    assert len(ours_optimizer.state) == len(torch_optimizer.state) == 2


def test_zero_grad_like_torch_optim():
    """set_to_none (the default) leaves None; set_to_none=False leaves zeros, after which a step
    with momentum and weight decay still moves the weights, in both libraries."""
    torch = pytest.importorskip("torch")
    ours_make, torch_make = both("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.1))
    ours_params, torch_params = float64_params(), [
        torch.tensor(np.array(s, dtype=np.float64), requires_grad=True) for s in STARTS
    ]
    ours, theirs = ours_make(ours_params), torch_make(torch_params)
    for step in range(3):
        grads = gradients(step, [p.array for p in ours_params])
        set_grads(ours_params, grads)
        for p, g in zip(torch_params, grads):
            p.grad = torch.tensor(g)
        ours.step()
        theirs.step()
        ours.zero_grad(set_to_none=False)
        theirs.zero_grad(set_to_none=False)
        assert all(np.all(p.grad.array == 0) for p in ours_params)
        assert all(torch.all(p.grad == 0) for p in torch_params)
    ours.step()  # zero gradients: momentum and decay only
    theirs.step()
    assert_all_close([p.array for p in ours_params], [p.detach().numpy() for p in torch_params])
    ours.zero_grad()
    theirs.zero_grad()
    assert all(p.grad is None for p in ours_params) and all(p.grad is None for p in torch_params)


def test_steplr_like_torch():
    torch = pytest.importorskip("torch")
    ours_make, torch_make = both("SGD", dict(lr=0.3, momentum=0.5), group_lr=0.02)
    ours = ours_make(float64_params())
    theirs = torch_make([torch.zeros(2, requires_grad=True) for _ in STARTS])
    ours_scheduler = StepLR(ours, step_size=3, gamma=0.3)
    torch_scheduler = torch.optim.lr_scheduler.StepLR(theirs, step_size=3, gamma=0.3)
    for epoch in range(11):
        if epoch == 4:  # a change from outside, which both keep
            ours.param_groups[1]["lr"] = theirs.param_groups[1]["lr"] = 0.7
        np.testing.assert_allclose(ours_scheduler.get_last_lr(), torch_scheduler.get_last_lr(),
                                   rtol=1e-15)
        theirs.step()  # PyTorch warns when the scheduler steps before the optimiser
        ours_scheduler.step()
        torch_scheduler.step()
    np.testing.assert_allclose([g["lr"] for g in ours.param_groups],
                               [g["lr"] for g in theirs.param_groups], rtol=1e-15)
    assert [g["initial_lr"] for g in ours.param_groups] == [g["initial_lr"] for g in theirs.param_groups]
