# %% [markdown]
# # Spatial layers
# > Conv2d via im2col, max and average pooling, and Flatten: the layers of a convolutional network.
#
# Images have structure a `Linear` layer ignores: nearby pixels belong together, and a cat is a cat
# wherever it sits in the picture. A convolution slides one small filter over the whole image, so it
# (1) looks only at a local window, and (2) reuses the same weights at every position. A 3x3 convolution
# from 16 to 32 channels has `32*16*3*3 + 32 = 4,640` parameters whatever the image size; a `Linear`
# layer between two 32x32 feature maps of those sizes would need over 500 million.
#
# This chapter builds, in NCHW layout (batch, channels, height, width, as PyTorch):
#
# - `conv_output_size`: the one formula every CNN designer uses all day.
# - `Conv2d`: convolution through **im2col**: gather every input window into a column with one fancy
#   indexing operation, then do *one big matmul*. Built only from Tensor methods (`pad`, `__getitem__`
#   with precomputed index arrays, `reshape`, `@`), so autograd makes it differentiable for free: the
#   backward of the fancy indexing (a scatter-add) is exactly "col2im".
# - `MaxPool2d` / `AvgPool2d`: downsample by taking the max / mean of each window.
# - `Flatten`: turn feature maps into vectors for the final `Linear` classifier.
#
# **Systems angle: loops vs im2col.** A convolution of an `N x C x H x W` input with `O` filters of size
# `kh x kw` producing `OH x OW` outputs costs `2 * N * O * OH * OW * C * kh * kw` FLOPs either way. The
# naive version is 7 nested loops: in Python that is millions of interpreter steps, each doing one
# multiply. im2col does the *same arithmetic* in a single matmul that numpy hands to an optimised BLAS
# (cache blocking, SIMD, threads), typically 100-1000x faster here. The price is memory: the column
# matrix holds `N * C * kh * kw * OH * OW` numbers, i.e. every input pixel copied about `kh*kw/stride^2`
# times (9x for a 3x3, stride-1 conv). cuDNN, used by PyTorch on GPUs, picks per layer between implicit
# GEMM (im2col without materialising the matrix), FFT and Winograd algorithms for exactly this trade-off.

# %%
#| default_exp core.spatial

# %%
#| export
import math
from typing import Any

import numpy as np

from tinytorch.core.layers import Module, Parameter
from tinytorch.core.tensor import Tensor

# %% [markdown]
# ## Output size
#
# A window of size `k` moved in steps of `s` over an input of size `n` padded by `p` on both sides fits
# `floor((n + 2p - k) / s) + 1` times. If the window does not fit at all, that is a configuration bug,
# so we raise instead of returning zero.

# %%
#| export
def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output length of a convolution/pooling window: `(size + 2*padding - kernel) // stride + 1`."""
    ### BEGIN SOLUTION
    if kernel < 1 or stride < 1 or padding < 0:
        msg = f"need kernel >= 1, stride >= 1, padding >= 0; got kernel={kernel}, stride={stride}, padding={padding}"
        raise ValueError(msg)
    if size + 2 * padding < kernel:
        msg = f"kernel size {kernel} does not fit an input of size {size} with padding {padding}"
        raise ValueError(msg)
    return (size + 2 * padding - kernel) // stride + 1
    ### END SOLUTION

# %%
assert conv_output_size(32, 3, 1, 1) == 32 and conv_output_size(32, 2, 2) == 16 and conv_output_size(7, 3, 2) == 3

# %% [markdown]
# ## Gathering windows with fancy indexing
#
# For a (padded) input of size `H x W`, output position `(i, j)` and kernel offset `(a, b)` read the pixel
# `(i*s + a, j*s + b)`. We precompute two integer arrays `rows`, `cols` of shape `(kh*kw, OH*OW)` once; then
# `x[:, :, rows, cols]` has shape `(N, C, kh*kw, OH*OW)`: every window, for every channel, in one numpy
# call and no Python loop. Reshaped to `(N, C*kh*kw, OH*OW)` it is the im2col matrix. The index arrays
# depend only on the geometry, so each layer caches them per input size.

# %%
#| export
def _pair(value: Any, name: str) -> tuple[int, int]:
    """Accept `k` or `(kh, kw)`; return `(kh, kw)` as ints."""
    ### BEGIN SOLUTION
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            msg = f"{name} must be an int or a pair of ints, got {value!r}"
            raise ValueError(msg)
        return int(value[0]), int(value[1])
    return int(value), int(value)
    ### END SOLUTION


def _window_indices(height: int, width: int, kernel: tuple[int, int],
                    stride: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices, each `(kh*kw, OH*OW)`, of every window of an (already padded) image."""
    ### BEGIN SOLUTION
    kh, kw = kernel
    oh = conv_output_size(height, kh, stride[0])
    ow = conv_output_size(width, kw, stride[1])
    ki, kj = np.meshgrid(np.arange(kh), np.arange(kw), indexing="ij")
    oi, oj = np.meshgrid(np.arange(oh), np.arange(ow), indexing="ij")
    rows = ki.reshape(-1, 1) + stride[0] * oi.reshape(1, -1)
    cols = kj.reshape(-1, 1) + stride[1] * oj.reshape(1, -1)
    return rows, cols
    ### END SOLUTION


