"""The rule sheet (docs/rules.md) says what the code does: every row is checked here.

The sheet's tables list the book's operations; the first cell of a row names them in code
(`add(x, y)`, `x.T`). For every name found there, a case below evaluates the operation in
minigrad in float64, runs one backward pass with a random incoming gradient v (never all ones, so
a rule that forgot it fails), and compares the gradient of every input with

- the row's rule, written again here in NumPy, independently of the package (its own
  unbroadcast, its own scatter-add...), and
- central differences of the scalar <op(inputs), v>.

Inputs are asymmetric (different values and shapes for different arguments, so that a swapped
rule fails), away from kinks for the central differences; the operations with a tie convention
are also checked at ties, against the rule. A row without a case here, a case without a row, or a
name the package does not have fails the test, so the sheet cannot drift from the code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

import minigrad
from minigrad import Tensor, keep_float64

ROOT = Path(__file__).resolve().parent.parent
SHEET = ROOT / "docs" / "rules.md"
COLUMNS = ["minigrad", "forward", "backward", "shapes", "PyTorch"]


# --- the sheet --------------------------------------------------------------------------------

def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def sheet_rows(text: str) -> dict[str, list[str]]:
    """Operation name -> the cells of its row, for every row of every table of the sheet.

    The names are those of the first cell's code spans that call a function (`add(x, y)`) or
    use an attribute (`x.T`, `x.exp()`); operators such as `x + y` name nothing more.
    """
    rows: dict[str, list[str]] = {}
    header = None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = _cells(line)
        if header is None:
            header = cells
            assert header == COLUMNS, f"a table of the sheet with columns {header}"
            continue
        if set(line) <= set("|-: "):
            continue  # the separator row
        assert len(cells) == len(COLUMNS) and all(cells), f"an incomplete row: {line}"
        names = set()
        for span in re.findall(r"`([^`]+)`", cells[0]):
            match = re.fullmatch(r"(?:[A-Za-z]\.)?([A-Za-z_]\w*)(?:\(.*\))?", span)
            if match:
                names.add(match[1])
        assert names, f"a row that names no operation: {line}"
        for name in names:
            assert name not in rows, f"{name} has two rows"
            rows[name] = cells
    return rows


# --- NumPy, independently of minigrad -----------------------------------------------------------

def unb(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum g over the axes along which an array of `shape` was broadcast."""
    g = g.sum(axis=tuple(range(g.ndim - len(shape)))) if g.ndim > len(shape) else g
    axes = tuple(a for a, size in enumerate(shape) if size == 1 and g.shape[a] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def softmax(z: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def tie_share(x: np.ndarray, y: np.ndarray, wins) -> np.ndarray:
    """[x wins] + 1/2 [x = y], in the broadcast shape."""
    x, y = np.broadcast_arrays(x, y)
    return wins(x, y) + 0.5 * (x == y)


@dataclass
class Case:
    """One check of a row: op(*tensors) -> Tensor, and the rule (v, out, *inputs) -> grads."""

    op: Callable
    inputs: list
    rule: Callable
    ties: list | None = None  # inputs at the kinks: checked against the rule only
    note: str = field(default="")


rng = np.random.default_rng(20240607)


def normal(*shape):
    return rng.normal(size=shape)


def positive(*shape):
    return rng.uniform(0.5, 2.5, size=shape)


def distinct(*shape):
    """Values far apart from each other: no ties, no kinks within a nudge."""
    values = rng.permutation(np.prod(shape, dtype=int)) * 0.37 - 2.0
    return values.reshape(shape)


def _maximum_rule(v, out, x, y):
    return [unb(v * tie_share(x, y, np.greater), x.shape), unb(v * tie_share(y, x, np.greater), y.shape)]


def _minimum_rule(v, out, x, y):
    return [unb(v * tie_share(x, y, np.less), x.shape), unb(v * tie_share(y, x, np.less), y.shape)]


def _amax_rule(v, out, x):
    is_max = (x == out[:, None, :]).astype(float)
    return [v[:, None, :] * is_max / is_max.sum(axis=1, keepdims=True)]


def _getitem_rule(v, out, x):
    grad = np.zeros_like(x)
    np.add.at(grad, INDEX, v)  # scatter-add: a row picked twice gets both gradients
    return [grad]


INDEX = np.array([4, 0, 4, 2])
TARGETS = np.array([2, 0, 1, 2, 1])


def _cross_entropy_case(reduction: str) -> Case:
    def rule(v, out, z):
        share = {"none": v, "mean": np.full(len(z), v / len(z)), "sum": np.full(len(z), v)}
        return [share[reduction][:, None] * (softmax(z, 1) - np.eye(z.shape[1])[TARGETS])]

    return Case(lambda z: minigrad.cross_entropy(z, TARGETS, reduction=reduction),
                [normal(5, 3)], rule, note=reduction)


def _matmul_rule(v, out, x, y):
    return [v @ y.T, unb(np.swapaxes(x, -1, -2) @ v, y.shape)]


def _einsum_rule(v, out, a, b, c):  # "ij,jk,k->i"
    return [np.einsum("i,jk,k->ij", v, b, c), np.einsum("i,ij,k->jk", v, a, c),
            np.einsum("i,ij,jk->k", v, a, b)]


def _linear_rule(v, out, x, w, b):
    rows_v, rows_x = v.reshape(-1, v.shape[-1]), x.reshape(-1, x.shape[-1])
    return [v @ w, rows_v.T @ rows_x, rows_v.sum(axis=0)]


def _var_rule(v, out, x):  # dim=1, correction=1
    return [v[:, None] * 2 * (x - x.mean(axis=1, keepdims=True)) / (x.shape[1] - 1)]


def _inverse(axes):
    return tuple(np.argsort(axes))


CASES: dict[str, list[Case]] = {
    "add": [Case(lambda x, y: x + y, [normal(3, 4), normal(4)],
                 lambda v, out, x, y: [unb(v, x.shape), unb(v, y.shape)])],
    "subtract": [Case(lambda x, y: minigrad.subtract(x, y), [normal(3, 1), normal(1, 4)],
                      lambda v, out, x, y: [unb(v, x.shape), -unb(v, y.shape)])],
    "multiply": [Case(lambda x, y: x * y, [normal(2, 3), normal(3)],
                      lambda v, out, x, y: [unb(v * y, x.shape), unb(v * x, y.shape)])],
    "true_divide": [Case(lambda x, y: x / y, [normal(2, 3), positive(2, 1)],
                         lambda v, out, x, y: [unb(v / y, x.shape), -unb(v * out / y, y.shape)])],
    "negative": [Case(lambda x: -x, [normal(2, 3)], lambda v, out, x: [-v])],
    "pow": [Case(lambda x, p: x ** p, [positive(2, 3), normal(3)],
                 lambda v, out, x, p: [unb(v * p * x ** (p - 1), x.shape),
                                       unb(v * out * np.log(x), p.shape)])],
    "exp": [Case(lambda x: x.exp(), [normal(2, 3)], lambda v, out, x: [v * out])],
    "log": [Case(lambda x: minigrad.log(x), [positive(2, 3)], lambda v, out, x: [v / x])],
    "sqrt": [Case(lambda x: x.sqrt(), [positive(2, 3)], lambda v, out, x: [v / (2 * out)])],
    "tanh": [Case(lambda x: minigrad.tanh(x), [normal(2, 3)],
                  lambda v, out, x: [v * (1 - out ** 2)])],
    "maximum": [Case(lambda x, y: minigrad.maximum(x, y), [distinct(2, 3), distinct(3) + 0.1],
                     _maximum_rule,
                     ties=[np.array([[1.0, 2.0, -1.0], [0.5, 2.0, 3.0]]), np.array([1.0, 2.0, 0.0])])],
    "minimum": [Case(lambda x, y: x.minimum(y), [distinct(2, 3), distinct(3) + 0.1],
                     _minimum_rule,
                     ties=[np.array([[1.0, 2.0, -1.0], [0.5, 2.0, 3.0]]), np.array([1.0, 2.0, 0.0])])],
    "relu": [Case(lambda x: x.relu(), [distinct(3, 4) + 0.05],
                  lambda v, out, x: [v * ((x > 0) + 0.5 * (x == 0))],
                  ties=[np.array([[-1.0, 0.0, 2.0], [0.0, 3.0, -0.5]])])],
    "sum": [Case(lambda x: x.sum(dim=(0, 2)), [normal(2, 3, 4)],
                 lambda v, out, x: [np.broadcast_to(v[None, :, None], x.shape)]),
            Case(lambda x: minigrad.sum(x, dim=1, keepdim=True), [normal(2, 3, 4)],
                 lambda v, out, x: [np.broadcast_to(v, x.shape)], note="keepdim")],
    "mean": [Case(lambda x: x.mean(dim=1), [normal(2, 3, 4)],
                  lambda v, out, x: [np.broadcast_to(v[:, None, :], x.shape) / 3])],
    "var": [Case(lambda x: minigrad.var(x, dim=1), [normal(3, 5)], _var_rule)],
    "amax": [Case(lambda x: x.amax(dim=1), [distinct(2, 4, 3)], _amax_rule,
                  ties=[np.array([[[1.0, 2.0], [1.0, 0.0], [0.0, 2.0]],
                                  [[3.0, 3.0], [3.0, 1.0], [3.0, 3.0]]])])],
    "reshape": [Case(lambda x: x.reshape(3, 4), [normal(2, 6)],
                     lambda v, out, x: [v.reshape(x.shape)])],
    "permute": [Case(lambda x: minigrad.permute(x, (2, 0, 1)), [normal(2, 3, 4)],
                     lambda v, out, x: [v.transpose(_inverse((2, 0, 1)))])],
    "T": [Case(lambda x: x.T, [normal(2, 3, 4)], lambda v, out, x: [v.transpose()])],
    "expand": [Case(lambda x: x.expand(2, 3, 4), [normal(3, 1)],
                    lambda v, out, x: [unb(v, x.shape)])],
    "getitem": [Case(lambda x: x[INDEX], [normal(5, 3)], _getitem_rule)],
    "stack": [Case(lambda a, b, c: minigrad.stack([a, b, c], dim=1),
                   [normal(2, 3), normal(2, 3), normal(2, 3)],
                   lambda v, out, a, b, c: [v[:, 0], v[:, 1], v[:, 2]])],
    "cat": [Case(lambda a, b: minigrad.cat([a, b], dim=1), [normal(2, 3), normal(2, 1)],
                 lambda v, out, a, b: [v[:, :3], v[:, 3:]])],
    "matmul": [Case(lambda x, y: x @ y, [normal(3, 4), normal(4, 2)], _matmul_rule),
               Case(lambda x, y: minigrad.matmul(x, y), [normal(2, 3, 4), normal(4, 5)],
                    _matmul_rule, note="batched")],
    "einsum": [Case(lambda a, b, c: minigrad.einsum("ij,jk,k->i", a, b, c),
                    [normal(2, 3), normal(3, 4), normal(4)], _einsum_rule)],
    "linear": [Case(lambda x, w, b: minigrad.linear(x, w, b),
                    [normal(2, 3, 4), normal(5, 4), normal(5)], _linear_rule)],
    "log_softmax": [Case(lambda z: minigrad.log_softmax(z, dim=-1), [normal(3, 4)],
                         lambda v, out, z: [v - np.exp(out) * v.sum(axis=-1, keepdims=True)])],
    "softmax": [Case(lambda z: minigrad.softmax(z, dim=0), [normal(3, 4)],
                     lambda v, out, z: [out * (v - (v * out).sum(axis=0, keepdims=True))])],
    "cross_entropy": [_cross_entropy_case(r) for r in ("none", "mean", "sum")],
}


# --- the comparison ---------------------------------------------------------------------------

def backward_gradients(case: Case, inputs: list, v_seed: int = 0):
    """(out, v, the gradient of <op(inputs), v> for every input) from one backward pass."""
    with keep_float64():
        tensors = [Tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in inputs]
        out = case.op(*tensors)
        v = np.random.default_rng(v_seed).normal(size=out.shape)
        out_array = out.array.copy()
        out.backward(end_grad=v)
    return out_array, v, [t.grad.array for t in tensors]


def central_differences(case: Case, inputs: list, v: np.ndarray, h: float = 1e-6) -> list:
    def weighted(arrays):
        with keep_float64():
            return float((case.op(*[Tensor(a) for a in arrays]).array * v).sum())

    grads = []
    for i, a in enumerate(inputs):
        grad = np.zeros_like(a)
        for j in np.ndindex(a.shape):
            up = [b.copy() for b in inputs]
            down = [b.copy() for b in inputs]
            up[i][j] += h
            down[i][j] -= h
            grad[j] = (weighted(up) - weighted(down)) / (2 * h)
        grads.append(grad)
    return grads


def compare(case: Case, inputs: list, numerically: bool = True) -> None:
    inputs = [np.array(a, dtype=np.float64) for a in inputs]
    out, v, grads = backward_gradients(case, inputs)
    by_rule = case.rule(v, out, *inputs)
    assert len(by_rule) == len(grads) == len(inputs)
    for position, (grad, rule, a) in enumerate(zip(grads, by_rule, inputs)):
        assert grad.shape == a.shape, f"input {position}: gradient of shape {grad.shape}"
        np.testing.assert_allclose(grad, rule, rtol=1e-10, atol=1e-12,
                                   err_msg=f"input {position}: backward and the sheet's rule")
    if numerically:
        for position, (grad, numerical) in enumerate(zip(grads, central_differences(case, inputs, v))):
            np.testing.assert_allclose(grad, numerical, rtol=1e-6, atol=1e-8,
                                       err_msg=f"input {position}: backward and central differences")


ROWS = sheet_rows(SHEET.read_text(encoding="utf8"))
ALL = [(name, k, case) for name, cases in CASES.items() for k, case in enumerate(cases)]


def test_every_row_has_a_check_and_every_check_a_row():
    assert set(ROWS) == set(CASES), (
        f"rows without a check: {sorted(set(ROWS) - set(CASES))}; "
        f"checks without a row: {sorted(set(CASES) - set(ROWS))}"
    )


def test_the_sheet_covers_the_book():
    wanted = {"add", "subtract", "multiply", "true_divide", "negative", "pow", "exp", "log", "sqrt",
              "tanh", "maximum", "relu", "sum", "mean", "var", "amax", "reshape", "permute", "T",
              "expand", "getitem", "stack", "matmul", "einsum", "linear", "log_softmax",
              "cross_entropy"}
    assert wanted <= set(ROWS), sorted(wanted - set(ROWS))


@pytest.mark.parametrize("name", sorted(ROWS))
def test_every_name_is_the_packages(name):
    assert getattr(minigrad, name, None) is not None or hasattr(Tensor, name), name


@pytest.mark.parametrize("name, k, case", ALL,
                         ids=[f"{n}-{c.note or k}" for n, k, c in ALL])
def test_the_rule_holds(name, k, case):
    compare(case, case.inputs)


@pytest.mark.parametrize("name, case", [(n, c) for n, _, c in ALL if c.ties],
                         ids=[n for n, _, c in ALL if c.ties])
def test_the_rule_holds_at_ties(name, case):
    """At a tie or a kink the gradient is a convention (split evenly), not a limit: the rule only."""
    compare(case, case.ties, numerically=False)


def test_a_wrong_rule_is_caught():
    """The comparison itself: multiply's two rules swapped, or the incoming gradient forgotten."""
    right = CASES["multiply"][0]
    swapped = Case(right.op, right.inputs, lambda v, out, x, y: [unb(v * x, x.shape), unb(v * y, y.shape)])
    forgotten = Case(right.op, right.inputs, lambda v, out, x, y: [unb(y + 0 * v, x.shape), unb(x + 0 * v, y.shape)])
    for wrong in (swapped, forgotten):
        with pytest.raises(AssertionError):
            compare(wrong, wrong.inputs, numerically=False)


def test_the_parser_reads_rows_and_refuses_half_rows():
    table = ("| minigrad | forward | backward | shapes | PyTorch |\n|---|---|---|---|---|\n"
             "| `exp(x)`, `x.exp()` | a | b | c | d |\n| `x.T`, `x @ y` | a | b | c | d |\n")
    assert sorted(sheet_rows(table)) == ["T", "exp"]
    with pytest.raises(AssertionError, match="incomplete"):
        sheet_rows(table + "| `log(x)` | a |  | c | d |\n")
