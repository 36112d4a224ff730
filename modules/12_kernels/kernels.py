# %% [markdown]
# # Kernels
# > Fast paths for the two hot loops of deep learning, matmul and convolution, each checked against a naive reference.
#
# Almost all of the time a neural network spends, it spends in two operations: matrix multiplication
# (every `Linear`, every attention projection) and convolution (every `Conv2d`). The code that does the
# actual arithmetic for them is called a *kernel*. This chapter writes each kernel twice: once as the
# obvious loops straight from the definition, and once the way fast libraries do it. The loops are the
# specification; the fast path is only allowed to exist because a test proves it computes the same numbers.
#
# The systems lesson is that the *number* of floating-point operations is the same in both versions
# (a matmul of `(m, k) @ (k, n)` is always `2mkn` FLOPs). What differs is how much work is spent *around*
# each FLOP (Python interpreter overhead, bounds checks, boxing every scalar) and how often data is moved
# between main memory and the CPU caches. A modern core can do dozens of FLOPs in the time it takes to
# fetch one cache line from DRAM, so a kernel that re-reads its inputs from memory is *memory-bound*
# long before it is compute-bound.
#
# How the real frameworks do it: PyTorch's CPU matmul calls a BLAS library (MKL, OpenBLAS, or oneDNN),
# whose inner loop is a hand-written assembly micro-kernel working on register-sized tiles inside
# cache-sized blocks. PyTorch's CPU convolution (and cuDNN's classic algorithm on GPUs) lowers the
# convolution to one big matmul with *im2col*, exactly what we build here.

# %%
#| default_exp core.kernels

# %%
#| export
import statistics
import time
from typing import Any, Callable

import numpy as np

from tinytorch.core.tensor import Tensor

# %% [markdown]
# ## Inputs
#
# Kernels work on raw `np.ndarray`s: they are the layer *below* `Tensor`, where there is no autograd
# graph, only numbers. For convenience every kernel also accepts a `Tensor` (it just takes `.data`) and
# always returns an ndarray.

# %%
#| export
def _as_array(x: Any, name: str) -> np.ndarray:
    """The ndarray behind `x` (a Tensor, ndarray, or nested list), rejecting non-numeric data."""
    ### BEGIN SOLUTION
    arr: np.ndarray = x.data if isinstance(x, Tensor) else np.asarray(x)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        msg = f"{name} must hold numbers, got dtype {arr.dtype}"
        raise TypeError(msg)
    return arr
    ### END SOLUTION