def _check_nchw(x: Any, layer: str, channels: int | None = None) -> Tensor:
    ### BEGIN SOLUTION
    x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
    if x.ndim != 4:
        msg = f"{layer} expects a 4-D input (N, C, H, W), got shape {x.shape}"
        raise ValueError(msg)
    if channels is not None and x.shape[1] != channels:
        msg = f"{layer} expects {channels} input channels, got {x.shape[1]} (input shape {x.shape})"
        raise ValueError(msg)
    return x
    ### END SOLUTION

# %%
_rows, _cols = _window_indices(4, 4, (2, 2), (2, 2))
_img = np.arange(16).reshape(4, 4)
assert _img[_rows, _cols].T.tolist() == [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]

# %% [markdown]
# ## Conv2d
#
# Weights have PyTorch's shape `(out_channels, in_channels, kh, kw)`. Forward:
#
# 1. `x.pad(...)` adds `padding` zeros around height and width;
# 2. `x[:, :, rows, cols].reshape(N, C*kh*kw, OH*OW)` is the column matrix;
# 3. `weight.reshape(O, C*kh*kw) @ cols` is a batched matmul giving `(N, O, OH*OW)`;
# 4. add the bias (broadcast over positions) and reshape to `(N, O, OH, OW)`.
#
# The flattening order `(C, kh, kw)` of the columns matches the weight's memory layout, so step 3 needs
# no transpose. Initialisation is Kaiming uniform with `fan_in = C*kh*kw`, the number of inputs each output
# sums over, the same rule as `Linear`.

