"""Integration: every fast kernel equals its naive version over many shapes, and kernels agree with spatial.Conv2d."""

import itertools

import numpy as np
import pytest

from tinytorch.core.kernels import (
    conv2d_im2col,
    conv2d_naive,
    im2col,
    matmul_blocked,
    matmul_naive,
    matmul_vectorized,
)
from tinytorch.core.spatial import Conv2d
from tinytorch.core.tensor import Tensor

_SIZES = [1, 2, 3, 7, 16, 17]
_MATMUL_SHAPES = list(itertools.product(_SIZES, repeat=3))
_BLOCKS = [1, 2, 5, 16, 64]


@pytest.mark.parametrize(("m", "k", "n"), _MATMUL_SHAPES)
def test_matmul_fast_paths_equal_naive(m: int, k: int, n: int) -> None:
    rng = np.random.default_rng(m * 10_000 + k * 100 + n)
    a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
    expected = matmul_naive(a, b)
    np.testing.assert_allclose(matmul_vectorized(a, b), expected, rtol=1e-12, atol=1e-12)
    for block in _BLOCKS:
        np.testing.assert_allclose(matmul_blocked(a, b, block=block), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("block", [1, 3, 8, 31, 32, 33])
def test_blocked_matmul_non_square_block_edges(block: int) -> None:
    rng = np.random.default_rng(block)
    a, b = rng.integers(-5, 5, (33, 65)), rng.integers(-5, 5, (65, 31))
    # integers make the comparison exact whatever the summation order
    assert np.array_equal(matmul_blocked(a, b, block=block), matmul_naive(a, b))


_CONV_CASES = [
    # (N, C, H, W, F, KH, KW, stride, padding)
    (1, 1, 5, 5, 1, 3, 3, 1, 0),
    (2, 3, 7, 6, 4, 3, 3, 1, 1),
    (2, 3, 7, 6, 4, 3, 2, 2, 1),
    (1, 2, 9, 4, 3, 1, 1, 1, 0),
    (3, 1, 8, 8, 2, 4, 4, 4, 0),
    (1, 4, 5, 11, 5, 5, 3, 2, 2),
    (2, 2, 6, 6, 3, 6, 6, 1, 0),
    (1, 3, 10, 7, 2, 3, 5, 3, 2),
    (1, 1, 1, 1, 2, 1, 1, 1, 0),
    (2, 2, 3, 3, 1, 2, 2, 1, 3),
]


@pytest.mark.parametrize(("n", "c", "h", "w", "f", "kh", "kw", "stride", "padding"), _CONV_CASES)
def test_conv_im2col_equals_naive(n, c, h, w, f, kh, kw, stride, padding) -> None:
    rng = np.random.default_rng(h * 100 + w)
    x, weight, bias = (rng.standard_normal((n, c, h, w)), rng.standard_normal((f, c, kh, kw)),
                       rng.standard_normal(f))
    expected = conv2d_naive(x, weight, bias, stride=stride, padding=padding)
    oh, ow = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    assert expected.shape == (n, f, oh, ow)
    np.testing.assert_allclose(conv2d_im2col(x, weight, bias, stride=stride, padding=padding), expected,
                               rtol=1e-12, atol=1e-12)
    assert im2col(x, (kh, kw), stride, padding).shape == (n * oh * ow, c * kh * kw)


@pytest.mark.parametrize(("n", "c", "h", "w", "f", "kh", "kw", "stride", "padding"),
                         [case for case in _CONV_CASES if case[5] == case[6]])
@pytest.mark.parametrize("bias", [True, False])
def test_kernels_conv_equals_spatial_conv2d(n, c, h, w, f, kh, kw, stride, padding, bias) -> None:
    layer = Conv2d(c, f, kh, stride=stride, padding=padding, bias=bias, rng=np.random.default_rng(7))
    if bias:
        layer.bias.data = np.random.default_rng(8).standard_normal(f).astype(np.float32)
    x = np.random.default_rng(9).standard_normal((n, c, h, w)).astype(np.float32)
    expected = layer(Tensor(x)).data
    b = layer.bias.data if bias else None
    for conv in (conv2d_im2col, conv2d_naive):
        out = conv(x, layer.weight.data, b, stride=stride, padding=padding)
        assert out.shape == expected.shape
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_kernels_accept_conv2d_parameters_directly() -> None:
    layer = Conv2d(2, 3, 3, padding=1)
    x = Tensor(np.random.default_rng(0).standard_normal((1, 2, 5, 5)).astype(np.float32))
    np.testing.assert_allclose(conv2d_im2col(x, layer.weight, layer.bias, padding=1), layer(x).data,
                               rtol=1e-5, atol=1e-5)
