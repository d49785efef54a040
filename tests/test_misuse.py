"""Every misuse gets a clear error: the exception type a Python user expects, and a message that
says what went wrong (names the operation, the shapes or values) and what to do.

Each test asserts both the type and, with `match`, the important words of the message.
"""

import threading

import numpy as np
import pytest

import minigrad as mg
from minigrad import BACK_FUNCS, NoGrad, Parameter, Recipe, Tensor


def _leaf(*values, dtype=np.float32):
    return Tensor(np.array(values, dtype=dtype), requires_grad=True)


# --- backward() and end_grad ------------------------------------------------------------------------


def test_backward_on_a_non_scalar_without_end_grad():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=r"one-element tensor, this one has shape \(2, 3\).*end_grad"):
        (x * 2.0).backward()
    assert x.grad is None


def test_backward_on_a_one_element_non_scalar_needs_no_end_grad():
    x = _leaf(3.0)
    (x * x).backward()  # shape (1,): one element, so end_grad = 1 is unambiguous
    np.testing.assert_allclose(x.grad.array, [6.0])


@pytest.mark.parametrize(
    "end_grad, shown",
    [
        (np.ones(3), r"\(3,\)"),
        (np.ones(1), r"\(1,\)"),  # broadcastable is not enough: no silent broadcasting
        (np.ones((2, 1)), r"\(2, 1\)"),
        (np.float64(1.0), r"\(\)"),
        (Tensor(np.ones((1, 2))), r"\(1, 2\)"),
    ],
    ids=["(3,)", "(1,)", "(2, 1)", "()", "Tensor (1, 2)"],
)
def test_end_grad_of_the_wrong_shape(end_grad, shown):
    x = _leaf(1.0, 2.0)
    with pytest.raises(ValueError, match=rf"end_grad has shape {shown} but the tensor has shape \(2,\)"):
        (x * x).backward(end_grad=end_grad)
    assert x.grad is None


def test_backward_on_a_tensor_that_does_not_require_grad():
    with pytest.raises(RuntimeError, match=r"does not require grad.*requires_grad=True"):
        Tensor([1.0, 2.0]).log().backward(end_grad=np.ones(2))
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor(3.0).backward()
    with NoGrad():
        y = _leaf(1.0, 2.0) * 3.0  # nothing recorded
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()
    # the result of a non-differentiable operation is a constant
    with pytest.raises(RuntimeError, match="does not require grad"):
        _leaf(1.0, 2.0).argmax().backward()


# --- tensors passed by keyword -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, name, key",
    [
        (lambda x: mg.multiply(x, x2=x), "multiply", "x2"),
        (lambda x: mg.add(x, x2=x), "add", "x2"),
        (lambda x: mg.true_divide(x, x2=x), "divide", "x2"),
        (lambda x: mg.maximum(x, x2=x), "maximum", "x2"),
        (lambda x: mg.pow(x, x2=x), "power", "x2"),
        (lambda x: mg.log_softmax(x, dim=Tensor(0)), "log_softmax", "dim"),
        (lambda x: mg.linear(x, weight=Tensor(np.ones((3, 2)))), "linear", "weight"),
    ],
    ids=["multiply", "add", "true_divide", "maximum", "pow", "log_softmax", "linear"],
)
def test_a_tensor_passed_by_keyword(call, name, key):
    x = _leaf(1.0, 2.0)
    with pytest.raises(TypeError, match=rf"{name}\(\) got a Tensor for keyword argument '{key}'.*positionally"):
        call(x)


def test_cross_entropy_takes_its_targets_by_keyword_too():
    """cross_entropy is a Python function in front of the wrapped operation: its parameters can be
    named, and it passes the targets on positionally (they are never differentiated anyway)."""
    x = _leaf(1.0, 2.0)
    by_keyword = mg.cross_entropy(x.reshape(1, 2), targets=Tensor(np.array([1])))
    by_position = mg.cross_entropy(x.reshape(1, 2), Tensor(np.array([1])))
    np.testing.assert_array_equal(by_keyword.array, by_position.array)


# --- operations without a backward function ---------------------------------------------------------


def test_an_operation_without_a_registered_backward_function():
    sin = mg.wrap_forward_fn(np.sin)  # wrapped, but no backward function registered
    x = _leaf(0.5, 1.0)
    y = sin(x)  # the forward pass works and records a recipe
    np.testing.assert_allclose(y.array, np.sin(x.array))
    with pytest.raises(NotImplementedError, match=r"no backward function for argument 0 of sin") as caught:
        y.sum().backward()
    assert "BACK_FUNCS.add_back_func(sin, 0, " in str(caught.value)  # and says how to fix it