# %%
#| export
class Conv2d(Module):
    """2-D convolution over NCHW input, computed with im2col and one matmul."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0, bias: bool = True,
                 rng: np.random.Generator | None = None) -> None:
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride, "stride")
        self.padding = _pair(padding, "padding")
        if in_channels < 1 or out_channels < 1:
            msg = f"Conv2d needs positive channel counts, got in={in_channels}, out={out_channels}"
            raise ValueError(msg)
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.padding) < 0:
            msg = (f"Conv2d needs kernel_size >= 1, stride >= 1, padding >= 0; got kernel_size={kernel_size}, "
                   f"stride={stride}, padding={padding}")
            raise ValueError(msg)
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        kh, kw = self.kernel_size
        fan_in = self.in_channels * kh * kw
        rng = np.random.default_rng(0) if rng is None else rng
        bound = math.sqrt(6.0 / fan_in)
        shape = (self.out_channels, self.in_channels, kh, kw)
        self.weight = Parameter(rng.uniform(-bound, bound, size=shape).astype(np.float32))
        self.bias = Parameter(np.zeros(self.out_channels, dtype=np.float32)) if bias else None
        self._index_cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def _indices(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        ### BEGIN SOLUTION
        key = (height, width)
        if key not in self._index_cache:
            self._index_cache[key] = _window_indices(height, width, self.kernel_size, self.stride)
        return self._index_cache[key]
        ### END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        """Convolve `x` of shape `(N, in_channels, H, W)`; returns `(N, out_channels, OH, OW)`."""
        ### BEGIN SOLUTION
        x = _check_nchw(x, "Conv2d", self.in_channels)
        n, c, h, w = x.shape
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        oh = conv_output_size(h, kh, self.stride[0], ph)
        ow = conv_output_size(w, kw, self.stride[1], pw)
        if ph or pw:
            x = x.pad(((0, 0), (0, 0), (ph, ph), (pw, pw)))
        rows, cols = self._indices(h + 2 * ph, w + 2 * pw)
        columns = x[:, :, rows, cols].reshape(n, c * kh * kw, oh * ow)
        out = self.weight.reshape(self.out_channels, c * kh * kw) @ columns
        if self.bias is not None:
            out = out + self.bias.reshape(1, self.out_channels, 1)
        return out.reshape(n, self.out_channels, oh, ow)
        ### END SOLUTION

    def extra_repr(self) -> str:
        ### BEGIN SOLUTION
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}")
        ### END SOLUTION

# %%
def _conv_loops(x: np.ndarray, w: np.ndarray, b: np.ndarray, s: int, p: int) -> np.ndarray:
    x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    o, _, kh, kw = w.shape
    oh, ow = (x.shape[2] - kh) // s + 1, (x.shape[3] - kw) // s + 1
    out = np.zeros((x.shape[0], o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = np.einsum("nchw,ochw->no", x[:, :, i*s:i*s+kh, j*s:j*s+kw], w) + b
    return out

_conv = Conv2d(2, 3, 3, stride=2, padding=1, rng=np.random.default_rng(0))
_conv.bias.data = np.arange(3, dtype=np.float32)
_xi = np.random.default_rng(1).standard_normal((2, 2, 5, 5)).astype(np.float32)
assert np.allclose(_conv(Tensor(_xi)).numpy(), _conv_loops(_xi, _conv.weight.numpy(), _conv.bias.numpy(), 2, 1),
                   atol=1e-5)

# %% [markdown]
# ## Pooling
#
# Pooling has no parameters; it shrinks the feature maps (a 2x2 pool quarters the activations memory and
# the FLOPs of every later layer) and makes the features a little translation invariant.
#
# The common case, `stride == kernel_size` (non-overlapping windows, PyTorch's default), needs no copy at
# all: crop the borders that do not fill a window, then `reshape(N, C, OH, kh, OW, kw)` views each window as
# two axes, and reducing axes 5 and 3 is the pooling. Overlapping windows (`stride < kernel_size`) reuse
# the im2col gather from the convolution. Max pooling's gradient goes only to the maximum of each window
# (autograd's `max` backward); average pooling spreads it evenly.

# %%
#| export
class _Pool2d(Module):
    """Shared window logic of MaxPool2d and AvgPool2d."""

    _reduce = "max"

    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None) -> None:
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride")
        if min(self.kernel_size) < 1 or min(self.stride) < 1:
            msg = (f"{type(self).__name__} needs kernel_size >= 1 and stride >= 1, "
                   f"got kernel_size={kernel_size}, stride={stride}")
            raise ValueError(msg)
        self._index_cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def _pool(self, t: Tensor, axis: int) -> Tensor:
        ### BEGIN SOLUTION
        return t.max(axis=axis) if self._reduce == "max" else t.mean(axis=axis)
        ### END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        """Pool `x` of shape `(N, C, H, W)` over windows; returns `(N, C, OH, OW)`."""
        ### BEGIN SOLUTION
        x = _check_nchw(x, type(self).__name__)
        n, c, h, w = x.shape
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        oh, ow = conv_output_size(h, kh, sh), conv_output_size(w, kw, sw)
        if (sh, sw) == (kh, kw):
            if (oh * kh, ow * kw) != (h, w):
                x = x[:, :, : oh * kh, : ow * kw]
            windows = x.reshape(n, c, oh, kh, ow, kw)
            return self._pool(self._pool(windows, 5), 3)
        if (h, w) not in self._index_cache:
            self._index_cache[(h, w)] = _window_indices(h, w, self.kernel_size, self.stride)
        rows, cols = self._index_cache[(h, w)]
        return self._pool(x[:, :, rows, cols], 2).reshape(n, c, oh, ow)
        ### END SOLUTION

    def extra_repr(self) -> str:
        ### BEGIN SOLUTION
        return f"kernel_size={self.kernel_size}, stride={self.stride}"
        ### END SOLUTION


class MaxPool2d(_Pool2d):
    """Max over each `kernel_size` window (stride defaults to the kernel size)."""

    _reduce = "max"


class AvgPool2d(_Pool2d):
    """Mean over each `kernel_size` window (stride defaults to the kernel size)."""

    _reduce = "mean"

# %%
_a = np.arange(32, dtype=np.float32).reshape(1, 2, 4, 4)
assert MaxPool2d(2)(Tensor(_a)).numpy()[0, 0].tolist() == [[5, 7], [13, 15]]
assert AvgPool2d(2)(Tensor(_a)).numpy()[0, 1].tolist() == [[18.5, 20.5], [26.5, 28.5]]
assert MaxPool2d(3, stride=1)(Tensor(_a)).numpy()[0, 0].tolist() == [[10, 11], [14, 15]]   # overlapping

# %% [markdown]
# ## Flatten
#
# The bridge from feature maps to a classifier: `(N, C, H, W) -> (N, C*H*W)`. A reshape of a contiguous
# array is free (no copy), and its gradient is just the reverse reshape. We compute the flattened size
# explicitly instead of passing `-1`, so an empty batch `(0, C, H, W)` still flattens to `(0, C*H*W)`.

# %%
#| export
class Flatten(Module):
    """Flatten all dimensions from `start_dim` on: `(N, C, H, W) -> (N, C*H*W)`."""

    def __init__(self, start_dim: int = 1) -> None:
        super().__init__()
        if start_dim < 0:
            msg = f"Flatten start_dim must be >= 0, got {start_dim}"
            raise ValueError(msg)
        self.start_dim = int(start_dim)

    def forward(self, x: Tensor) -> Tensor:
        """Reshape `x` to `x.shape[:start_dim] + (product of the rest,)`."""
        ### BEGIN SOLUTION
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
        if x.ndim <= self.start_dim:
            msg = f"Flatten(start_dim={self.start_dim}) needs an input with more than {self.start_dim} dims, got shape {x.shape}"
            raise ValueError(msg)
        lead = tuple(x.shape[: self.start_dim])
        return x.reshape(*lead, int(np.prod(x.shape[self.start_dim:])))
        ### END SOLUTION

    def extra_repr(self) -> str:
        ### BEGIN SOLUTION
        return f"start_dim={self.start_dim}"
        ### END SOLUTION

# %%
assert Flatten()(Tensor(np.zeros((2, 3, 4, 5)))).shape == (2, 60)
assert Flatten()(Tensor(np.zeros((0, 3, 4, 5)))).shape == (0, 60)
