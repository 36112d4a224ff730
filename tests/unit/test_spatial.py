"""Unit tests for tinytorch.core.spatial: conv_output_size, Conv2d, MaxPool2d, AvgPool2d, Flatten."""

import math

import numpy as np
import pytest

from tinytorch.core.layers import Linear, Module
from tinytorch.core.spatial import AvgPool2d, Conv2d, Flatten, MaxPool2d, conv_output_size
from tinytorch.core.tensor import Tensor


def _conv_reference(x, w, b, stride, padding):
    """The textbook 6-loop convolution (NCHW, weights OIHW), in float64."""
    (sh, sw), (ph, pw) = stride, padding
    x = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    oh, ow = (h - kh) // sh + 1, (wd - kw) // sw + 1
    out = np.zeros((n, o, oh, ow))
    for i_n in range(n):
        for i_o in range(o):
            for i in range(oh):
                for j in range(ow):
                    window = x[i_n, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    out[i_n, i_o, i, j] = (window * w[i_o]).sum() + (0.0 if b is None else b[i_o])
    return out


def _pool_reference(x, kernel, stride, reduce):
    (kh, kw), (sh, sw) = kernel, stride
    n, c, h, w = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.zeros((n, c, oh, ow), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = reduce(x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw], axis=(2, 3))
    return out


def _x(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------- conv_output_size
@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding", "expected"),
    [(32, 3, 1, 1, 32), (32, 3, 1, 0, 30), (32, 2, 2, 0, 16), (7, 3, 2, 0, 3), (7, 3, 2, 1, 4), (3, 3, 1, 0, 1),
     (1, 3, 1, 1, 1), (5, 5, 5, 0, 1)],
)
def test_conv_output_size(size, kernel, stride, padding, expected):
    assert conv_output_size(size, kernel, stride, padding) == expected


@pytest.mark.parametrize(
    ("args", "match"),
    [((5, 0, 1, 0), "need kernel >= 1"), ((5, 3, 0, 0), "stride >= 1"), ((5, 3, 1, -1), "padding >= 0"),
     ((2, 5, 1, 1), "kernel size 5 does not fit an input of size 2 with padding 1")],
)
def test_conv_output_size_errors(args, match):
    with pytest.raises(ValueError, match=match):
        conv_output_size(*args)


# ---------------------------------------------------------------- Conv2d
@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "hw"),
    [(3, 1, 0, (5, 5)), (3, 1, 1, (5, 5)), (3, 2, 1, (6, 7)), (1, 1, 0, (4, 3)), ((2, 3), (1, 2), (0, 1), (5, 6)),
     (5, 1, 2, (5, 5)), (2, 3, 0, (8, 8))],
)
def test_conv2d_matches_loop_reference(kernel, stride, padding, hw):
    conv = Conv2d(3, 4, kernel, stride=stride, padding=padding, rng=np.random.default_rng(1))
    conv.bias.data = np.arange(4, dtype=np.float32) * 0.1
    x = _x(2, 3, *hw)
    out = conv(Tensor(x))
    expected = _conv_reference(x, conv.weight.numpy(), conv.bias.numpy(), conv.stride, conv.padding)
    assert out.shape == expected.shape and out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-5)


def test_conv2d_without_bias():
    conv = Conv2d(2, 3, 3, bias=False)
    assert conv.bias is None and [n for n, _ in conv.named_parameters()] == ["weight"]
    x = _x(1, 2, 4, 4)
    np.testing.assert_allclose(conv(Tensor(x)).numpy(), _conv_reference(x, conv.weight.numpy(), None, (1, 1), (0, 0)),
                               rtol=1e-4, atol=1e-5)


def test_conv2d_parameters_and_init():
    conv = Conv2d(8, 16, 3, rng=np.random.default_rng(0))
    assert conv.weight.shape == (16, 8, 3, 3) and conv.bias.shape == (16,)
    assert [n for n, _ in conv.named_parameters()] == ["weight", "bias"]
    assert conv.num_parameters() == 16 * 8 * 9 + 16
    w = conv.weight.numpy()
    bound = math.sqrt(6 / (8 * 9))
    assert w.dtype == np.float32 and np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert abs(w.var() - 2 / 72) < 0.15 * (2 / 72) and np.all(conv.bias.numpy() == 0)