def test_a_missing_backward_function_names_the_argument_position():
    arctan2 = mg.wrap_forward_fn(np.arctan2)
    y = Tensor([1.0, 2.0])  # a constant: position 0 needs no backward function
    x = _leaf(0.5, 1.0)
    with pytest.raises(NotImplementedError, match=r"argument 1 of arctan2.*add_back_func\(arctan2, 1, "):
        arctan2(y, x).sum().backward()
    assert arctan2(y, Tensor(x.array)).recipe is None  # no tensor requiring grad: nothing to do


def test_registering_the_missing_backward_function_fixes_it():
    sin = mg.wrap_forward_fn(np.sin)
    BACK_FUNCS.add_back_func(np.sin, 0, lambda grad_out, out, x: grad_out * np.cos(x))
    assert mg.gradcheck(sin, _leaf(0.5, 1.0, -2.0))  # the conftest fixture removes the entry again


# --- cycles --------------------------------------------------------------------------------------------


def _raises_within(seconds, fn):
    """Run fn in a daemon thread; return the exception it raised, fail if it runs too long."""
    outcome = {}

    def run():
        try:
            fn()
        except BaseException as error:  # noqa: BLE001 - handed back to the test
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s: the sort loops on a cycle"
    return outcome.get("error")


def _cycle_of_two():
    a, b = _leaf(1.0), _leaf(2.0)
    a.recipe = Recipe(np.negative, (b.array,), {}, {0: b}, {b: 0})
    b.recipe = Recipe(np.negative, (a.array,), {}, {0: a}, {a: 0})
    return a


def test_a_cycle_built_by_hand_is_an_error_not_a_hang():
    a = _cycle_of_two()
    error = _raises_within(10, lambda: mg.sorted_computational_graph(a))
    assert isinstance(error, ValueError) and "cycle" in str(error)
    error = _raises_within(10, lambda: a.backward())
    assert isinstance(error, ValueError) and "cycle" in str(error)
    assert a.grad is None


def test_a_tensor_that_is_its_own_parent():
    c = _leaf(1.0)
    c.recipe = Recipe(np.negative, (c.array,), {}, {0: c}, {c: 0})
    with pytest.raises(ValueError, match="cycle"):
        c.backward()


def test_a_cycle_below_a_valid_graph():
    a = _cycle_of_two()
    d = mg.exp(a) * 2.0  # a real graph on top of the cycle
    error = _raises_within(10, lambda: d.sum().backward())
    assert isinstance(error, ValueError) and "cycle" in str(error)


def test_topological_sort_cycle():
    graph = {"a": ["b"], "b": ["c"], "c": ["a"]}
    with pytest.raises(ValueError, match="the graph has a cycle"):
        mg.topological_sort("a", graph.__getitem__)


# --- shapes that do not fit ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "x_shape, y_shape",
    [((2, 3), (4, 5)), ((3,), (4,)), ((2, 3), (2,)), ((5, 2, 3), (4, 3, 2)), ((2, 3), ())],
    ids=["matrices", "vectors", "matrix @ vector", "batch", "0-d"],
)
@pytest.mark.parametrize("form", ["matmul", "@"])
def test_matmul_shape_mismatch_shows_both_shapes(x_shape, y_shape, form):
    x, y = Tensor(np.ones(x_shape), requires_grad=True), Tensor(np.ones(y_shape))
    with pytest.raises(ValueError, match=r"matmul") as caught:
        mg.matmul(x, y) if form == "matmul" else x @ y
    assert str(x_shape) in str(caught.value) and str(y_shape) in str(caught.value)


@pytest.mark.parametrize("op", [mg.add, mg.subtract, mg.multiply, mg.true_divide, mg.maximum, mg.minimum, mg.pow])
def test_broadcast_mismatch_names_the_operation_and_both_shapes(op):
    x, y = Tensor(np.ones((2, 3)), requires_grad=True), Tensor(np.ones((4,)))
    with pytest.raises(ValueError, match=rf"^{op.__name__}: .*\(2,\s?3\).*\(4,\)"):
        op(x, y)


def test_broadcast_mismatch_with_operators():
    x, y = Tensor(np.ones((2, 3)), requires_grad=True), Tensor(np.ones((2,)))
    with pytest.raises(ValueError, match=r"^add: .*\(2,\s?3\).*\(2,\)"):
        x + y
    with pytest.raises(ValueError, match=r"^multiply: .*\(2,\)"):
        np.ones(2) * x  # the array's __mul__ defers to Tensor.__rmul__


