"""Layers and dense networks under autograd: numerically checked gradients and a regression that learns."""

import numpy as np
import pytest

import tinytorch.core.autograd  # noqa: F401  (makes Tensor ops differentiable)
from tinytorch.core.autograd import check_gradients, no_grad, numerical_gradient
from tinytorch.core.dense import MLP, Sequential
from tinytorch.core.layers import Dropout, Linear, Module
from tinytorch.core.tensor import Tensor


def _float64(module: Module) -> Module:
    """Gradient checks need float64: cast every parameter in place."""
    for p in module.parameters():
        p.data = p.data.astype(np.float64)
    return module


def _assert_gradients(f, tensors, rtol=1e-5, atol=1e-7):
    """Compare autograd's gradients of `sum(f() * w)` (fixed random w) with central differences."""
    w = np.random.default_rng(0).uniform(0.5, 1.5, size=f().shape)

    def loss() -> Tensor:
        return (f() * w).sum()

    for t in tensors:
        t.grad = None
    loss().backward()
    for i, t in enumerate(tensors):
        numeric = numerical_gradient(lambda _: loss(), t)
        assert t.grad is not None, f"tensor {i} got no gradient"
        np.testing.assert_allclose(t.grad.data, numeric, rtol=rtol, atol=atol, err_msg=f"tensor {i}")


class _Tanh:
    def __call__(self, x: Tensor) -> Tensor:
        return x.tanh()


def _x(*shape: int, seed: int = 0) -> Tensor:
    return Tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


# ---------------------------------------------------------------- Linear
@pytest.mark.parametrize("shape", [(4, 3), (1, 3), (2, 2, 3), (3,)])
def test_linear_gradients_match_numerical(shape):
    lin = _float64(Linear(3, 2, rng=np.random.default_rng(1)))
    lin.bias.data = np.array([0.3, -0.2])
    x = _x(*shape)
    _assert_gradients(lambda: lin(x), [x, lin.weight, lin.bias])


def test_linear_gradients_have_the_closed_form():
    lin = _float64(Linear(3, 2))
    x = _x(5, 3)
    g = np.random.default_rng(2).standard_normal((5, 2))
    lin(x).backward(g)
    np.testing.assert_allclose(lin.weight.grad.data, x.data.T @ g)
    np.testing.assert_allclose(lin.bias.grad.data, g.sum(axis=0))
    np.testing.assert_allclose(x.grad.data, g @ lin.weight.data.T)


def test_linear_without_bias_passes_autograds_own_checker():
    lin = _float64(Linear(4, 3, bias=False))
    x = Tensor(np.random.default_rng(3).standard_normal((2, 4)))
    assert check_gradients(lambda x, w: lin(x), [x, lin.weight])


def test_parameters_receive_float32_gradients_in_float32_models():
    lin = Linear(3, 2)
    lin(Tensor(np.ones((4, 3), dtype=np.float32))).sum().backward()
    assert lin.weight.grad.dtype == np.float32 and lin.weight.grad.shape == (3, 2)
    np.testing.assert_allclose(lin.bias.grad.data, [4.0, 4.0])


# ---------------------------------------------------------------- MLP / Sequential
@pytest.mark.parametrize("activation", [None, _Tanh])
def test_mlp_gradients_match_numerical(activation):
    mlp = _float64(MLP([3, 5, 4, 2], activation=activation, rng=np.random.default_rng(0)))
    for p in mlp.parameters():          # non-zero biases so ReLU kinks are not hit exactly
        if p.ndim == 1:
            p.data = np.random.default_rng(p.size).uniform(-0.5, 0.5, p.shape)
    x = _x(6, 3, seed=4)
    _assert_gradients(lambda: mlp(x), [x, *mlp.parameters()])