def test_conv2d_init_is_seeded():
    assert np.array_equal(Conv2d(2, 3, 3).weight.data, Conv2d(2, 3, 3).weight.data)
    a = Conv2d(2, 3, 3, rng=np.random.default_rng(5)).weight.data
    assert not np.array_equal(a, Conv2d(2, 3, 3).weight.data)


def test_conv2d_attributes_and_repr():
    conv = Conv2d(1, 2, (3, 5), stride=(1, 2), padding=1)
    assert conv.kernel_size == (3, 5) and conv.stride == (1, 2) and conv.padding == (1, 1)
    assert repr(conv) == "Conv2d(1, 2, kernel_size=(3, 5), stride=(1, 2), padding=(1, 1), bias=True)"


@pytest.mark.parametrize("n", [1, 0])
def test_conv2d_batch_of_one_and_empty_batch(n):
    conv = Conv2d(2, 3, 3, padding=1)
    out = conv(Tensor(np.ones((n, 2, 4, 4), dtype=np.float32)))
    assert out.shape == (n, 3, 4, 4)


def test_conv2d_channel_mixing_with_1x1_kernel_is_a_matmul():
    conv = Conv2d(3, 2, 1, rng=np.random.default_rng(2))
    x = _x(2, 3, 4, 4)
    expected = np.einsum("nchw,oc->nohw", x, conv.weight.numpy()[:, :, 0, 0])
    np.testing.assert_allclose(conv(Tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_conv2d_reuses_index_arrays_per_input_size():
    conv = Conv2d(1, 1, 3)
    conv(Tensor(np.ones((1, 1, 5, 5), dtype=np.float32)))
    conv(Tensor(np.ones((2, 1, 5, 5), dtype=np.float32)))
    assert len(conv._index_cache) == 1
    conv(Tensor(np.ones((1, 1, 6, 5), dtype=np.float32)))
    assert len(conv._index_cache) == 2


def test_conv2d_keeps_float64_input_precision():
    conv = Conv2d(1, 1, 2)
    for p in conv.parameters():
        p.data = p.data.astype(np.float64)
    assert conv(Tensor(np.ones((1, 1, 3, 3)))).dtype == np.float64


@pytest.mark.parametrize(
    ("shape", "match"),
    [((3, 4, 4), r"4-D input \(N, C, H, W\), got shape \(3, 4, 4\)"),
     ((1, 1, 3, 4, 4), "4-D input"),
     ((1, 2, 4, 4), "expects 3 input channels, got 2"),
     ((1, 3, 2, 8), "kernel size 3 does not fit an input of size 2")],
)
def test_conv2d_rejects_bad_inputs(shape, match):
    with pytest.raises(ValueError, match=match):
        Conv2d(3, 4, 3)(Tensor(np.zeros(shape, dtype=np.float32)))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [(dict(in_channels=0, out_channels=2, kernel_size=3), ValueError, "positive channel counts"),
     (dict(in_channels=1, out_channels=2, kernel_size=0), ValueError, "kernel_size >= 1"),
     (dict(in_channels=1, out_channels=2, kernel_size=3, stride=0), ValueError, "stride >= 1"),
     (dict(in_channels=1, out_channels=2, kernel_size=3, padding=-1), ValueError, "padding >= 0"),
     (dict(in_channels=1, out_channels=2, kernel_size=(3, 3, 3)), ValueError, "kernel_size must be an int or a pair")],
)
def test_conv2d_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        Conv2d(**kwargs)


# ---------------------------------------------------------------- pooling
@pytest.mark.parametrize(
    ("kernel", "stride", "hw"),
    [(2, None, (4, 4)), (2, None, (5, 7)), (3, None, (6, 6)), (3, 1, (5, 5)), (3, 2, (7, 6)), ((2, 3), None, (4, 6)),
     ((2, 1), (1, 1), (3, 3)), (1, None, (2, 2))],
)
@pytest.mark.parametrize(("cls", "reduce"), [(MaxPool2d, np.max), (AvgPool2d, np.mean)])
def test_pooling_matches_loop_reference(cls, reduce, kernel, stride, hw):
    pool = cls(kernel, stride=stride)
    x = _x(2, 3, *hw)
    out = pool(Tensor(x))
    expected = _pool_reference(x, pool.kernel_size, pool.stride, reduce)
    assert out.shape == expected.shape and out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6, atol=1e-7)


