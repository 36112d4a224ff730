# %% [markdown]
# # Compression
# > Magnitude pruning, int8 quantization and size accounting: smaller models that predict almost as well.
#
# A trained network is mostly redundant. Two classic techniques exploit that:
#
# * **Pruning** sets the smallest-magnitude weights to exactly zero. Many weights sit near
#   zero after training and removing them barely changes the outputs.
# * **Quantization** stores each weight in 8 bits instead of 32: float32 -> int8 is **4x
#   smaller**, and integer arithmetic is cheaper on CPUs, phones and accelerators.
#
# **The systems angle.** Size is not only disk space. Inference on small batches is
# usually *memory-bandwidth bound*: the time goes into streaming weights from memory, not
# into multiplying them, so a 4x smaller model can be up to ~4x faster on the same
# hardware. Sparsity is subtler: a dense matmul does not skip zeros, so unstructured
# pruning only pays off with sparse storage and kernels, and the storage needs an index
# (here a 1-bit-per-weight bitmap, which eats into the gains at low sparsity). That is
# why production systems favour *structured* sparsity (whole channels, or NVIDIA's 2:4
# pattern) and int8/int4 quantization. PyTorch offers `torch.nn.utils.prune` (masks applied
# by a forward pre-hook) and `torch.ao.quantization` (observers, per-channel scales, fused
# int8 kernels); we build the core idea of each in numpy.
#
# We treat parameters with two or more dimensions as **weights** (Linear matrices,
# convolution kernels) and leave biases alone: they are few, and errors in them shift every
# output of a unit.

# %%
#| default_exp core.compression

# %%
#| export
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from tinytorch.core.layers import Module, Parameter
from tinytorch.core.tensor import Tensor

# %% [markdown]
# ## Magnitude pruning
#
# `magnitude_prune(module, sparsity)` zeroes the fraction `sparsity` of weights with the
# smallest absolute value:
#
# * `scope="global"` (default) ranks all weights of the model together, so layers with many
#   small weights lose more of them (usually better for accuracy at a given size);
# * `scope="layer"` prunes every weight tensor to the same sparsity.
#
# Exactly `round(sparsity * n)` weights are removed (ranking by `argsort`, so ties in
# magnitude do not prune more than asked). The boolean mask is kept on the parameter as
# `_prune_mask`: our optimizers multiply it back after every step, so pruned weights stay
# zero while the survivors are fine-tuned (PyTorch's `prune` module instead recomputes
# `weight = weight_orig * mask` before each forward pass). Pruning again only ever adds
# zeros: weights already pruned have magnitude 0 and are ranked first.

# %%
#| export
def _prunable(module: Module) -> list[tuple[str, Parameter]]:
    """The weights (parameters with ndim >= 2), with their dotted names."""
    ### BEGIN SOLUTION
    return [(name, p) for name, p in module.named_parameters() if p.data.ndim >= 2]
    ### END SOLUTION


def _smallest_mask(values: np.ndarray, k: int) -> np.ndarray:
    """Boolean keep-mask of `values`' shape that drops the `k` smallest |values|."""
    ### BEGIN SOLUTION
    keep = np.ones(values.size, dtype=bool)
    if k > 0:
        keep[np.argsort(np.abs(values), axis=None, kind="stable")[:k]] = False
    return keep.reshape(values.shape)
    ### END SOLUTION


def magnitude_prune(module: Module, sparsity: float,
                    scope: Literal["global", "layer"] = "global") -> dict[str, float]:
    """Zero the smallest-magnitude weights in place; returns each weight's resulting sparsity."""
    ### BEGIN SOLUTION
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    if scope not in ("global", "layer"):
        raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}")
    weights = _prunable(module)
    if not weights:
        raise ValueError(f"{type(module).__name__} has no weights (parameters with ndim >= 2) to prune")
    if scope == "layer":
        masks = [_smallest_mask(p.data, int(round(sparsity * p.data.size))) for _, p in weights]
    else:
        flat = np.concatenate([p.data.reshape(-1) for _, p in weights])
        keep = _smallest_mask(flat, int(round(sparsity * flat.size)))
        sizes = np.cumsum([p.data.size for _, p in weights])[:-1]
        masks = [m.reshape(p.data.shape) for m, (_, p) in zip(np.split(keep, sizes), weights)]
    result = {}
    for (name, p), mask in zip(weights, masks):
        old = getattr(p, "_prune_mask", None)
        mask = mask if old is None else mask & old
        p._prune_mask = mask  # type: ignore[attr-defined]
        p.data = p.data * mask
        result[name] = float(np.count_nonzero(~mask) / mask.size)
    return result
    ### END SOLUTION