# --- requires_grad on a tensor that cannot have a gradient --------------------------------------------------


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_])
def test_requires_grad_on_a_non_float_tensor(dtype):
    """Made from integers with requires_grad: the same numbers as float32 (the seeds' examples
    write Tensor([1], requires_grad=True)); switched on for an existing integer tensor: refused."""
    values = np.array([1, 0, 1], dtype=dtype)
    message = rf"only floating-point tensors can require grad, this one has dtype {np.dtype(dtype).name}"
    for made in (Tensor(values, requires_grad=True), mg.tensor(values, requires_grad=True),
                 Parameter(values)):
        assert made.dtype == np.float32 and made.requires_grad
        np.testing.assert_array_equal(made.array, [1.0, 0.0, 1.0])
    with mg.keep_float64():
        assert Tensor(values, requires_grad=True).dtype == np.float64
    t = Tensor(values)
    with pytest.raises(TypeError, match=message):
        t.requires_grad = True
    assert t.requires_grad is False  # unchanged by the refused assignment
    t.requires_grad = False  # saying no is always fine


# --- truth value and item() of tensors with several elements ------------------------------------------------


@pytest.mark.parametrize("shape", [(2,), (2, 3), (0,)])
def test_bool_of_a_tensor_that_is_not_one_element(shape):
    t = Tensor(np.ones(shape))
    with pytest.raises(ValueError, match=rf"truth value of a tensor of shape {shape!r}".replace("(", r"\(").replace(")", r"\)")):
        bool(t)
    with pytest.raises(ValueError, match=r"ambiguous.*\.any\(\) or \.all\(\)"):
        if t:
            pass


@pytest.mark.parametrize("shape", [(2,), (2, 3), (0,)])
def test_item_of_a_tensor_that_is_not_one_element(shape):
    with pytest.raises(ValueError, match=r"item\(\) needs a tensor with one element.*\.sum\(\)"):
        Tensor(np.ones(shape)).item()


def test_bool_and_item_of_one_element_are_fine():
    assert Tensor([[2.5]]).item() == 2.5 and bool(Tensor(1.0)) and not bool(Tensor([0.0]))


# --- NumPy functions on tensors ------------------------------------------------------------------------------


def test_numpy_ufuncs_refuse_tensors():
    x = _leaf(1.0, 2.0)
    with pytest.raises(TypeError, match="does not support ufuncs"):
        np.exp(x)


@pytest.mark.parametrize(
    "call", [np.asarray, np.array, lambda x: np.stack([x, x]), lambda x: np.dot(x, x)], ids=["asarray", "array", "stack", "dot"]
)
def test_numpy_functions_refuse_tensors(call):
    with pytest.raises(TypeError, match=r"NumPy functions don't take tensors.*t\.array"):
        call(_leaf(1.0, 2.0))


# --- arrays changed in place after an operation saved them ---------------------------------------------------

SAVED_MODIFIED = r"modified in place after multiply used it \(version 0, now 1\)"


@pytest.mark.parametrize(
    "change",
    [
        lambda a, b: a.add_(b),
        lambda a, b: a.sub_(1.0),
        lambda a, b: mg.add_(a, b, alpha=0.5),
        lambda a, b: mg.sub_(a, b),
        lambda a, b: a.__iadd__(1.0),
        lambda a, b: a.__isub__(b),
        lambda a, b: a.zero_(),
    ],
    ids=["add_", "sub_", "add_ alpha", "sub_ function", "+=", "-=", "zero_"],
)
def test_a_saved_leaf_changed_in_place_before_backward(change):
    a, b = _leaf(0.0, 1.0, 2.0), _leaf(2.0, 3.0, 4.0)
    c = a * b
    change(a, b)
    with pytest.raises(RuntimeError, match=SAVED_MODIFIED + r".*Change tensors in place before using them"):
        c.sum().backward()
    assert a.grad is None and b.grad is None  # nothing half-done


def test_a_saved_constant_changed_in_place_before_backward():
    w, k = _leaf(1.0, 2.0), Tensor([3.0, 4.0])  # k needs no gradient, but w's gradient reads it
    y = w * k
    k.add_(1.0)
    with pytest.raises(RuntimeError, match=SAVED_MODIFIED):
        y.sum().backward()


def test_a_view_of_a_saved_tensor_changed_in_place():
    # the data changed through a view that shares the saved tensor's version counter
    x = Tensor(np.arange(6.0), requires_grad=True)
    w = _leaf(*range(6))
    z = w * x
    view = x.detach()[1:4]  # a leaf view, outside the graph, of x's data
    view.add_(1.0)
    with pytest.raises(RuntimeError, match=r"modified in place after multiply used it"):
        z.sum().backward()