def _check_matmul(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate the operands of a 2-D matmul and return them as ndarrays."""
    ### BEGIN SOLUTION
    a_arr, b_arr = _as_array(a, "a"), _as_array(b, "b")
    if a_arr.ndim != 2 or b_arr.ndim != 2:
        msg = f"matmul kernels take 2-D operands, got shapes {a_arr.shape} and {b_arr.shape}"
        raise ValueError(msg)
    if a_arr.shape[1] != b_arr.shape[0]:
        msg = (f"inner dimensions differ: a is {a_arr.shape}, b is {b_arr.shape} "
               f"(a.shape[1] must equal b.shape[0])")
        raise ValueError(msg)
    return a_arr, b_arr
    ### END SOLUTION

# %%
assert _as_array(Tensor([[1.0, 2.0]]), "a").shape == (1, 2)
assert _check_matmul(np.ones((2, 3)), np.ones((3, 4)))[1].shape == (3, 4)

# %% [markdown]
# ## Matmul, the naive way
#
# `C[i, j] = sum_k A[i, k] * B[k, j]`: three nested loops, `m * n * k` iterations. In Python every
# iteration boxes two scalars, dispatches a multiply and an add through the interpreter, and walks
# `B` *down a column*, which in a row-major array means a jump of `n * itemsize` bytes per step: a new
# cache line almost every time. This is the reference every faster kernel is tested against.

# %%
#| export
def matmul_naive(a: Any, b: Any) -> np.ndarray:
    """`a @ b` for 2-D operands with three Python loops (the specification, not for speed)."""
    ### BEGIN SOLUTION
    a_arr, b_arr = _check_matmul(a, b)
    m, k = a_arr.shape
    n = b_arr.shape[1]
    out = np.zeros((m, n), dtype=np.result_type(a_arr, b_arr))
    # Plain Python lists: element access on them is the honest cost of "a loop", without numpy's
    # per-scalar indexing overhead on top.
    a_rows, b_rows = a_arr.tolist(), b_arr.tolist()
    for i in range(m):
        for j in range(n):
            acc = 0
            for p in range(k):
                acc += a_rows[i][p] * b_rows[p][j]
            out[i, j] = acc
    return out
    ### END SOLUTION

# %%
_a = np.arange(6.0).reshape(2, 3)
_b = np.arange(12.0).reshape(3, 4)
assert np.array_equal(matmul_naive(_a, _b), _a @ _b)

# %% [markdown]
# ## Matmul, vectorized
#
# Handing the whole product to `np.matmul` moves all three loops out of Python and into a BLAS library
# (OpenBLAS or MKL behind numpy). BLAS does the same `2mkn` FLOPs, but with SIMD instructions (4-16
# multiply-adds per instruction), several cores, and the cache blocking of the next section built in.
# This is what `Tensor.__matmul__` does, and what `torch.matmul` does on CPU.

# %%
#| export
def matmul_vectorized(a: Any, b: Any) -> np.ndarray:
    """`a @ b` for 2-D operands in one call into numpy's BLAS."""
    ### BEGIN SOLUTION
    a_arr, b_arr = _check_matmul(a, b)
    out: np.ndarray = np.matmul(a_arr, b_arr)
    return out
    ### END SOLUTION

# %%
assert np.array_equal(matmul_vectorized(_a, _b), matmul_naive(_a, _b))

# %% [markdown]
# ## Matmul, blocked (tiled)
#
# Why blocking matters: for `n = 1024` in float32, each matrix is 4 MiB, bigger than a typical L2 cache
# (1-2 MiB) and often than L3 per core. The naive loop order streams all of `B` from memory once *per
# row of A*: `m * k * n` loads for `2mkn` FLOPs, about one load per two FLOPs, so the CPU waits on DRAM.
#
# Blocking cuts the matrices into `block x block` tiles and multiplies tile by tile. Three tiles of
# `64 x 64` float64 are 96 KiB, which stays in L2 while it is reused: each element loaded from memory now
# feeds `block` multiply-adds instead of one. The arithmetic intensity (FLOPs per byte moved) grows
# linearly with the block size until the tiles stop fitting in cache. BLAS libraries nest this idea
# several levels deep (register tiles inside L1 tiles inside L2 blocks). Here the tile product itself is
# a small `np.matmul` (our "micro-kernel"); the loops over tiles are the part we write.
#
# Edge tiles are smaller when a dimension is not a multiple of `block`: slicing past the end of an array
# just returns what is there, so odd sizes need no special case.

# %%
#| export
def matmul_blocked(a: Any, b: Any, block: int = 64) -> np.ndarray:
    """`a @ b` for 2-D operands computed tile by tile (`block x block` tiles, reused while in cache)."""
    ### BEGIN SOLUTION
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1:
        msg = f"block must be a positive int, got {block!r}"
        raise ValueError(msg)
    a_arr, b_arr = _check_matmul(a, b)
    m, k = a_arr.shape
    n = b_arr.shape[1]
    out = np.zeros((m, n), dtype=np.result_type(a_arr, b_arr))
    for i0 in range(0, m, block):
        for j0 in range(0, n, block):
            # One output tile stays put while all the k-tiles stream through it.
            acc = out[i0:i0 + block, j0:j0 + block]
            for p0 in range(0, k, block):
                acc += a_arr[i0:i0 + block, p0:p0 + block] @ b_arr[p0:p0 + block, j0:j0 + block]
    return out
    ### END SOLUTION

# %%
_x = np.random.default_rng(0).standard_normal((37, 50))
_y = np.random.default_rng(1).standard_normal((50, 23))
assert np.allclose(matmul_blocked(_x, _y, block=8), _x @ _y)
assert np.allclose(matmul_blocked(_x, _y, block=1), matmul_naive(_x, _y))

# %% [markdown]
# ## Convolution, the naive way
#
# A 2-D convolution (really a cross-correlation, as in every DL framework) slides each of `F` filters of
# shape `(C, KH, KW)` over the zero-padded input `(N, C, H, W)`. Each output position is the dot product of
# one filter with one window:
#
# `out[n, f, i, j] = b[f] + sum_{c, u, v} x_pad[n, c, i*s + u, j*s + v] * w[f, c, u, v]`
#
# with output size `OH = (H + 2p - KH) // s + 1` (same for width). The reference below loops over every
# output element and computes that window sum directly: four Python loops, `N * F * OH * OW` iterations.

# %%
#| export
def _pair(value: Any, name: str, minimum: int) -> tuple[int, int]:
    """Normalize an int or an (h, w) pair of ints, each at least `minimum`."""
    ### BEGIN SOLUTION
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= minimum for v in pair
    ):
        msg = f"{name} must be an int >= {minimum} or a pair of them, got {value!r}"
        raise ValueError(msg)
    return int(pair[0]), int(pair[1])
    ### END SOLUTION


