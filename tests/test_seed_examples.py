"""The calls and expected values of the exercise day the engine follows (seed 001), in our own
code: integer data with requires_grad=True, the four-field Recipe, recording switched off, the
graph of a, b, c, the reflected product, a Parameter sharing a tensor's data, ties in maximum."""

import numpy as np

import minigrad as mg
from minigrad import BACK_FUNCS, NoGrad, Parameter, Recipe, Tensor
from minigrad.graph import sorted_computational_graph


def test_nothing_is_recorded_while_recording_is_off():
    a = Tensor([1], requires_grad=True)  # integer data: a float tensor
    with NoGrad():
        b = a.log()
        c = mg.multiply(a, Tensor([3], requires_grad=True))
    for result in (b, c):
        assert not result.requires_grad and result.recipe is None


def test_the_graph_of_a_b_c_its_order_and_its_gradients():
    a = Tensor([1], requires_grad=True)
    b = Tensor([2], requires_grad=True)
    c = Tensor([3], requires_grad=True)
    d = a * b
    e = c.log()
    f = d * e
    g = f.log()
    names = {a: "a", b: "b", c: "c", d: "d", e: "e", f: "f", g: "g"}
    order = [names[t] for t in sorted_computational_graph(g)]
    assert order[0] == "g" and set(order) == set("abcdefg")
    assert order.index("f") < order.index("d") < order.index("a")
    assert order.index("e") < order.index("c")
    g.backward()
    np.testing.assert_allclose(a.grad.array, [1.0])  # d/da log(a b log c) = 1/a
    np.testing.assert_allclose(b.grad.array, [0.5])
    np.testing.assert_allclose(c.grad.array, [1 / (3 * np.log(3))], rtol=1e-6)


def test_integer_tensors_that_require_grad_and_the_reflected_product():
    a = Tensor([0, 1, 2, 3], requires_grad=True)
    (a * 2).sum().backward()
    b = Tensor([0, 1, 2, 3], requires_grad=True)
    (2 * b).sum().backward()
    assert a.grad is not None and b.grad is not None
    np.testing.assert_array_equal(a.grad.array, b.grad.array)
    np.testing.assert_array_equal(a.grad.array, [2, 2, 2, 2])


def test_the_four_field_recipe_drives_backprop():
    a = Tensor([2.0, 4.0], requires_grad=True)
    out = Tensor(np.log(a.array))
    out.requires_grad = True
    out.recipe = Recipe(np.log, (a.array,), {}, {0: a})  # func, args, kwargs, parents
    out.backward(end_grad=np.ones(2))
    np.testing.assert_allclose(a.grad.array, [0.5, 0.25])
    assert BACK_FUNCS.get_back_func(np.log, 0) is not None


def test_a_parameter_shares_its_tensors_data():
    with mg.keep_float64():  # the seed's repr is of float64 data
        x = Tensor([1.0, 2.0, 3.0])
        p = Parameter(x)
        assert repr(p) == "Parameter containing:\nTensor(array([1., 2., 3.]), requires_grad=True)"
    assert p.requires_grad and p.array is x.array
    with NoGrad():
        x.add_(Tensor(np.array(2.0)))
    np.testing.assert_allclose(p.array, [3.0, 4.0, 5.0])


def test_ties_in_maximum_split_evenly_and_expand_keeps_a_minus_one():
    a = Tensor([0.0, 1.0, 2.0], requires_grad=True)
    b = Tensor([0.0, 2.0, 1.0], requires_grad=True)
    mg.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.array, [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(b.grad.array, [0.5, 1.0, 0.0])
    x = Tensor(np.ones((3, 1)), requires_grad=True)
    y = x.expand(2, -1, 4)
    assert y.shape == (2, 3, 4)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.array, np.full((3, 1), 8.0))
