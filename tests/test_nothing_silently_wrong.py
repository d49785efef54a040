"""What a PyTorch user trusts, and what once went silently wrong: each test failed before its fix."""

import numpy as np

import minigrad as mg
from minigrad import Linear, Module, Tensor


class TiedAutoencoder(Module):
    """The decoder reuses the encoder's weight (transposed in use): one tensor, two names."""

    def __init__(self):
        super().__init__()
        self.enc = Linear(4, 4, bias=False)
        self.dec = Linear(4, 4, bias=False)
        self.dec.weight = self.enc.weight

    def forward(self, x):
        return self.dec(self.enc(x))


def test_tied_weights_are_listed_and_stepped_once():
    mg.manual_seed(0)
    model = TiedAutoencoder()
    assert [name for name, _ in model.named_parameters()] == ["enc.weight"]
    weight = model.enc.weight
    before = weight.array.copy()
    x = Tensor(np.random.default_rng(0).normal(size=(3, 4)))
    (model(x) * model(x)).sum().backward()
    grad = weight.grad.array.copy()
    optimizer = mg.SGD(model.parameters(), lr=0.1)
    optimizer.step()
    np.testing.assert_allclose(weight.array, before - 0.1 * grad, rtol=1e-6)


def test_a_submodule_under_two_names_gives_its_parameters_once():
    mg.manual_seed(0)
    shared = Linear(2, 2)

    class Twice(Module):
        def __init__(self):
            super().__init__()
            self.first = shared
            self.second = shared

    model = Twice()
    assert len(list(model.parameters())) == 2
    assert [name for name, _ in model.named_parameters()] == ["first.weight", "first.bias"]
    assert list(model.modules()) == [model, shared]
    assert list(model.children()) == [shared]
