"""Integration: activations (built from Tensor ops only) become differentiable once autograd is imported."""

import numpy as np
import pytest

import tinytorch.core.autograd  # noqa: F401  (patches Tensor)
from tinytorch.core.activations import GELU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from tinytorch.core.autograd import check_gradients
from tinytorch.core.tensor import Tensor


def _x(*shape, seed=0):
    # keep away from 0 so ReLU's kink is not inside the finite-difference stencil
    v = np.random.default_rng(seed).uniform(-3.0, 3.0, size=shape)
    return np.where(np.abs(v) < 0.05, 0.3, v)


ACTIVATIONS = [
    ("relu", ReLU()),
    ("sigmoid", Sigmoid()),
    ("tanh", Tanh()),
    ("gelu", GELU()),
    ("softmax", Softmax()),
    ("softmax_axis0", Softmax(axis=0)),
    ("log_softmax", LogSoftmax()),
    ("log_softmax_axis0", LogSoftmax(axis=0)),
]


@pytest.mark.parametrize("name,act", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
@pytest.mark.parametrize("shape", [(6,), (3, 5), (2, 3, 4)])
def test_activation_gradients(name, act, shape):
    x = Tensor(_x(*shape), requires_grad=True)
    assert check_gradients(act, [x]), name
    assert x.grad.shape == shape and x.grad.dtype == np.float64


def test_relu_gradient_is_step_function():
    x = Tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    ReLU()(x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 1.0])


def test_sigmoid_tanh_gradients_closed_form():
    v = _x(5)
    x = Tensor(v, requires_grad=True)
    Sigmoid()(x).sum().backward()
    s = 1 / (1 + np.exp(-v))
    np.testing.assert_allclose(x.grad.data, s * (1 - s), rtol=1e-12)
    x.zero_grad()
    Tanh()(x).sum().backward()
    np.testing.assert_allclose(x.grad.data, 1 - np.tanh(v) ** 2, rtol=1e-12)


def test_sigmoid_gradient_finite_at_extremes():
    x = Tensor(np.array([-1e4, 1e4], dtype=np.float32), requires_grad=True)
    Sigmoid()(x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0])


def test_softmax_gradient_of_sum_is_zero_and_huge_logits_are_fine():
    x = Tensor(np.array([[1000.0, 999.0, -1000.0]]), requires_grad=True)
    Softmax()(x).sum().backward()
    np.testing.assert_allclose(x.grad.data, 0.0, atol=1e-12)
    x.zero_grad()
    LogSoftmax()(x)[0, 0].backward()
    p = np.exp(x.data[0] - 1000.0) / np.exp(x.data[0] - 1000.0).sum()
    np.testing.assert_allclose(x.grad.data[0], np.eye(3)[0] - p, atol=1e-12)


def test_log_softmax_nll_gradient_closed_form():
    rng = np.random.default_rng(1)
    x = Tensor(rng.standard_normal((4, 6)), requires_grad=True)
    labels = np.array([5, 0, 2, 2])
    (-LogSoftmax()(x)[np.arange(4), labels]).mean().backward()
    p = np.exp(x.data) / np.exp(x.data).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(x.grad.data, (p - np.eye(6)[labels]) / 4, atol=1e-12)


@pytest.mark.parametrize("act", [ReLU(), Sigmoid(), Tanh(), GELU(), Softmax(), LogSoftmax()], ids=repr)
def test_float32_activation_gradients_float32(act):
    x = Tensor(np.random.default_rng(2).standard_normal((3, 4)).astype(np.float32), requires_grad=True)
    (act(x) * Tensor(np.arange(12, dtype=np.float32).reshape(3, 4))).sum().backward()
    assert x.grad.dtype == np.float32 and np.isfinite(x.grad.data).all()


def test_activation_in_small_network():
    rng = np.random.default_rng(3)
    x = Tensor(rng.standard_normal((5, 3)))
    w1 = Tensor(rng.standard_normal((3, 4)))
    w2 = Tensor(rng.standard_normal((4, 3)))

    def net(w1, w2):
        return LogSoftmax()(GELU()(x @ w1) @ w2)

    assert check_gradients(net, [w1, w2])
