"""Integration: optimizers (with autograd) updating real Linear parameters (layers)."""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch.core.autograd  # noqa: F401  (makes Tensor ops differentiable)
from tinytorch.core.layers import Linear
from tinytorch.core.optimizers import SGD, Adam, AdamW, CosineLR, Optimizer
from tinytorch.core.tensor import Tensor

_RNG = np.random.default_rng(0)
_X = _RNG.normal(size=(8, 3))
_Y = _RNG.normal(size=(8, 2))


def _layer() -> Linear:
    lin = Linear(3, 2, rng=np.random.default_rng(1))
    lin.bias.data[...] = np.array([0.1, -0.2], dtype=np.float32)
    return lin


def _hand_grads(W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of mean((X W + b - Y)**2) computed by hand in float64."""
    r = _X @ W + b - _Y
    d = 2.0 * r / r.size
    return _X.T @ d, d.sum(axis=0)


def _one_step(opt_cls: type[Optimizer], steps: int = 1, **kwargs: float) -> tuple[Linear, list[np.ndarray]]:
    lin = _layer()
    start = [p.data.astype(np.float64) for p in lin.parameters()]
    opt = opt_cls(lin.parameters(), **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        (((lin(Tensor(_X.astype(np.float32))) - _Y.astype(np.float32)) ** 2).mean()).backward()
        opt.step()
    return lin, start


def test_autograd_gradients_of_the_layer_match_hand_computed() -> None:
    lin = _layer()
    (((lin(Tensor(_X.astype(np.float32))) - _Y.astype(np.float32)) ** 2).mean()).backward()
    gW, gb = _hand_grads(lin.weight.data.astype(np.float64), lin.bias.data.astype(np.float64))
    assert np.allclose(lin.weight.grad.data, gW, atol=1e-5) and np.allclose(lin.bias.grad.data, gb, atol=1e-5)


@pytest.mark.parametrize(("momentum", "wd"), [(0.0, 0.0), (0.9, 0.0), (0.9, 0.01)])
def test_sgd_one_step(momentum: float, wd: float) -> None:
    lin, (W, b) = _one_step(SGD, lr=0.1, momentum=momentum, weight_decay=wd)
    gW, gb = _hand_grads(W, b)
    # first step: the momentum buffer equals the (decayed) gradient, so momentum changes nothing yet
    assert np.allclose(lin.weight.data, W - 0.1 * (gW + wd * W), atol=1e-6)
    assert np.allclose(lin.bias.data, b - 0.1 * (gb + wd * b), atol=1e-6)
    assert lin.weight.dtype == np.float32


def test_sgd_momentum_two_steps() -> None:
    lin, (W, b) = _one_step(SGD, steps=2, lr=0.1, momentum=0.9)
    gW1, _ = _hand_grads(W, b)
    W1 = W - 0.1 * gW1
    b1 = b - 0.1 * _hand_grads(W, b)[1]
    gW2, _ = _hand_grads(W1, b1)
    assert np.allclose(lin.weight.data, W1 - 0.1 * (0.9 * gW1 + gW2), atol=1e-5)


@pytest.mark.parametrize(("opt_cls", "wd"), [(Adam, 0.0), (Adam, 0.1), (AdamW, 0.1)])
def test_adam_one_step(opt_cls: type[Optimizer], wd: float) -> None:
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    lin, (W, b) = _one_step(opt_cls, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
    for new, old, g in zip((lin.weight.data, lin.bias.data), (W, b), _hand_grads(W, b)):
        if opt_cls is AdamW:
            old = old * (1 - lr * wd)
        else:
            g = g + wd * old
        m_hat = (1 - b1) * g / (1 - b1)
        v_hat = (1 - b2) * g**2 / (1 - b2)
        assert np.allclose(new, old - lr * m_hat / (np.sqrt(v_hat) + eps), atol=1e-6)


@pytest.mark.parametrize(
    ("opt_cls", "kwargs", "steps"),
    [
        (SGD, {"lr": 0.1}, 300),
        (SGD, {"lr": 0.05, "momentum": 0.9}, 150),
        (Adam, {"lr": 0.05}, 300),
        (AdamW, {"lr": 0.05, "weight_decay": 0.0}, 300),
    ],
)
def test_minimising_a_quadratic_converges(opt_cls: type[Optimizer], kwargs: dict, steps: int) -> None:
    """Least squares through a Linear layer: reaches the closed-form solution."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(32, 3)).astype(np.float32)
    Y = (X @ np.array([[1.0], [-2.0], [0.5]]) + 0.7).astype(np.float32)
    lin = Linear(3, 1, rng=np.random.default_rng(2))
    opt = opt_cls(lin.parameters(), **kwargs)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = ((lin(Tensor(X)) - Y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 1e-4 < losses[0]
    assert np.allclose(lin.weight.data.ravel(), [1.0, -2.0, 0.5], atol=0.02)
    assert np.isclose(lin.bias.data[0], 0.7, atol=0.02)


def test_cosine_schedule_with_adam_on_a_layer() -> None:
    lin = _layer()
    opt = Adam(lin.parameters(), lr=0.05)
    sched = CosineLR(opt, total_steps=50)
    for _ in range(50):
        opt.zero_grad()
        (((lin(Tensor(_X.astype(np.float32))) - _Y.astype(np.float32)) ** 2).mean()).backward()
        opt.step()
        sched.step()
    assert opt.lr == 0.0
    assert opt.state_nbytes() == 2 * sum(p.data.nbytes for p in lin.parameters())