def test_every_mlp_parameter_gets_a_gradient_and_zero_grad_clears_them():
    mlp = MLP([2, 4, 1], activation=_Tanh)
    mlp(Tensor(np.ones((3, 2), dtype=np.float32))).sum().backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in mlp.parameters())
    mlp.zero_grad()
    assert all(p.grad is None for p in mlp.parameters())


def test_gradients_accumulate_across_backward_calls():
    lin = _float64(Linear(2, 2))
    x = Tensor(np.array([[1.0, 2.0]]))
    lin(x).sum().backward()
    first = lin.weight.grad.data.copy()
    lin(x).sum().backward()
    np.testing.assert_allclose(lin.weight.grad.data, 2 * first)


def test_no_grad_forward_builds_no_graph():
    mlp = MLP([2, 3, 1])
    with no_grad():
        out = mlp(Tensor(np.ones((2, 2), dtype=np.float32)))
    assert not out.requires_grad and out._prev == ()
    assert mlp(Tensor(np.ones((2, 2), dtype=np.float32))).requires_grad


def test_shared_layer_gets_the_sum_of_both_gradients():
    lin = _float64(Linear(2, 2, bias=False))
    seq = Sequential(lin, _Tanh(), lin)
    assert seq.num_parameters() == 4
    x = _x(3, 2)
    _assert_gradients(lambda: seq(x), [x, lin.weight])


# ---------------------------------------------------------------- Dropout
def test_dropout_gradient_flows_only_through_kept_units():
    drop = Dropout(0.5, rng=np.random.default_rng(0))
    x = Tensor(np.ones((8, 8)), requires_grad=True)
    y = drop(x)
    y.sum().backward()
    kept = y.data != 0
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(x.grad.data, np.where(kept, 2.0, 0.0))


def test_dropout_in_eval_passes_the_gradient_unchanged():
    drop = Dropout(0.5).eval()
    x = _x(3, 4)
    (drop(x) * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.data, 3.0)


# ---------------------------------------------------------------- learning
def test_small_mlp_regression_loss_falls():
    rng = np.random.default_rng(0)
    xs = rng.uniform(-2, 2, size=(64, 1)).astype(np.float32)
    ys = (np.sin(xs) + 0.3 * xs).astype(np.float32)
    model = MLP([1, 16, 16, 1], activation=_Tanh, rng=np.random.default_rng(1))
    x, y = Tensor(xs), Tensor(ys)

    def mse() -> Tensor:
        return ((model(x) - y) ** 2).mean()

    losses = []
    for _ in range(300):
        model.zero_grad()
        loss = mse()
        loss.backward()
        for p in model.parameters():
            p.data -= 0.05 * p.grad.data
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0]
    assert losses[-1] < 0.01
    assert all(p.dtype == np.float32 for p in model.parameters())

    clone = MLP([1, 16, 16, 1], activation=_Tanh, rng=np.random.default_rng(7))
    clone.load_state_dict(model.state_dict())
    with no_grad():
        np.testing.assert_array_equal(clone(x).numpy(), model(x).numpy())


def test_dropout_regularised_model_still_trains_and_eval_is_deterministic():
    rng = np.random.default_rng(3)
    xs = rng.standard_normal((32, 4)).astype(np.float32)
    ys = (xs @ np.array([[1.0], [-2.0], [0.5], [0.0]], dtype=np.float32))
    model = Sequential(Linear(4, 32, rng=np.random.default_rng(0)), _Tanh(), Dropout(0.1, rng=np.random.default_rng(1)),
                       Linear(32, 1, rng=np.random.default_rng(2)))
    x, y = Tensor(xs), Tensor(ys)
    model.eval()
    start = ((model(x) - y) ** 2).mean().item()
    model.train()
    for _ in range(150):
        model.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        for p in model.parameters():
            p.data -= 0.05 * p.grad.data
    model.eval()
    end = ((model(x) - y) ** 2).mean().item()
    assert end < 0.2 * start
    np.testing.assert_array_equal(model(x).numpy(), model(x).numpy())