def test_the_base_of_a_saved_view_changed_in_place():
    x = Tensor(np.arange(6.0), requires_grad=True)
    y = x.reshape(2, 3)  # a view of x: same data, same version counter
    z = y * y
    x.sub_(1.0)
    with pytest.raises(RuntimeError, match=r"tensor of shape \(2, 3\) that multiply saved.*modified in place"):
        z.sum().backward()


def test_a_saved_view_changed_through_another_view():
    x = Tensor(np.arange(6.0), requires_grad=True)
    y = x[2:]
    z = y.exp()
    with NoGrad():  # a computed tensor can only be changed in place with recording off
        x.reshape(3, 2)[0].add_(10.0)
    with pytest.raises(RuntimeError, match=r"that exp saved for the backward pass was modified in place"):
        z.sum().backward()


def test_a_computed_tensor_cannot_be_changed_in_place_while_recording():
    x = _leaf(1.0, 2.0)
    y = x * 2.0
    for change in (lambda: y.add_(1.0), lambda: y.sub_(1.0), lambda: y.zero_()):
        with pytest.raises(RuntimeError, match=r"this tensor was computed from tensors that require grad.*NoGrad"):
            change()
    with pytest.raises(RuntimeError, match="add_: this tensor was computed"):
        y += 1.0


@pytest.mark.parametrize(
    "op, name",
    [(mg.tanh, "tanh"), (mg.exp, "exp"), (mg.sqrt, "sqrt"), (lambda t: 1.0 / t, "divide")],
    ids=["tanh", "exp", "sqrt", "divide"],
)
def test_an_output_saved_for_backward_changed_in_place_before_it_is_used(op, name):
    """The backward functions of tanh, exp, sqrt and x / y read the operation's *output*; changing
    that output in place (possible inside NoGrad) must be caught like a changed input.
    PyTorch raises here too ("one of the variables needed for gradient computation has been
    modified by an inplace operation")."""
    x = _leaf(0.5, 1.5)
    t = op(x)
    with NoGrad():
        t.add_(1.0)
    y = t * 2.0  # uses t after the change: fine for multiply, but op's recipe saw the old t
    with pytest.raises(RuntimeError, match="modified in place"):
        y.sum().backward()


@pytest.mark.parametrize("op", [mg.tanh, mg.exp, mg.sqrt], ids=["tanh", "exp", "sqrt"])
def test_the_end_node_changed_in_place_before_backward(op):
    x = _leaf(0.5, 1.5)
    t = op(x)
    with NoGrad():
        t.sub_(0.25)
    with pytest.raises(RuntimeError, match="modified in place"):
        t.backward(end_grad=np.ones(2))


# --- changing a tensor in place BEFORE it is used stays allowed ------------------------------------------------


def test_changing_in_place_before_use_is_allowed_and_correct():
    a, b = _leaf(0.0, 1.0, 2.0, 3.0), _leaf(2.0, 3.0, 4.0, 5.0)
    a.add_(b)  # a = [2, 4, 6, 8], before any use
    a.sub_(0.5, alpha=2.0)  # a = [1, 3, 5, 7]
    c = (a * b).tanh() + a / b
    v = np.array([1.0, -2.0, 0.5, 3.0])
    c.backward(end_grad=v)
    a_, b_ = a.array.astype(np.float64), b.array.astype(np.float64)
    d = 1 - np.tanh(a_ * b_) ** 2
    np.testing.assert_allclose(a.grad.array, v * (d * b_ + 1 / b_), rtol=1e-5)
    np.testing.assert_allclose(b.grad.array, v * (d * a_ - a_ / b_**2), rtol=1e-5)
    np.testing.assert_array_equal(a.array, [1.0, 3.0, 5.0, 7.0])


def test_changing_in_place_after_backward_then_recomputing_is_allowed():
    """The training-loop pattern: forward, backward, update in place, forward again."""
    w = _leaf(1.0, -2.0)
    x = Tensor([3.0, 0.5])
    for _ in range(3):
        w.grad = None
        loss = ((w * x).tanh() * w).sum()
        loss.backward()
        with NoGrad():
            w.sub_(w.grad, alpha=0.1)
    assert mg.gradcheck(lambda w: ((w * x).tanh() * w).sum(), w)


def test_changing_an_unrelated_tensor_is_fine():
    a, b = _leaf(1.0, 2.0), _leaf(3.0, 4.0)
    c = a * 2.0
    b.add_(1.0)  # b is not in c's graph
    c.sum().backward()
    np.testing.assert_array_equal(a.grad.array, [2.0, 2.0])