def sparsity(module: Module) -> float:
    """Fraction of weights (parameters with ndim >= 2) that are exactly zero."""
    ### BEGIN SOLUTION
    weights = [p.data for _, p in _prunable(module)]
    total = sum(w.size for w in weights)
    return float(sum(np.count_nonzero(w == 0) for w in weights) / total) if total else 0.0
    ### END SOLUTION

# %%
from tinytorch.core.layers import Linear

_lin = Linear(10, 10, rng=np.random.default_rng(0))
_before = np.abs(_lin.weight.data)
_report = magnitude_prune(_lin, 0.3)
_pruned = _lin.weight.data == 0
assert _report == {"weight": 0.3} and sparsity(_lin) == 0.3
assert _before[~_pruned].min() >= _before[_pruned].max()  # the survivors are the large ones

# %% [markdown]
# ## int8 quantization
#
# Affine (asymmetric) quantization maps the float range `[lo, hi]` onto the 256 integers
# `[-128, 127]`:
#
# ```
# scale      = (hi - lo) / 255
# zero_point = round(-128 - lo / scale)          # the integer that stands for 0.0
# q          = clip(round(x / scale) + zero_point, -128, 127)
# x_hat      = (q - zero_point) * scale          # dequantize
# ```
#
# The rounding error is at most `scale / 2` per value. We widen the range to include 0 so
# that 0.0 is represented *exactly*: pruned weights stay exactly zero after quantization
# (and zero padding stays zero in a quantized convolution). `symmetric=True` forces
# `zero_point = 0` with `scale = max|x| / 127`, the common choice for weights since it
# makes integer matmuls simpler. Real toolkits also use one scale per output channel
# instead of one per tensor, which matters when channels have very different ranges.

# %%
#| export
@dataclass(frozen=True)
class QuantizedArray:
    """An int8 array with the affine parameters to recover floats: `(values - zero_point) * scale`."""

    values: np.ndarray
    scale: float
    zero_point: int

    @property
    def nbytes(self) -> int:
        """Bytes of the int8 payload (plus 8 for the scale and zero point)."""
        return int(self.values.nbytes) + 8


def quantize_int8(array: Any, symmetric: bool = False) -> QuantizedArray:
    """Quantize a float array to int8 with one scale and zero point for the whole tensor."""
    ### BEGIN SOLUTION
    x = np.asarray(array.data if isinstance(array, Tensor) else array, dtype=np.float64)
    if x.size == 0:
        raise ValueError("cannot quantize an empty array")
    if not np.all(np.isfinite(x)):
        raise ValueError("cannot quantize an array containing NaN or infinity")
    if symmetric:
        bound = float(np.abs(x).max())
        scale = bound / 127.0 if bound > 0 else 1.0
        zero_point = 0
    else:
        lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
        scale = (hi - lo) / 255.0 if hi > lo else 1.0
        zero_point = int(np.clip(round(-128.0 - lo / scale), -128, 127))
    q = np.clip(np.round(x / scale) + zero_point, -128, 127).astype(np.int8)
    return QuantizedArray(values=q, scale=float(scale), zero_point=zero_point)
    ### END SOLUTION


def dequantize(q: QuantizedArray) -> np.ndarray:
    """Recover float32 values from a QuantizedArray."""
    ### BEGIN SOLUTION
    return ((q.values.astype(np.float32) - np.float32(q.zero_point)) * np.float32(q.scale)).astype(np.float32)
    ### END SOLUTION

# %%
_w = np.random.default_rng(0).normal(size=(64, 64)).astype(np.float32)
_w[0, :5] = 0.0
_q = quantize_int8(_w)
assert _q.values.dtype == np.int8 and _q.values.nbytes * 4 == _w.nbytes   # 4x smaller
assert np.abs(dequantize(_q) - _w).max() <= _q.scale / 2 + 1e-6
assert (dequantize(_q)[0, :5] == 0.0).all()                              # zero is exact

# %% [markdown]
# ## Quantizing a whole model
#
# `quantize_module` returns a deep copy of the model whose weights went through int8 and
# back ("fake quantization", what quantization-aware training simulates). The copy computes
# with float32 like before, but its weights take only 256 distinct values per tensor, so
# its accuracy is the accuracy an int8 deployment would have. The `QuantizedArray`s are
# kept on the copy (`_quantized`, keyed by parameter name) to account for their size. The
# original model is not modified.