def _conv_geometry(
    x_shape: tuple[int, ...], kernel: Any, stride: Any, padding: Any
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]:
    """Validate a conv's geometry; return (kernel, stride, padding, output size) as (h, w) pairs."""
    ### BEGIN SOLUTION
    if len(x_shape) != 4:
        msg = f"x must be 4-D (N, C, H, W), got shape {tuple(x_shape)}"
        raise ValueError(msg)
    kh, kw = _pair(kernel, "kernel", 1)
    sh, sw = _pair(stride, "stride", 1)
    ph, pw = _pair(padding, "padding", 0)
    h, w = x_shape[2] + 2 * ph, x_shape[3] + 2 * pw
    if kh > h or kw > w:
        msg = f"kernel {(kh, kw)} is larger than the padded input {(h, w)}"
        raise ValueError(msg)
    return (kh, kw), (sh, sw), (ph, pw), ((h - kh) // sh + 1, (w - kw) // sw + 1)
    ### END SOLUTION


def _check_conv(x: Any, w: Any, b: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate conv operands: x (N, C, H, W), w (F, C, KH, KW), optional b (F,)."""
    ### BEGIN SOLUTION
    x_arr, w_arr = _as_array(x, "x"), _as_array(w, "w")
    if w_arr.ndim != 4:
        msg = f"w must be 4-D (F, C, KH, KW), got shape {w_arr.shape}"
        raise ValueError(msg)
    if x_arr.ndim == 4 and x_arr.shape[1] != w_arr.shape[1]:
        msg = f"x has {x_arr.shape[1]} channels but w expects {w_arr.shape[1]} (w.shape[1])"
        raise ValueError(msg)
    b_arr = None if b is None else _as_array(b, "b")
    if b_arr is not None and b_arr.shape != (w_arr.shape[0],):
        msg = f"b must have shape ({w_arr.shape[0]},), got {b_arr.shape}"
        raise ValueError(msg)
    return x_arr, w_arr, b_arr
    ### END SOLUTION


def conv2d_naive(x: Any, w: Any, b: Any = None, stride: Any = 1, padding: Any = 0) -> np.ndarray:
    """Direct 2-D convolution (NCHW) with a Python loop per output element (the specification)."""
    ### BEGIN SOLUTION
    x_arr, w_arr, b_arr = _check_conv(x, w, b)
    (kh, kw), (sh, sw), (ph, pw), (oh, ow) = _conv_geometry(x_arr.shape, w_arr.shape[2:], stride, padding)
    xp = np.pad(x_arr, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n_batch, n_filters = x_arr.shape[0], w_arr.shape[0]
    dtype = np.result_type(x_arr, w_arr) if b_arr is None else np.result_type(x_arr, w_arr, b_arr)
    out = np.zeros((n_batch, n_filters, oh, ow), dtype=dtype)
    for n in range(n_batch):
        for f in range(n_filters):
            for i in range(oh):
                for j in range(ow):
                    window = xp[n, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    out[n, f, i, j] = np.sum(window * w_arr[f])
            if b_arr is not None:
                out[n, f] += b_arr[f]
    return out
    ### END SOLUTION

# %%
_img = np.arange(16.0).reshape(1, 1, 4, 4)
_box = np.ones((1, 1, 2, 2))
assert np.array_equal(conv2d_naive(_img, _box)[0, 0], [[10, 14, 18], [26, 30, 34], [42, 46, 50]])
assert conv2d_naive(_img, _box, stride=2, padding=1).shape == (1, 1, 3, 3)

# %% [markdown]
# ## im2col: turning convolution into one matmul
#
# The trick: copy every receptive-field window into one row of a matrix, the *column matrix*, of shape
# `(N * OH * OW, C * KH * KW)`. Rows are ordered `(n, i, j)` and columns `(c, u, v)`, the same order as
# `w.reshape(F, C * KH * KW)`. Then the whole convolution is `cols @ w_flat.T`, a single big matmul that
# BLAS runs at full speed.
#
# The price is memory: every input pixel is copied into up to `KH * KW` rows, so a 3x3 conv makes the
# column matrix about 9x the size of its input (for stride 1). That is the classic im2col trade: spend
# memory bandwidth on a copy to buy a compute-bound GEMM. (Direct, Winograd and FFT convolutions exist
# precisely to avoid this copy; cuDNN picks among them per layer.)
#
# We build the windows *without* Python loops. `np.lib.stride_tricks.sliding_window_view` returns a view
# of shape `(N, C, H', W', KH, KW)` that re-uses the input's memory with extra strides: zero bytes
# copied. Slicing `[:, :, ::sh, ::sw]` applies the stride, still as a view; only the final `reshape`
# materializes the column matrix.

# %%
#| export
def im2col(x: Any, kernel: Any, stride: Any = 1, padding: Any = 0) -> np.ndarray:
    """Unfold NCHW `x` into a `(N*OH*OW, C*KH*KW)` matrix of windows (rows (n, i, j), columns (c, u, v))."""
    ### BEGIN SOLUTION
    x_arr = _as_array(x, "x")
    (kh, kw), (sh, sw), (ph, pw), (oh, ow) = _conv_geometry(x_arr.shape, kernel, stride, padding)
    n_batch, channels = x_arr.shape[:2]
    xp = np.pad(x_arr, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x_arr
    windows = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    # (N, C, OH, OW, KH, KW) -> (N, OH, OW, C, KH, KW): the copy happens in this reshape.
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n_batch * oh * ow, channels * kh * kw)
    ### END SOLUTION

# %%
_cols = im2col(_img, 2)
assert _cols.shape == (9, 4) and np.array_equal(_cols[0], [0, 1, 4, 5])
assert im2col(np.zeros((2, 3, 5, 6)), (3, 2), stride=2, padding=1).shape == (2 * 3 * 4, 3 * 3 * 2)

# %% [markdown]
# With the column matrix, the convolution is one matmul plus a reshape back to NCHW. Note the final
# `transpose`: the matmul produces `(N, OH, OW, F)` (channels-last, "NHWC"), which is in fact the layout
# many fast CPU and GPU kernels prefer internally; PyTorch calls it `channels_last`.

# %%
#| export
def conv2d_im2col(x: Any, w: Any, b: Any = None, stride: Any = 1, padding: Any = 0) -> np.ndarray:
    """2-D convolution (NCHW) as im2col followed by a single matmul."""
    ### BEGIN SOLUTION
    x_arr, w_arr, b_arr = _check_conv(x, w, b)
    n_filters = w_arr.shape[0]
    _, _, _, (oh, ow) = _conv_geometry(x_arr.shape, w_arr.shape[2:], stride, padding)
    cols = im2col(x_arr, w_arr.shape[2:], stride, padding)
    out: np.ndarray = cols @ w_arr.reshape(n_filters, -1).T
    if b_arr is not None:
        out = out + b_arr
    return out.reshape(x_arr.shape[0], oh, ow, n_filters).transpose(0, 3, 1, 2)
    ### END SOLUTION

# %%
_rng = np.random.default_rng(0)
_xs, _ws, _bs = _rng.standard_normal((2, 3, 7, 6)), _rng.standard_normal((4, 3, 3, 2)), _rng.standard_normal(4)
assert np.allclose(conv2d_im2col(_xs, _ws, _bs, stride=2, padding=1), conv2d_naive(_xs, _ws, _bs, stride=2, padding=1))

# %% [markdown]
# ## Measuring: median of repeats
#
# Timing a kernel once tells you little: the first call pays for cold caches and lazy allocation, and
# any single run can be hit by another process, a frequency change, or the garbage collector. We run one
# untimed warm-up, then `repeat` timed runs with `time.perf_counter` (a monotonic, high-resolution clock),
# and report the *median*, which one slow outlier cannot move. (The benchmarking chapter goes further:
# percentiles, because for a service the slow runs are the point.)
#
# Speed claims live here and in the demo, never in a test assertion: on a shared, noisy machine a timed
# test fails at random, and a test that fails at random teaches people to ignore tests.

# %%
#| export
def time_kernel(fn: Callable[..., Any], *args: Any, repeat: int = 5, warmup: int = 1) -> float:
    """Median wall-clock seconds of `fn(*args)` over `repeat` runs, after `warmup` untimed runs."""
    ### BEGIN SOLUTION
    if not callable(fn):
        msg = f"fn must be callable, got {type(fn).__name__}"
        raise TypeError(msg)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        msg = f"repeat must be an int >= 1, got {repeat!r}"
        raise ValueError(msg)
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        msg = f"warmup must be an int >= 0, got {warmup!r}"
        raise ValueError(msg)
    for _ in range(warmup):
        fn(*args)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times)
    ### END SOLUTION

# %%
assert time_kernel(sum, [1, 2, 3], repeat=3) >= 0.0

# %% [markdown]
# ## How much faster?
#
# `benchmark_kernels` times each fast path against its reference on one problem size and returns median
# seconds per kernel. Sizes are kept small because the naive loops are slow by design: the naive matmul
# runs `n^3` interpreted multiply-adds.

# %%
#| export
def benchmark_kernels(n: int = 64, repeat: int = 5, seed: int = 0) -> dict[str, float]:
    """Median seconds of each kernel: an `(n, n) @ (n, n)` matmul and a conv on an `(4, 3, n/2, n/2)` batch."""
    ### BEGIN SOLUTION
    if isinstance(n, bool) or not isinstance(n, int) or n < 4:
        msg = f"n must be an int >= 4, got {n!r}"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    x, w = rng.standard_normal((4, 3, n // 2, n // 2)), rng.standard_normal((8, 3, 3, 3))
    return {
        "matmul_naive": time_kernel(matmul_naive, a, b, repeat=repeat),
        "matmul_blocked": time_kernel(matmul_blocked, a, b, 16, repeat=repeat),
        "matmul_vectorized": time_kernel(matmul_vectorized, a, b, repeat=repeat),
        "conv2d_naive": time_kernel(conv2d_naive, x, w, None, 1, 1, repeat=repeat),
        "conv2d_im2col": time_kernel(conv2d_im2col, x, w, None, 1, 1, repeat=repeat),
    }
    ### END SOLUTION

# %%
if __name__ == "__main__":
    _t = benchmark_kernels(n=64, repeat=5)
    for _name, _base in [("matmul_blocked", "matmul_naive"), ("matmul_vectorized", "matmul_naive"),
                         ("conv2d_im2col", "conv2d_naive")]:
        print(f"{_name:18s} {_t[_name] * 1e3:9.3f} ms  {_t[_base] / _t[_name]:8.1f}x faster than {_base}"
              f" ({_t[_base] * 1e3:.1f} ms)")
    assert _t["matmul_vectorized"] < _t["matmul_naive"] and _t["conv2d_im2col"] < _t["conv2d_naive"]

# %% [markdown]
# On the 2-core machine this course was written on (median of 5 runs, `n = 64`), the vectorized matmul
# was about 1000x faster than the triple loop, and the blocked one, whose Python loops run over only
# `(64 / 16)^3 = 64` tiles, about 50x. im2col beat the per-window loop by about 300x with
# `OPENBLAS_NUM_THREADS=1`, but by only 10-20x with OpenBLAS's default of one thread per core while other
# processes were busy: threads that wait for a free core turned a 0.3 ms convolution into 8 ms. Re-run a
# benchmark before you believe it, and pin the thread count when you need stable numbers.
# None of the fast paths changed the FLOP count: all the speed came from removing interpreter overhead
# and from feeding the arithmetic units from cache instead of memory.
