"""Spatial layers under autograd: Conv2d/pooling/Flatten gradients checked numerically, conv vs loops."""

import numpy as np
import pytest

import tinytorch.core.autograd  # noqa: F401  (makes Tensor ops differentiable)
from tinytorch.core.autograd import numerical_gradient
from tinytorch.core.layers import Linear, Module
from tinytorch.core.spatial import AvgPool2d, Conv2d, Flatten, MaxPool2d
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


def _x(*shape: int, seed: int = 0) -> Tensor:
    return Tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


def _conv_loops(x, w, b, stride, padding):
    """Naive convolution: one dot product per (example, filter, output pixel)."""
    (sh, sw), (ph, pw) = stride, padding
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, _, h, wd = x.shape
    o, _, kh, kw = w.shape
    out = np.zeros((n, o, (h - kh) // sh + 1, (wd - kw) // sw + 1))
    for i_n in range(n):
        for i_o in range(o):
            for i in range(out.shape[2]):
                for j in range(out.shape[3]):
                    out[i_n, i_o, i, j] = np.sum(x[i_n, :, i * sh:i * sh + kh, j * sw:j * sw + kw] * w[i_o]) + b[i_o]
    return out


CONV_CASES = [
    dict(kernel_size=3, stride=1, padding=0),
    dict(kernel_size=3, stride=1, padding=1),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(2, 3), stride=(2, 1), padding=(1, 0)),
    dict(kernel_size=2, stride=3, padding=2),
]


# ---------------------------------------------------------------- Conv2d
@pytest.mark.parametrize("cfg", CONV_CASES)
def test_conv2d_equals_naive_loop_convolution(cfg):
    conv = _float64(Conv2d(2, 3, rng=np.random.default_rng(1), **cfg))
    conv.bias.data = np.array([0.5, -1.0, 2.0])
    x = _x(2, 2, 6, 5, seed=2)
    np.testing.assert_allclose(conv(x).numpy(), _conv_loops(x.data, conv.weight.data, conv.bias.data,
                                                            conv.stride, conv.padding), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cfg", CONV_CASES)
def test_conv2d_gradients_wrt_input_and_parameters(cfg):
    conv = _float64(Conv2d(2, 3, rng=np.random.default_rng(1), **cfg))
    conv.bias.data = np.array([0.1, -0.2, 0.3])
    x = _x(2, 2, 5, 5, seed=3)
    _assert_gradients(lambda: conv(x), [x, conv.weight, conv.bias])


def test_conv2d_without_bias_gradients():
    conv = _float64(Conv2d(1, 2, 2, bias=False))
    x = _x(1, 1, 3, 4, seed=4)
    _assert_gradients(lambda: conv(x), [x, conv.weight])


def test_conv2d_weight_gradient_is_a_correlation_of_input_and_output_grad():
    conv = _float64(Conv2d(1, 1, 2))
    x = _x(1, 1, 3, 3, seed=5)
    g = np.random.default_rng(6).standard_normal((1, 1, 2, 2))
    conv(x).backward(g)
    expected = np.array([[np.sum(x.data[0, 0, a:a + 2, b:b + 2] * g[0, 0]) for b in range(2)] for a in range(2)])
    np.testing.assert_allclose(conv.weight.grad.data[0, 0], expected)
    np.testing.assert_allclose(conv.bias.grad.data, [g.sum()])


def test_conv2d_padding_receives_no_gradient_leak():
    conv = _float64(Conv2d(1, 1, 3, padding=1))
    x = _x(1, 1, 4, 4, seed=7)
    conv(x).sum().backward()
    assert x.grad.shape == x.shape                       # the padded border is sliced off again
    w = conv.weight.data[0, 0]
    assert np.isclose(x.grad.data[0, 0, 1, 1], w.sum())  # interior pixel: seen by all 9 taps


def test_conv2d_empty_batch_backward():
    conv = _float64(Conv2d(2, 3, 3))
    conv(_x(0, 2, 4, 4)).sum().backward()
    np.testing.assert_array_equal(conv.weight.grad.data, 0.0)


# ---------------------------------------------------------------- pooling and Flatten
POOL_CASES = [(2, None, (4, 4)), (2, None, (5, 5)), (3, 1, (5, 4)), (3, 2, (5, 6)), ((1, 2), None, (3, 4))]


@pytest.mark.parametrize(("kernel", "stride", "hw"), POOL_CASES)
@pytest.mark.parametrize("cls", [MaxPool2d, AvgPool2d])
def test_pool_gradients_match_numerical(cls, kernel, stride, hw):
    pool = cls(kernel, stride=stride)
    x = _x(2, 2, *hw, seed=8)
    _assert_gradients(lambda: pool(x), [x])


def test_maxpool_routes_gradient_to_the_window_maximum():
    x = _x(1, 2, 4, 4, seed=9)
    MaxPool2d(2)(x).sum().backward()
    grad = x.grad.data.reshape(1, 2, 2, 2, 2, 2)
    windows = x.data.reshape(1, 2, 2, 2, 2, 2)
    assert np.array_equal(grad.sum(axis=(3, 5)), np.ones((1, 2, 2, 2)))          # exactly one 1 per window
    assert np.array_equal(grad == 1, windows == windows.max(axis=(3, 5), keepdims=True))


def test_avgpool_spreads_gradient_evenly_and_ignores_cropped_border():
    x = _x(1, 1, 5, 5, seed=10)
    AvgPool2d(2)(x).sum().backward()
    np.testing.assert_allclose(x.grad.data[0, 0, :4, :4], 0.25)
    np.testing.assert_array_equal(x.grad.data[0, 0, 4, :], 0.0)
    np.testing.assert_array_equal(x.grad.data[0, 0, :, 4], 0.0)


def test_overlapping_maxpool_accumulates_gradient_of_a_shared_maximum():
    x = Tensor(np.zeros((1, 1, 3, 3)), requires_grad=True)
    x.data[0, 0, 1, 1] = 5.0                             # the centre is the max of all four 2x2 windows
    MaxPool2d(2, stride=1)(x).sum().backward()
    assert x.grad.data[0, 0, 1, 1] == 4.0 and x.grad.data.sum() == 4.0


def test_flatten_gradient():
    x = _x(2, 3, 2, 2, seed=11)
    _assert_gradients(lambda: Flatten()(x), [x])
    assert x.grad.shape == (2, 3, 2, 2)


# ---------------------------------------------------------------- a whole CNN
class _CNN(Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = Conv2d(1, 2, 3, padding=1, rng=np.random.default_rng(0))
        self.pool = MaxPool2d(2)
        self.conv2 = Conv2d(2, 2, 2, stride=1, rng=np.random.default_rng(1))
        self.avg = AvgPool2d(2, stride=1)
        self.flat = Flatten()
        self.head = Linear(2 * 1 * 1, 3, rng=np.random.default_rng(2))

    def forward(self, x: Tensor) -> Tensor:
        h = self.pool(self.conv1(x).tanh())
        h = self.avg(self.conv2(h).tanh())
        return self.head(self.flat(h))


def test_cnn_gradients_wrt_every_parameter_and_input():
    net = _float64(_CNN())
    for p in net.parameters():
        if p.ndim == 1:
            p.data = np.random.default_rng(p.size).uniform(-0.3, 0.3, p.shape)
    x = _x(2, 1, 6, 6, seed=12)
    assert net(x).shape == (2, 3)
    _assert_gradients(lambda: net(x), [x, *net.parameters()])


def test_cnn_learns_to_tell_bright_top_from_bright_bottom():
    rng = np.random.default_rng(0)
    xs = rng.uniform(0, 0.2, size=(32, 1, 6, 6)).astype(np.float32)
    labels = np.arange(32) % 2
    xs[labels == 0, :, :3] += 1.0
    xs[labels == 1, :, 3:] += 1.0
    net = _CNN()
    x = Tensor(xs)
    target = np.eye(3, dtype=np.float32)[labels]
    losses = []
    for _ in range(60):
        net.zero_grad()
        loss = ((net(x) - target) ** 2).mean()
        loss.backward()
        for p in net.parameters():
            p.data -= 0.2 * p.grad.data
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert (net(x).numpy()[:, :2].argmax(axis=1) == labels).mean() == 1.0