# %%
#| export
def quantize_module(module: Module, symmetric: bool = False) -> Module:
    """A deep copy of `module` whose weights are int8-quantized then dequantized."""
    ### BEGIN SOLUTION
    if not isinstance(module, Module):
        raise TypeError(f"quantize_module expects a Module, got {type(module).__name__}")
    qmodule = copy.deepcopy(module)
    quantized: dict[str, QuantizedArray] = {}
    for name, p in _prunable(qmodule):
        q = quantize_int8(p.data, symmetric=symmetric)
        quantized[name] = q
        p.data = dequantize(q).astype(p.data.dtype)
        p.grad = None
    qmodule._quantized = quantized  # type: ignore[attr-defined]
    return qmodule
    ### END SOLUTION

# %%
_qlin = quantize_module(_lin)
assert _qlin is not _lin and set(_qlin._quantized) == {"weight"}
assert len(np.unique(_qlin.weight.data)) <= 256 and sparsity(_qlin) == sparsity(_lin)

# %% [markdown]
# ## Size accounting
#
# `model_size_bytes(module, bits)` is the storage for every parameter at `bits` bits
# (`bits=8` for an int8 model, 32 for float32). With `sparse=True` only the non-zero values
# are stored, plus a bitmap of one bit per parameter saying which ones: at 8 bits per value
# the bitmap alone costs 1/8 of the dense size, so pruning must remove more than 12.5% of
# the weights before sparse storage wins. (Per-tensor scales and zero points add a few bytes
# and are ignored.)
#
# `compression_report(original, compressed)` puts the numbers side by side; given data `X, y`
# it also measures both models' accuracy (argmax of the outputs).

# %%
#| export
def model_size_bytes(module: Module, bits: int = 32, sparse: bool = False) -> int:
    """Bytes to store all parameters at `bits` bits each (sparse: non-zeros plus a 1-bit mask)."""
    ### BEGIN SOLUTION
    if bits not in (1, 2, 4, 8, 16, 32, 64):
        raise ValueError(f"bits must be one of 1, 2, 4, 8, 16, 32, 64, got {bits}")
    params = [p.data for p in module.parameters()]
    total = sum(a.size for a in params)
    if not sparse:
        return (total * bits + 7) // 8
    nonzero = sum(int(np.count_nonzero(a)) for a in params)
    return (nonzero * bits + 7) // 8 + (total + 7) // 8
    ### END SOLUTION


def _argmax_accuracy(module: Module, X: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of argmax predictions (threshold 0.5 for a single output), in eval mode."""
    ### BEGIN SOLUTION
    was_training = module.training
    module.eval()
    try:
        out = np.asarray(module(Tensor(np.asarray(X))).data)
    finally:
        module.train(was_training)
    pred = out.argmax(axis=-1) if out.ndim > 1 and out.shape[-1] > 1 else (out.reshape(len(out)) > 0.5)
    return float(np.mean(pred.astype(np.int64) == np.asarray(y).reshape(-1)))
    ### END SOLUTION


def compression_report(original: Module, compressed: Module, bits: int = 8, sparse: bool = True,
                       X: np.ndarray | None = None, y: np.ndarray | None = None) -> dict[str, float]:
    """Sizes, compression ratio and sparsity of a compressed model vs the original (and accuracies)."""
    ### BEGIN SOLUTION
    before = model_size_bytes(original, bits=32)
    after = model_size_bytes(compressed, bits=bits, sparse=sparse)
    report = {
        "original_bytes": float(before),
        "compressed_bytes": float(after),
        "ratio": before / after,
        "sparsity": sparsity(compressed),
    }
    if (X is None) != (y is None):
        raise ValueError("compression_report needs both X and y to measure accuracy")
    if X is not None and y is not None:
        report["original_accuracy"] = _argmax_accuracy(original, X, y)
        report["compressed_accuracy"] = _argmax_accuracy(compressed, X, y)
    return report
    ### END SOLUTION

# %%
assert model_size_bytes(_lin) == 4 * 110 and model_size_bytes(_lin, bits=8) == 110
_rep = compression_report(_lin, _qlin, bits=8, sparse=True)
assert _rep["ratio"] > 4 - 1e-9 and _rep["sparsity"] == 0.3
