"""Unit tests for tinytorch.core.kernels: every fast path equals its naive reference, and bad input is refused."""

from types import SimpleNamespace

import numpy as np
import pytest

from tinytorch.core.kernels import (
    benchmark_kernels,
    conv2d_im2col,
    conv2d_naive,
    im2col,
    matmul_blocked,
    matmul_naive,
    matmul_vectorized,
    time_kernel,
)
from tinytorch.core.tensor import Tensor


def _rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


# --- matmul -------------------------------------------------------------------------------------------------

def test_matmul_naive_hand_example() -> None:
    a = np.array([[1, 2], [3, 4]])
    b = np.array([[5, 6], [7, 8]])
    out = matmul_naive(a, b)
    assert out.tolist() == [[19, 22], [43, 50]]
    assert out.dtype == np.result_type(a, b)


@pytest.mark.parametrize("kernel", [matmul_naive, matmul_vectorized, matmul_blocked])
def test_integer_matmul_is_exact(kernel) -> None:
    rng = np.random.default_rng(1)
    a, b = rng.integers(-9, 9, (5, 7)), rng.integers(-9, 9, (7, 3))
    assert np.array_equal(kernel(a, b), a @ b)


@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 5, 2), (8, 8, 8), (17, 9, 13)])
@pytest.mark.parametrize("block", [1, 4, 64])
def test_blocked_and_vectorized_equal_naive(shape, block) -> None:
    m, k, n = shape
    a, b = _rand(m, k), _rand(k, n, seed=1)
    expected = matmul_naive(a, b)
    np.testing.assert_allclose(matmul_blocked(a, b, block=block), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(matmul_vectorized(a, b), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel", [matmul_naive, matmul_vectorized, matmul_blocked])
def test_matmul_accepts_tensors_and_keeps_float32(kernel) -> None:
    a = Tensor(np.ones((2, 3), dtype=np.float32))
    b = Tensor(np.full((3, 2), 2.0, dtype=np.float32))
    out = kernel(a, b)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    assert np.array_equal(out, np.full((2, 2), 6.0))


def test_matmul_blocked_does_not_modify_inputs() -> None:
    a, b = _rand(5, 4), _rand(4, 6, seed=1)
    a0, b0 = a.copy(), b.copy()
    matmul_blocked(a, b, block=2)
    assert np.array_equal(a, a0) and np.array_equal(b, b0)


@pytest.mark.parametrize("kernel", [matmul_naive, matmul_vectorized, matmul_blocked])
@pytest.mark.parametrize(
    ("a", "b", "match"),
    [
        (np.ones(3), np.ones((3, 2)), r"2-D operands, got shapes \(3,\) and \(3, 2\)"),
        (np.ones((2, 3, 4)), np.ones((4, 2)), r"2-D operands"),
        (np.ones((2, 3)), np.ones((4, 2)), r"inner dimensions differ: a is \(2, 3\), b is \(4, 2\)"),
    ],
)
def test_matmul_shape_errors(kernel, a, b, match) -> None:
    with pytest.raises(ValueError, match=match):
        kernel(a, b)


def test_matmul_rejects_non_numeric() -> None:
    with pytest.raises(TypeError, match="a must hold numbers, got dtype <U1"):
        matmul_naive(np.array([["x"]]), np.ones((1, 1)))


@pytest.mark.parametrize("block", [0, -3, 2.5, True, "8"])
def test_matmul_blocked_rejects_bad_block(block) -> None:
    with pytest.raises(ValueError, match="block must be a positive int"):
        matmul_blocked(np.ones((2, 2)), np.ones((2, 2)), block=block)


# --- im2col ------------------------------------------------------------------------------------------------

def test_im2col_hand_example() -> None:
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    cols = im2col(x, 3)
    assert cols.shape == (4, 9)
    assert cols[0].tolist() == [0, 1, 2, 4, 5, 6, 8, 9, 10]
    assert cols[3].tolist() == [5, 6, 7, 9, 10, 11, 13, 14, 15]


def test_im2col_row_and_column_order() -> None:
    # rows are (n, i, j), columns are (c, u, v): the same order as w.reshape(F, C*KH*KW)
    x = _rand(2, 3, 5, 4)
    cols = im2col(x, (2, 3), stride=(1, 1), padding=0)
    oh, ow = 4, 2
    assert cols.shape == (2 * oh * ow, 3 * 2 * 3)
    n, i, j = 1, 2, 1
    row = cols[n * oh * ow + i * ow + j]
    assert np.array_equal(row, x[n, :, i:i + 2, j:j + 3].reshape(-1))


def test_im2col_padding_and_stride() -> None:
    x = np.ones((1, 1, 3, 3))
    cols = im2col(x, 2, stride=2, padding=1)
    assert cols.shape == (4, 4)
    # the top-left window sees three zeros of padding and one real pixel
    assert cols[0].tolist() == [0, 0, 0, 1]
    assert cols.sum() == 9  # every real pixel appears exactly once with stride == kernel


def test_im2col_returns_a_copy() -> None:
    x = _rand(1, 2, 4, 4)
    cols = im2col(x, 2)
    cols[:] = 0.0
    assert np.abs(x).sum() > 0


# --- conv --------------------------------------------------------------------------------------------------

def test_conv2d_naive_hand_example() -> None:
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    w = np.ones((1, 1, 2, 2))
    out = conv2d_naive(x, w, b=np.array([0.5]))
    assert out.tolist() == [[[[10.5, 14.5, 18.5], [26.5, 30.5, 34.5], [42.5, 46.5, 50.5]]]]


def test_conv2d_naive_multichannel_hand_example() -> None:
    x = np.stack([np.ones((3, 3)), 2 * np.ones((3, 3))])[None]  # (1, 2, 3, 3)
    w = np.zeros((2, 2, 3, 3))
    w[0, 0, 1, 1] = 1.0      # filter 0 picks the centre of channel 0
    w[1, 1] = 1.0            # filter 1 sums channel 1's window
    out = conv2d_naive(x, w, padding=1)
    assert out.shape == (1, 2, 3, 3)
    assert np.array_equal(out[0, 0], np.ones((3, 3)))
    assert out[0, 1, 1, 1] == 18.0 and out[0, 1, 0, 0] == 8.0  # corner window has 4 real pixels


@pytest.mark.parametrize(("stride", "padding"), [(1, 0), (2, 1), (3, 2), ((1, 2), (0, 1))])
@pytest.mark.parametrize("use_bias", [True, False])
def test_conv2d_im2col_equals_naive(stride, padding, use_bias) -> None:
    x, w = _rand(2, 3, 7, 6), _rand(4, 3, 3, 2, seed=1)
    b = _rand(4, seed=2) if use_bias else None
    np.testing.assert_allclose(
        conv2d_im2col(x, w, b, stride=stride, padding=padding),
        conv2d_naive(x, w, b, stride=stride, padding=padding),
        rtol=1e-12, atol=1e-12,
    )


def test_conv2d_accepts_tensors_and_keeps_float32() -> None:
    x = Tensor(_rand(1, 2, 5, 5).astype(np.float32))
    w = Tensor(_rand(3, 2, 3, 3, seed=1).astype(np.float32))
    b = Tensor(np.zeros(3, dtype=np.float32))
    fast, slow = conv2d_im2col(x, w, b, padding=1), conv2d_naive(x, w, b, padding=1)
    assert fast.dtype == np.float32 and slow.dtype == np.float32 and fast.shape == (1, 3, 5, 5)
    np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("conv", [conv2d_naive, conv2d_im2col])
@pytest.mark.parametrize(
    ("x", "w", "kwargs", "error", "match"),
    [
        (np.ones((3, 4, 4)), np.ones((1, 3, 2, 2)), {}, ValueError, r"x must be 4-D \(N, C, H, W\), got shape \(3, 4, 4\)"),
        (np.ones((1, 3, 4, 4)), np.ones((3, 2, 2)), {}, ValueError, r"w must be 4-D \(F, C, KH, KW\)"),
        (np.ones((1, 3, 4, 4)), np.ones((1, 2, 2, 2)), {}, ValueError, r"x has 3 channels but w expects 2"),
        (np.ones((1, 1, 4, 4)), np.ones((2, 1, 2, 2)), {"b": np.ones(3)}, ValueError, r"b must have shape \(2,\), got \(3,\)"),
        (np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), {"stride": 0}, ValueError, r"stride must be an int >= 1"),
        (np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), {"padding": -1}, ValueError, r"padding must be an int >= 0"),
        (np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), {"stride": (1, 2, 3)}, ValueError, r"stride must be .* pair"),
        (np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3)), {}, ValueError, r"kernel \(3, 3\) is larger than the padded input \(2, 2\)"),
    ],
)
def test_conv_errors(conv, x, w, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        conv(x, w, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kernel": 0}, r"kernel must be an int >= 1"),
        ({"kernel": 2.0}, r"kernel must be an int >= 1"),
        ({"kernel": 2, "stride": True}, r"stride must be an int >= 1"),
        ({"kernel": 5}, r"kernel \(5, 5\) is larger than the padded input \(4, 4\)"),
    ],
)
def test_im2col_errors(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        im2col(np.ones((1, 1, 4, 4)), **kwargs)


# --- timing ------------------------------------------------------------------------------------------------

def test_time_kernel_calls_warmup_plus_repeat_times() -> None:
    calls = []
    seconds = time_kernel(calls.append, 7, repeat=4, warmup=2)
    assert calls == [7] * 6
    assert isinstance(seconds, float) and seconds >= 0.0


def test_time_kernel_returns_the_median(monkeypatch) -> None:
    import tinytorch.core.kernels as kernels

    ticks = iter([0.0, 1.0, 10.0, 10.5, 20.0, 29.0])  # durations 1.0, 0.5, 9.0 -> median 1.0
    monkeypatch.setattr(kernels, "time", SimpleNamespace(perf_counter=lambda: next(ticks)))
    assert time_kernel(lambda: None, repeat=3, warmup=0) == 1.0


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        (("not callable",), {}, TypeError, "fn must be callable, got str"),
        ((len, [1]), {"repeat": 0}, ValueError, "repeat must be an int >= 1, got 0"),
        ((len, [1]), {"repeat": 2.0}, ValueError, "repeat must be an int >= 1"),
        ((len, [1]), {"warmup": -1}, ValueError, "warmup must be an int >= 0, got -1"),
    ],
)
def test_time_kernel_errors(args, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        time_kernel(*args, **kwargs)


def test_benchmark_kernels_reports_every_kernel() -> None:
    times = benchmark_kernels(n=8, repeat=1)
    assert set(times) == {"matmul_naive", "matmul_blocked", "matmul_vectorized", "conv2d_naive", "conv2d_im2col"}
    assert all(isinstance(t, float) and t >= 0.0 for t in times.values())


### BEGIN HIDDEN TESTS
@pytest.mark.parametrize("n", [3, 0, 8.0])
def test_benchmark_kernels_rejects_small_n(n) -> None:
    with pytest.raises(ValueError, match="n must be an int >= 4"):
        benchmark_kernels(n=n)
### END HIDDEN TESTS
