"""The benchmark's workload: one SGD training step of an MLP 784 -> 64 -> 64 -> 10 with ReLU and
mean cross-entropy, in float32, written three ways: with minigrad, by hand in NumPy (the floor for
any NumPy engine: `NumpyMLP`, tight, and `TextbookNumpyMLP`, as a textbook writes it), and with
PyTorch (optional). All start from the same weights."""

import numpy as np

SIZES = (784, 64, 64, 10)
LEARNING_RATE = 0.01


def initial_weights(seed: int = 0) -> list[np.ndarray]:
    """[W1, b1, W2, b2, W3, b3], W of shape (out, in) as in torch, uniform in +-1/sqrt(in)."""
    rng = np.random.default_rng(seed)
    weights = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        bound = 1 / np.sqrt(fan_in)
        weights.append(rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32))
        weights.append(rng.uniform(-bound, bound, fan_out).astype(np.float32))
    return weights


def batch(batch_size: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((batch_size, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], batch_size)
    return x, y


def relu_backward(grad: np.ndarray, pre_activation: np.ndarray) -> np.ndarray:
    """grad where pre_activation > 0, half of it where it is exactly 0 (the book's relu'(0) = 1/2)."""
    out = grad * (pre_activation > 0)
    ties = pre_activation == 0
    if ties.any():
        np.multiply(grad, 0.5, out=out, where=ties)
    return out


class _ByHand:
    """A step written out in NumPy: subclasses give forward (-> loss, saved) and backward (-> the
    parameters' gradients); the update keeps the gradients, as an engine's must."""

    def __init__(self, weights: list[np.ndarray]) -> None:
        self.params = [w.copy() for w in weights]

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        loss, saved = self.forward(x, y)
        for p, g in zip(self.params, self.backward(saved)):
            p -= LEARNING_RATE * g
        return loss

    def gradients(self, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
        return self.backward(self.forward(x, y)[1])


class NumpyMLP(_ByHand):
    """The floor: the tightest step we know how to write by hand in NumPy, with the same gradients.

    What makes it tight, each a thing a graph of separate operations cannot do as simply:
    the softmax is computed once, in the forward pass, and its probabilities become the logits'
    gradient in place; the logits are laid out (classes, batch), so that the softmax's reductions
    run along the long axis; ReLU overwrites its input (a boolean mask is kept for the backward
    pass, and a check for exact zeros, where the book's relu' is 1/2); the backward pass multiplies
    the mask into the incoming gradient in place; a bias gradient, a sum over the batch, is a
    matrix product with a vector of ones (BLAS), which NumPy runs several times faster than `sum`
    over the first axis. Like any engine, it keeps its gradients through the update (a training
    loop may read them after the step), so the update makes one temporary array per parameter.
    """

    @staticmethod
    def _relu_(a: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """ReLU in place; returns (mask of a > 0, mask of a == 0 or None when there is none)."""
        ties = a == 0
        mask = a > 0
        np.maximum(a, 0, out=a)
        return mask, (ties if ties.any() else None)

    @staticmethod
    def _relu_back_(g: np.ndarray, mask: np.ndarray, ties: np.ndarray | None) -> np.ndarray:
        if ties is None:
            g *= mask
            return g
        out = g * mask
        np.multiply(g, 0.5, out=out, where=ties)
        return out

    def forward(self, x: np.ndarray, y: np.ndarray) -> tuple[float, tuple]:
        W1, b1, W2, b2, W3, b3 = self.params
        n = len(y)
        h1 = x @ W1.T
        h1 += b1
        m1 = self._relu_(h1)
        h2 = h1 @ W2.T
        h2 += b2
        m2 = self._relu_(h2)
        z = W3 @ h2.T  # (classes, batch)
        z += b3[:, None]
        z -= z.max(axis=0)
        columns = np.arange(n)
        target = z[y, columns]  # shifted logit of each example's class
        np.exp(z, out=z)
        total = z.sum(axis=0)
        z /= total  # the probabilities: the start of the backward pass
        loss = (np.log(total) - target).mean()
        return float(loss), (x, y, columns, h1, m1, h2, m2, z)

    def backward(self, saved: tuple) -> list[np.ndarray]:
        x, y, columns, h1, m1, h2, m2, g = saved
        W1, b1, W2, b2, W3, b3 = self.params
        g[y, columns] -= 1  # softmax minus one-hot
        g *= 1 / len(y)
        g_h2 = self._relu_back_(g.T @ W3, *m2)
        g_h1 = self._relu_back_(g_h2 @ W2, *m1)
        ones = np.ones(len(y), dtype=g.dtype)
        return [g_h1.T @ x, ones @ g_h1, g_h2.T @ h1, ones @ g_h2, g @ h2, g @ ones]


class TextbookNumpyMLP(_ByHand):
    """The step as a textbook writes it: the floor of the earlier editions of this benchmark.

    The softmax is recomputed in the backward pass, every result is a new array, logits are
    (batch, classes). Kept to show how much the floor itself moved (chapter 17).
    """

    def forward(self, x: np.ndarray, y: np.ndarray) -> tuple[float, tuple]:
        W1, b1, W2, b2, W3, b3 = self.params
        h1_pre = x @ W1.T + b1
        h1 = np.maximum(h1_pre, 0)
        h2_pre = h1 @ W2.T + b2
        h2 = np.maximum(h2_pre, 0)
        logits = h2 @ W3.T + b3
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -log_p[np.arange(len(y)), y].mean()
        return float(loss), (x, y, h1_pre, h1, h2_pre, h2, logits)

    def backward(self, saved: tuple) -> list[np.ndarray]:
        x, y, h1_pre, h1, h2_pre, h2, logits = saved
        W1, b1, W2, b2, W3, b3 = self.params
        n = len(y)
        shifted = logits - logits.max(axis=1, keepdims=True)
        g_logits = np.exp(shifted)
        g_logits /= g_logits.sum(axis=1, keepdims=True)
        g_logits[np.arange(n), y] -= 1
        g_logits *= 1 / n
        g_h2 = relu_backward(g_logits @ W3, h2_pre)
        g_h1 = relu_backward(g_h2 @ W2, h1_pre)
        return [g_h1.T @ x, g_h1.sum(axis=0), g_h2.T @ h1, g_h2.sum(axis=0), g_logits.T @ h2, g_logits.sum(axis=0)]


class MinigradMLP:
    def __init__(self, weights: list[np.ndarray], module=None) -> None:
        """module: the minigrad package to use (benchmarks/compare.py passes an earlier version)."""
        if module is None:
            import minigrad as module

        self.mg = minigrad = module
        minigrad.manual_seed(0)
        self.model = minigrad.MLP(SIZES[0], SIZES[1], SIZES[-1])
        for p, w in zip(self.model.parameters(), weights):
            p.array[...] = w
        self.params = list(self.model.parameters())
        self.optimizer = minigrad.SGD(self.params, lr=LEARNING_RATE)

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        mg = self.mg
        self.optimizer.zero_grad()
        loss = mg.cross_entropy(self.model(mg.Tensor(x)), mg.Tensor(y), reduction="mean")
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def gradients(self, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
        """The parameter gradients of one step's loss, without updating (for the cross-check)."""
        self.optimizer.zero_grad()
        self.mg.cross_entropy(self.model(self.mg.Tensor(x)), self.mg.Tensor(y), reduction="mean").backward()
        return [p.grad.array for p in self.params]


class TorchMLP:
    def __init__(self, weights: list[np.ndarray]) -> None:
        import torch

        self.torch = torch
        self.model = torch.nn.Sequential(
            torch.nn.Linear(SIZES[0], SIZES[1]), torch.nn.ReLU(),
            torch.nn.Linear(SIZES[1], SIZES[2]), torch.nn.ReLU(),
            torch.nn.Linear(SIZES[2], SIZES[3]),
        )
        with torch.no_grad():
            for p, w in zip(self.model.parameters(), weights):
                p.copy_(torch.from_numpy(w))
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=LEARNING_RATE)

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        torch = self.torch
        self.optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(self.model(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        self.optimizer.step()
        return loss.item()