def test_pool_stride_defaults_to_kernel():
    assert MaxPool2d(3).stride == (3, 3) and AvgPool2d(2, stride=1).stride == (1, 1)
    assert repr(MaxPool2d(2)) == "MaxPool2d(kernel_size=(2, 2), stride=(2, 2))"


def test_pools_have_no_parameters():
    assert MaxPool2d(2).parameters() == [] and AvgPool2d(2).num_parameters() == 0


@pytest.mark.parametrize("cls", [MaxPool2d, AvgPool2d])
@pytest.mark.parametrize("n", [1, 0])
def test_pool_batch_of_one_and_empty_batch(cls, n):
    assert cls(2)(Tensor(np.zeros((n, 3, 4, 4), dtype=np.float32))).shape == (n, 3, 2, 2)
    assert cls(3, stride=1)(Tensor(np.zeros((n, 3, 4, 4), dtype=np.float32))).shape == (n, 3, 2, 2)


@pytest.mark.parametrize("cls", [MaxPool2d, AvgPool2d])
def test_pool_rejects_bad_input_and_arguments(cls):
    name = cls.__name__
    with pytest.raises(ValueError, match=rf"{name} expects a 4-D input"):
        cls(2)(Tensor(np.zeros((4, 4), dtype=np.float32)))
    with pytest.raises(ValueError, match="kernel size 3 does not fit an input of size 2"):
        cls(3)(Tensor(np.zeros((1, 1, 2, 5), dtype=np.float32)))
    with pytest.raises(ValueError, match=rf"{name} needs kernel_size >= 1 and stride >= 1"):
        cls(0)
    with pytest.raises(ValueError, match="stride >= 1"):
        cls(2, stride=0)


def test_maxpool_values_by_hand():
    x = np.array([[1, 2, 5, 0], [3, 4, 1, 1], [0, 0, 9, 8], [-1, 7, 6, 6]], dtype=np.float32)[None, None]
    assert MaxPool2d(2)(Tensor(x)).numpy()[0, 0].tolist() == [[4, 5], [7, 9]]
    assert AvgPool2d(2)(Tensor(x)).numpy()[0, 0].tolist() == [[2.5, 1.75], [1.5, 7.25]]


# ---------------------------------------------------------------- Flatten
@pytest.mark.parametrize(("shape", "expected"), [((2, 3, 4, 5), (2, 60)), ((1, 3, 4, 5), (1, 60)),
                                                 ((0, 3, 4, 5), (0, 60)), ((2, 7), (2, 7))])
def test_flatten_shapes(shape, expected):
    x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    out = Flatten()(Tensor(x))
    assert out.shape == expected and np.array_equal(out.numpy(), x.reshape(expected))


def test_flatten_start_dim():
    assert Flatten(start_dim=2)(Tensor(np.zeros((2, 3, 4, 5)))).shape == (2, 3, 20)
    assert Flatten(start_dim=0)(Tensor(np.zeros((2, 3)))).shape == (6,)
    assert repr(Flatten()) == "Flatten(start_dim=1)"


def test_flatten_errors():
    with pytest.raises(ValueError, match=r"more than 1 dims, got shape \(5,\)"):
        Flatten()(Tensor(np.zeros(5)))
    with pytest.raises(ValueError, match="start_dim must be >= 0"):
        Flatten(start_dim=-1)


# ---------------------------------------------------------------- a tiny CNN
class _TinyCNN(Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = Conv2d(1, 4, 3, padding=1, rng=np.random.default_rng(0))
        self.pool = MaxPool2d(2)
        self.flat = Flatten()
        self.head = Linear(4 * 4 * 4, 3, rng=np.random.default_rng(1))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.flat(self.pool(self.conv(x).maximum(0.0))))


def test_tiny_cnn_shapes_names_and_state_round_trip():
    net = _TinyCNN()
    x = Tensor(_x(2, 1, 8, 8))
    assert net(x).shape == (2, 3)
    assert [n for n, _ in net.named_parameters()] == ["conv.weight", "conv.bias", "head.weight", "head.bias"]
    other = _TinyCNN()
    other.conv.weight.data = other.conv.weight.data * 2
    other.load_state_dict(net.state_dict())
    assert np.array_equal(other(x).numpy(), net(x).numpy())
